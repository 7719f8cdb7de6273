"""Two CPU processes: every evaluation example counted exactly once.

accelerate 1.15's ``--cpu --num_processes 2`` starts a single process (multi-CPU goes through
mpirun); ``--multi_gpu --num_processes 2`` starts torchrun, and the trainer's Accelerator falls
back to CPU (gloo) when there is no GPU.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def test_two_processes_gather_each_example_once(tmp_path):
    from hf_fair.data import load_group_dataset

    dsd, _ = load_group_dataset(dataset="colored-digits", severity=0.95)
    # odd sizes so the last batch is padded across processes
    small = type(dsd)({"train": dsd["train"].select(range(67)), "validation": dsd["validation"].select(range(51)), "test": dsd["test"].select(range(101))})
    small.save_to_disk(str(tmp_path / "data"))
    cmd = [
        sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
        "--mixed_precision", "no", "--dynamo_backend", "no",
        str(REPO / "training_scripts" / "train_classifier.py"),
        "--dataset", str(tmp_path / "data"), "--model", "resnet10t", "--epochs", "1", "--batch_size", "16",
        "--eval_batch_size", "8", "--objective", "groupdro", "--output_dir", str(tmp_path / "run"),
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    m = json.loads((tmp_path / "run" / "metrics.json").read_text())
    for split, ds in small.items():
        assert m["splits"][split]["n"] == len(ds)
        counts = np.bincount(ds["group"], minlength=4)
        assert [m["splits"][split]["group_counts"][str(g)] for g in range(4)] == counts.tolist()
    # 67 training examples, batch 16 per process, 2 processes -> 3 steps (1 process would take 5)
    assert m["history"][-1]["step"] == 3
