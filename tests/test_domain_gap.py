"""The domain gap (hf_fair/run/domain_gap.py): the runner's optional stage and `hf-fair gap`."""

from __future__ import annotations

import json

import pytest

from hf_fair.cli import main
from hf_fair.errors import HfFairError
from hf_fair.run.config import config_from_dict
from hf_fair.run.presets import CLASSIFIER as PRESET_CLASSIFIER
from test_colored_mnist import _mnist_hub_repo

GROUPS = ["small|red", "small|green", "large|red", "large|green"]
# the classifier `hf-fair gap` builds (the embedded recipe), at smoke size: the command below then
# finds the run's draws, oracle and group reader in the run's folder
CLASSIFIER = {**PRESET_CLASSIFIER, "epochs": 1, "warmup_epochs": 0, "image_size": 16, "max_steps": 2, "batch_size": 16}
TINY = {"dataset": "colored-mnist", "severities": [0.95], "seeds": [0], "methods": ["oracle"],
        "cluster": {"k": "1", "pca_dim": 0},
        "generate": {"images_per_group": 8, "num_inference_steps": 2, "guidance_scale": 2.0, "batch_size": 16,
                     "filter_classifier": "reference", "max_attempts": 2},
        "domain_gap": {"enabled": True, "images_per_group": 2},
        "classifier": CLASSIFIER}
GAP_FLAGS = ["--dataset", "colored-mnist", "--severity", "0.95", "--images_per_group", "2", "--num_inference_steps", "2",
             "--guidance_scale", "2.0",
             "--batch_size", "16", "--epochs", "1", "--set", "classifier.image_size=16", "classifier.max_steps=2",
             "classifier.batch_size=16", "classifier.warmup_epochs=0"]


def _check_report(report: dict, n: int) -> None:
    assert list(report["groups"]) == GROUPS and report["encoder"] == "reference" and report["filter"] == "none"
    for name, v in report["groups"].items():
        assert v["n_draws"] == n, name
        assert v["n_real"] == {"small|red": 112, "small|green": 6, "large|red": 6, "large|green": 112}[name]
        assert isinstance(v["frechet"], float) and v["frechet"] >= 0, name
        assert 0.0 <= v["label_read"] <= 1.0 and 0.0 <= v["group_read"] <= 1.0, name
    for ref in ("oracle_test", "group_reader_test"):
        assert 0.0 <= report[ref]["average_acc"] <= 1.0


@pytest.fixture(scope="module")
def gap_run(tmp_path_factory):
    from hf_fair.run.runner import run

    # a small MNIST in ylecun/mnist's layout (50 images per digit: train 112 / 6 / 6 / 112 at 0.95),
    # so that the classifiers and the encoder read hundreds of images, not thousands
    root = tmp_path_factory.mktemp("gap")
    mnist = _mnist_hub_repo(root / "mnist", {"train": 40, "test": 10})
    logged = []
    cfg = config_from_dict({**TINY, "output_dir": str(root / "run"), "data": {"hub_dataset": str(mnist)}})
    run(cfg, log=logged.append)
    return cfg, root / "run" / "severity-0.95", logged


def test_run_measures_the_gap_before_the_methods(gap_run):
    cfg, sev, logged = gap_run
    report = json.loads((sev / "domain_gap.json").read_text())
    _check_report(report, 2)
    assert "| small\\|green | 2 | 6 |" in (sev / "domain_gap.md").read_text()
    # one line per group, before the first method
    lines = [i for i, line in enumerate(logged) if line.startswith("domain gap ")]
    assert len(lines) == 4 and max(lines) < logged.index("-- oracle seed 0")
    # the oracle row is the gap's reader: one training, in the oracle row's folder
    assert len(list((sev / "classify").glob("oracle-seed0-*"))) == 1
    doc = json.loads((sev / "results.json").read_text())
    assert doc["artifacts"]["models"]["oracle"] == [report["oracle_model"]]
    assert doc["methods"]["oracle"]["average_acc"]["mean"] == pytest.approx(report["oracle_test"]["average_acc"])
    assert set(doc["domain_gap"]["per_group"]) == {"0", "1", "2", "3"} and doc["domain_gap"]["per_group"]["1"]["n_real"] == 6
    assert "Domain gap before any method" in (sev / "results.md").read_text()
    # the draws are unfiltered, whatever the generate section's filter, with its sampling settings
    gen = json.loads((sev / report["draws"] / "generation.json").read_text())
    assert gen["config"]["filter_classifier"] == "none" and gen["config"]["quality_filter"] is False
    assert gen["config"]["num_inference_steps"] == 2 and gen["config"]["guidance_scale"] == 2.0


def _stamps(sev):
    return {p: p.stat().st_mtime_ns for p in [*(sev / "domain_gap").rglob("*"), *(sev / "classify").rglob("*")] if p.is_file()}


def test_rerun_and_the_command_reuse_the_draws_and_the_classifiers(gap_run, capsys):
    from hf_fair.run.runner import run

    cfg, sev, logged = gap_run
    report = json.loads((sev / "domain_gap.json").read_text())
    stamps = _stamps(sev)
    logged.clear()
    run(cfg, log=logged.append)
    assert _stamps(sev) == stamps
    assert not any("unfiltered vanilla draws per group ->" in line or "group reader (" in line for line in logged)
    assert json.loads((sev / "domain_gap.json").read_text())["groups"] == report["groups"]
    # `hf-fair gap` over the same folder and settings is the same stage: nothing is redrawn or retrained
    assert main(["gap", *GAP_FLAGS, "--hub_dataset", cfg.data_args(0.95).hub_dataset, "--output_dir", str(sev.parent)]) == 0
    assert _stamps(sev) == stamps
    printed = capsys.readouterr().out
    assert "| large\\|green | 2 | 112 |" in printed and "domain_gap.json" in printed
    assert json.loads((sev / "domain_gap.json").read_text())["groups"] == report["groups"]


def test_fidelity_read_by_the_runs_oracle(gap_run):
    """generate.fidelity_encoder: oracle: each set's report reads the seed-0 oracle's features (the
    gap's oracle, not retrained), is written once next to the set, names no path of this machine,
    and is the results document's fidelity."""
    from hf_fair.run.runner import run

    cfg, sev, _ = gap_run
    root = sev.parent.parent
    oracle_dirs = sorted((sev / "classify").glob("oracle-seed0-*"))
    stamps = {p: p.stat().st_mtime_ns for p in oracle_dirs[0].rglob("*")}
    spec = {**TINY, "methods": ["vanilla", "oracle"], "output_dir": cfg.output_dir, "data": {"hub_dataset": cfg.data_args(0.95).hub_dataset},
            "generate": {**TINY["generate"], "fidelity_encoder": "oracle"}}
    logged = []
    run(config_from_dict(spec), log=logged.append)
    assert sorted((sev / "classify").glob("oracle-seed0-*")) == oracle_dirs
    assert {p: p.stat().st_mtime_ns for p in oracle_dirs[0].rglob("*")} == stamps
    (gen_dir,) = (sev / "synthetic").glob("vanilla-*")
    assert not (gen_dir / "fidelity.json").exists()  # the generation's own report is replaced, not doubled
    text = (gen_dir / "fidelity-oracle.json").read_text()
    report = json.loads(text)
    assert report["encoder"] == f"oracle ({oracle_dirs[0].relative_to(sev)}/model)"
    assert str(root) not in text and "Encoder `oracle (classify/oracle-seed0-" in (gen_dir / "fidelity-oracle.md").read_text()
    doc = json.loads((sev / "results.json").read_text())
    assert doc["fidelity"]["vanilla"]["label_acc"] == pytest.approx(report["sources"]["vanilla"]["label_acc"])
    # a re-run reads the report, it does not recompute it
    mtime = (gen_dir / "fidelity-oracle.json").stat().st_mtime_ns
    logged.clear()
    run(config_from_dict(spec), log=logged.append)
    assert (gen_dir / "fidelity-oracle.json").stat().st_mtime_ns == mtime and not any("-- fidelity of" in line for line in logged)


def test_gap_section_is_checked_and_off_by_default(tmp_path):
    cfg = config_from_dict({**TINY, "output_dir": str(tmp_path / "x"), "domain_gap": {}})
    assert cfg.domain_gap().enabled is False and cfg.domain_gap().images_per_group == 256
    with pytest.raises(HfFairError, match="images_per_group must be >= 2"):
        config_from_dict({**TINY, "domain_gap": {"enabled": True, "images_per_group": 1}})
    with pytest.raises(HfFairError, match="unknown option"):
        config_from_dict({**TINY, "domain_gap": {"images": 3}})
    # the draws take the generate section's sampling, never its quota, filter or fidelity
    gen = config_from_dict({**TINY, "generate": {"match": "largest", "num_inference_steps": 3, "fidelity": True,
                                                 "filter_classifier": "clip", "clip_min_prob": 0.2}}).gap_generate_args()
    assert (gen.images_per_group, gen.match, gen.filter_classifier, gen.quality_filter, gen.fidelity, gen.clip_min_prob) == (
        2, None, "none", False, False, None)
    assert gen.num_inference_steps == 3 and gen.base == "embedded"


def test_gap_command_refuses_bad_input_with_one_line_and_no_folder(tmp_path, capsys):
    bad = tmp_path / "bad"
    assert main(["gap", "--dataset", "colored-mnist", "--output_dir", str(bad)]) == 2
    assert "needs --severity" in capsys.readouterr().err and not bad.exists()
    assert main(["gap", "--dataset", "colored-mnist", "--severity", "0.99"]) == 2
    assert "--output_dir is required" in capsys.readouterr().err
    # the data cannot be read: one line naming it, no folder left
    assert main(["gap", "--dataset", "celeba", "--severity", "0.9", "--output_dir", str(bad), "--data_dir", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and len(err.strip().splitlines()) == 1 and not bad.exists()


def test_gap_command_defaults_share_the_shipped_configs_stages():
    """`hf-fair gap --dataset colored-mnist --severity b --output_dir runs/colored-mnist` finds the
    draws and the oracle of `hf-fair run configs/colored_mnist.yaml` (and the other way round)."""
    from pathlib import Path

    from hf_fair.data import DataArguments
    from hf_fair.run.config import load_run_config
    from hf_fair.run.gap_cli import GapArguments, gap_config
    from hf_fair.run.runner import stage_key

    run_cfg = load_run_config(Path(__file__).parent.parent / "configs" / "colored_mnist.yaml")
    gap_cfg = gap_config(DataArguments(dataset="colored-mnist", severity=0.99), GapArguments(output_dir=run_cfg.output_dir))
    keys = []
    for c in (run_cfg, gap_cfg):
        data_key = stage_key(c.data_args(0.99))
        keys.append((stage_key(data_key, "oracle", c.classifier_args(objective="erm", seed=0)),
                     stage_key(data_key, c.gap_generate_args()), c.domain_gap().images_per_group))
    assert keys[0] == keys[1]


def test_without_the_group_reader_the_oracle_still_reads_the_draws(gap_run, capsys):
    """`domain_gap.group_reader: false` (the demo's, `hf-fair gap --group_reader false`): no reader is
    trained or read, its figures are None and the tables say so; the draws and the oracle's
    readings are the same stage's."""
    cfg, sev, _ = gap_run
    before = json.loads((sev / "domain_gap.json").read_text())
    flags = [*GAP_FLAGS, "--hub_dataset", cfg.data_args(0.95).hub_dataset, "--output_dir", str(sev.parent)]
    readers = sorted((sev / "domain_gap").glob("group_reader-*"))
    assert main(["gap", *flags, "--group_reader", "false"]) == 0
    assert sorted((sev / "domain_gap").glob("group_reader-*")) == readers  # nothing new trained
    report = json.loads((sev / "domain_gap.json").read_text())
    assert report["group_reader_test"] is None and report["group_reader_model"] is None
    assert report["mean_over_groups"]["group_read"] is None
    for name, v in report["groups"].items():
        assert v["group_read"] is None and v["label_read"] == before["groups"][name]["label_read"], name
    md = (sev / "domain_gap.md").read_text()
    assert "no group reader was trained" in md and "| small\\|green | 2 | 6 |" in md
    assert "no group reader was trained" in capsys.readouterr().out
    # the results document's table shows a dash, not a number
    from hf_fair.results import domain_gap_markdown
    from hf_fair.run.domain_gap import gap_summary

    table = domain_gap_markdown(gap_summary(report, GROUPS))
    assert all(line.rstrip().endswith("| - |") for line in table.splitlines() if line.startswith("| small") or line.startswith("| large"))
    # back to the fixture's report for any later test
    assert main(["gap", *flags]) == 0
    assert json.loads((sev / "domain_gap.json").read_text())["groups"] == before["groups"]
