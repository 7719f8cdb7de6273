"""``--concurrent_units``: LoRA units trained together in one batched pass.

Checked against the sequential path on the same small slice as tests/test_adapters.py: same
losses and weights (float tolerance), diffusers' LoRA format, resume after kill -9, a unit whose
loss becomes NaN stops alone, clipping and the full-DreamBooth fallback are noted.
"""

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from hf_fair.cli import main
from hf_fair.adapters import trainer as adapters_mod
from hf_fair.adapters.config import AdapterArguments
from hf_fair.adapters.manifest import read_manifest
from hf_fair.adapters.train import train_adapters
from hf_fair.errors import HfFairError
from test_adapters import one_thread, small, small_biased  # noqa: F401 - shared fixtures (one thread, the small slice)

REPO = Path(__file__).resolve().parents[1]
STEPS = dict(max_train_steps=6, checkpointing_steps=3, train_batch_size=2)


def _train(small, out: Path, concurrent: int, **kw) -> dict:
    return train_adapters(AdapterArguments(output_dir=str(out), unit="group", concurrent_units=concurrent, **STEPS, **kw), dsd=small)


def _unit(out: Path, name: str) -> tuple[dict, list]:
    unit = out / "units" / name
    return load_file(str(unit / "pytorch_lora_weights.safetensors")), json.loads((unit / "losses.json").read_text())


def _assert_same_units(a: Path, b: Path, names, atol=1e-4):
    for name in names:
        (wa, la), (wb, lb) = _unit(a, name), _unit(b, name)
        assert wa.keys() == wb.keys()
        for k in wa:
            torch.testing.assert_close(wa[k], wb[k], atol=atol, rtol=1e-3, msg=f"unit {name} tensor {k}")
        np.testing.assert_allclose(la, lb, rtol=1e-4, atol=1e-6, err_msg=f"unit {name} loss curve")


@pytest.fixture(scope="module")
def pair(small, tmp_path_factory):
    """The same four LoRA units trained one at a time and all four together."""
    root = tmp_path_factory.mktemp("concurrent")
    _train(small, root / "alone", 1, method="lora")
    _train(small, root / "together", 4, method="lora")
    return root / "alone", root / "together"


@pytest.mark.parametrize("method,extra", [
    ("lora", {}),
    ("dreambooth_lora", {"with_prior_preservation": True, "num_class_images": 4, "class_inference_steps": 2}),
])
def test_concurrent_units_match_units_trained_alone(small, tmp_path, method, extra, pair):
    if method == "lora":
        alone, together = pair
    else:
        alone, together = tmp_path / "alone", tmp_path / "together"
        _train(small, alone, 1, method=method, **extra)
        _train(small, together, 3, method=method, **extra)  # chunks of 3 + 1
    names = [u["name"] for u in read_manifest(alone)["units"]]
    assert names == [u["name"] for u in read_manifest(together)["units"]] and len(names) == 4
    _assert_same_units(alone, together, names)
    # the units really differ from each other (no unit got another's gradients)
    w0, _ = _unit(together, names[0])
    w3, _ = _unit(together, names[3])
    assert any(not torch.allclose(w0[k], w3[k]) for k in w0)


def test_concurrent_units_load_with_diffusers(pair):
    from hf_fair.diffusion.base import load_base

    _, together = pair
    pipe = load_base("embedded")
    prompt = read_manifest(together)["units"][2]["prompt"]

    def draw():
        return pipe(prompt, num_inference_steps=3, generator=torch.Generator().manual_seed(3), output_type="np").images[0]

    before = draw()
    pipe.load_lora_weights(str(together / "units" / "g2"))
    assert np.abs(draw() - before).max() > 1e-4


def test_concurrent_run_resumes_after_kill_9(small, tmp_path):
    """A CLI run killed with SIGKILL once every unit has a checkpoint resumes to the units of an
    uninterrupted run."""
    data = tmp_path / "data"
    small.save_to_disk(str(data))
    out = tmp_path / "run"
    flags = dict(max_train_steps=40, checkpointing_steps=2, train_batch_size=2)  # the kill comes at the first checkpoints
    cmd = [sys.executable, "-m", "hf_fair.cli", "adapters", "train", "--dataset", str(data), "--method", "lora",
           "--unit", "group", "--concurrent_units", "4", "--output_dir", str(out)]
    cmd += [x for k, v in flags.items() for x in (f"--{k}", str(v))]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ckpts = [out / "units" / f"g{g}" / "checkpoint.pt" for g in range(4)]
    deadline = time.monotonic() + 300
    while not all(p.is_file() for p in ckpts):
        assert proc.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline, "no checkpoints written"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (out / "manifest.json").exists()
    assert not any((out / "units" / f"g{g}" / "unit.json").exists() for g in range(4))
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "resuming at step" in done.stderr
    reference = tmp_path / "reference"
    train_adapters(AdapterArguments(output_dir=str(reference), unit="group", method="lora", concurrent_units=4, **flags), dsd=small)
    _assert_same_units(reference, out, [f"g{g}" for g in range(4)])
    assert not any(p.exists() for p in ckpts)


def test_nan_unit_stops_alone(small, tmp_path, pair, caplog, monkeypatch):
    real = adapters_mod.UnitTrainer.encode_images
    calls = []

    def poisoned(self, images, *a, **kw):  # the second unit's cached latents are NaN
        mean, std = real(self, images, *a, **kw)
        calls.append(1)
        return (mean * float("nan"), std) if len(calls) == 2 else (mean, std)

    monkeypatch.setattr(adapters_mod.UnitTrainer, "encode_images", poisoned)
    caplog.set_level(logging.INFO)
    out = tmp_path / "nan"
    with pytest.raises(HfFairError, match=r"1 unit\(s\) stopped \(the others finished\): unit g1: loss became nan at step 1"):
        _train(small, out, 4, method="lora")
    assert "the other units go on" in caplog.text
    assert not (out / "units" / "g1" / "unit.json").exists() and not (out / "manifest.json").exists()
    # the other three finished, with the weights they get when trained alone
    _assert_same_units(pair[0], out, ["g0", "g2", "g3"])


def test_concurrency_is_clipped_and_full_dreambooth_is_sequential(small, tmp_path, caplog, monkeypatch):
    caplog.set_level(logging.INFO)
    seen = []
    monkeypatch.setattr(adapters_mod.UnitTrainer, "train_unit", lambda self, unit, *a, **kw: seen.append(unit.name) or {"final_loss": 0.0, "losses": [0.0]})
    train_adapters(AdapterArguments(output_dir=str(tmp_path / "db"), unit="group", method="dreambooth", concurrent_units=4,
                                    max_train_steps=1, train_batch_size=1), dsd=small)
    assert seen == ["g0", "g1", "g2", "g3"]
    assert "full DreamBooth units train one after another" in caplog.text
    monkeypatch.undo()
    caplog.clear()
    train_adapters(AdapterArguments(output_dir=str(tmp_path / "lora"), unit="group", method="lora", concurrent_units=16,
                                    max_train_steps=1, train_batch_size=1), dsd=small)
    assert "--concurrent_units 16 is more than the 4 unit(s) left to train: training 4 together" in caplog.text
    assert main(["adapters", "train", "--dataset", "colored-digits", "--severity", "0.99", "--method", "lora",
                 "--max_train_steps", "1", "--train_batch_size", "1", "--concurrent_units", "0",
                 "--output_dir", str(tmp_path / "bad")]) == 2
    assert not (tmp_path / "bad").exists()


def test_large_units_encode_only_the_images_they_draw(tmp_path, monkeypatch):
    """A unit holding more than EAGER_ENCODE_RATIO x its draws encodes each image when first drawn:
    the same units (to float rounding) at a fraction of the VAE work."""
    big = small_biased(per_group=40)  # 40 images in each large group, 4 in each small one
    encoded = []
    real = adapters_mod.UnitTrainer.encode_images

    def counting(self, images, *a, **kw):
        encoded.append(len(images))
        return real(self, images, *a, **kw)

    monkeypatch.setattr(adapters_mod.UnitTrainer, "encode_images", counting)
    flags = dict(output_dir=str(tmp_path / "lazy"), unit="group", method="lora", max_train_steps=2, train_batch_size=2)
    train_adapters(AdapterArguments(**flags), dsd=big)  # 4 draws per unit: 40 > 4 x 4, 4 <= 16
    # large groups: one image at a time, at most the 4 drawn; small groups: all 4 at once
    assert sorted(encoded) == sorted([1] * (len(encoded) - 2) + [4, 4]) and len(encoded) - 2 <= 8
    encoded.clear()
    monkeypatch.setattr(adapters_mod, "EAGER_ENCODE_RATIO", 10**6)  # everything up front
    train_adapters(AdapterArguments(**{**flags, "output_dir": str(tmp_path / "eager")}), dsd=big)
    assert sorted(encoded) == [4, 4, 40, 40]
    _assert_same_units(tmp_path / "eager", tmp_path / "lazy", ["g0", "g1", "g2", "g3"])


def test_max_train_epochs_caps_the_steps_of_small_units(small, tmp_path):
    """--max_train_epochs stops each unit after that many passes over its own images, one at a
    time and together alike: the 12-image groups take 6 steps at batch 2, the 4-image ones 2."""
    sizes = [int((np.asarray(small["train"]["group"]) == g).sum()) for g in range(4)]
    assert sizes == [12, 4, 4, 12]
    _train(small, tmp_path / "alone", 1, method="lora", max_train_epochs=1.0)
    _train(small, tmp_path / "together", 4, method="lora", max_train_epochs=1.0)
    for out in ("alone", "together"):
        units = read_manifest(tmp_path / out)["units"]
        assert [u["steps"] for u in units] == [6, 2, 2, 6]
        assert [len(_unit(tmp_path / out, u["name"])[1]) for u in units] == [6, 2, 2, 6]
    _assert_same_units(tmp_path / "alone", tmp_path / "together", [u["name"] for u in units])
    # the cap only lowers max_train_steps, never raises it; unset, every unit takes max_train_steps
    assert AdapterArguments(max_train_steps=6, train_batch_size=2, max_train_epochs=100.0).unit_steps(4) == 6
    assert AdapterArguments(max_train_steps=6, train_batch_size=2).unit_steps(4) == 6
    assert AdapterArguments(max_train_steps=60, train_batch_size=4, max_train_epochs=2.5).unit_steps(2) == 2
    with pytest.raises(HfFairError, match="--max_train_epochs must be > 0"):
        AdapterArguments(max_train_epochs=0.0)
