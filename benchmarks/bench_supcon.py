"""Cost of CE + SupCon pretraining against cross-entropy alone, in one run.

Both arms are `train_classifier --stage pretrain` on the same training set (the colored-digits
oracle-sized train split, group labels as on a synthetic set), the same model, batch size,
epochs and seed; only the recipe differs: `--supcon_weight 0` (CE) vs `--supcon_weight 0.5`
(CE + SupCon, with the CLIP-style weight column on both sides so the weighting's cost is in both).
Time is the loop's own per-epoch training timer (evaluation excluded); the arms alternate over
repeats and the median epoch time of each is compared.

    python benchmarks/bench_supcon.py [--model resnet10_s1 --image_size 16] [--epochs 2 --repeats 3]

Last line: RATIO <CE+SupCon / CE epoch time> (the issue's bound: <= 1.3).
"""

import argparse
import statistics
import tempfile

from hf_fair.classify.config import ClassifierArguments
from hf_fair.classify.trainer import train_classifier
from hf_fair.data import DataArguments, load_group_dataset


def epoch_seconds(args, data_args, dsd):
    metrics = train_classifier(args, data_args, dsd)
    return [h["train_seconds"] for h in metrics["history"]]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="resnet10_s1")
    p.add_argument("--image_size", type=int, default=16)
    p.add_argument("--batch_size", type=int, default=64)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--supcon_weight", type=float, default=0.5)
    a = p.parse_args()
    data_args = DataArguments(dataset="colored-digits", severity=0.95)
    dsd, _ = load_group_dataset(data_args)
    train = dsd["train"]
    dsd["train"] = train.add_column("clip_score", [0.5 + 0.5 * ((i * 37) % 10) / 10 for i in range(len(train))])
    common = dict(model=a.model, image_size=a.image_size, batch_size=a.batch_size, epochs=a.epochs, optimizer="adamw",
                  learning_rate=2e-3, augment="shift", shift_px=1, stage="pretrain", selection="last", weight_column="clip_score")
    times = {"ce": [], "ce+supcon": []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(a.repeats):
            for arm, lam in (("ce", 0.0), ("ce+supcon", a.supcon_weight)):
                args = ClassifierArguments(output_dir=f"{tmp}/{arm}-{r}", supcon_weight=lam, **common)
                times[arm] += epoch_seconds(args, data_args, dsd)
    ce, sc = statistics.median(times["ce"]), statistics.median(times["ce+supcon"])
    n = len(dsd["train"])
    print(f"{n} training images, {a.model} at {a.image_size} px, batch {a.batch_size}, {a.epochs} epochs x {a.repeats} repeats per arm")
    print(f"CE:           median epoch {ce:.2f} s ({n / ce:.0f} images/s)")
    print(f"CE + SupCon:  median epoch {sc:.2f} s ({n / sc:.0f} images/s), lambda {a.supcon_weight}")
    print(f"RATIO {sc / ce:.3f}")


if __name__ == "__main__":
    main()
