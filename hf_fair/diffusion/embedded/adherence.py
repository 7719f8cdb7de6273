"""Prompt adherence of a base, judged by the reference classifier.

    hf-fair base adherence --base embedded --per_prompt 5 \
        --json docs/base_adherence.json --grid docs/base_grid.png

Prompts "a {colour} digit {d}" for every colour x digit; ``per_prompt`` images each (seeds
``seed .. seed + per_prompt - 1``), default sampling settings (20 steps, guidance 7.5). Reports
the share of images whose colour, digit, and both, the reference classifier reads as requested.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hf_fair.diffusion.embedded.corpus import prompt as make_prompt
from hf_fair.errors import HfFairError

GRID_COLORS = ("red", "green", "blue", "yellow")


@dataclass
class AdherenceArguments:
    base: str = field(default="embedded", metadata={"help": "'embedded', a pipeline folder or a Hub id"})
    colors: list[str] = field(default_factory=lambda: list(GRID_COLORS), metadata={"help": "colours to prompt"})
    per_prompt: int = field(default=5, metadata={"help": "images per (colour, digit) prompt"})
    num_inference_steps: int = field(default=20, metadata={"help": "sampling steps"})
    guidance_scale: float = field(default=7.5, metadata={"help": "classifier-free guidance scale"})
    seed: int = field(default=0, metadata={"help": "first seed"})
    reference: str = field(default=None, metadata={"help": "reference classifier folder (default: the shipped one)"})
    json: str = field(default=None, metadata={"help": "write the figures to this JSON file"})
    grid: str = field(default=None, metadata={"help": "write a digits x colours grid (first seed) to this PNG"})
    upscale: int = field(default=4, metadata={"help": "grid enlargement"})


def measure_adherence(pipe, reference, colors=GRID_COLORS, digits=range(10), per_prompt: int = 5,
                      num_inference_steps: int = 20, guidance_scale: float = 7.5, seed: int = 0) -> dict:
    """Generate ``len(colors) * len(digits) * per_prompt`` images and score them."""
    from hf_fair.diffusion.sample_cli import sample_images

    bad = [c for c in colors if c not in reference.color_names]
    if bad:
        raise HfFairError(f"colour(s) {bad} unknown to the reference classifier; choose from {reference.color_names}")
    digits = list(digits)
    rows, first_images = [], {}
    for color in colors:
        for d in digits:
            p = make_prompt(color, d)
            images = sample_images(pipe, p, per_prompt, seed, num_inference_steps, guidance_scale)
            pred_d, pred_c = reference.predict(images)
            first_images[(color, d)] = images[0]
            for i in range(per_prompt):
                rows.append({"prompt": p, "color": color, "digit": d, "seed": seed + i,
                             "pred_color": pred_c[i], "pred_digit": int(pred_d[i])})
    color_ok = np.array([r["pred_color"] == r["color"] for r in rows])
    digit_ok = np.array([r["pred_digit"] == r["digit"] for r in rows])
    per_color = {c: float(np.mean([r["pred_color"] == c for r in rows if r["color"] == c])) for c in colors}
    per_digit = {str(d): float(np.mean([r["pred_digit"] == d for r in rows if r["digit"] == d])) for d in digits}
    return {
        "n": len(rows),
        "color_acc": float(color_ok.mean()),
        "digit_acc": float(digit_ok.mean()),
        "both_acc": float((color_ok & digit_ok).mean()),
        "color_acc_per_color": per_color,
        "digit_acc_per_digit": per_digit,
        "settings": {"num_inference_steps": num_inference_steps, "guidance_scale": guidance_scale,
                     "per_prompt": per_prompt, "seed": seed, "colors": list(colors), "prompt": "a {color} digit {d}"},
        "rows": rows,
        "_first_images": first_images,
    }


def main(argv=None) -> int:
    from hf_fair.config import parse_config
    from hf_fair.diffusion.base import load_base
    from hf_fair.diffusion.grid import make_grid
    from hf_fair.diffusion.embedded.reference import load_reference

    args = parse_config([AdherenceArguments], argv, prog="hf-fair base adherence")
    pipe = load_base(args.base)
    ref = load_reference(args.reference)
    res = measure_adherence(pipe, ref, args.colors, range(10), args.per_prompt, args.num_inference_steps,
                            args.guidance_scale, args.seed)
    first = res.pop("_first_images")
    if args.grid:
        grid = make_grid([first[(c, d)] for c in args.colors for d in range(10)], ncols=10, upscale=args.upscale, pad=2)
        Path(args.grid).parent.mkdir(parents=True, exist_ok=True)
        grid.save(args.grid)
    if args.json:
        res["base"] = args.base
        Path(args.json).write_text(json.dumps(res, indent=1) + "\n")
    print(f"n={res['n']}  colour correct {res['color_acc']:.1%}  digit correct {res['digit_acc']:.1%}  "
          f"both {res['both_acc']:.1%}")
    print("per colour:", {k: f"{v:.0%}" for k, v in res["color_acc_per_color"].items()})
    print("per digit: ", {k: f"{v:.0%}" for k, v in res["digit_acc_per_digit"].items()})
    return 0

