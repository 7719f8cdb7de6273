"""The runner's pretraining recipe section and ablation variants."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import pytest

from hf_fair.errors import HfFairError
from hf_fair.run.config import config_from_dict

BASE = {"dataset": "colored-digits", "severities": [0.99], "seeds": [0], "methods": ["vanilla"],
        "generate": {"images_per_group": 8, "num_inference_steps": 2, "guidance_scale": 2.0, "fidelity": False, "batch_size": 32},
        "classifier": {"model": "resnet10_s1", "image_size": 16, "epochs": 1, "max_steps": 2, "learning_rate": 0.01, "batch_size": 16},
        "pretrain": {"epochs": 1}}
RECIPE = {"filter": "clip", "weighting": "clip_score", "supcon_weight": 0.5, "supcon_temperature": 0.2}


def test_recipe_reaches_every_sources_generation_and_pretraining(tmp_path):
    cfg = config_from_dict({**BASE, "output_dir": str(tmp_path), "recipe": RECIPE})
    for source, adapters in (("vanilla", None), ("dreambooth_cluster", "x")):
        g = cfg.generate_args(source, adapters, None)
        assert g.filter_classifier == "clip" and g.clip_min_prob is None
    p = cfg.pretrain_args(objective="erm", seed=0)
    assert (p.weight_column, p.weight_rule, p.supcon_weight, p.supcon_temperature) == ("clip_score", "group_mean", 0.5, 0.2)
    # real-data training and finetuning do not get the pretraining recipe
    c = cfg.classifier_args(objective="erm", seed=0)
    assert c.weight_column is None and c.supcon_weight == 0


def test_without_a_recipe_the_stage_settings_are_those_of_before():
    plain = config_from_dict({**BASE, "output_dir": "x"})
    empty = config_from_dict({**BASE, "output_dir": "x", "recipe": {}})
    from hf_fair import runfolder

    assert runfolder.fingerprint(plain.pretrain_args(objective="erm", seed=0)) == runfolder.fingerprint(empty.pretrain_args(objective="erm", seed=0))
    assert plain.generate_args("vanilla", None, None) == empty.generate_args("vanilla", None, None)


@pytest.mark.parametrize("recipe,extra,needle", [
    ({"weighting": "clip_score"}, {}, "set recipe.filter: clip"),
    ({"filter": "clip"}, {"generate": {"images_per_group": 8, "filter_classifier": "reference"}}, "set them once, in the `recipe` section"),
    ({"supcon_weight": 0.5}, {"pretrain": {"supcon_weight": 0.1}}, "set them once"),
    ({"filter": "blur"}, {}, "recipe.filter 'blur'"),
    ({"clip_min_prob": 0.5}, {}, "need recipe.filter: clip"),
    ({"supcon_weight": -1.0}, {}, r"supcon_weight.*must be >= 0"),
])
def test_bad_recipes_are_named(recipe, extra, needle):
    with pytest.raises(HfFairError, match=needle):
        config_from_dict({**BASE, **extra, "output_dir": "x", "recipe": recipe})


def test_variants_apply_their_changes_and_bad_ones_are_refused():
    cfg = config_from_dict({**BASE, "output_dir": "x", "recipe": RECIPE,
                            "variants": {"full": {}, "no_filter": {"recipe.clip_min_prob": 0.0}, "ce_only": {"recipe.supcon_weight": 0},
                                         "k2": {"cluster.k": 2}}})
    by_name = {v.variant: v for v in cfg.variant_configs()}
    assert list(by_name) == ["full", "no_filter", "ce_only", "k2"]
    assert by_name["no_filter"].generate_args("vanilla", None, None).clip_min_prob == 0.0
    assert by_name["ce_only"].pretrain_args().supcon_weight == 0 and by_name["ce_only"].pretrain_args().weight_column == "clip_score"
    assert by_name["k2"].cluster_args().k == "2" or by_name["k2"].cluster_args().k == 2
    with pytest.raises(HfFairError, match="variant 'bad'"):
        config_from_dict({**BASE, "output_dir": "x", "recipe": RECIPE, "variants": {"bad": {"recipe.weighting": "median"}}})
    with pytest.raises(HfFairError, match="name files"):
        config_from_dict({**BASE, "output_dir": "x", "variants": {"a/b": {}}})


def test_an_ablation_shares_stages_and_writes_one_results_file_per_variant(tmp_path):
    from hf_fair.run.runner import run

    out = tmp_path / "abl"
    cfg = config_from_dict({**BASE, "output_dir": str(out), "recipe": RECIPE,
                            "variants": {"full": {}, "ce_only": {"recipe.supcon_weight": 0}}})
    run(cfg, log=lambda *_: None)
    sev = out / "severity-0.99"
    for name in ("full", "ce_only"):
        doc = json.loads((sev / f"results-{name}.json").read_text())
        assert doc["variant"] == name and "vanilla" in doc["methods"] and "synthetic:vanilla" in doc["methods"]
        assert doc["recipe"]["filter"] == "clip" and "validation" in doc["methods"]["vanilla"]
    assert json.loads((sev / "results-full.json").read_text())["recipe"]["supcon_weight"] == 0.5
    # the two variants differ only in pretraining: one synthetic set, two pretrainings
    assert len(list((sev / "synthetic").iterdir())) == 1
    assert len(list((sev / "classify").glob("pretrain-vanilla-*"))) == 2
    synth = datasets.load_from_disk(str(next((sev / "synthetic").iterdir())))["train"]
    assert "clip_score" in synth.column_names and all(0.0 <= s <= 1.0 for s in synth["clip_score"])
    table = (out / "ablation.md").read_text()
    assert "| full | vanilla |" in table and "| ce_only | synthetic:vanilla |" in table
    assert set(json.loads((out / "ablation.json").read_text())) == {"full", "ce_only"}
    assert not (sev / "results.json").exists()
