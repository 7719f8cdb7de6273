import evaluate
import numpy as np
import pytest

from hf_fair import HfFairError
from hf_fair.metrics import EVALUATE_MODULE, aggregate_seeds, format_pm, group_metrics, mean_std


def test_group_metrics_values():
    pred = [0, 0, 1, 1, 1, 0, 1, 1]
    ref = [0, 1, 1, 1, 0, 0, 1, 1]
    grp = [0, 0, 1, 1, 2, 2, 3, 3]
    m = group_metrics(pred, ref, grp, n_groups=4, n_attributes=2)
    assert m["per_group_acc"] == {"0": 0.5, "1": 1.0, "2": 0.5, "3": 1.0}
    assert m["worst_group_acc"] == 0.5
    assert m["balanced_acc"] == pytest.approx(0.75)
    assert m["average_acc"] == pytest.approx(6 / 8)
    assert m["worst_class_acc"] == pytest.approx(0.75)
    assert m["absent_groups"] == []


def test_absent_group_is_not_zero_or_hundred():
    m = group_metrics([1, 1, 0], [1, 0, 0], [0, 0, 3], n_groups=4)
    assert m["per_group_acc"]["1"] is None and m["per_group_acc"]["2"] is None
    assert m["absent_groups"] == [1, 2]
    assert m["worst_group_acc"] == 0.5 and m["balanced_acc"] == pytest.approx(0.75)


def test_bad_metric_input():
    with pytest.raises(HfFairError, match="same length"):
        group_metrics([0, 1], [0], [0, 1])
    with pytest.raises(HfFairError, match="outside n_groups"):
        group_metrics([0], [0], [5], n_groups=4)
    with pytest.raises(HfFairError, match="empty"):
        group_metrics([], [], [])


def test_evaluate_module_matches_numpy():
    rng = np.random.default_rng(0)
    pred, ref, grp = rng.integers(0, 2, 200), rng.integers(0, 2, 200), rng.integers(0, 4, 200)
    metric = evaluate.load(EVALUATE_MODULE)
    via_evaluate = metric.compute(predictions=pred, references=ref, groups=grp, n_groups=4)
    assert via_evaluate == group_metrics(pred, ref, grp, n_groups=4)


def test_evaluate_module_batches():
    metric = evaluate.load(EVALUATE_MODULE)
    metric.add_batch(predictions=[0, 1], references=[0, 0], groups=[0, 1])
    metric.add_batch(predictions=[1], references=[1], groups=[3])
    out = metric.compute(n_groups=4)
    assert out["per_group_acc"] == {"0": 1.0, "1": 0.0, "2": None, "3": 1.0}


def test_mean_std_and_aggregate():
    s = mean_std([0.5, 0.7, 0.9])
    assert s["mean"] == pytest.approx(0.7) and s["std"] == pytest.approx(0.2)
    assert mean_std([0.4])["std"] == 0.0
    assert format_pm(s) == "70.0 ± 20.0"
    seeds = [group_metrics([0, 1], [0, 1], [0, 3], 4), group_metrics([0, 0], [0, 1], [0, 3], 4)]
    agg = aggregate_seeds(seeds)
    assert agg["worst_group_acc"]["per_seed"] == [1.0, 0.0]
    assert agg["per_group_acc"]["1"] is None and agg["per_group_acc"]["3"] == 0.5
