"""`hf-fair demo`: its arguments and the preset each dataset selects (no demo is run here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hf_fair.cli import main
from hf_fair.config import parse_config
from hf_fair.errors import HfFairError
from hf_fair.run.config import config_from_dict
from hf_fair.run.demo import DemoArguments, demo_preset
from hf_fair.run.preflight import check_arguments
from hf_fair.run.presets import DEMO, DEMO_MNIST, QUICK, QUICK_MNIST


def _preset(argv):
    return demo_preset(parse_config([DemoArguments], argv, prog="hf-fair demo"))


def test_default_is_colored_mnist_and_colored_digits_keeps_its_demo():
    args = parse_config([DemoArguments], [], prog="hf-fair demo")
    assert args.dataset == "colored-mnist" and args.quick is False
    assert _preset([]) == {**DEMO_MNIST, "seeds": [0]}
    assert _preset(["--quick"]) == {**QUICK_MNIST, "seeds": [0]}
    assert _preset(["--dataset", "colored-digits"]) == {**DEMO, "seeds": [0]}
    assert _preset(["--dataset", "colored-digits", "--quick"]) == {**QUICK, "seeds": [0]}
    assert DEMO["output_dir"] == "runs/demo" and DEMO["dataset"] == "colored-digits"


@pytest.mark.parametrize("quick", [False, True])
def test_colored_mnist_preset_is_the_demo_on_mnist_with_the_domain_gap(quick):
    import yaml

    argv = ["--dataset", "colored-mnist"] + (["--quick"] if quick else [])
    preset = _preset(argv)
    base, mnist = (QUICK, QUICK_MNIST) if quick else (DEMO, DEMO_MNIST)
    assert preset == {**mnist, "seeds": [0]}
    assert preset["dataset"] == "colored-mnist" and preset["domain_gap"]["enabled"] is True
    assert preset["output_dir"] == ("runs/demo-quick-colored-mnist" if quick else "runs/demo-colored-mnist")
    # the same comparison, clustering and recipe as the colored-digits demo
    for key in ("severities", "methods", "finetune_scope", "cluster", "recipe"):
        assert preset[key] == base[key], key
    # fidelity on the oracle's features: the reference encoder cannot read MNIST's labels
    assert preset["generate"]["fidelity_encoder"] == "oracle"
    if not quick:
        # the paper's row and the sampling as configs/colored_mnist.yaml chose them on validation;
        # sized down for ten minutes: fewer images per group and domain-gap draws, 12-epoch classifiers
        shipped = yaml.safe_load((Path(__file__).resolve().parent.parent / "configs" / "colored_mnist.yaml").read_text())
        assert preset["dreambooth_cluster"] == shipped["dreambooth_cluster"]
        gen = {k: v for k, v in preset["generate"].items() if k in shipped["generate"] and k != "images_per_group"}
        assert gen == {k: shipped["generate"][k] for k in gen} and preset["generate"]["images_per_group"] == 128
        assert preset["classifier"] == {**shipped["classifier"], "epochs": 12}
        assert preset["domain_gap"]["images_per_group"] == 64 and preset["domain_gap"]["group_reader"] is False
    # a valid run config: every stage's arguments build, the gap's encoder resolves
    cfg = config_from_dict(preset, where="the demo preset")
    check_arguments(cfg)
    assert cfg.domain_gap().images_per_group == (16 if quick else 64)


def test_seed_and_output_dir_apply_to_either_dataset(tmp_path):
    preset = _preset(["--dataset", "colored-mnist", "--seed", "2", "--output_dir", str(tmp_path / "d")])
    assert preset["seeds"] == [2] and preset["output_dir"] == str(tmp_path / "d")
    assert DEMO_MNIST["seeds"] == [0] and DEMO_MNIST["output_dir"] == "runs/demo-colored-mnist"  # the preset is not changed


def test_unknown_dataset_is_one_line(tmp_path, capsys):
    with pytest.raises(HfFairError, match="--dataset 'celeba' has no demo; use one of \\['colored-digits', 'colored-mnist'\\]"):
        _preset(["--dataset", "celeba"])
    out = tmp_path / "demo"
    assert main(["demo", "--dataset", "celeba", "--output_dir", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and len(err.strip().splitlines()) == 1 and "colored-mnist" in err
    assert not out.exists()


@pytest.mark.parametrize("preset", [DEMO, QUICK, DEMO_MNIST, QUICK_MNIST], ids=["demo", "quick", "mnist", "quick-mnist"])
def test_every_demo_uses_the_papers_recipe(preset):
    """The demo's synthetic sources are filtered by the CLIP and pretrained with CLIP weights and
    CE + SupCon, as configs/colored_digits.yaml has them."""
    import yaml

    from hf_fair.run.presets import RECIPE

    cfg = config_from_dict(dict(preset), where="the demo preset")
    assert preset["recipe"] == RECIPE == yaml.safe_load((Path(__file__).resolve().parent.parent / "configs" / "colored_digits.yaml").read_text())["recipe"]
    assert cfg.generate_args("vanilla", None, output_dir=None).filter_classifier == "clip"
    pre = cfg.pretrain_args(objective="erm", seed=0)
    assert (pre.weight_column, pre.supcon_weight, pre.supcon_temperature) == ("clip_score", 0.5, 0.5)
