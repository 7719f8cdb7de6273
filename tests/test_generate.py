"""Group-balanced generation: sources, quotas, determinism, resume, quality filter, fidelity, card, Hub.

Images come from the embedded tiny base with 2 sampling steps and a few images per group; the
adapters are trained for 1-2 steps on a small slice of colored-digits (severity 0.99).
"""

import json
import logging
import shutil
from pathlib import Path

import datasets
import numpy as np
import pytest
from fixtures import first_per_group
import torch
from PIL import Image

from hf_fair.cli import main
from hf_fair.data import DataArguments, load_group_dataset, spec_of
from hf_fair.data.groups import attach_spec
from hf_fair.generate import core as gen_mod
from hf_fair.adapters.config import AdapterArguments
from hf_fair.generate.fidelity import frechet_distance, resolve_encoder
from hf_fair.generate.core import generate_dataset
from hf_fair.generate.config import GenerateArguments, fingerprint
from hf_fair.generate.plan import DrawUnit, assign, image_seed, make_shards, split_quota
from hf_fair.judges.quality import blank_mask, check_images
from hf_fair.adapters.train import train_adapters
from hf_fair.errors import HfFairError

COLUMNS = ["image", "label", "attribute", "group", "cluster", "source", "prompt", "seed", "adapter", "slot"]
DATA = DataArguments(dataset="colored-digits", severity=0.99)
FAST = dict(images_per_group=6, num_inference_steps=2, shard_size=2, batch_size=4, fidelity=False, grid=False)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """The tiny base gains nothing from intra-op threads; on a shared 2-core machine they only contend."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def small():
    """colored-digits at severity 0.99 with at most 12 images of each group per split."""
    dsd, _ = load_group_dataset(DATA)
    spec = spec_of(dsd)

    def take(ds, n):
        return first_per_group(ds, n, spec.n_groups)

    return attach_spec(datasets.DatasetDict({"train": take(dsd["train"], 12), "test": take(dsd["test"], 12)}), spec)


def run(out, dsd, **kw):
    return generate_dataset(GenerateArguments(output_dir=str(out), **{**FAST, **kw}), DATA, dsd=dsd)


def pixels(ds) -> np.ndarray:
    return np.stack([np.asarray(im) for im in ds["image"]])


@pytest.fixture(scope="module")
def vanilla_run(tmp_path_factory):
    """The CLI on the real dataset: vanilla source, 6 images per group, fidelity report and grid."""
    out = tmp_path_factory.mktemp("synth") / "vanilla"
    argv = ["generate", "--dataset", "colored-digits", "--severity", "0.99", "--source", "vanilla", "--images_per_group", "6",
            "--num_inference_steps", "2", "--shard_size", "2", "--batch_size", "4", "--output_dir", str(out)]
    assert main(argv) == 0
    return out, argv


@pytest.fixture(scope="module")
def lora_adapters(small, tmp_path_factory):
    out = tmp_path_factory.mktemp("adapters") / "lora"
    train_adapters(AdapterArguments(output_dir=str(out), method="lora", max_train_steps=2, train_batch_size=2), DATA, dsd=small)
    return out


@pytest.fixture(scope="module")
def db_cluster_adapters(small, tmp_path_factory):
    from hf_fair.cluster import ClusterArguments

    out = tmp_path_factory.mktemp("adapters") / "dbc"
    train_adapters(AdapterArguments(output_dir=str(out), method="dreambooth", unit="cluster", max_train_steps=1, train_batch_size=2),
                   DATA, dsd=small, cluster_args=ClusterArguments(k="2", min_cluster_size=1))
    return out


# ------------------------------------------------------------------ plan
def test_split_quota():
    assert split_quota(10, [1, 1, 1]) == [4, 3, 3]  # ties go to the earlier unit
    assert split_quota(100, [30, 10]) == [75, 25]
    assert split_quota(7, [5, 5, 90]) == [1, 0, 6]  # remainders .35, .35, .3: one extra to the first
    for total, w in [(13, [7, 3, 1]), (200, [92, 80, 73, 69, 54, 37]), (1, [4, 4]), (0, [2, 3])]:
        out = split_quota(total, w)
        assert sum(out) == total and all(o >= 0 for o in out)
        exact = [total * x / sum(w) for x in w]
        assert all(abs(o - e) < 1 for o, e in zip(out, exact))  # largest remainder: within one of exact
    assert split_quota(10, [9, 1, 1, 1], "uniform") == [3, 3, 2, 2]
    assert split_quota(3, [100, 1, 1, 1, 1], "uniform") == [1, 1, 1, 0, 0]
    with pytest.raises(HfFairError, match="positive"):
        split_quota(5, [0, 0])
    with pytest.raises(HfFairError, match="'even'"):
        split_quota(5, [1, 2], "even")


def test_shards_seeds_and_assignment():
    u = {0: [DrawUnit("g0c0", 0, 0, "dreambooth_cluster", "unet", "p", weight=3), DrawUnit("g0c1", 0, 1, "dreambooth_cluster", "unet", "p", weight=1)],
         1: [DrawUnit("g1", 1, None, "lora", "lora", "q")]}
    shards = make_shards(u, quota=8, shard_size=4)
    # group 0: 6 slots for c0 (0-5), 2 for c1 (6-7); group 1: 8 slots
    assert [(s.unit.name, s.start, s.stop) for s in shards] == [("g0c0", 0, 4), ("g0c0", 4, 6), ("g0c1", 6, 8), ("g1", 0, 4), ("g1", 4, 8)]
    assert shards[0].id == "g0c0-s0000000" and list(shards[2].slots) == [6, 7] and len(shards[1]) == 2
    uni = make_shards(u, quota=8, shard_size=8, cluster_quota="uniform")
    assert [len(s) for s in uni] == [4, 4, 8]
    # contiguous, disjoint slices covering everything
    for world in (1, 2, 3, 7):
        parts = [assign(shards, r, world) for r in range(world)]
        assert [s for p in parts for s in p] == shards
    # seeds: deterministic, distinct per group/slot/attempt, int64-sized
    seeds = {image_seed(0, g, s, a) for g in range(4) for s in range(50) for a in range(3)}
    assert len(seeds) == 600 and max(seeds) < 2**63
    assert image_seed(0, 1, 2, 0) == image_seed(0, 1, 2, 0) != image_seed(1, 1, 2, 0)
    with pytest.raises(HfFairError, match=">= 1"):
        make_shards(u, quota=0, shard_size=4)


# ------------------------------------------------------------------ vanilla through the CLI
def test_vanilla_gives_exact_counts_and_columns(vanilla_run):
    out, _ = vanilla_run
    dsd = datasets.load_from_disk(str(out))
    ds = dsd["train"]
    spec = spec_of(dsd)
    assert ds.column_names == COLUMNS
    assert ds.features["group"].names == list(spec.group_names)
    groups = np.asarray(ds["group"])
    assert np.bincount(groups, minlength=4).tolist() == [6, 6, 6, 6]
    result = json.loads((out / "generation.json").read_text())
    assert result["finished"] and result["counts"] == {name: 6 for name in spec.group_names}
    assert result["source"] == "vanilla" and result["adapters"] is None and result["base"] == "embedded"
    assert set(ds["source"]) == {"vanilla"} and set(ds["adapter"]) == {None} and set(ds["cluster"]) == {None}
    for g in range(4):
        rows = ds.select(np.flatnonzero(groups == g))
        y, a = spec.split_group(g)
        assert set(rows["label"]) == {y} and set(rows["attribute"]) == {a}
        assert rows["slot"] == list(range(6))
        # five prompt variants ("a red digit 0" ... "a red digit 4"): the quota is spread over them
        assert set(rows["prompt"]) == set(spec.prompt_variants(g))
        attempts = [next(k for k in range(8) if image_seed(0, g, s, k) == sd) for s, sd in zip(rows["slot"], rows["seed"])]
        assert attempts == [0] * 6 or result["filter"][spec.group_names[g]]["rejected_blank"] > 0
    assert all(im.size == (32, 32) for im in ds["image"])
    files = sorted(p.name for p in out.iterdir())
    assert {"README.md", "generation.json", "fidelity.json", "fidelity.md", "grid.png", "dataset_dict.json", "train"} <= set(files)
    assert ".partial" not in files and not [p for p in out.parent.iterdir() if p.name.startswith(".vanilla.tmp")]
    with Image.open(out / "grid.png") as grid:
        assert grid.size[0] > 8 * 32 and grid.size[1] > 4 * 32


def test_fidelity_report(vanilla_run):
    out, _ = vanilla_run
    report = json.loads((out / "fidelity.json").read_text())
    assert report["encoder"] == "reference" and report["split"] == "test"
    assert report["n_real"] == {"small|red": 134, "small|green": 134, "large|red": 134, "large|green": 134}
    src = report["sources"]["vanilla"]
    assert src["n"] == 24 and set(src["per_group"]) == set(report["n_real"])
    for name, v in src["per_group"].items():
        assert v["n"] == 6 and v["frechet"] >= 0
        for k in ("label_acc", "attribute_acc", "group_acc"):
            assert 0.0 <= v[k] <= 1.0
    assert 0.5 < report["probe_cv_accuracy"]["attribute"] <= 1.0
    md = (out / "fidelity.md").read_text()
    assert "| vanilla | small\\|red | 6 |" in md and "**all**" in md
    result = json.loads((out / "generation.json").read_text())
    assert result["fidelity"] == {"file": "fidelity.json", "split": "test", "encoder": "reference"}


def test_frechet_distance():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(400, 5))
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    near = frechet_distance(a, a + 0.5)
    far = frechet_distance(a, a + 2.0)
    assert near == pytest.approx(5 * 0.25, rel=1e-4) and far == pytest.approx(5 * 4.0, rel=1e-4)
    assert 0 < near < far
    with pytest.raises(HfFairError, match="at least 2 images"):
        frechet_distance(a[:1], a)
    assert resolve_encoder("auto", "colored-digits") == "reference"
    # colored-mnist is of the embedded world too: the reference encoder never saw MNIST
    assert resolve_encoder("auto", "colored-mnist") == "reference"
    assert resolve_encoder("pixels", "colored-mnist") == "pixels"
    with pytest.raises(HfFairError, match="--fidelity_encoder timm") as e:
        resolve_encoder("auto", "celeba")
    assert "'celeba'" in str(e.value) and "colored-mnist" in str(e.value)
    # the run's oracle is the runner's: on its own, the error names the stock replacement
    with pytest.raises(HfFairError, match="classifier:<folder"):
        resolve_encoder("oracle", "colored-mnist")


def test_generate_with_the_runs_oracle_fails_before_drawing(tmp_path, capsys):
    out = tmp_path / "x"
    argv = ["generate", "--dataset", "colored-digits", "--severity", "0.99", "--source", "vanilla", "--images_per_group", "2",
            "--num_inference_steps", "2", "--fidelity_encoder", "oracle", "--output_dir", str(out)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --fidelity_encoder oracle") and len(err.strip().splitlines()) == 1 and not out.exists()


def test_a_classifier_folder_is_a_fidelity_encoder(tmp_path):
    """classifier:<folder>: the features before the last layer of a saved classifier."""
    import timm
    from PIL import Image

    from hf_fair.classify.models import save_checkpoint
    from hf_fair.generate.fidelity import features

    save_checkpoint(timm.create_model("resnet10_s1", num_classes=2), tmp_path / "m", input_size=16, label_names=["small", "large"])
    images = [Image.new("RGB", (32, 32), c) for c in ((200, 0, 0), (0, 200, 0), (0, 0, 0))]
    x = features(images, f"classifier:{tmp_path / 'm'}")
    width = timm.create_model("resnet10_s1", num_classes=2).num_features
    assert x.shape == (3, width + 3) and x.dtype == np.float64 and np.isfinite(x).all()
    assert not np.allclose(x[0], x[1])  # red and green read differently
    # the last three are the colour maxima (in [0, 1]): the red image's red channel is the highest
    assert np.argmax(x[0, -3:]) == 0 and np.argmax(x[1, -3:]) == 1 and x[2, -3:].max() == x[2, -3:].min()


def test_card_lists_counts_per_group(vanilla_run):
    out, _ = vanilla_run
    card = (out / "README.md").read_text()
    assert card.startswith("---\n") and "license: cc-by-4.0" in card and "- vanilla" in card
    assert "Every group of the real data has 6 images" in card
    for name in ("small\\|red", "small\\|green", "large\\|red", "large\\|green"):
        assert f"| {name} | 6 | " in card
    assert "hf-fair generate --dataset colored-digits --severity 0.99 --source vanilla" in card
    assert "## Fidelity to the real data" in card


def test_cli_prints_counts_and_finished_rerun_is_a_no_op(vanilla_run, capsys, caplog):
    out, argv = vanilla_run
    mtimes = {p: p.stat().st_mtime_ns for p in out.rglob("*")}
    caplog.set_level(logging.INFO)
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "already holds this dataset" in caplog.text
    assert "small|red" in printed and "6 images" in printed and f"wrote {out}" in printed
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*")} == mtimes


def test_same_request_same_images(vanilla_run, small, tmp_path):
    """Same request and seed in another folder (other batch and shard sizes, other real data
    around it) gives the same images, seeds and prompts."""
    out, _ = vanilla_run
    ref = datasets.load_from_disk(str(out))["train"]
    again = run(tmp_path / "again", small, shard_size=3, batch_size=4)
    ds = datasets.load_from_disk(str(tmp_path / "again"))["train"]
    assert again["counts"] == json.loads((out / "generation.json").read_text())["counts"]
    for col in ("group", "slot", "seed", "prompt"):
        assert ds[col] == ref[col]
    assert np.array_equal(pixels(ds), pixels(ref))
    other = run(tmp_path / "seed1", small, seed=1, images_per_group=2)
    assert other["counts"]["small|red"] == 2
    assert datasets.load_from_disk(str(tmp_path / "seed1"))["train"]["seed"][0] == image_seed(1, 0, 0, 0)


# ------------------------------------------------------------------ adapters
def test_lora_source(lora_adapters, small, tmp_path):
    from hf_fair.adapters.manifest import read_manifest

    manifest = read_manifest(lora_adapters)
    result = run(tmp_path / "lora", small, source="lora", adapters=str(lora_adapters), images_per_group=4)
    ds = datasets.load_from_disk(str(tmp_path / "lora"))["train"]
    assert np.bincount(ds["group"], minlength=4).tolist() == [4, 4, 4, 4]
    assert set(ds["source"]) == {"lora"} and set(ds["cluster"]) == {None}
    for g in range(4):
        rows = ds.select(np.flatnonzero(np.asarray(ds["group"]) == g))
        assert set(rows["adapter"]) == {f"g{g}"} and set(rows["prompt"]) == {manifest["units"][g]["prompt"]}
        assert rows["slot"] == [0, 1, 2, 3]
    assert result["adapters"] == {"id": str(lora_adapters), "method": "lora", "unit": "group", "base": "embedded"}
    assert [u["images"] for u in result["units"]] == [4, 4, 4, 4]
    # adapters change the images: the base with the same prompts and seeds draws others
    run(tmp_path / "base", small, images_per_group=4, prompt_template="a {attribute} handwritten digit, {label}")
    base_ds = datasets.load_from_disk(str(tmp_path / "base"))["train"]
    assert base_ds["prompt"] == ds["prompt"] and base_ds["seed"] == ds["seed"]
    ours, theirs = pixels(ds), pixels(base_ds)
    assert all(not np.array_equal(x, y) for x, y in zip(ours, theirs))  # every image, in every group


def test_adapters_from_the_hub_cache_offline(lora_adapters, small, tmp_path, monkeypatch):
    """--adapters <namespace/name> reads a cached snapshot with HF_HUB_OFFLINE=1 and draws the
    same images as the local folder it was published from."""
    from fixtures import populate_hub_cache

    populate_hub_cache(lora_adapters, tmp_path / "hub", "me/digit-loras", "89abcdef0123456789abcdef0123456789abcdef", monkeypatch)
    hub = run(tmp_path / "hub-out", small, source="lora", adapters="me/digit-loras", images_per_group=2)
    local = run(tmp_path / "local-out", small, source="lora", adapters=str(lora_adapters), images_per_group=2)
    assert hub["adapters"]["id"] == "me/digit-loras"
    assert hub["fingerprint"] == local["fingerprint"]  # same manifest content, same request
    a = datasets.load_from_disk(str(tmp_path / "hub-out"))["train"]
    b = datasets.load_from_disk(str(tmp_path / "local-out"))["train"]
    assert a["adapter"] == b["adapter"] and np.array_equal(pixels(a), pixels(b))
    with pytest.raises(HfFairError, match="could not fetch adapters 'me/other-loras'"):
        run(tmp_path / "x", small, source="lora", adapters="me/other-loras")


def test_unit_switcher_restores_the_base(lora_adapters, db_cluster_adapters, small):
    from hf_fair.diffusion.base import load_base
    from hf_fair.generate.sources import UnitSwitcher, adapter_units

    pipe = load_base("embedded")
    pipe.set_progress_bar_config(disable=True)
    base_state = {k: v.clone() for k, v in pipe.unet.state_dict().items()}
    switcher = UnitSwitcher(pipe)
    lora_units, _ = adapter_units(lora_adapters, "lora", spec_of(small))
    db_units, _ = adapter_units(db_cluster_adapters, "dreambooth_cluster", spec_of(small))
    for unit in (lora_units[1][0], db_units[0][0], lora_units[3][0]):
        switcher.activate(unit)
        assert any(not torch.equal(v, base_state[k]) for k, v in pipe.unet.state_dict().items())
        # LoRA is fused and its layers removed: the UNet keeps the base's parameter names
        assert set(pipe.unet.state_dict()) == set(base_state)
    switcher.restore_base()
    assert all(torch.equal(v, base_state[k]) for k, v in pipe.unet.state_dict().items())


def test_unet_only_lora_fuses_as_the_pipeline_call_does(lora_adapters, small):
    """A UNet-only LoRA goes through ``unet.load_lora_adapter`` (the pipeline's call warns that the text
    encoder has no keys, once per unit): the fused weights are the pipeline call's, bit for bit."""
    from hf_fair.diffusion.base import load_base
    from hf_fair.generate.sources import UnitSwitcher, adapter_units

    unit = adapter_units(lora_adapters, "lora", spec_of(small))[0][1][0]
    ours = load_base("embedded")
    UnitSwitcher(ours).activate(unit)
    stock = load_base("embedded")
    stock.load_lora_weights(str(unit.path), adapter_name="u")
    stock.fuse_lora(components=["unet"], lora_scale=1.0, adapter_names=["u"])
    stock.unload_lora_weights()
    theirs = stock.unet.state_dict()
    assert set(ours.unet.state_dict()) == set(theirs)
    assert all(torch.equal(v, theirs[k]) for k, v in ours.unet.state_dict().items())


def test_dreambooth_cluster_splits_quota_by_cluster_size(db_cluster_adapters, small, tmp_path):
    from hf_fair.adapters.manifest import read_manifest

    manifest = read_manifest(db_cluster_adapters)
    result = run(tmp_path / "dbc", small, source="dreambooth_cluster", adapters=str(db_cluster_adapters), images_per_group=6)
    ds = datasets.load_from_disk(str(tmp_path / "dbc"))["train"]
    assert np.bincount(ds["group"], minlength=4).tolist() == [6, 6, 6, 6]
    assert set(ds["source"]) == {"dreambooth_cluster"}
    by_group = {}
    for u in manifest["units"]:
        by_group.setdefault(u["group"], []).append(u)
    assert max(len(v) for v in by_group.values()) > 1  # some group has several clusters
    for g, units in by_group.items():
        quotas = split_quota(6, [u["cluster_size"] for u in units])
        rows = ds.select(np.flatnonzero(np.asarray(ds["group"]) == g))
        for u, q in zip(units, quotas):
            mine = [i for i, c in enumerate(rows["cluster"]) if c == u["cluster"]]
            assert len(mine) == q, (u["name"], q)
            assert {rows["adapter"][i] for i in mine} <= {u["name"]}
            assert {rows["prompt"][i] for i in mine} <= {u["prompt"]}
            assert u["token"] in u["prompt"]
    assert result["adapters"]["method"] == "dreambooth" and result["adapters"]["unit"] == "cluster"
    # uniform split over clusters is a different request
    uni = run(tmp_path / "dbc-uniform", small, source="dreambooth_cluster", adapters=str(db_cluster_adapters), images_per_group=6,
              cluster_quota="uniform")
    assert uni["fingerprint"] != result["fingerprint"]
    for g, units in by_group.items():
        assert [u["images"] for u in uni["units"] if u["group"] == g] == split_quota(6, [1] * len(units), "uniform")


def test_source_must_fit_the_adapters(lora_adapters, small, tmp_path):
    with pytest.raises(HfFairError, match="serve --source lora, not --source dreambooth"):
        run(tmp_path / "x", small, source="dreambooth", adapters=str(lora_adapters))
    assert not (tmp_path / "x").exists()


# ------------------------------------------------------------------ bad input
def test_adapters_folder_without_manifest(small, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(HfFairError, match="has no manifest.json"):
        run(tmp_path / "out", small, source="lora", adapters=str(tmp_path / "empty"))
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "manifest.json").write_text("{not json")
    with pytest.raises(HfFairError, match="is not valid JSON"):
        run(tmp_path / "out", small, source="lora", adapters=str(tmp_path / "broken"))


def _copy_adapters(src: Path, dst: Path, edit) -> Path:
    shutil.copytree(src, dst)
    m = json.loads((dst / "manifest.json").read_text())
    edit(m)
    (dst / "manifest.json").write_text(json.dumps(m))
    return dst


def test_manifest_of_other_groups_is_refused(lora_adapters, small, tmp_path):
    def rename(m):
        m["dataset"]["group_names"] = ["a", "b", "c", "d"]

    other = _copy_adapters(lora_adapters, tmp_path / "other", rename)
    with pytest.raises(HfFairError, match=r"trained for groups \['a', 'b', 'c', 'd'\].*'small\|red'"):
        run(tmp_path / "out", small, source="lora", adapters=str(other))


def test_group_without_adapter(lora_adapters, small, tmp_path):
    def drop_g2(m):
        m["units"] = [u for u in m["units"] if u["group"] != 2]

    partial = _copy_adapters(lora_adapters, tmp_path / "partial", drop_g2)
    with pytest.raises(HfFairError, match=r"no unit for group 2 \(large\|red\).*--fallback_vanilla"):
        run(tmp_path / "out", small, source="lora", adapters=str(partial))
    result = run(tmp_path / "out", small, source="lora", adapters=str(partial), fallback_vanilla=True, images_per_group=3)
    ds = datasets.load_from_disk(str(tmp_path / "out"))["train"]
    assert np.bincount(ds["group"], minlength=4).tolist() == [3, 3, 3, 3]
    g2 = ds.select(np.flatnonzero(np.asarray(ds["group"]) == 2))
    assert set(g2["source"]) == {"vanilla"} and set(g2["adapter"]) == {None}
    assert set(g2["prompt"]) <= set(spec_of(small).prompt_variants(2))
    g1 = ds.select(np.flatnonzero(np.asarray(ds["group"]) == 1))
    assert set(g1["adapter"]) == {"g1"}
    assert result["counts"]["large|red"] == 3
    # a unit whose weights are gone is named
    (partial / "units" / "g1" / "pytorch_lora_weights.safetensors").unlink()
    with pytest.raises(HfFairError, match="unit g1 lists 'units/g1'.*missing"):
        run(tmp_path / "out2", small, source="lora", adapters=str(partial), fallback_vanilla=True)


def test_output_folder_rules(small, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("keep me")
    with pytest.raises(HfFairError, match="not empty and holds no resumable synthetic dataset.*--overwrite"):
        run(out, small, images_per_group=1)
    assert (out / "mine.txt").read_text() == "keep me"
    # through the CLI: one error line, exit status 2
    code = main(["generate", "--source", "vanilla", "--images_per_group", "1", "--num_inference_steps", "2", "--output_dir", str(out)])
    assert code == 2 and "--overwrite" in capsys.readouterr().err
    run(out, small, images_per_group=1, overwrite=True)
    assert not (out / "mine.txt").exists()
    assert len(datasets.load_from_disk(str(out))["train"]) == 4
    with pytest.raises(HfFairError, match="is a file"):
        run(out / "dataset_dict.json", small)


def test_argument_checks():
    with pytest.raises(HfFairError, match="needs --adapters"):
        GenerateArguments(source="lora", images_per_group=4)
    with pytest.raises(HfFairError, match="does not apply to --source vanilla"):
        GenerateArguments(adapters="x/y", images_per_group=4)
    with pytest.raises(HfFairError, match="exactly one of"):
        GenerateArguments(images_per_group=4, match="largest")
    with pytest.raises(HfFairError, match="exactly one of"):
        GenerateArguments()
    with pytest.raises(HfFairError, match="--source must be one of"):
        GenerateArguments(source="gan", images_per_group=4)
    with pytest.raises(HfFairError, match=r"\{digit\}"):
        GenerateArguments(images_per_group=4, prompt_template="a {digit}")
    a, b = GenerateArguments(images_per_group=4, batch_size=8, output_dir="a"), GenerateArguments(images_per_group=4, batch_size=2, output_dir="b")
    assert fingerprint(a, DATA, None) == fingerprint(b, DATA, None)  # batch size and folder cannot change the images
    assert fingerprint(a, DATA, None) != fingerprint(GenerateArguments(images_per_group=4, seed=1), DATA, None)


def test_match_largest(small, tmp_path):
    result = run(tmp_path / "m", small, images_per_group=None, match="largest", num_inference_steps=1, shard_size=12, batch_size=12)
    assert result["images_per_group"] == 12 and set(result["counts"].values()) == {12}


# ------------------------------------------------------------------ resume
def test_killed_run_resumes_without_regenerating(vanilla_run, small, tmp_path, monkeypatch):
    out = tmp_path / "resumed"
    real = gen_mod.generate_shard
    made = []

    def dies_after_two(pipe, switcher, shard, *a, **kw):
        if len(made) == 2:
            raise RuntimeError("killed")
        made.append(shard.id)
        return real(pipe, switcher, shard, *a, **kw)

    monkeypatch.setattr(gen_mod, "generate_shard", dies_after_two)
    with pytest.raises(RuntimeError, match="killed"):
        run(out, small)
    shards_dir = out / ".partial" / "shards"
    written = sorted(p.name for p in shards_dir.glob("*.arrow"))
    assert written == sorted(f"{s}.arrow" for s in made) and len(written) == 2
    assert not list(shards_dir.glob(".*.tmp*")) and not (out / "generation.json").exists()
    mtimes = {p.name: p.stat().st_mtime_ns for p in shards_dir.iterdir()}

    # another config in that folder is refused; the same one resumes
    with pytest.raises(HfFairError, match="holds synthetic dataset made with a different configuration.*--overwrite"):
        run(out, small, seed=5)
    assert {p.name: p.stat().st_mtime_ns for p in shards_dir.iterdir()} == mtimes

    second = []

    def counting(pipe, switcher, shard, *a, **kw):
        second.append(shard.id)
        return real(pipe, switcher, shard, *a, **kw)

    monkeypatch.setattr(gen_mod, "generate_shard", counting)
    result = run(out, small)
    assert not set(second) & set(made)  # the finished shards were not drawn again
    assert result["run"]["skipped_shards"] == 2 and result["run"]["generated_shards"] == len(second)
    assert len(second) + 2 == 4 * 5  # 6 slots over 5 prompts = shards of 2,1,1,1,1 per group
    # identical to the uninterrupted run
    ref = datasets.load_from_disk(str(vanilla_run[0]))["train"]
    ds = datasets.load_from_disk(str(out))["train"]
    for col in ("group", "slot", "seed", "prompt", "source"):
        assert ds[col] == ref[col]
    assert np.array_equal(pixels(ds), pixels(ref))
    assert not (out / ".partial").exists()


# ------------------------------------------------------------------ quality filter
def test_blank_mask_and_check_images():
    flat = Image.new("RGB", (32, 32), (120, 10, 200))
    black = Image.new("RGB", (32, 32), (0, 0, 0))
    rng = np.random.default_rng(0)
    noisy = Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))
    assert blank_mask([flat, noisy, black], 0.02).tolist() == [True, False, True]
    faint = np.zeros((1, 32, 32, 3), dtype=np.uint8)
    faint[0, :16] = 3  # std of ~1.2/255: still blank at 0.02
    assert blank_mask(faint, 0.02).tolist() == [True] and blank_mask(faint, 0.001).tolist() == [False]

    class Judge:
        def predict_groups(self, images):
            n = len(images)
            return np.ones(n, dtype=int), np.zeros(n, dtype=int)  # always "large|red" = group 2

    from hf_fair.data.groups import GroupSpec

    spec = GroupSpec(target="digit", attribute="colour", label_names=("small", "large"), attribute_names=("red", "green"))
    blank, wrong = check_images([flat, noisy], 2, spec, 0.02, Judge())
    assert blank.tolist() == [True, False] and wrong.tolist() == [False, False]
    blank, wrong = check_images([flat, noisy], 0, spec, 0.02, Judge())
    assert wrong.tolist() == [False, True]  # blank images are counted as blank only


def test_blank_draws_are_redrawn_with_a_new_seed(small, tmp_path, monkeypatch):
    real = gen_mod.sample
    first = {image_seed(0, g, 0, 0) for g in range(4)}  # slot 0 of every group, attempt 0

    def blank_slot0(pipe, prompts, seeds, *a, **kw):
        images = real(pipe, prompts, seeds, *a, **kw)
        return [Image.new("RGB", im.size, (0, 0, 0)) if s in first else im for im, s in zip(images, seeds)]

    monkeypatch.setattr(gen_mod, "sample", blank_slot0)
    result = run(tmp_path / "q", small, images_per_group=3)
    ds = datasets.load_from_disk(str(tmp_path / "q"))["train"]
    assert np.bincount(ds["group"], minlength=4).tolist() == [3, 3, 3, 3]
    for g in range(4):
        rows = ds.select(np.flatnonzero(np.asarray(ds["group"]) == g))
        assert rows["slot"] == [0, 1, 2]
        assert rows["seed"] == [image_seed(0, g, 0, 1), image_seed(0, g, 1, 0), image_seed(0, g, 2, 0)]
    assert not blank_mask(ds["image"], 0.02).any()
    for name, f in result["filter"].items():
        assert f == {"drawn": 4, "rejected_blank": 1, "rejected_wrong_group": 0, "kept_wrong_group": 0}, name
    card = (tmp_path / "q" / "README.md").read_text()
    assert "| small\\|red | 3 | 4 | 1 | 0 |" in card

    # a generator that only draws blanks: a clear error naming the unit, nothing finished
    monkeypatch.setattr(gen_mod, "sample", lambda pipe, prompts, seeds, *a, **kw: [Image.new("RGB", (32, 32))] * len(seeds))
    with pytest.raises(HfFairError, match=r"unit g0p0 \(small\|red\) drew only blank images for 1 slot\(s\) in 2 attempts"):
        run(tmp_path / "all-blank", small, images_per_group=2, max_attempts=2)
    assert not (tmp_path / "all-blank" / "generation.json").exists()
    # with the filter off, blanks are kept as drawn
    off = run(tmp_path / "off", small, images_per_group=2, quality_filter=False)
    assert all(f["rejected_blank"] == 0 and f["drawn"] == 2 for f in off["filter"].values())


# ------------------------------------------------------------------ Hub
class RecordingApi:
    def __init__(self):
        self.calls = []

    def create_repo(self, repo_id, **kw):
        self.calls.append(("create_repo", repo_id, kw))
        return f"https://huggingface.co/datasets/{repo_id}"

    def upload_folder(self, folder_path, repo_id, repo_type, commit_message):
        files = sorted(str(p.relative_to(folder_path)) for p in Path(folder_path).rglob("*") if p.is_file())
        self.calls.append(("upload_folder", repo_id, repo_type, files))
        self.loaded = datasets.load_dataset(folder_path)
        self.card = (Path(folder_path) / "README.md").read_text()


def test_push_to_hub(small, tmp_path):
    api = RecordingApi()
    args = GenerateArguments(output_dir=str(tmp_path / "pushed"), push_to_hub="me/synth-digits", **{**FAST, "images_per_group": 2})
    result = generate_dataset(args, DATA, dsd=small, api=api)
    assert result["hub_url"] == "https://huggingface.co/datasets/me/synth-digits"
    assert api.calls[0] == ("create_repo", "me/synth-digits", {"repo_type": "dataset", "private": False, "exist_ok": True})
    _, repo, repo_type, files = api.calls[1]
    assert (repo, repo_type, files) == ("me/synth-digits", "dataset", ["README.md", "data/train-00000-of-00001.parquet"])
    pushed = api.loaded["train"]
    assert pushed.num_rows == 8 and pushed.column_names == COLUMNS
    local = datasets.load_from_disk(str(tmp_path / "pushed"))["train"]
    assert pushed["seed"] == local["seed"] and np.array_equal(pixels(pushed), pixels(local))
    assert api.card == (tmp_path / "pushed" / "README.md").read_text()



def test_two_processes_split_the_shards_and_match_one_process(vanilla_run, tmp_path):
    """`accelerate launch --multi_gpu --num_processes 2` (gloo on CPU): every shard is drawn by
    exactly one rank and the dataset equals the single-process one image for image."""
    import os
    import subprocess
    import sys

    ref_out, argv = vanilla_run
    out = tmp_path / "two"
    flags = [a if a != str(ref_out) else str(out) for a in argv[1:]] + ["--fidelity", "false", "--grid", "false"]
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
           "--mixed_precision", "no", "--dynamo_backend", "no",
           str(Path(__file__).resolve().parents[1] / "training_scripts" / "generate_balanced.py"), *flags]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    result = json.loads((out / "generation.json").read_text())
    assert result["run"]["num_processes"] == 2
    single = json.loads((ref_out / "generation.json").read_text())
    assert result["run"]["generated_shards"] == single["run"]["generated_shards"] > 1  # all shards, none twice
    assert result["run"]["skipped_shards"] == 0
    ours, ref = datasets.load_from_disk(str(out))["train"], datasets.load_from_disk(str(ref_out))["train"]
    assert ours["seed"] == ref["seed"] and ours["slot"] == ref["slot"] and ours["prompt"] == ref["prompt"]
    assert np.array_equal(pixels(ours), pixels(ref))


# ------------------------------------------------------------------ captioned variant
@pytest.fixture(scope="module")
def db_captioned_adapters(small, tmp_path_factory):
    from hf_fair.cluster import ClusterArguments

    out = tmp_path_factory.mktemp("adapters") / "dbcc"
    train_adapters(AdapterArguments(output_dir=str(out), method="dreambooth", unit="cluster", max_train_steps=1, train_batch_size=2,
                                    caption_column="digit"), DATA, dsd=small, cluster_args=ClusterArguments(k="2", min_cluster_size=1))
    return out


def test_captioned_units_draw_caption_values_in_class_proportions(db_captioned_adapters, small, tmp_path):
    from hf_fair.adapters.manifest import read_manifest

    manifest = read_manifest(db_captioned_adapters)
    train = small["train"]
    for u in manifest["units"]:
        assert u["caption_column"] == "digit"
        y = u["group"] // 2
        digits = [d for d, label in zip(train["digit"], train["label"]) if label == y]
        # shares: the digits of the unit's *class* in the real training data, not only its own images
        assert u["caption_weights"] == pytest.approx({str(d): digits.count(d) / len(digits) for d in set(digits)})
        for value, prompt in u["caption_prompts"].items():
            assert prompt.endswith(f"handwritten digit {value}") and u["token"] in prompt
    result = run(tmp_path / "cap", small, source="dreambooth_cluster_captioned", adapters=str(db_captioned_adapters), images_per_group=12)
    ds = datasets.load_from_disk(str(tmp_path / "cap"))["train"]
    assert np.bincount(ds["group"], minlength=4).tolist() == [12] * 4
    for g in range(4):
        rows = ds.select(np.flatnonzero(np.asarray(ds["group"]) == g))
        drawn = {p.rsplit(" ", 1)[1] for p in rows["prompt"]}
        # a minority group with few real digits still draws every digit of its class
        assert drawn <= {str(d) for d in (range(5) if g < 2 else range(5, 10))} and len(drawn) >= 3
    assert sum(u["images"] for u in result["units"]) == 48 and all(u["caption"] is not None for u in result["units"])


def test_captioned_and_plain_sources_refuse_each_others_adapters(db_captioned_adapters, db_cluster_adapters, small, tmp_path):
    with pytest.raises(HfFairError, match="dreambooth_cluster_captioned"):
        run(tmp_path / "a", small, source="dreambooth_cluster", adapters=str(db_captioned_adapters))
    with pytest.raises(HfFairError, match="trained with --caption_column"):
        run(tmp_path / "b", small, source="dreambooth_cluster_captioned", adapters=str(db_cluster_adapters))
    with pytest.raises(HfFairError, match="caption_column 'colour'"):
        train_adapters(AdapterArguments(output_dir=str(tmp_path / "c"), caption_column="colour", max_train_steps=1), DATA, dsd=small)
    assert not (tmp_path / "c").exists()
