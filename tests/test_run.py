"""The end-to-end runner: config checks, stage caching, and kill-and-resume of the adapters stage."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from hf_fair.errors import HfFairError
from hf_fair.run.config import config_from_dict, parse_method

TINY = {
    "dataset": "colored-digits",
    "severities": [0.99],
    "seeds": [0],
    "methods": ["erm", "lora+groupdro"],
    "adapters": {"max_train_steps": 30, "checkpointing_steps": 5},
    "generate": {"images_per_group": 4, "num_inference_steps": 2, "guidance_scale": 2.0, "fidelity": False},
    "classifier": {"model": "resnet18", "epochs": 1, "max_steps": 2, "learning_rate": 0.01},
    "pretrain": {"epochs": 1, "max_steps": 2},
}


def _cfg(tmp_path, name="run", **changes):
    data = {**TINY, "output_dir": str(tmp_path / name), **changes}
    return data


def sev_folder(cfg):
    return Path(cfg.output_dir) / "severity-0.99"


def _env():
    return {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1"}


def test_methods_parse_and_bad_ones_are_named():
    assert parse_method("dreambooth_cluster+groupdro").source == "dreambooth_cluster"
    assert parse_method("dreambooth_cluster+groupdro").objective == "groupdro"
    assert parse_method("oracle").source == "oracle"
    assert parse_method("jtt").source is None
    with pytest.raises(HfFairError, match=r"unknown method 'dreambooth\+magic'"):
        parse_method("dreambooth+magic")


def test_config_refuses_typos_and_runner_owned_options(tmp_path):
    with pytest.raises(HfFairError, match=r"unknown option\(s\) \['epochz'\] in section 'classifier'"):
        config_from_dict(_cfg(tmp_path, classifier={"epochz": 3}))
    with pytest.raises(HfFairError, match="unknown key"):
        config_from_dict(_cfg(tmp_path, clasifier={"epochs": 3}))
    with pytest.raises(HfFairError, match="set by the runner"):
        config_from_dict(_cfg(tmp_path, classifier={"objective": "groupdro"}))
    with pytest.raises(HfFairError, match="finetune_scope"):
        config_from_dict(_cfg(tmp_path, finetune_scope="half"))
    cfg = config_from_dict(_cfg(tmp_path, lora={"learning_rate": "1e-4"}))
    assert cfg.adapter_args("lora", "x").lr == pytest.approx(1e-4)  # YAML's 1e-4 string becomes a number
    assert cfg.pretrain_args().selection == "last"
    assert cfg.sources() == ["lora"]


def test_a_bad_section_value_is_one_error_naming_the_section(tmp_path):
    """Sections go through the stage commands' parser: same types, same one-line errors."""
    cfg = config_from_dict(_cfg(tmp_path, classifier={"epochs": "many"}))
    with pytest.raises(HfFairError, match=r"section\(s\) \['classifier'\].*--epochs.*many"):
        cfg.classifier_args(output_dir="x", seed=0)
    cfg = config_from_dict(_cfg(tmp_path, generate={"images_per_group": 3, "guidance_scale": "3e0"}))
    args = cfg.generate_args("vanilla", None, "out")
    assert args.guidance_scale == 3.0 and args.adapters is None and args.images_per_group == 3


def test_shipped_configs_load_and_output_dir_overrides_the_run_folder():
    from hf_fair.run.cli import _parser, overrides_from
    from hf_fair.run.config import load_run_config

    configs = sorted((Path(__file__).parent.parent / "configs").glob("*.yaml"))
    assert configs
    for path in configs:
        assert load_run_config(path).output_dir.startswith("runs/")
    ns = _parser("hf-fair run").parse_args([str(configs[0]), "--output_dir", "elsewhere"])
    assert load_run_config(ns.config, overrides_from(ns)).output_dir == "elsewhere"
    with pytest.raises(SystemExit):  # no abbreviation: --output is not an alias of --output_dir
        _parser("hf-fair run").parse_args([str(configs[0]), "--output", "elsewhere"])
    with pytest.raises(HfFairError, match=r"unknown key\(s\) \['output'\]"):  # the folder key is output_dir only
        load_run_config(configs[0], {"output": "elsewhere"})


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    from hf_fair.run.runner import run

    import torch

    tmp = tmp_path_factory.mktemp("run")
    cfg = config_from_dict(_cfg(tmp, "uninterrupted"))
    # one thread, as in the subprocesses below (OMP_NUM_THREADS=1): float sums then agree bit for bit
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        docs = run(cfg, log=lambda *_: None)
    finally:
        torch.set_num_threads(threads)
    return tmp, cfg, docs


def test_run_writes_results_contract_and_artifacts(finished_run):
    tmp, cfg, docs = finished_run
    out = Path(cfg.output_dir)
    doc = json.loads((out / "severity-0.99" / "results.json").read_text())
    assert doc["dataset"] == "colored-digits" and doc["severity"] == 0.99 and doc["selection"] == "val_worst_group"
    # every synthetic source also gets a row for its classifier trained on synthetic data alone
    assert set(doc["methods"]) == {"erm", "lora+groupdro", "synthetic:lora"}
    pre = json.loads((sev_folder(cfg) / doc["artifacts"]["models"]["synthetic:lora"][0] / ".." / "metrics.json").read_text())
    assert pre["stage"] == "pretrain" and doc["methods"]["synthetic:lora"]["worst_group_acc"]["per_seed"] == [pre["splits"]["test"]["worst_group_acc"]]
    for m in doc["methods"].values():
        assert set(m) >= {"worst_group_acc", "balanced_acc", "average_acc", "per_group_acc"}
        assert len(m["worst_group_acc"]["per_seed"]) == 1
        assert set(m["per_group_acc"]) == {"0", "1", "2", "3"}
    assert doc["finetune_scope"] == "last_layer"
    sev = out / "severity-0.99"
    assert (sev / doc["artifacts"]["adapters"]["lora"] / "manifest.json").is_file()
    assert (sev / doc["artifacts"]["synthetic"]["lora"] / "generation.json").is_file()
    for paths in doc["artifacts"]["models"].values():
        assert all((sev / p / "config.json").is_file() for p in paths)
    assert (out / "results.md").read_text().count("| lora+groupdro |") == 1
    assert (out / "wga_vs_severity.png").stat().st_size > 0
    assert (sev / "grids" / "real_vs_synthetic.png").stat().st_size > 0
    assert (sev / "clusters" / "clusters.json").is_file()


def test_rerun_skips_and_a_changed_setting_recomputes_only_its_dependents(finished_run):
    from hf_fair.run.runner import run

    tmp, cfg, docs = finished_run
    sev = Path(cfg.output_dir) / "severity-0.99"

    def folders():
        return {p.relative_to(sev).as_posix(): p.stat().st_mtime_ns for p in sev.glob("*/*") if p.is_dir()}

    before = folders()
    again = run(cfg, log=lambda *_: None)
    assert again[0.99]["methods"] == docs[0.99]["methods"]
    assert folders() == before  # nothing rewritten
    # a re-run that computes nothing keeps the seconds of the run that computed each stage
    first = docs[0.99]["seconds_computed"]
    assert again[0.99]["seconds_computed"] == first and {"adapters:lora", "generate:lora", "classify:erm"} <= set(first)

    # the finetune scope only concerns the finetuning of synthetic-pretrained models
    changed = config_from_dict({**cfg.as_dict(), "finetune_scope": "full"})
    run(changed, log=lambda *_: None)
    after = folders()
    new = sorted(set(after) - set(before))
    assert len(new) == 1 and new[0].startswith("classify/lora_groupdro-seed0-"), new
    assert all(after[k] == v for k, v in before.items())


def test_kill_during_adapters_then_rerun_gives_the_same_results(finished_run, tmp_path):
    tmp, cfg, docs = finished_run
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump(_cfg(tmp_path, "killed")))
    cmd = [sys.executable, "-m", "hf_fair.cli", "run", str(config)]
    out = tmp_path / "killed" / "severity-0.99" / "adapters"
    proc = subprocess.Popen(cmd, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.time() + 300
        while time.time() < deadline and proc.poll() is None:
            # a checkpoint of an unfinished unit: the process is in the middle of the adapters stage
            if list(out.glob("*/units/*/checkpoint.pt")):
                break
            time.sleep(0.02)
        assert proc.poll() is None, "the run ended before the adapters stage could be interrupted"
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert not list(out.glob("*/manifest.json"))  # the stage had not finished
    done = subprocess.run(cmd, env=_env(), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "resuming at step" in done.stderr
    resumed = json.loads((tmp_path / "killed" / "severity-0.99" / "results.json").read_text())
    assert resumed["methods"] == docs[0.99]["methods"]
    ours = sorted((out).glob("*/units/*/pytorch_lora_weights.safetensors"))
    ref = sorted((Path(cfg.output_dir) / "severity-0.99" / "adapters").glob("*/units/*/pytorch_lora_weights.safetensors"))
    assert len(ours) == len(ref) == 4
    from safetensors import safe_open

    for a, b in zip(ours, ref):
        # compare tensors and metadata, not bytes: safetensors may order header keys differently per process
        with safe_open(str(a), "pt") as fa, safe_open(str(b), "pt") as fb:
            assert fa.metadata() == fb.metadata()
            assert sorted(fa.keys()) == sorted(fb.keys())
            for k in fa.keys():
                assert fa.get_tensor(k).equal(fb.get_tensor(k)), k


def test_paper_claims_are_checked_from_the_numbers():
    from hf_fair.results import paper_claims

    def row(x):
        return {"worst_group_acc": {"mean": x}}

    doc = {"severity": 0.99, "methods": {"erm": row(0.0), "groupdro": row(0.4), "vanilla": row(0.5), "dreambooth_cluster": row(0.45),
                                         "dreambooth_cluster+groupdro": row(0.6), "synthetic:vanilla": row(0.9), "oracle": row(0.9)}}
    claims = {c["claim"]: c["holds"] for c in paper_claims(doc)}
    assert claims == {"dreambooth_cluster >= groupdro": True, "dreambooth_cluster > vanilla": False,
                      "dreambooth_cluster >= erm + 30": True, "best synthetic combination within 5 of oracle": False}
    doc["severity"] = 0.95
    assert [(c["claim"], c["holds"]) for c in paper_claims(doc)] == [("dreambooth_cluster within 5 of groupdro", True)]
    assert paper_claims({"severity": 0.99, "methods": {"erm": row(0.0)}}) == []


def test_results_markdown_checks_the_best_finetuning_objective_too():
    from hf_fair.results import results_markdown

    def row(x):
        return {"worst_group_acc": {"mean": x, "std": 0.0, "per_seed": [x]}, "balanced_acc": {"mean": x, "std": 0.0, "per_seed": [x]},
                "average_acc": {"mean": x, "std": 0.0, "per_seed": [x]}, "per_group_acc": {}}

    doc = {"dataset": "d", "severity": 0.99, "selection": "val_worst_group",
           "methods": {"erm": row(0.0), "groupdro": row(0.05), "vanilla": row(0.2), "dreambooth_cluster": row(0.23),
                       "dreambooth_cluster+groupdro": row(0.25), "dreambooth_cluster+dfr": row(0.43), "vanilla+dfr": row(0.48),
                       "oracle": row(0.96)}}
    md = results_markdown(doc)
    assert "- dreambooth_cluster+dfr > vanilla+dfr: 43.0 vs 48.0 — **fails**" in md
    assert "- dreambooth_cluster >= erm + 30: 23.0 vs 0.0 + 30 — **fails**" in md
    assert "best finetuning objective, `dreambooth_cluster+dfr`" in md
    assert "- dreambooth_cluster+dfr >= erm + 30: 43.0 vs 0.0 + 30 — **holds**" in md


def test_set_overrides_sections_and_refuses_bad_items(tmp_path):
    from hf_fair.run.config import apply_settings

    data = apply_settings(_cfg(tmp_path), ["seeds=[3, 4]", "generate.images_per_group=9", "cluster.encoder=pixels"])
    cfg = config_from_dict(data)
    assert cfg.seeds == [3, 4] and cfg.sections["generate"]["images_per_group"] == 9
    assert cfg.sections["generate"]["num_inference_steps"] == 2  # the rest of the section is kept
    assert cfg.sections["cluster"] == {"encoder": "pixels"}
    for bad, msg in [("seeds", "KEY=VALUE"), ("a.b.c=1", "at most one dot"), ("x=[1,", "not valid YAML")]:
        with pytest.raises(HfFairError, match=msg):
            apply_settings(_cfg(tmp_path), [bad])


def test_unexpected_failure_is_one_line_naming_the_stage_and_the_log(tmp_path, monkeypatch, capsys):
    from hf_fair import cli
    from hf_fair.run import runner

    def boom(*args, **kwargs):
        raise RuntimeError("disk on fire\nsecond line")

    monkeypatch.setattr(runner.Runner, "_clusters", boom)
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(_cfg(tmp_path)))
    assert cli.main(["run", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    log = tmp_path / "run" / "error.log"
    assert err[-1] == f"error: stage 'cluster' at severity 0.99 failed: RuntimeError: disk on fire (full traceback in {log})"
    assert "Traceback (most recent call last)" in log.read_text() and "second line" in log.read_text()


def test_fingerprint_leaves_out_only_the_marked_fields(tmp_path):
    """Fields marked fingerprint=False (where to write, worker counts, reporting) may change on
    resume; every other field, the classifier's batch size included, changes the key."""
    from dataclasses import replace

    from hf_fair import runfolder
    from hf_fair.classify.config import ClassifierArguments
    from hf_fair.generate.config import GenerateArguments

    a = ClassifierArguments(output_dir=str(tmp_path / "a"))
    assert runfolder.fingerprint(a) == runfolder.fingerprint(replace(a, output_dir="b", num_workers=4, eval_batch_size=7))
    assert runfolder.fingerprint(a) != runfolder.fingerprint(replace(a, batch_size=a.batch_size + 1))
    g = GenerateArguments(output_dir="x", source="vanilla", images_per_group=8)
    assert runfolder.fingerprint(g) == runfolder.fingerprint(replace(g, batch_size=3, fidelity=False, output_dir="y"))
    assert runfolder.fingerprint(g) != runfolder.fingerprint(replace(g, guidance_scale=g.guidance_scale + 1))
    assert set(runfolder.versions("timm")) == {"hf_fair", "torch", "timm"}


def _colour_reliance_script():
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "scripts" / "colour_reliance.py"
    spec = importlib.util.spec_from_file_location("colour_reliance", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_colour_reliance_script_scores_a_finished_run(finished_run, tmp_path):
    """scripts/colour_reliance.py on the runner's folder: unswapped accuracies equal the
    runner's own per-group figures; swapped images keep their shape and change colour."""
    import numpy as np
    from PIL import Image

    script = _colour_reliance_script()
    _, cfg, _ = finished_run
    out = tmp_path / "reliance"
    script.main([cfg.output_dir, "--severities", "0.99", "--methods", "erm", "synthetic:lora", "--output", str(out)])
    report = json.loads(out.with_suffix(".json").read_text())["0.99"]
    results = json.loads((sev_folder(cfg) / "results.json").read_text())
    names = results["group_names"]
    for m in ("erm", "synthetic:lora"):
        assert 0.0 <= report[m]["flipped"] <= 1.0 and len(report[m]["per_seed_flipped"]) == 1
        ours = [report[m]["per_group_acc"][n] for n in names]
        runner = [results["methods"][m]["per_group_acc"][str(g)] for g in range(len(names))]
        np.testing.assert_allclose(ours, runner, atol=1e-9)
        assert set(report[m]["per_group_acc_swapped"]) == set(names)
        assert report[m]["worst_group_seed0"]["group"] in names
    assert "| erm |" in out.with_suffix(".md").read_text()
    red = Image.new("RGB", (4, 4), (200, 10, 30))
    assert Image.Image.getpixel(script.swap_red_green(red), (0, 0)) == (10, 200, 30)
    with pytest.raises(HfFairError, match="method 'nope' is not in"):
        script.severity_report(Path(cfg.output_dir), "0.99", ["nope"])
    with pytest.raises(HfFairError, match="results.json' is missing"):
        script.severity_report(Path(cfg.output_dir), "0.95", ["erm"])


def test_a_run_over_severities_tables_each_method_over_them(tmp_path):
    """The run-level results.md ends with each method's worst-group accuracy per severity and its
    mean over them (the plot's numbers), read off the severities' own results.json."""
    from hf_fair.run.runner import run

    cfg = config_from_dict(_cfg(tmp_path, severities=[0.95, 0.99], methods=["erm"]))
    run(cfg, log=lambda *_: None)
    out = Path(cfg.output_dir)
    wga = [json.loads((out / f"severity-{b}" / "results.json").read_text())["methods"]["erm"]["worst_group_acc"]["mean"]
           for b in (0.95, 0.99)]
    md = (out / "results.md").read_text()
    assert "### Over the severities" in md
    assert f"| erm | {100 * wga[0]:.1f} | {100 * wga[1]:.1f} | {50 * (wga[0] + wga[1]):.1f} |" in md
