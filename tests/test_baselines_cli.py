"""`hf-fair classify` / `hf-fair baselines` end to end on tiny settings: results-file contract."""

import json

from huggingface_hub import ModelCard

from hf_fair.cli import main

TINY = ["--model", "resnet10t", "--epochs", "1", "--max_steps", "2", "--batch_size", "32", "--eval_batch_size", "512"]


def test_baselines_results_contract(tmp_path, capsys):
    out = tmp_path / "b"
    argv = ["baselines", "--dataset", "colored-digits", "--severity", "0.95", "--methods", "erm", "groupdro", "--seeds", "0", "1", "--results_dir", str(out), *TINY]
    assert main(argv) == 0
    doc = json.loads((out / "results.json").read_text())
    assert doc["dataset"] == "colored-digits" and doc["severity"] == 0.95 and doc["selection"] == "val_worst_group"
    assert set(doc["methods"]) == {"erm", "groupdro"}
    for m in doc["methods"].values():
        for key in ("worst_group_acc", "balanced_acc", "average_acc"):
            assert set(m[key]) == {"mean", "std", "per_seed"} and len(m[key]["per_seed"]) == 2
            assert 0.0 <= m[key]["mean"] <= 1.0
        assert set(m["per_group_acc"]) == {"0", "1", "2", "3"}
        assert m["worst_group_acc"]["mean"] <= m["balanced_acc"]["mean"] + 1e-9
    md = (out / "results.md").read_text()
    assert "| erm |" in md and "| groupdro |" in md and "±" in md
    assert "results.json" in capsys.readouterr().out
    # every run folder is finished; re-running only aggregates
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["erm-seed0", "erm-seed1", "groupdro-seed0", "groupdro-seed1"]
    before = (out / "erm-seed0" / "metrics.json").stat().st_mtime
    assert main(argv) == 0
    assert (out / "erm-seed0" / "metrics.json").stat().st_mtime == before


def test_classify_cli_yaml_and_card(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        "dataset: colored-digits\nseverity: 0.95\nobjective: reweight\nmodel: resnet10t\nepochs: 1\nmax_steps: 2\n"
        f"output_dir: {tmp_path / 'run'}\n"
    )
    assert main(["classify", str(cfg)]) == 0
    assert "test worst-group" in capsys.readouterr().out
    card = ModelCard.load(str(tmp_path / "run" / "model" / "README.md"))
    results = {r.metric_type: r.metric_value for r in card.data.eval_results}
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert results["worst_group_acc"] == round(metrics["splits"]["test"]["worst_group_acc"], 4)
    assert card.data.library_name == "timm"


def test_classify_cli_bad_flag(capsys):
    assert main(["classify", "--objective", "dro", "--output_dir", "x"]) == 2
    assert "objective" in capsys.readouterr().err
