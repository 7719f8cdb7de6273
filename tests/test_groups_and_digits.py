import numpy as np
import pytest

from hf_fair import HfFairError
from hf_fair.data import GroupSpec, spec_of
from hf_fair.data.colored_digits import SPEC


def test_group_ids_and_names():
    spec = GroupSpec("Blond_Hair", "Male", ("not_blond", "blond"), ("female", "male"))
    assert spec.n_groups == 4
    assert [spec.group_id(y, a) for y in (0, 1) for a in (0, 1)] == [0, 1, 2, 3]
    assert spec.split_group(2) == (1, 0)
    assert spec.group_names == ("not_blond|female", "not_blond|male", "blond|female", "blond|male")
    assert GroupSpec.from_dict(spec.to_dict()) == spec
    feats = spec.features()
    assert feats["group"].names == list(spec.group_names)


def test_three_attribute_spec():
    spec = GroupSpec("y", "a", ("n", "p"), ("x", "y", "z"))
    assert spec.n_groups == 6 and spec.group_id(1, 2) == 5 and spec.split_group(5) == (1, 2)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(label_names=("only",), attribute_names=("a", "b")),
        dict(label_names=("a", "b"), attribute_names=("a", "b"), majority_attribute=(0, 2)),
    ],
)
def test_bad_spec(kwargs):
    with pytest.raises(HfFairError):
        GroupSpec("t", "a", **kwargs)


def test_colored_digits_layout(digits):
    assert set(digits) == {"train", "validation", "test"}
    # test is trimmed to exact group balance, so a few of the 1,797 images are left out
    assert 1780 <= sum(len(d) for d in digits.values()) <= 1797
    for split in digits.values():
        assert {"image", "label", "attribute", "group", "digit"} <= set(split.column_names)
    ex = digits["train"][0]
    assert ex["image"].size == (32, 32) and ex["image"].mode == "RGB"
    labels = np.asarray(digits["train"]["label"])
    assert (labels == (np.asarray(digits["train"]["digit"]) >= 5)).all()
    groups = np.asarray(digits["train"]["group"])
    assert (groups == labels * 2 + np.asarray(digits["train"]["attribute"])).all()
    assert spec_of(digits) == SPEC


def test_colored_digits_test_is_balanced_and_train_biased(digits):
    test_counts = np.bincount(digits["test"]["group"], minlength=4)
    assert len(set(test_counts.tolist())) == 1 and test_counts[0] > 100
    train_counts = np.bincount(digits["train"]["group"], minlength=4)
    # majority groups (small, red)=0 and (large, green)=3
    assert train_counts[0] > 5 * train_counts[1] and train_counts[3] > 5 * train_counts[2]


def test_colored_digits_colour_matches_attribute(digits):
    ds = digits["test"].select(range(80))
    for ex in ds:
        arr = np.asarray(ex["image"], dtype=np.float32)
        red, green = arr[..., 0].sum(), arr[..., 1].sum()
        assert (red > green) == (ex["attribute"] == 0)


def test_colored_digits_deterministic(digits):
    from hf_fair.data.colored_digits import load_colored_digits

    again = load_colored_digits()
    for split in digits:
        assert digits[split]["source_index"] == again[split]["source_index"]
        assert np.array_equal(np.asarray(digits[split][5]["image"]), np.asarray(again[split][5]["image"]))
