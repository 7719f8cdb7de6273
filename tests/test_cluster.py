"""Clustering within groups: k selection, small-cluster merging, ARI, the CLI's outputs."""

import json
import re

import numpy as np
import pytest
from PIL import Image

from hf_fair.cli import main
from hf_fair.cluster import ClusterArguments, _merge_small, cluster_features, cluster_groups, encode, write_cluster_report
from hf_fair.data import load_group_dataset, spec_of
from hf_fair.errors import HfFairError


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """k-means on a few hundred points gains nothing from threads; on a shared 2-core machine they only contend."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        yield


@pytest.fixture(scope="module")
def biased():
    dsd, _ = load_group_dataset(dataset="colored-digits", severity=0.99)
    return dsd


def _blobs(sizes, seed=0):
    """Well-separated 2-d Gaussian blobs (unit variance, centres 12 apart)."""
    rng = np.random.default_rng(seed)
    centres = [(0, 0), (12, 0), (0, 12), (12, 12)]
    parts = [rng.normal(size=(n, 2)) + centres[i] for i, n in enumerate(sizes)]
    truth = np.concatenate([np.full(n, i) for i, n in enumerate(sizes)])
    return np.concatenate(parts), truth


# ------------------------------------------------------------------ the algorithm
def test_auto_k_finds_separated_blobs():
    x, truth = _blobs([20, 20, 20])
    labels, rep = cluster_features(x, None, k_max=6, min_size=5, pca_dim=0, seed=0)
    assert rep["k"] == 3 and rep["rule"].startswith("k chosen by the highest silhouette")
    assert set(rep["silhouette"]) == {2, 3, 4, 5, 6}  # 2..min(k_max, n // min_size)
    assert max(rep["silhouette"], key=rep["silhouette"].get) == 3
    # the partition is the true one (up to renaming)
    from sklearn.metrics import adjusted_rand_score

    assert adjusted_rand_score(truth, labels) == pytest.approx(1.0)


def test_small_clusters_are_merged_into_the_nearest():
    x, truth = _blobs([30, 20, 3])
    labels, rep = cluster_features(x, 3, k_max=6, min_size=5, pca_dim=0, seed=0)
    assert rep["k_before_merge"] == 3 and rep["k"] == 2
    sizes = np.bincount(labels)
    assert sizes.min() >= 5 and sizes.sum() == len(x)
    assert list(sizes) == sorted(sizes, reverse=True)  # cluster 0 is the largest
    # merging is nearest-centroid: the 3-point blob joins one of the others whole
    assert len(set(labels[truth == 2].tolist())) == 1


def test_merge_small_renumbers_by_size():
    x = np.array([[0.0], [0.1], [0.2], [10.0], [10.1], [5.0]])
    out = _merge_small(np.array([0, 0, 0, 1, 1, 2]), x, min_size=2)
    # the singleton at 5.0 joins the nearer centroid (0.1, not 10.05); ids 0.. by decreasing size
    assert out.tolist() == [0, 0, 0, 1, 1, 0]
    # a partition that already respects the minimum is only renumbered
    assert _merge_small(np.array([1, 1, 0, 1]), np.zeros((4, 1)), min_size=1).tolist() == [0, 0, 1, 0]


def test_small_group_is_one_cluster():
    x, _ = _blobs([4, 4])
    labels, rep = cluster_features(x, None, k_max=6, min_size=5, pca_dim=0, seed=0)
    assert labels.tolist() == [0] * 8 and rep["k"] == 1 and "too small" in rep["rule"]
    with pytest.raises(HfFairError, match="empty group"):
        cluster_features(np.zeros((0, 3)), None, 6, 5, 0, 0)


def test_fixed_k_and_bad_k():
    x, _ = _blobs([15, 15])
    labels, rep = cluster_features(x, 2, k_max=6, min_size=1, pca_dim=0, seed=0)
    assert rep["k"] == 2 and rep["rule"] == "fixed k"
    with pytest.raises(HfFairError, match="'three'"):
        ClusterArguments(k="three").k_value()
    with pytest.raises(HfFairError, match=">= 1, got 0"):
        ClusterArguments(k="0").k_value()
    assert ClusterArguments(k="4").k_value() == 4 and ClusterArguments().k_value() is None


def test_pixel_encoder_and_unknown_encoder():
    ims = [Image.new("RGB", (32, 32), (i * 40, 0, 0)) for i in range(3)]
    f = encode(ims, "pixels")
    assert f.shape == (3, 256) and f.min() >= 0 and f.max() <= 1
    assert not np.allclose(f[0], f[2])
    with pytest.raises(HfFairError, match="unknown --encoder 'sift'"):
        encode(ims, "sift")


# ------------------------------------------------------------------ on the dataset
def test_cluster_groups_auto_k(biased):
    spec = spec_of(biased)
    out, report = cluster_groups(biased, ClusterArguments(reference_column="digit"))
    train = out["train"]
    clusters, groups = np.asarray(train["cluster"]), np.asarray(train["group"])
    assert len(clusters) == len(biased["train"]) and clusters.min() >= 0
    assert set(report["groups"]) == set(spec.group_names)
    for g, name in enumerate(spec.group_names):
        rep = report["groups"][name]
        n = int((groups == g).sum())
        assert rep["n"] == n and rep["k"] >= 1
        assert sum(rep["sizes"]) == n
        assert np.bincount(clusters[groups == g]).tolist() == rep["sizes"]
        assert len(rep["sizes"]) == rep["k"]
        # no cluster below the minimum unless the whole group is (the 4-image groups)
        assert min(rep["sizes"]) >= min(5, n)
        assert -1.0 <= rep["adjusted_rand_index"] <= 1.0
    # the two large groups split; the 4-image ones cannot
    assert report["groups"]["small|red"]["k"] >= 2 and report["groups"]["small|green"]["k"] == 1
    # pixel clusters of red small digits follow the digit identity to a good degree
    assert report["groups"]["small|red"]["adjusted_rand_index"] > 0.3
    # spec kept; other splits untouched; re-clustering replaces the column instead of failing
    assert spec_of(out).group_names == spec.group_names
    assert "cluster" not in out["test"].column_names
    again, _ = cluster_groups(out, ClusterArguments(k="2"))
    assert again["train"].column_names.count("cluster") == 1


def test_min_cluster_size_merges(biased):
    out, report = cluster_groups(biased, ClusterArguments(k="6", min_cluster_size=60))
    for name, rep in report["groups"].items():
        if rep["n"] >= 120:
            assert rep["k_before_merge"] == 6
            assert min(rep["sizes"]) >= 60, (name, rep["sizes"])
            assert rep["k"] < 6
        else:
            assert rep["sizes"] == [rep["n"]]


def test_cluster_groups_bad_input(biased):
    with pytest.raises(HfFairError, match="'hue_bucket'"):
        cluster_groups(biased, ClusterArguments(reference_column="hue_bucket"))
    with pytest.raises(HfFairError, match="--split 'dev'"):
        cluster_groups(biased, ClusterArguments(split="dev"))
    # a group without images is named
    train = biased["train"]
    no_g0 = train.select(np.flatnonzero(np.asarray(train["group"]) != 0))
    dsd = type(biased)({"train": no_g0})
    from hf_fair.data.groups import attach_spec

    attach_spec(dsd, spec_of(biased))
    with pytest.raises(HfFairError, match=re.escape("group 'small|red' has no images in split 'train'")):
        cluster_groups(dsd, ClusterArguments())


def test_report_markdown_without_ari(tmp_path):
    report = {"groups": {"a|b": {"n": 10, "k": 2, "sizes": [6, 4], "rule": "fixed k"}}}
    write_cluster_report(report, tmp_path)
    md = (tmp_path / "clusters.md").read_text()
    assert "ARI" not in md and "a\\|b" in md and "[6, 4]" in md
    assert json.loads((tmp_path / "clusters.json").read_text()) == report


# ------------------------------------------------------------------ the CLI
def test_cli_writes_report_and_grids(tmp_path, capsys, biased):
    out = tmp_path / "clusters"
    argv = ["cluster", "colored-digits", "--severity", "0.99", "--reference_column", "digit", "--output_dir", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "| ARI |" in printed and f"wrote {out}" in printed
    files = sorted(p.name for p in out.iterdir())
    assert files == ["clusters.json", "clusters.md", "clusters_group0.png", "clusters_group1.png", "clusters_group2.png", "clusters_group3.png"]
    report = json.loads((out / "clusters.json").read_text())
    assert report["dataset"] == {"name": "colored-digits", "severity": 0.99, "seed": 0}
    assert report["settings"]["reference_column"] == "digit" and report["encoder"] == "pixels"
    assert len(report["assignments"]) == len(biased["train"])
    groups = np.asarray(biased["train"]["group"])
    assign = np.asarray(report["assignments"])
    for g, name in enumerate(spec_of(biased).group_names):
        assert np.bincount(assign[groups == g]).tolist() == report["groups"][name]["sizes"]
        assert "adjusted_rand_index" in report["groups"][name]
    md = (out / "clusters.md").read_text()
    assert md.count("\n") == 2 + 4 and "small\\|red" in md
    with Image.open(out / "clusters_group0.png") as im:
        assert im.size[0] > 50 and im.size[1] > 50
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".clusters.tmp")]

    # a non-empty output folder is refused without --overwrite, and left as it was
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    assert main(argv[:-2] + ["--k", "2", "--output_dir", str(out)]) == 2
    err = capsys.readouterr().err
    assert "--overwrite" in err and str(out) in err
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before
    assert main(argv[:-2] + ["--k", "2", "--output_dir", str(out), "--overwrite"]) == 0
    capsys.readouterr()
    report = json.loads((out / "clusters.json").read_text())
    assert report["settings"]["k"] == "2"
    assert all(rep["k"] <= 2 for rep in report["groups"].values())


def test_cli_needs_output(capsys):
    assert main(["cluster", "colored-digits", "--severity", "0.99"]) == 2
    assert "--output_dir is required" in capsys.readouterr().err
