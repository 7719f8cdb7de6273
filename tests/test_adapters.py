"""Per-group / per-cluster adapters: manifest, cards, loading, resume, small units, Hub, 2 processes.

Everything trains on a small slice of colored-digits at severity 0.99 (12 images in each large
group, the 4 of each small one) for a handful of steps: the tests check the contract, not quality.
"""

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import datasets
import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from hf_fair.cli import main
from hf_fair.data import DataArguments, load_group_dataset, spec_of
from hf_fair.data.groups import attach_spec
from hf_fair.adapters import trainer as adapters_mod
from hf_fair.adapters.config import AdapterArguments
from hf_fair.adapters.manifest import read_manifest
from hf_fair.diffusion.embedded.tokenizer import RARE_TOKENS
from hf_fair.adapters.train import prepare_output, train_adapters
from hf_fair.adapters.units import plan_units
from hf_fair.errors import HfFairError

REPO = Path(__file__).resolve().parents[1]
LORA_FLAGS = ["--method", "lora", "--unit", "group", "--max_train_steps", "4", "--checkpointing_steps", "2", "--train_batch_size", "2"]
UNIT_KEYS = ("name", "group", "group_name", "cluster", "cluster_size", "n_images", "format", "method", "prompt", "class_prompt",
             "token", "rank", "lora_alpha", "steps", "learning_rate", "prior_preservation", "seed", "final_loss", "path", "warnings")


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """The tiny base gains nothing from intra-op threads; on a shared 2-core machine they only contend."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def small_biased(per_group: int = 12) -> datasets.DatasetDict:
    """colored-digits at severity 0.99, at most ``per_group`` images of each group per split."""
    dsd, _ = load_group_dataset(dataset="colored-digits", severity=0.99)
    spec = spec_of(dsd)

    def take(ds, n):
        g = np.asarray(ds["group"])
        return ds.select(np.sort(np.concatenate([np.flatnonzero(g == k)[:n] for k in range(spec.n_groups)])))

    out = datasets.DatasetDict({"train": take(dsd["train"], per_group), "validation": take(dsd["validation"], 4), "test": take(dsd["test"], 8)})
    return attach_spec(out, spec)


@pytest.fixture(scope="module")
def small():
    return small_biased()


@pytest.fixture(scope="module")
def small_path(small, tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "small"
    small.save_to_disk(str(path))
    return path


@pytest.fixture(scope="module")
def lora_run(small_path, tmp_path_factory):
    """One LoRA per group, trained once through the CLI; tests below only read it (or re-run it)."""
    out = tmp_path_factory.mktemp("adapters") / "lora"
    assert main(["adapters", "train", "--dataset", str(small_path), *LORA_FLAGS, "--output_dir", str(out)]) == 0
    return out


def _lora_tensors(unit_dir: Path) -> dict:
    return load_file(str(unit_dir / "pytorch_lora_weights.safetensors"))


# ------------------------------------------------------------------ manifest and cards
def test_lora_manifest_lists_every_unit(lora_run, small):
    spec = spec_of(small)
    m = read_manifest(lora_run)
    counts = np.bincount(np.asarray(small["train"]["group"]), minlength=4).tolist()
    assert counts == [12, 4, 4, 12]
    assert m["method"] == "lora" and m["unit"] == "group" and m["base"] == "embedded" and m["clustering"] is None
    assert m["dataset"]["group_names"] == list(spec.group_names) and m["dataset"]["train_group_counts"] == counts
    assert m["config"]["rank"] == 4 and m["config"]["learning_rate"] == 1e-3 and "output_dir" not in m["config"]
    assert "groups with fewer than 3 images train with a warning" in m["small_unit_rule"]
    assert [u["name"] for u in m["units"]] == ["g0", "g1", "g2", "g3"]
    for g, u in enumerate(m["units"]):
        assert all(k in u for k in UNIT_KEYS), set(UNIT_KEYS) - set(u)
        assert (u["group"], u["group_name"], u["cluster"], u["cluster_size"]) == (g, spec.group_names[g], None, None)
        assert u["n_images"] == counts[g]
        assert (u["method"], u["format"], u["rank"], u["lora_alpha"], u["steps"]) == ("lora", "lora", 4, 4, 4)
        assert u["prompt"] == spec.group_prompt(g) and u["token"] is None
        assert u["seed"] == g and np.isfinite(u["final_loss"]) and u["final_loss"] > 0
        assert u["path"] == f"units/g{g}" and u["warnings"] == []
        unit_dir = lora_run / u["path"]
        assert json.loads((unit_dir / "unit.json").read_text()) == u
        assert len(json.loads((unit_dir / "losses.json").read_text())) == 4
        assert not (unit_dir / "checkpoint.pt").exists()
        card = (unit_dir / "README.md").read_text()
        assert card.startswith("---\n") and "library_name: diffusers" in card and "- lora" in card
        assert f"group `{spec.group_names[g]}`" in card and f"pipe.load_lora_weights(\"<adapters>/units/g{g}\")" in card
        assert f"{counts[g]} real training image(s)" in card
    top = (lora_run / "README.md").read_text()
    assert "--source lora" in top and "4 adapters for base `embedded`" in top
    for g in range(4):
        assert f"| g{g} | {spec.group_names[g].replace('|', chr(92) + '|')} |" in top
    cfg = json.loads((lora_run / "adapters_config.json").read_text())
    assert len(cfg["fingerprint"]) == 16 and cfg["settings"]["training"]["max_train_steps"] == 4


def test_lora_loads_into_the_base_and_changes_images(lora_run):
    from diffusers import StableDiffusionPipeline

    from hf_fair.diffusion.base import load_base

    pipe = load_base("embedded")
    assert isinstance(pipe, StableDiffusionPipeline)
    prompt = read_manifest(lora_run)["units"][1]["prompt"]

    def draw():
        return pipe(prompt, num_inference_steps=3, generator=torch.Generator().manual_seed(7), output_type="np").images[0]

    before = draw()
    assert np.array_equal(before, draw())  # fixed seed: the base alone is deterministic
    pipe.load_lora_weights(str(lora_run / "units" / "g1"))
    after = draw()
    assert after.shape == before.shape == (32, 32, 3)
    assert np.abs(after - before).max() > 1e-4
    keys = list(_lora_tensors(lora_run / "units" / "g1"))
    assert keys and all(k.startswith("unet.") for k in keys) and any("lora_A" in k or "lora.down" in k for k in keys)


def test_units_get_distinct_weights(lora_run):
    a, b = _lora_tensors(lora_run / "units" / "g0"), _lora_tensors(lora_run / "units" / "g3")
    assert a.keys() == b.keys()
    assert any(not torch.equal(a[k], b[k]) for k in a)


# ------------------------------------------------------------------ re-runs
def test_rerun_skips_finished_units(lora_run, small_path, caplog):
    mtimes = {p: p.stat().st_mtime_ns for p in (lora_run / "units").rglob("*") if p.is_file()}
    caplog.set_level(logging.INFO)
    assert main(["adapters", "train", "--dataset", str(small_path), *LORA_FLAGS, "--output_dir", str(lora_run)]) == 0
    assert "4 of its 4 units already finished; skipping them" in caplog.text
    assert "final loss" not in caplog.text  # nothing trained
    assert {p: p.stat().st_mtime_ns for p in (lora_run / "units").rglob("*") if p.is_file()} == mtimes
    assert len(read_manifest(lora_run)["units"]) == 4


def test_other_config_is_refused(lora_run, small_path, capsys):
    before = sorted(str(p) for p in lora_run.rglob("*"))
    code = main(["adapters", "train", "--dataset", str(small_path), *LORA_FLAGS, "--rank", "8", "--output_dir", str(lora_run)])
    err = capsys.readouterr().err
    assert code == 2
    assert "different configuration" in err and "rank: 4 -> 8" in err and "--overwrite" in err and str(lora_run) in err
    assert sorted(str(p) for p in lora_run.rglob("*")) == before


def test_prepare_output_rules(tmp_path):
    a = {"fingerprint": "a" * 16, "settings": {"training": {"rank": 4}}}
    b = {"fingerprint": "b" * 16, "settings": {"training": {"rank": 8}}}
    out = tmp_path / "adapters"
    prepare_output(out, a, overwrite=False)
    (out / "units").mkdir()
    (out / "units" / "marker").write_text("x")
    prepare_output(out, a, overwrite=False)  # same settings: kept for resuming
    assert (out / "units" / "marker").is_file()
    with pytest.raises(HfFairError, match=r"training\.rank: 4 -> 8"):
        prepare_output(out, b, overwrite=False)
    prepare_output(out, b, overwrite=True)  # --overwrite: discarded and restarted
    assert not (out / "units").exists()
    assert json.loads((out / "adapters_config.json").read_text())["fingerprint"] == "b" * 16
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(HfFairError, match="not empty and holds no resumable adapters"):
        prepare_output(other, a, overwrite=False)
    assert (other / "notes.txt").read_text() == "mine"


def test_interrupted_unit_resumes_bit_identical(lora_run, small, tmp_path, monkeypatch, caplog):
    """Killed in the middle of unit g1 (after its step-2 checkpoint): the re-run skips g0, resumes
    g1 at step 2 and ends with exactly the weights and losses of the uninterrupted run."""
    args = dict(output_dir=str(tmp_path / "run"), method="lora", unit="group", max_train_steps=4, checkpointing_steps=2, train_batch_size=2)
    real_loss = adapters_mod.UnitTrainer.loss
    calls = []

    def dying_loss(self, *a, **kw):
        calls.append(1)
        if len(calls) == 7:  # g0 took 4 steps, g1 steps 1-2 are done and checkpointed
            raise RuntimeError("simulated kill")
        return real_loss(self, *a, **kw)

    monkeypatch.setattr(adapters_mod.UnitTrainer, "loss", dying_loss)
    with pytest.raises(RuntimeError, match="simulated kill"):
        train_adapters(AdapterArguments(**args), dsd=small)
    out = tmp_path / "run"
    assert (out / "units" / "g0" / "unit.json").is_file()
    assert not (out / "units" / "g1" / "unit.json").exists() and not (out / "manifest.json").exists()
    ckpt = torch.load(out / "units" / "g1" / "checkpoint.pt", weights_only=False)
    assert ckpt["step"] == 2 and len(ckpt["losses"]) == 2
    g0_mtime = (out / "units" / "g0" / "pytorch_lora_weights.safetensors").stat().st_mtime_ns

    monkeypatch.setattr(adapters_mod.UnitTrainer, "loss", real_loss)
    caplog.set_level(logging.INFO)
    manifest = train_adapters(AdapterArguments(**args), dsd=small)
    assert "unit g1: resuming at step 2/4" in caplog.text
    assert "1 of its 4 units already finished" in caplog.text
    assert (out / "units" / "g0" / "pytorch_lora_weights.safetensors").stat().st_mtime_ns == g0_mtime
    assert not (out / "units" / "g1" / "checkpoint.pt").exists()
    assert len(manifest["units"]) == 4
    # bit-identical to the uninterrupted CLI run (same data, same settings)
    for g in range(4):
        ours, ref = _lora_tensors(out / "units" / f"g{g}"), _lora_tensors(lora_run / "units" / f"g{g}")
        assert ours.keys() == ref.keys()
        assert all(torch.equal(ours[k], ref[k]) for k in ours), f"unit g{g} differs"
        assert (json.loads((out / "units" / f"g{g}" / "losses.json").read_text())
                == json.loads((lora_run / "units" / f"g{g}" / "losses.json").read_text()))


def test_checkpoint_of_other_settings_is_refused(small, tmp_path):
    from hf_fair.diffusion.base import load_base

    args = AdapterArguments(output_dir=str(tmp_path), max_train_steps=2, checkpointing_steps=1, train_batch_size=2)
    unit_dir = tmp_path / "units" / "g1"
    unit_dir.mkdir(parents=True)
    torch.save({"fingerprint": "someone-else"}, unit_dir / "checkpoint.pt")
    trainer = adapters_mod.UnitTrainer(args, adapters_mod.make_accelerator(), load_base("embedded"))
    unit = plan_units(small["train"], spec_of(small), "group", False, 3, 0)[1]
    with pytest.raises(HfFairError, match="different configuration"):
        trainer.train_unit(unit, adapters_mod.load_unit_images(small["train"], unit), unit_dir, "mine")


# ------------------------------------------------------------------ DreamBooth
@pytest.fixture(scope="module")
def dreambooth_run(small, tmp_path_factory):
    out = tmp_path_factory.mktemp("adapters") / "db"
    args = AdapterArguments(output_dir=str(out), method="dreambooth", unit="group", max_train_steps=2,
                            checkpointing_steps=1, train_batch_size=2, min_unit_images=5)
    manifest = train_adapters(args, DataArguments(dataset="colored-digits", severity=0.99), dsd=small)
    return out, manifest


def test_adapters_folder_holds_no_machine_path(dreambooth_run, lora_run, tmp_path_factory):
    """A unit's saved UNet names its base by id (diffusers would record the base's folder here)."""
    from machine_paths import machine_paths

    out, manifest = dreambooth_run
    for u in manifest["units"]:
        assert json.loads((out / u["path"] / "unet" / "config.json").read_text())["_name_or_path"] == "embedded"
    for folder in (out, lora_run):
        assert machine_paths(folder, folder, tmp_path_factory.getbasetemp()) == []


def test_dreambooth_unit_is_a_full_unet(dreambooth_run):
    from diffusers import UNet2DConditionModel

    from hf_fair.diffusion.base import load_base

    out, manifest = dreambooth_run
    base_unet = load_base("embedded").unet.state_dict()
    assert manifest["method"] == "dreambooth" and manifest["dataset"]["name"] == "colored-digits"
    tokens = [u["token"] for u in manifest["units"]]
    assert tokens == list(RARE_TOKENS[:4])
    for u in manifest["units"]:
        assert u["format"] == "unet" and u["rank"] is None and u["learning_rate"] == 2e-4
        first, rest = u["prompt"].split(" ", 1)
        assert rest.startswith(u["token"] + " ") and u["class_prompt"] == f"{first} {rest[len(u['token']) + 1:]}"
        unit_dir = out / u["path"]
        assert not (unit_dir / "pytorch_lora_weights.safetensors").exists()
        unet = UNet2DConditionModel.from_pretrained(str(unit_dir / "unet"))
        state = unet.state_dict()
        assert state.keys() == base_unet.keys()
        assert any(not torch.equal(state[k], base_unet[k]) for k in state)
        assert "UNet2DConditionModel.from_pretrained" in (unit_dir / "README.md").read_text()
    assert "--source dreambooth " in (out / "README.md").read_text()


def test_small_units_carry_warnings(dreambooth_run):
    out, manifest = dreambooth_run
    warned = {u["name"]: u["warnings"] for u in manifest["units"]}
    assert warned["g0"] == [] and warned["g3"] == []
    for name in ("g1", "g2"):
        assert len(warned[name]) == 1 and "only 4 image(s) (< --min_unit_images 5)" in warned[name][0]
        card = (out / "units" / name / "README.md").read_text()
        assert "## Warnings" in card and "only 4 image(s)" in card


def test_plan_units_small_unit_rule(small, caplog):
    spec = spec_of(small)
    train = small["train"]
    caplog.set_level(logging.WARNING)
    units = plan_units(train, spec, "group", dreambooth=False, min_unit_images=5, seed=10)
    assert [u.n_images for u in units] == [12, 4, 4, 12] and [u.seed for u in units] == [10, 11, 12, 13]
    assert [bool(u.warnings) for u in units] == [False, True, True, False]
    assert "unit g1 (small|green) has only 4 image(s)" in caplog.text
    # a group with no image at all is an error that names it
    no_g2 = train.select(np.flatnonzero(np.asarray(train["group"]) != 2))
    with pytest.raises(HfFairError, match=r"group 'large\|red' has no training images"):
        plan_units(no_g2, spec, "group", dreambooth=False, min_unit_images=3, seed=0)
    with pytest.raises(HfFairError, match="needs a 'cluster' column"):
        plan_units(train, spec, "cluster", dreambooth=True, min_unit_images=3, seed=0)
    templ = plan_units(train, spec, "group", True, 3, 0, prompt_template="a {token} {attribute} digit ({label})")
    assert templ[0].prompt == f"a {RARE_TOKENS[0]} red digit (small)" and templ[0].class_prompt == "a red digit (small)"


def test_empty_group_fails_before_training(small, tmp_path, capsys):
    spec = spec_of(small)
    train = small["train"]
    no_g1 = train.select(np.flatnonzero(np.asarray(train["group"]) != 1))
    dsd = attach_spec(datasets.DatasetDict({**small, "train": no_g1}), spec)
    path = tmp_path / "no_g1"
    dsd.save_to_disk(str(path))
    code = main(["adapters", "train", "--dataset", str(path), "--output_dir", str(tmp_path / "out"), "--max_train_steps", "1"])
    err = capsys.readouterr().err
    assert code == 2 and "group 'small|green' has no training images" in err and "Traceback" not in err
    assert not (tmp_path / "out" / "units").exists()


def test_bad_flags():
    with pytest.raises(HfFairError, match="--method must be one of"):
        AdapterArguments(method="textual_inversion")
    with pytest.raises(HfFairError, match="--unit must be one of"):
        AdapterArguments(unit="image")
    with pytest.raises(HfFairError, match="--max_train_steps must be >= 1, got 0"):
        AdapterArguments(max_train_steps=0)
    with pytest.raises(HfFairError, match=r"must contain \{token\}"):
        AdapterArguments(method="dreambooth", prompt_template="a {attribute} digit")
    a = AdapterArguments(method="dreambooth_lora", rank=8)
    assert a.is_dreambooth and a.uses_lora and a.alpha == 8 and a.lr == 1e-3
    assert "output_dir" not in a.training_settings() and "checkpointing_steps" not in a.training_settings()


# ------------------------------------------------------------------ clusters
def test_cluster_units_one_per_cluster(small, tmp_path):
    from hf_fair.cluster import ClusterArguments

    out = tmp_path / "dbl"
    args = AdapterArguments(output_dir=str(out), method="dreambooth_lora", unit="cluster", max_train_steps=1,
                            checkpointing_steps=1, train_batch_size=2)
    manifest = train_adapters(args, dsd=small, cluster_args=ClusterArguments(k="2", min_cluster_size=1))
    report = json.loads((out / "clusters.json").read_text())
    assert sorted(p.name for p in out.glob("clusters_group*.png")) == [f"clusters_group{g}.png" for g in range(4)]
    assert (out / "clusters.md").is_file()
    # min_cluster_size was raised to --min_unit_images (3): small clusters merged, never trained alone
    assert report["settings"]["min_cluster_size"] == 3 and manifest["clustering"]["settings"]["min_cluster_size"] == 3
    expected = [(g, c, size) for g, name in enumerate(spec_of(small).group_names) for c, size in enumerate(report["groups"][name]["sizes"])]
    got = [(u["group"], u["cluster"], u["cluster_size"]) for u in manifest["units"]]
    assert got == expected
    assert len(got) > 4  # the large groups split in two
    assert [u["name"] for u in manifest["units"]] == [f"g{g}c{c}" for g, c, _ in expected]
    assert all(u["n_images"] == u["cluster_size"] >= 3 or u["n_images"] == 4 for u in manifest["units"])
    assert sum(u["n_images"] for u in manifest["units"]) == len(small["train"])
    assert len({u["token"] for u in manifest["units"]}) == len(got)  # one identifier per unit
    assert all(u["format"] == "lora" and u["method"] == "dreambooth_lora" for u in manifest["units"])
    for u in manifest["units"]:
        assert (out / u["path"] / "pytorch_lora_weights.safetensors").is_file()
        assert f"cluster {u['cluster']}" in (out / u["path"] / "README.md").read_text()
    assert "--source dreambooth_cluster" in (out / "README.md").read_text()


# ------------------------------------------------------------------ Hub
class RecordingApi:
    def __init__(self, fail: bool = False):
        self.calls = []
        self.fail = fail

    def create_repo(self, repo_id, **kw):
        if self.fail:
            raise ConnectionError("no route to host")
        self.calls.append(("create_repo", repo_id, kw))
        return f"https://huggingface.co/{repo_id}"

    def upload_folder(self, folder_path, repo_id, repo_type, commit_message):
        files = sorted(str(p.relative_to(folder_path)) for p in Path(folder_path).rglob("*") if p.is_file())
        self.calls.append(("upload_folder", repo_id, repo_type, commit_message, files))


def test_push_to_hub_uploads_the_adapters_folder(lora_run, small_path):
    api = RecordingApi()
    args = AdapterArguments(output_dir=str(lora_run), method="lora", unit="group", max_train_steps=4, train_batch_size=2,
                            push_to_hub="me/digit-loras", private=True)
    # same training settings as the finished run: nothing retrains, the folder is published
    train_adapters(args, DataArguments(dataset=str(small_path)), api=api)
    assert api.calls[0] == ("create_repo", "me/digit-loras", {"repo_type": "model", "private": True, "exist_ok": True})
    _, repo, repo_type, message, files = api.calls[1]
    assert (repo, repo_type, message) == ("me/digit-loras", "model", "hf-fair lora adapters per group")
    assert {"manifest.json", "README.md", "adapters_config.json"} <= set(files)
    for g in range(4):
        assert {f"units/g{g}/pytorch_lora_weights.safetensors", f"units/g{g}/README.md", f"units/g{g}/unit.json"} <= set(files)
    assert not [f for f in files if f.endswith((".pt", ".tmp"))]


def test_push_failure_keeps_local_adapters(lora_run, small_path):
    args = AdapterArguments(output_dir=str(lora_run), method="lora", unit="group", max_train_steps=4, train_batch_size=2,
                            push_to_hub="me/digit-loras")
    with pytest.raises(HfFairError, match=r"could not publish .* \(ConnectionError: no route to host\).*is intact"):
        train_adapters(args, DataArguments(dataset=str(small_path)), api=RecordingApi(fail=True))
    assert len(read_manifest(lora_run)["units"]) == 4


def test_published_adapters_load_offline_from_the_cache(lora_run, small, tmp_path, monkeypatch):
    from fixtures import populate_hub_cache

    from hf_fair.generate.sources import adapter_units, resolve_adapters

    snapshot = populate_hub_cache(lora_run, tmp_path / "hub", "me/digit-loras", "0123456789abcdef0123456789abcdef01234567", monkeypatch)
    folder = resolve_adapters("me/digit-loras")
    assert folder == snapshot
    units, manifest = adapter_units(folder, "lora", spec_of(small))
    assert [u.path for g in range(4) for u in units[g]] == [folder / "units" / f"g{g}" for g in range(4)]
    with pytest.raises(HfFairError, match="could not fetch adapters 'me/not-there'.*HF_HUB_OFFLINE=1 only reads the local cache"):
        resolve_adapters("me/not-there")
    with pytest.raises(HfFairError, match="neither an existing folder nor a Hub repo id"):
        resolve_adapters(str(tmp_path / "missing" / "folder"))


# ------------------------------------------------------------------ two processes
WRAPPER = """
import os, runpy, sys
from hf_fair.adapters import trainer as adapters

real = adapters.UnitTrainer.train_unit

def recorded(self, unit, *a, **kw):
    with open(os.environ["UNIT_RECORD"], "a") as f:
        f.write(f"{self.accelerator.process_index} {self.accelerator.num_processes} {unit.name}\\n")
    return real(self, unit, *a, **kw)

adapters.UnitTrainer.train_unit = recorded
sys.argv = [sys.argv[1]] + sys.argv[2:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def test_two_processes_train_each_unit_once(lora_run, small_path, tmp_path):
    wrapper = tmp_path / "record_units.py"
    wrapper.write_text(WRAPPER)
    record = tmp_path / "units.txt"
    out = tmp_path / "two"
    cmd = [
        sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
        "--mixed_precision", "no", "--dynamo_backend", "no",
        str(wrapper), str(REPO / "training_scripts" / "train_adapters.py"),
        "--dataset", str(small_path), *LORA_FLAGS, "--output_dir", str(out),
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "UNIT_RECORD": str(record), "HF_HUB_OFFLINE": "1"}
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    rows = [line.split() for line in record.read_text().splitlines()]
    assert sorted(name for _, _, name in rows) == ["g0", "g1", "g2", "g3"]  # each unit exactly once
    assert {(rank, world, name) for rank, world, name in rows} == {("0", "2", "g0"), ("1", "2", "g1"), ("0", "2", "g2"), ("1", "2", "g3")}
    assert r.stdout.count("wrote 4 lora adapters") == 1  # only the main process reports
    m = read_manifest(out)
    assert [u["name"] for u in m["units"]] == ["g0", "g1", "g2", "g3"]
    assert sorted(p.name for p in (out / "units").iterdir()) == ["g0", "g1", "g2", "g3"]
    # the split changes nothing: each unit has the single-process run's losses and weights
    # (bit for bit on CPU, where both sides run one thread; GPU kernels may differ in the last bits)
    exact = not torch.cuda.is_available()
    for g in range(4):
        ours = json.loads((out / "units" / f"g{g}" / "losses.json").read_text())
        ref = json.loads((lora_run / "units" / f"g{g}" / "losses.json").read_text())
        assert ours == ref if exact else np.allclose(ours, ref, rtol=1e-3)
        a, b = _lora_tensors(out / "units" / f"g{g}"), _lora_tensors(lora_run / "units" / f"g{g}")
        assert a.keys() == b.keys()
        assert all(torch.equal(a[k], b[k]) if exact else torch.allclose(a[k], b[k], rtol=1e-3, atol=1e-5) for k in a)


def test_prior_preservation_class_images_show_the_class(small, tmp_path):
    """Class images are drawn with the prompts that describe each group to the base (one per
    digit of the class, cycled), not with the group prompt whose class word the base never saw."""
    out = tmp_path / "pp"
    train_adapters(AdapterArguments(output_dir=str(out), method="dreambooth_lora", unit="group", with_prior_preservation=True,
                                    num_class_images=7, class_inference_steps=2, max_train_steps=1, train_batch_size=2), dsd=small)
    spec = spec_of(small)
    for g in range(spec.n_groups):
        folder = out / "class_images" / f"g{g}"
        done = json.loads((folder / "done.json").read_text())
        variants = spec.prompt_variants(g)
        assert len(variants) == 5 and spec.group_prompt(g) not in variants
        assert done["prompts"] == [variants[i % 5] for i in range(7)]
        assert sorted(p.name for p in folder.glob("*.png")) == sorted(f"{s}.png" for s in done["seeds"])
    assert read_manifest(out)["units"][2]["prior_preservation"] is True
    assert done["prompts"][0] == "a green digit 5"  # the last group, (large, green)


def test_filtered_class_images_are_judged_the_group(small, tmp_path):
    """--class_filter_classifier reference redraws class images the reference classifier assigns
    to another group: every image kept is the group's, or counted as kept wrong after the last draw."""
    from PIL import Image

    from hf_fair.judges.quality import check_images, make_judge

    out = tmp_path / "ppf"
    train_adapters(AdapterArguments(output_dir=str(out), method="dreambooth_lora", unit="group", with_prior_preservation=True,
                                    num_class_images=6, class_inference_steps=4, class_guidance_scale=2.0,
                                    class_filter_classifier="reference", max_train_steps=1, train_batch_size=2), dsd=small)
    spec = spec_of(small)
    judge = make_judge("reference", spec)
    for g in range(spec.n_groups):
        folder = out / "class_images" / f"g{g}"
        done = json.loads((folder / "done.json").read_text())
        assert sorted(p.name for p in folder.glob("*.png")) == sorted(f"{s}.png" for s in done["seeds"])
        assert len(set(done["seeds"])) == 6 and done["drawn"] >= 6 and done["filter"] == "reference"
        images = [Image.open(folder / f"{s}.png").convert("RGB") for s in done["seeds"]]
        blank, wrong = check_images(images, g, spec, 0.02, judge)
        assert int((blank | wrong).sum()) == done["kept_wrong_group"]


def test_class_filter_on_a_dataset_the_judge_cannot_read_fails_before_any_output(small, tmp_path):
    from dataclasses import replace

    birds = attach_spec(small, replace(spec_of(small), label_names=("landbird", "waterbird")))
    out = tmp_path / "birds"
    with pytest.raises(HfFairError, match="labels small/large.*--class_filter_classifier none"):
        train_adapters(AdapterArguments(output_dir=str(out), method="dreambooth", unit="group", with_prior_preservation=True,
                                        class_filter_classifier="reference", max_train_steps=1), dsd=birds)
    assert not out.exists()


def test_class_settings_added_later_keep_old_fingerprints():
    """The class-image settings enter the fingerprint only when set, so adapters folders made
    before they existed still resume; a bad filter name is refused."""
    from hf_fair.runfolder import result_settings

    plain = result_settings(AdapterArguments())
    assert "class_guidance_scale" not in plain and "class_filter_classifier" not in plain and "max_train_epochs" not in plain
    assert result_settings(AdapterArguments(max_train_epochs=10.0))["max_train_epochs"] == 10.0
    assert result_settings(AdapterArguments(class_guidance_scale=2.0))["class_guidance_scale"] == 2.0
    assert result_settings(AdapterArguments(class_filter_classifier="reference"))["class_filter_classifier"] == "reference"
    with pytest.raises(HfFairError, match="--class_filter_classifier must be one of"):
        AdapterArguments(class_filter_classifier="oracle")
