"""Progress outside a terminal is a log line every 10% of the work (or 30 s), never tqdm's
carriage-return redraws; in a terminal it is tqdm's bar."""

import logging
import os
import subprocess
import sys

from hf_fair import progress as progress_mod
from hf_fair.progress import LogProgress, progress


def test_a_log_line_per_tenth_of_the_work(caplog):
    caplog.set_level(logging.INFO, logger="hf_fair.progress")
    bar = progress(range(250), desc="epoch 1/1", unit="step")  # pytest's stderr is not a terminal
    assert isinstance(bar, LogProgress)
    for i in bar:
        bar.set_postfix(loss=f"{1 / (i + 1):.4f}")
    bar.close()
    lines = [r.getMessage() for r in caplog.records if r.name == "hf_fair.progress"]
    assert len(lines) == 10
    assert lines[0].startswith("epoch 1/1: 25/250 step (10%), loss=0.0400 [")
    assert lines[-1].startswith("epoch 1/1: 250/250 step (100%)")


def test_resumed_unfinished_and_silenced_bars(caplog, monkeypatch):
    caplog.set_level(logging.INFO, logger="hf_fair.progress")
    bar = LogProgress(total=100, initial=50, desc="unit g0")  # resumed at half: the tenths count from there
    bar.update(10)
    bar.update(5)
    bar.close()  # stopped at 65: a closing line for the part after the last tenth logged
    assert [r.getMessage().split(" [")[0] for r in caplog.records] == ["unit g0: 60/100 it (60%)", "unit g0: 65/100 it (65%)"]
    caplog.clear()
    monkeypatch.setattr(progress_mod.time, "monotonic", iter([0.0, 31.0, 31.0]).__next__)
    slow = LogProgress(total=1000, desc="slow")
    slow.update(1)  # at 31 s: a line although not a tenth is done
    assert [r.getMessage().split(" [")[0] for r in caplog.records] == ["slow: 1/1000 it (0%)"]
    caplog.clear()
    monkeypatch.setenv("TQDM_DISABLE", "1")
    quiet = LogProgress(range(20), desc="quiet")
    list(quiet)
    quiet.close()
    assert not caplog.records


def test_a_terminal_keeps_the_tqdm_bar(monkeypatch):
    from tqdm.auto import tqdm

    monkeypatch.setattr(progress_mod, "interactive", lambda: True)
    bar = progress(range(3), desc="x", disable=True)
    assert isinstance(bar, tqdm)


RUN = """dataset: colored-digits
severities: [0.99]
methods: [erm, lora]
adapters: {max_train_steps: 2}
generate: {images_per_group: 2, num_inference_steps: 2, fidelity: false}
classifier: {model: resnet10_s1, epochs: 1, max_steps: 2}
pretrain: {epochs: 1, max_steps: 2}
"""


def test_run_log_has_no_carriage_return_redraws(tmp_path):
    (tmp_path / "run.yaml").write_text(RUN)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TQDM_")}
    env.update(HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")
    with open(tmp_path / "stderr.log", "w") as log:  # stderr is a file, as under nohup or in CI
        r = subprocess.run([sys.executable, "-m", "hf_fair.cli", "run", str(tmp_path / "run.yaml"), "--output_dir",
                            str(tmp_path / "run")], cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=log, text=True)
    text = (tmp_path / "stderr.log").read_text()
    assert r.returncode == 0, text[-3000:]
    assert "\r" not in text and "it/s]" not in text
    lines = text.splitlines()
    # the stages' own progress, as log lines: adapters units, generation, classifier epochs
    assert any(" INFO hf_fair.progress: g0 (" in ln for ln in lines)
    assert any(" INFO hf_fair.progress: generate lora: " in ln and "(100%)" in ln for ln in lines)
    assert any(" INFO hf_fair.progress: epoch 1/1: " in ln for ln in lines)
