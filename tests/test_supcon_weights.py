"""The paper's pretraining recipe in the classifier: CE + SupCon and per-example (CLIP) weights."""

import math

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from hf_fair import HfFairError
from hf_fair.classify.config import ClassifierArguments
from hf_fair.classify.objectives import ERM, GroupDRO
from hf_fair.classify.supcon import WithProjection, supcon_loss
from hf_fair.classify.trainer import train_classifier
from hf_fair.classify.weights import example_weights
from hf_fair.data import DataArguments, load_group_dataset

FAST = dict(model="resnet10t", epochs=1, batch_size=32, learning_rate=0.02, eval_batch_size=512, image_size=16, selection="last")


def direct_supcon(z, keys, tau, w=None):
    """Khosla et al.'s L_out, written out one anchor at a time (weights as multiplicities)."""
    z = torch.nn.functional.normalize(z, dim=1)
    n = len(z)
    w = [1.0] * n if w is None else [float(v) for v in w]
    num, den = 0.0, 0.0
    for i in range(n):
        positives = [p for p in range(n) if p != i and keys[p] == keys[i] and w[p] > 0]
        if not positives or w[i] == 0:
            continue
        denom = sum(w[a] * math.exp(float(z[i] @ z[a]) / tau) for a in range(n) if a != i)
        mass = sum(w[p] for p in positives)
        term = -sum(w[p] * (float(z[i] @ z[p]) / tau - math.log(denom)) for p in positives) / mass
        num += w[i] * term
        den += w[i]
    return num / den


def test_supcon_equals_the_direct_computation():
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(6, 3, generator=gen)
    keys = torch.tensor([0, 1, 0, 1, 1, 0])
    for tau in (0.1, 0.5):
        assert supcon_loss(z, keys, tau).item() == pytest.approx(direct_supcon(z, keys, tau), rel=1e-5)
    w = torch.tensor([1.0, 0.5, 2.0, 0.0, 1.5, 1.0])
    assert supcon_loss(z, keys, 0.2, w).item() == pytest.approx(direct_supcon(z, keys, 0.2, w), rel=1e-5)


def test_supcon_anchor_without_positive_is_left_out_and_all_alone_is_zero():
    # seeded, and compared with an absolute floor too: with two positives at tau 0.1 the loss can
    # be ~1e-7, where float32 against the float64 reference is off by more than rel 1e-5
    z = torch.randn(3, 4, generator=torch.Generator().manual_seed(0))
    # anchor 2 has no positive: the loss is the mean over anchors 0 and 1
    keys = torch.tensor([0, 0, 1])
    assert supcon_loss(z, keys, 0.1).item() == pytest.approx(direct_supcon(z, keys, 0.1), rel=1e-5, abs=1e-6)
    alone = supcon_loss(z, torch.tensor([0, 1, 2]), 0.1)
    assert alone.item() == 0.0


def test_ones_as_weights_give_the_unweighted_losses():
    torch.manual_seed(0)
    logits, y, g = torch.randn(8, 2), torch.randint(0, 2, (8,)), torch.randint(0, 4, (8,))
    ones = torch.ones(8)
    assert ERM().loss(logits, y, g, ones).item() == pytest.approx(ERM().loss(logits, y, g).item())
    z = torch.randn(8, 5)
    assert supcon_loss(z, y, 0.1, ones).item() == pytest.approx(supcon_loss(z, y, 0.1).item(), rel=1e-6)


def test_an_example_of_weight_zero_gets_no_gradient():
    torch.manual_seed(1)
    logits = torch.randn(6, 2, requires_grad=True)
    z = torch.randn(6, 4, requires_grad=True)
    y = torch.tensor([0, 0, 1, 1, 0, 1])
    w = torch.tensor([1.0, 1.0, 0.0, 1.0, 1.0, 1.0])
    (ERM().loss(logits, y, None, w) + supcon_loss(z, y, 0.1, w)).backward()
    assert torch.all(logits.grad[2] == 0) and torch.all(z.grad[2] == 0)
    assert logits.grad[[0, 1, 3]].abs().sum() > 0 and z.grad[[0, 1, 3]].abs().sum() > 0
    # Group-DRO's group losses see the weights too
    dro = GroupDRO(eta=0.1)
    dro.setup(y.numpy(), np.array([0, 0, 2, 2, 1, 3]), 4)
    lg = torch.randn(6, 2, requires_grad=True)
    dro.loss(lg, y, torch.tensor([0, 0, 2, 2, 1, 3]), w).backward()
    assert torch.all(lg.grad[2] == 0)


def _weighted_set(values, groups):
    import datasets

    return datasets.Dataset.from_dict({"clip_score": values, "group": groups})


def test_group_mean_normalisation_keeps_each_groups_total():
    values = [0.9, 0.5, 0.7, 0.2, 0.4, 1.0, 0.3]
    groups = [0, 0, 0, 1, 1, 2, 2]
    w = example_weights(_weighted_set(values, groups), "clip_score")
    groups = np.array(groups)
    for gid in range(3):
        assert w[groups == gid].sum() == pytest.approx((groups == gid).sum())
    # within a group the order of the scores is kept
    assert w[0] > w[2] > w[1]
    glob = example_weights(_weighted_set(values, groups.tolist()), "clip_score", "global_mean")
    assert glob.mean() == pytest.approx(1.0) and glob[5] / glob[3] == pytest.approx(5.0)
    raw = example_weights(_weighted_set(values, groups.tolist()), "clip_score", "raw")
    assert np.allclose(raw, values)


@pytest.mark.parametrize("values,needle", [([0.5, -0.1], ">= 0"), ([0.0, 0.0], "group 0"), ([float("nan"), 1.0], "finite")])
def test_bad_weights_are_refused(values, needle):
    with pytest.raises(HfFairError, match=needle):
        example_weights(_weighted_set(values, [0, 0]), "clip_score")


@pytest.mark.parametrize("flag,value,needle", [("supcon_weight", -0.5, "--supcon_weight"), ("supcon_temperature", 0.0, "--supcon_temperature"),
                                               ("supcon_positives", "class", "--supcon_positives"), ("weight_rule", "median", "--weight_rule")])
def test_bad_recipe_flags_are_refused(flag, value, needle):
    with pytest.raises(HfFairError, match=needle):
        ClassifierArguments(output_dir="x", **{flag: value})


@pytest.fixture(scope="module")
def tiny_synthetic():
    dsd, _ = load_group_dataset(dataset="colored-digits", severity=0.95)
    small = type(dsd)({s: d.shuffle(seed=0).select(range(min(len(d), 96))) for s, d in dsd.items()})
    # a stand-in clip_score column: deterministic numbers in (0, 1]
    small["train"] = small["train"].add_column("clip_score", [((i * 37) % 10 + 1) / 10 for i in range(len(small["train"]))])
    small["train"] = small["train"].add_column("ones", [1.0] * len(small["train"]))
    return small


def _weights(folder):
    return load_file(str(folder / "model" / "model.safetensors"))


def test_supcon_weight_zero_and_unit_weights_train_exactly_as_cross_entropy(tmp_path, tiny_synthetic):
    data = DataArguments(dataset="colored-digits", severity=0.95)
    runs = {
        "ce": {},
        "supcon0": dict(supcon_weight=0.0, supcon_temperature=0.5, supcon_positives="group"),
        "ones": dict(weight_column="ones", weight_rule="raw"),
    }
    for name, extra in runs.items():
        train_classifier(ClassifierArguments(output_dir=str(tmp_path / name), stage="pretrain", **FAST, **extra), data, tiny_synthetic)
    ref = _weights(tmp_path / "ce")
    for name in ("supcon0", "ones"):
        other = _weights(tmp_path / name)
        assert ref.keys() == other.keys()
        assert all(torch.equal(ref[k], other[k]) for k in ref), name


def test_supcon_and_clip_weighting_train_and_save_a_plain_timm_checkpoint(tmp_path, tiny_synthetic):
    import timm

    data = DataArguments(dataset="colored-digits", severity=0.95)
    args = ClassifierArguments(output_dir=str(tmp_path / "recipe"), stage="pretrain", supcon_weight=0.5,
                               weight_column="clip_score", **FAST)
    metrics = train_classifier(args, data, tiny_synthetic)
    assert metrics["finished"] and math.isfinite(metrics["history"][-1]["train_loss"])
    saved = _weights(tmp_path / "recipe")
    assert not any("projection" in k for k in saved)  # the head trains, but is not part of the model
    ce = train_classifier(ClassifierArguments(output_dir=str(tmp_path / "ce"), stage="pretrain", **FAST), data, tiny_synthetic)
    assert ce["history"][-1]["train_loss"] != metrics["history"][-1]["train_loss"]
    model = timm.create_model(f"local-dir:{tmp_path / 'recipe' / 'model'}", pretrained=True).eval()
    assert model(torch.zeros(1, 3, 16, 16)).shape == (1, 2)


def test_with_projection_gives_logits_equal_to_the_models(tiny_synthetic):
    import timm

    torch.manual_seed(0)
    model = timm.create_model("resnet10t", num_classes=2).eval()
    wrapped = WithProjection(model, 16).eval()
    x = torch.randn(3, 3, 16, 16)
    logits, z = wrapped(x)
    assert torch.allclose(logits, model(x), atol=1e-5) and z.shape == (3, 16)


def test_missing_weight_column_is_one_clear_error_and_writes_nothing(tmp_path, tiny_synthetic):
    data = DataArguments(dataset="colored-digits", severity=0.95)
    out = tmp_path / "bad"
    with pytest.raises(HfFairError, match="--weight_column 'no_such'"):
        train_classifier(ClassifierArguments(output_dir=str(out), stage="pretrain", weight_column="no_such", **FAST), data, tiny_synthetic)
    assert not out.exists()
