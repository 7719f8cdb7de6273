"""Last-layer finetuning on cached frozen features against training through the images, in one
process: the classifier recipe of configs/colored_mnist.yaml (resnet10_s1, 16 px, shift by 1 px,
AdamW) on colored-mnist at severity 0.99, from one randomly initialised checkpoint, both arms
the same `hf-fair classify --stage finetune --finetune_scope last_layer` run but for
`--cache_features`. The arms alternate over ``--repeats``; each run's wall time counts
everything the run does (feature caching, epochs, per-epoch validation, the final evaluation of
every split, writing the model).

    OMP_NUM_THREADS=2 python benchmarks/bench_frozen_features.py [--epochs 20 --repeats 2]

Last line: RATIO <images / features wall time> (medians), after a check that both arms chose the
same epoch and read the same per-group test accuracies.
"""

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from hf_fair.classify.config import ClassifierArguments
from hf_fair.classify.models import create_model, save_checkpoint
from hf_fair.classify.trainer import train_classifier
from hf_fair.data import DataArguments, load_group_dataset


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--repeats", type=int, default=2)
    a = p.parse_args()
    data_args = DataArguments(dataset="colored-mnist", severity=0.99)
    dsd, _ = load_group_dataset(data_args)
    recipe = dict(model="resnet10_s1", optimizer="adamw", learning_rate=2e-3, weight_decay=0.05, epochs=a.epochs,
                  warmup_epochs=2, image_size=16, augment="shift", shift_px=1, stage="finetune")
    with tempfile.TemporaryDirectory() as tmp:
        torch.manual_seed(0)
        init = Path(tmp) / "init"
        save_checkpoint(create_model("resnet10_s1", 2, False), init, input_size=16, label_names=["small", "large"])
        seconds, results = {True: [], False: []}, {}
        for r in range(a.repeats):
            for cache in (False, True):
                args = ClassifierArguments(output_dir=f"{tmp}/{cache}-{r}", init=str(init), cache_features=cache, **recipe)
                start = time.perf_counter()
                m = train_classifier(args, data_args, dsd=dsd)
                seconds[cache].append(time.perf_counter() - start)
                results[cache] = (m["selected_epoch"], m["splits"]["test"]["per_group_acc"])
                print(f"repeat {r}: {'features' if cache else 'images'} {seconds[cache][-1]:.1f} s")
    same = results[True] == results[False]
    print(f"{len(dsd['train'])} training images, {a.epochs} epochs; same selected epoch and test per-group accuracy: {same}")
    images, features = statistics.median(seconds[False]), statistics.median(seconds[True])
    print(f"images {images:.1f} s, features {features:.1f} s per run")
    print(f"RATIO {images / features:.2f}")


if __name__ == "__main__":
    main()
