"""Training throughput of hf-fair's classifier loop vs a bare PyTorch loop, in one run.

Ours: `train_classifier` reading the DatasetDict (PNG decode + timm transforms per example,
accelerate, objective, per-epoch checkpoint). Bare: the same timm model, optimizer, batch size
and number of steps over pre-decoded, pre-normalised tensors. Only training time is compared
(ours: the loop's own per-epoch timer; evaluation excluded on both sides).

    python benchmarks/bench_classifier.py [--model resnet10_s1 --image_size 16] [--epochs 3]

Last line: RATIO <ours/bare throughput>.
"""

import argparse
import tempfile
import time

import numpy as np
import timm
import torch

from hf_fair.classify.config import ClassifierArguments
from hf_fair.classify.data import build_transforms
from hf_fair.classify.trainer import train_classifier
from hf_fair.data import DataArguments, load_group_dataset


def bare_loop(model_name, train, steps, batch_size, lr, seed, image_size=32):
    torch.manual_seed(seed)
    model = timm.create_model(model_name, num_classes=2)
    _, tf = build_transforms(model, image_size, "none", 0.0)
    x = torch.stack([tf(ex["image"].convert("RGB")) for ex in train])  # pre-decoded, untimed
    y = torch.tensor(train["label"])
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=5e-4)
    model.train()
    done, images = 0, 0
    start = time.perf_counter()
    while done < steps:
        perm = torch.randperm(len(x))
        for i in range(0, len(x), batch_size):
            idx = perm[i : i + batch_size]
            loss = torch.nn.functional.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            done += 1
            images += len(idx)
            if done >= steps:
                break
    return images / (time.perf_counter() - start)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="resnet18")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch_size", type=int, default=64)
    p.add_argument("--image_size", type=int, default=32)
    p.add_argument("--augment", action="store_true", help="random-resized-crop in our loop (the bare loop has none)")
    a = p.parse_args()
    data_args = DataArguments(dataset="colored-digits", severity=0.99)
    dsd, _ = load_group_dataset(data_args)
    with tempfile.TemporaryDirectory() as tmp:
        args = ClassifierArguments(
            output_dir=tmp, model=a.model, epochs=a.epochs, batch_size=a.batch_size, learning_rate=0.01,
            eval_every=10_000, augment="crop" if a.augment else "none", image_size=a.image_size,
        )  # fmt: skip
        m = train_classifier(args, data_args, dsd=dsd)
    hist = m["history"]
    steps = sum(h["train_steps"] for h in hist)
    ours = len(dsd["train"]) * len(hist) / sum(h["train_seconds"] for h in hist)
    bare = bare_loop(a.model, dsd["train"], steps, a.batch_size, 0.01, 0, a.image_size)
    print(f"model {a.model}, {steps} steps of batch {a.batch_size}, torch threads {torch.get_num_threads()}, augment={a.augment}")
    print(f"ours (DatasetDict + transforms + accelerate): {ours:8.1f} images/s")
    print(f"bare (pre-decoded tensors):                  {bare:8.1f} images/s")
    print(f"RATIO {ours / bare:.3f}")


if __name__ == "__main__":
    np.random.seed(0)
    main()
