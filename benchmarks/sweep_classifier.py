"""Classifier recipe sweep on the oracle (group-balanced real training data) of colored-digits.

Each configuration trains once (seed 0) and reports validation average / worst-group accuracy,
which chooses the recipe, next to the test figures (reported, never used to choose) and the
seconds the run took. The reference is the first configuration (the recipe the presets use).

    python benchmarks/sweep_classifier.py --severity 0.99
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

RECIPE = dict(model="resnet10_s1", optimizer="adamw", learning_rate=2e-3, weight_decay=0.05, epochs=20, warmup_epochs=3,
              image_size=16, augment="shift", shift_px=1, batch_size=64)
VARIANTS = [
    {},
    {"epochs": 12, "warmup_epochs": 2},
    {"augment": "none"},
    {"augment": "crop"},
    {"optimizer": "sgd", "learning_rate": 0.05, "weight_decay": 5e-4},
    {"model": "resnet10w_s1"},
    {"image_size": 32, "shift_px": 2, "epochs": 10, "warmup_epochs": 2},
    {"model": "resnet18", "image_size": 32, "optimizer": "sgd", "learning_rate": 0.01, "weight_decay": 5e-4, "epochs": 4,
     "warmup_epochs": 0, "augment": "crop"},
]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--severity", type=float, default=0.99)
    a = p.parse_args()
    from hf_fair.classify.config import ClassifierArguments
    from hf_fair.classify.trainer import train_classifier
    from hf_fair.data import DataArguments, load_group_dataset
    from hf_fair.run.oracle import oracle_dataset

    data_args = DataArguments(dataset="colored-digits", severity=a.severity)
    oracle, _ = oracle_dataset(data_args, load_group_dataset(data_args)[0])
    print(f"oracle of colored-digits at severity {a.severity}: {len(oracle['train'])} training images")
    print("| change from the recipe | val avg | val worst | test avg | test worst | seconds |")
    print("|---|---:|---:|---:|---:|---:|")
    for change in VARIANTS:
        with tempfile.TemporaryDirectory() as tmp:
            args = ClassifierArguments(output_dir=tmp, **{**RECIPE, **change})
            start = time.perf_counter()
            m = train_classifier(args, data_args, oracle)
            seconds = time.perf_counter() - start
        v, t = m["splits"]["validation"], m["splits"]["test"]
        print(f"| {json.dumps(change) if change else 'the recipe'} | {100 * v['average_acc']:.1f} | {100 * v['worst_group_acc']:.1f} | "
              f"{100 * t['average_acc']:.1f} | {100 * t['worst_group_acc']:.1f} | {seconds:.0f} |", flush=True)


if __name__ == "__main__":
    main()
