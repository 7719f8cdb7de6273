import pytest

from hf_fair import HfFairError
from hf_fair.data import GroupSpec, apply_bias_severity, attach_spec, group_counts, largest_feasible_severity


@pytest.mark.parametrize("b", [0.9, 0.95, 0.99, 0.995])
def test_severity_counts_and_realised(digits, b):
    out, report = apply_bias_severity(digits, b, seed=0)
    for split in ("train", "validation"):
        counts = group_counts(out[split], 4)
        assert counts == report.counts_after[split]
        # majority groups keep all their images; minority groups shrink
        assert counts[0] == report.counts_before[split][0] and counts[3] == report.counts_before[split][3]
        assert 1 <= counts[1] <= counts[0] and 1 <= counts[2] <= counts[3]
        for y, share in enumerate(report.realised[split]):
            assert abs(share - b) < 0.01
    # test untouched
    assert out["test"]["source_index"] == digits["test"]["source_index"]


def test_severity_monotone_and_deterministic(digits):
    prev = None
    for b in (0.9, 0.95, 0.99, 0.995):
        out, _ = apply_bias_severity(digits, b, seed=3)
        minority = group_counts(out["train"], 4)[1]
        assert prev is None or minority <= prev
        prev = minority
    a, _ = apply_bias_severity(digits, 0.99, seed=3)
    c, _ = apply_bias_severity(digits, 0.99, seed=3)
    d, _ = apply_bias_severity(digits, 0.95, seed=4)
    assert a["train"]["source_index"] == c["train"]["source_index"]
    assert a["train"]["source_index"] != d["train"]["source_index"]


@pytest.mark.parametrize("b", [0.5, 1.0, 1.2, 0.3, "high"])
def test_severity_out_of_range(digits, b):
    with pytest.raises(HfFairError, match="severity"):
        apply_bias_severity(digits, b)


def test_infeasible_names_group_and_largest(digits):
    largest = largest_feasible_severity(digits)
    ok, report = apply_bias_severity(digits, round(largest - 1e-4, 4))
    assert min(report.counts_after["validation"][1:3]) == 1
    with pytest.raises(HfFairError) as e:
        apply_bias_severity(digits, 0.9995)
    msg = str(e.value)
    assert "small|green" in msg or "large|red" in msg
    assert f"{int(largest * 10000) / 10000:.4f}" in msg


def test_scarce_minority_trims_majority():
    import datasets

    spec = GroupSpec("y", "a", ("n", "p"), ("u", "v"))
    counts = {0: 50, 1: 2, 2: 3, 3: 50}
    groups = [g for g, c in counts.items() for _ in range(c)]
    feats = spec.features()
    ds = datasets.Dataset.from_dict(
        {"label": [g // 2 for g in groups], "attribute": [g % 2 for g in groups], "group": groups},
        features=datasets.Features({k: feats[k] for k in ("label", "attribute", "group")}),
    )
    dsd = attach_spec(datasets.DatasetDict({"train": ds, "validation": ds, "test": ds}), spec)
    out, report = apply_bias_severity(dsd, 0.9)
    c = report.counts_after["train"]
    assert c[1] == 2 and c[0] == 18  # 2 minority -> 18 majority at b = 0.9
    assert c[2] == 3 and c[3] == 27


def test_empty_group_is_named():
    import datasets

    spec = GroupSpec("y", "a", ("n", "p"), ("u", "v"))
    groups = [0] * 10 + [2] * 3 + [3] * 10
    feats = spec.features()
    ds = datasets.Dataset.from_dict(
        {"label": [g // 2 for g in groups], "attribute": [g % 2 for g in groups], "group": groups},
        features=datasets.Features({k: feats[k] for k in ("label", "attribute", "group")}),
    )
    dsd = attach_spec(datasets.DatasetDict({"train": ds, "validation": ds, "test": ds}), spec)
    with pytest.raises(HfFairError, match=r"'n\|v' has no images"):
        apply_bias_severity(dsd, 0.9)
