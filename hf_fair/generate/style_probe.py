"""Does an adapter make the base draw the benchmark's handwriting instead of its font?

A logistic-regression probe on the reference classifier's features separates real Colored
Digits images (handwritten) from renders of the base's pretraining corpus (Pillow's font) in the
same two colours. Its score on generations is the share that look handwritten::

    hf-fair adapters style-probe --adapters runs/demo/severity-0.99/adapters/lora-<key> \\
        --groups 1 2 --num_images 48 --output_dir docs/adapters

writes ``style.json``, ``style.md`` and one ``base_vs_adapter_<group>.png`` per group (top rows:
the base with the group's prompts; bottom rows: the group's adapter; the same seeds).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from hf_fair.generate.fidelity import reference_features


def font_images(n: int, colors: list[str], seed: int) -> np.ndarray:
    from hf_fair.diffusion.embedded.corpus import render_batch

    rng = np.random.default_rng(seed)
    cols = [colors[i % len(colors)] for i in range(n)]
    images, _, _ = render_batch(rng, n, colors=cols, with_captions=False, styles=("typeset",))
    return images


def fit_style_probe(real_train, real_test, colors: list[str], seed: int = 0) -> tuple[object, dict]:
    """Probe handwritten (1) vs font (0); returns it and its held-out accuracy."""
    r_tr = reference_features(real_train)
    r_te = reference_features(real_test)
    f_tr = reference_features(font_images(len(real_train), colors, seed))
    f_te = reference_features(font_images(len(real_test), colors, seed + 1))
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000))
    probe.fit(np.concatenate([r_tr, f_tr]), np.r_[np.ones(len(r_tr)), np.zeros(len(f_tr))])
    acc_real = float(probe.predict(r_te).mean())
    acc_font = float(1 - probe.predict(f_te).mean())
    return probe, {"heldout_real_as_handwritten": acc_real, "heldout_font_as_font": acc_font, "n_train": len(r_tr) + len(f_tr)}


def handwritten_share(probe, images) -> float:
    return float(probe.predict(reference_features(images)).mean())


def main(argv: list[str] | None = None) -> int:
    import torch

    from hf_fair.data import DataArguments, load_group_dataset, spec_of
    from hf_fair.diffusion.draw import load_pipeline, sample
    from hf_fair.diffusion.grid import make_grid
    from hf_fair.adapters.manifest import read_manifest
    from hf_fair.generate.plan import image_seed
    from hf_fair.generate.sources import UnitSwitcher, adapter_units, source_of_manifest, vanilla_units

    p = argparse.ArgumentParser(prog="hf-fair adapters style-probe", allow_abbrev=False, description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--adapters", required=True, help="adapters folder (manifest.json) trained on colored-digits")
    p.add_argument("--groups", type=int, nargs="+", default=[1, 2], help="group ids (default: the two minority groups)")
    p.add_argument("--num_images", type=int, default=48)
    p.add_argument("--num_inference_steps", type=int, default=10)
    p.add_argument("--guidance_scale", type=float, default=2.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--output_dir", required=True)
    a = p.parse_args(argv)

    manifest = read_manifest(Path(a.adapters))
    severity = manifest["dataset"].get("severity", 0.99)
    dsd, _ = load_group_dataset(DataArguments(dataset="colored-digits", severity=severity))
    spec = spec_of(dsd)
    probe, probe_acc = fit_style_probe(dsd["train"]["image"], dsd["test"]["image"], list(spec.attribute_names), a.seed)
    source = source_of_manifest(manifest)
    adapters, _ = adapter_units(Path(a.adapters), source, spec)
    base_units = vanilla_units(spec, a.groups)
    pipe = load_pipeline(manifest.get("base") or "embedded", torch.device("cpu"), torch.float32)
    switcher = UnitSwitcher(pipe)
    out = Path(a.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = {"probe": probe_acc, "settings": vars(a) | {"source": source, "method": manifest["method"], "unit": manifest["unit"]},
            "real_train_handwritten": {}, "groups": {}}
    for g in a.groups:
        name = spec.group_names[g]
        seeds = [image_seed(a.seed, g, s) for s in range(a.num_images)]
        drawn = {}
        for label, units in (("base", base_units[g]), ("adapter", adapters[g])):
            images = []
            for i, unit in enumerate(units):  # the quota split evenly over prompts / clusters
                part = seeds[i::len(units)]
                switcher.activate(unit)
                images += sample(pipe, [unit.prompt] * len(part), part, a.num_inference_steps, a.guidance_scale)
            switcher.restore_base()
            drawn[label] = images
        real = [im for im, gg in zip(dsd["train"]["image"], dsd["train"]["group"]) if gg == g]
        rows["groups"][name] = {
            "real_train_images": len(real),
            "base_handwritten": handwritten_share(probe, drawn["base"]),
            "adapter_handwritten": handwritten_share(probe, drawn["adapter"]),
            "real_handwritten": handwritten_share(probe, real) if real else None,
            "base_prompts": sorted({u.prompt for u in base_units[g]}),
            "adapter_prompts": sorted({u.prompt for u in adapters[g]}),
        }
        per_row = 12
        grid = make_grid(drawn["base"][:2 * per_row] + drawn["adapter"][:2 * per_row], ncols=per_row, upscale=3, pad=2)
        grid.save(out / f"base_vs_adapter_group{g}.png")
    (out / "style.json").write_text(json.dumps(rows, indent=2))
    lines = [
        f"Probe (handwritten vs font, reference-classifier features): held-out real images called handwritten "
        f"{100 * probe_acc['heldout_real_as_handwritten']:.1f}%, font renders called font {100 * probe_acc['heldout_font_as_font']:.1f}%.",
        "",
        f"| group | real train images | real called handwritten % | base (vanilla prompts) % | {manifest['method']} {manifest['unit']} adapter % |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, r in rows["groups"].items():
        real = "n/a" if r["real_handwritten"] is None else f"{100 * r['real_handwritten']:.1f}"
        lines.append(f"| {name.replace('|', chr(92) + '|')} | {r['real_train_images']} | {real} | {100 * r['base_handwritten']:.1f} | {100 * r['adapter_handwritten']:.1f} |")
    (out / "style.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0

