"""Every shipped GPU config runs end to end on CPU through ``hf-fair run``, changed only in size
and in what cannot run offline (the dataset's on-disk fixture, the embedded base, ``pixels`` for
the Hub encoder, a small timm model without pretrained weights). Everything else (prior
preservation, the method list with JTT/DFR/Group-DRO/oracle, clustering, fp16 requests, the
pretrain selection rule) stays as shipped, so a bug on their path fails here, not after hours on
a GPU."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from fixtures import make_celeba, make_utkface, make_waterbirds

REPO = Path(__file__).resolve().parent.parent

SIZE_OVERRIDES = [
    "severities=[0.6]",
    "seeds=[0]",
    "base=embedded",
    "cluster.encoder=pixels",
    "cluster.min_cluster_size=2",
    "cluster.k_max=2",
    "adapters.max_train_steps=2",
    "adapters.resolution=32",
    "adapters.num_class_images=2",
    # class images are drawn at 20 steps and generation redraws up to 30 times what the CLIP filter
    # rejects, as shipped: at these sizes that was most of each run's sampling
    "adapters.class_inference_steps=2",
    "adapters.train_batch_size=2",
    "generate.images_per_group=2",
    "generate.num_inference_steps=2",
    "generate.batch_size=4",
    "generate.max_attempts=2",
    "generate.fidelity_encoder=pixels",
    "classifier.model=resnet10_s1",
    "classifier.pretrained=false",
    "classifier.image_size=16",
    "classifier.batch_size=8",
    "classifier.epochs=1",
    "pretrain.epochs=1",
    "recipe.clip_model=embedded",  # the Hub CLIP of the paper's recipe, like the base, replaced by the embedded one
]

FIXTURES = {
    "celeba": lambda root: make_celeba(root, n=96),
    "waterbirds": lambda root: make_waterbirds(root, per_group_split=6),
    "utkface": lambda root: make_utkface(root, per_cell=8),
}


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1"}
    return subprocess.run([sys.executable, "-m", "hf_fair.cli", *args], cwd=cwd, env=env, capture_output=True, text=True)


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_shipped_config_runs_on_cpu_with_size_overrides(name, tmp_path):
    config = REPO / "configs" / f"{name}.yaml"
    shipped = yaml.safe_load(config.read_text())
    data_dir = FIXTURES[name](tmp_path / "data")
    out = tmp_path / "run"
    r = _run(["run", str(config), "--output_dir", str(out), "--set", f"data.data_dir={data_dir}", *SIZE_OVERRIDES], tmp_path)
    assert r.returncode == 0, r.stderr[-4000:]
    results = json.loads((out / "severity-0.6" / "results.json").read_text())
    assert set(shipped["methods"]) <= set(results["methods"])
    for method, row in results["methods"].items():
        assert len(row["worst_group_acc"]["per_seed"]) == 1, method
        assert 0.0 <= row["worst_group_acc"]["mean"] <= 1.0, method


def test_offline_run_names_every_download_before_any_work(tmp_path):
    """As shipped, the CelebA config needs the Hub four times; offline, all four are named at once."""
    out = tmp_path / "run"
    r = _run(["run", str(REPO / "configs" / "celeba.yaml"), "--output_dir", str(out)], tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    for setting in ("base = stable-diffusion-v1-5", "data.hub_dataset = flwrlabs/celeba", "cluster.encoder", "classifier.pretrained",
                    "openai/clip-vit-base-patch32"):
        assert setting in r.stderr, setting
    assert not out.exists()


def test_colored_mnist_config_runs_end_to_end_at_smoke_size(tmp_path):
    """configs/colored_mnist.yaml as shipped (the recipe, the domain gap, clustering, the prior), on a
    small MNIST in ylecun/mnist's layout (no download; 50 images per digit) at 0.95: colored-mnist's
    base bias is 0.9, so SIZE_OVERRIDES' 0.6 is infeasible; the fidelity encoder is the shipped
    one (the run's oracle), not SIZE_OVERRIDES' pixels. The method
    list is cut to one of each kind (a real-data objective, vanilla, the paper's row with its DFR
    combination, the oracle): every DreamBooth unit costs a UNet save, and lora / dreambooth /
    the captioned source run the same code as on the GPU configs above, where all 16 methods run."""
    from test_colored_mnist import _mnist_hub_repo

    config = REPO / "configs" / "colored_mnist.yaml"
    shipped = yaml.safe_load(config.read_text())
    assert shipped["dataset"] == "colored-mnist" and shipped["domain_gap"]["enabled"] is True
    mnist = _mnist_hub_repo(tmp_path / "mnist", {"train": 40, "test": 10})
    out = tmp_path / "run"
    # the DreamBooth sections set their own prior (128 class images, 6 steps) and steps: sized down too
    per_source = [f"{s}.{k}={v}" for s in ("dreambooth", "dreambooth_cluster", "dreambooth_cluster_captioned")
                  for k, v in (("num_class_images", 2), ("class_inference_steps", 2), ("max_train_steps", 2))]
    methods = ["erm", "vanilla", "dreambooth_cluster", "dreambooth_cluster+dfr", "oracle"]
    assert set(methods) <= set(shipped["methods"])
    r = _run(["run", str(config), "--output_dir", str(out), "--set", *SIZE_OVERRIDES, *per_source, "severities=[0.95]",
              f"methods=[{', '.join(methods)}]",
              f"data.hub_dataset={mnist}", "generate.fidelity_encoder=oracle",
              "domain_gap.images_per_group=2", "classifier.max_steps=2"], tmp_path)
    assert r.returncode == 0, r.stderr[-4000:]
    sev = out / "severity-0.95"
    results = json.loads((sev / "results.json").read_text())
    assert set(methods) <= set(results["methods"])
    for method, row in results["methods"].items():
        assert len(row["worst_group_acc"]["per_seed"]) == 1, method
        assert 0.0 <= row["worst_group_acc"]["mean"] <= 1.0, method
    gap = json.loads((sev / "domain_gap.json").read_text())
    assert gap["encoder"] == "reference" and all(v["n_draws"] == 2 for v in gap["groups"].values())
    assert results["domain_gap"]["per_group"].keys() == {"0", "1", "2", "3"}
    assert results["fidelity"]["dreambooth_cluster"]["per_group"]  # every source has its report, on the oracle's features
    (fid,) = (sev / "synthetic").glob("dreambooth_cluster-*/fidelity-oracle.json")
    assert json.loads(fid.read_text())["encoder"].startswith("oracle (classify/oracle-seed0-")


@pytest.mark.parametrize("path", sorted(str(p.relative_to(REPO)) for p in (REPO / "configs").rglob("*.yaml")))
def test_every_shipped_config_and_its_variants_parse(path):
    """Every config in configs/ (ablations included) reads as `hf-fair run` reads it, each variant too,
    and every section's settings build their stage's arguments: a typo fails here, not hours into a run."""
    from hf_fair.run.config import load_run_config

    cfg = load_run_config(REPO / path)
    for c in cfg.variant_configs() if cfg.variants else [cfg]:
        for source in c.sources():
            if source != "vanilla":
                c.adapter_args(source, output_dir=None)
            c.generate_args(source, None if source == "vanilla" else "adapters", output_dir=None)
        c.classifier_args()
        c.pretrain_args()
