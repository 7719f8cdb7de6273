"""How much the classifiers of a colored-digits run read colour instead of shape.

Every real test image (or validation image, ``--split validation``: a measure the split's few
minority images cannot give, usable for choices) is scored as it is and with its red and green channels swapped (a red 7
becomes a green 7: same shape, the other colour). A classifier that reads the digit keeps its
prediction; one that learnt the spurious colour flips it. For each method of a finished
`hf-fair run` it reports the share of flipped predictions (mean over seeds), the accuracy per
group before and after the swap, and the accuracy per digit in the worst group (seed 0).

    python scripts/colour_reliance.py runs/colored-digits --severities 0.95 0.99 0.995 \
        --methods oracle vanilla synthetic:vanilla dreambooth_cluster synthetic:dreambooth_cluster \
        --output docs/results/colored-digits/colour-reliance
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from hf_fair.classify.predict import load_classifier
from hf_fair.data.registry import load_group_dataset
from hf_fair.errors import HfFairError
from hf_fair.metrics import group_metrics


@torch.no_grad()
def predictions(model_dir: str, images) -> np.ndarray:
    model, transform, _, _ = load_classifier(model_dir)
    x = torch.stack([transform(im) for im in images])
    return torch.cat([model(chunk).argmax(1) for chunk in x.split(512)]).numpy()


def swap_red_green(image: Image.Image) -> Image.Image:
    return Image.fromarray(np.asarray(image.convert("RGB"))[:, :, [1, 0, 2]])


def severity_report(run_folder: Path, severity: str, methods: list[str], split: str = "test") -> dict:
    sev = run_folder / f"severity-{severity}"
    results_file = sev / "results.json"
    if not results_file.is_file():
        raise HfFairError(f"'{results_file}' is missing; finish the run first (hf-fair run CONFIG --severities {severity})")
    results = json.loads(results_file.read_text())
    if results["dataset"] != "colored-digits":
        raise HfFairError(f"'{results_file}' is a {results['dataset']} run; the red/green swap only means something on colored-digits")
    data = load_group_dataset(dataset="colored-digits", severity=float(severity))[0][split]
    images = [im.convert("RGB") for im in data["image"]]
    swapped = [swap_red_green(im) for im in images]
    y, g, digit = (np.asarray(data[c]) for c in ("label", "group", "digit"))
    groups = results["group_names"]
    out = {}
    for m in methods:
        paths = results["artifacts"]["models"].get(m)
        if paths is None:
            raise HfFairError(f"method '{m}' is not in '{results_file}' (methods: {sorted(results['artifacts']['models'])})")
        flips, acc, acc_swapped, worst = [], [], [], None
        for i, p in enumerate(paths):
            a, b = predictions(str(sev / p), images), predictions(str(sev / p), swapped)
            flips.append(float((a != b).mean()))
            # the runner's own per-group accuracy, so the unswapped figures equal results.json's
            acc.append([group_metrics(a, y, g, len(groups))["per_group_acc"][str(k)] for k in range(len(groups))])
            acc_swapped.append([group_metrics(b, y, g, len(groups))["per_group_acc"][str(k)] for k in range(len(groups))])
            if i == 0:
                k = int(np.argmin(acc[-1]))
                ok, d = a[g == k] == y[g == k], digit[g == k]
                worst = {"group": groups[k], "per_digit": {str(v): float(ok[d == v].mean()) for v in np.unique(d)}}
        out[m] = {"flipped": float(np.mean(flips)), "per_seed_flipped": flips,
                  "per_group_acc": dict(zip(groups, np.mean(acc, 0).tolist())),
                  "per_group_acc_swapped": dict(zip(groups, np.mean(acc_swapped, 0).tolist())),
                  "worst_group_seed0": worst}
    return out


def markdown(report: dict, split: str = "test") -> str:
    severities = list(report)
    methods = list(report[severities[0]])
    lines = [f"Share of real {split} predictions that change when red and green are swapped, mean over seeds, %:", "",
             "| method | " + " | ".join(severities) + " |", "|---|" + "---:|" * len(severities)]
    for m in methods:
        lines.append(f"| {m} | " + " | ".join(f"{100 * report[s][m]['flipped']:.1f}" for s in severities) + " |")
    lines += ["", "Worst group of seed 0, accuracy per digit, %:", "", "| severity | method | group | per digit |", "|---|---|---|---|"]
    for s in severities:
        for m in methods:
            w = report[s][m]["worst_group_seed0"]
            digits = ", ".join(f"{d}: {100 * v:.0f}" for d, v in w["per_digit"].items())
            lines.append(f"| {s} | {m} | {w['group'].replace('|', chr(92) + '|')} | {digits} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_folder", type=Path)
    parser.add_argument("--severities", nargs="+", required=True)
    parser.add_argument("--methods", nargs="+", required=True)
    parser.add_argument("--split", default="test", choices=["test", "validation"])
    parser.add_argument("--output", type=Path, help="write OUTPUT.json and OUTPUT.md")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    report = {s: severity_report(args.run_folder, s, args.methods, args.split) for s in args.severities}
    text = markdown(report, args.split)
    print(text)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.with_suffix(".json").write_text(json.dumps(report, indent=2))
        args.output.with_suffix(".md").write_text(text)


if __name__ == "__main__":
    try:
        main()
    except HfFairError as e:
        raise SystemExit(f"error: {e}")
