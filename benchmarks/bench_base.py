"""Speed of the embedded base through ``hf_fair.diffusion.load_base`` vs diffusers directly.

    python benchmarks/bench_base.py [--num-images 64] [--steps 20] [--repeats 3]

Both sides are the same folder (``hf_fair/assets/tiny-sd``): ours is ``load_base("embedded")``,
the reference is ``StableDiffusionPipeline.from_pretrained(folder)``. Each generates
``--num-images`` images in one call at ``--steps`` steps (guidance 7.5, fixed seed, progress bar
off on both); runs alternate ours/direct after one warm-up call each, and the median time counts.
Last line: ``RATIO <ours/direct>`` in images per second (>= 0.95 is the target).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch


def _run(pipe, n: int, steps: int, seed: int = 0):
    t0 = time.perf_counter()
    out = pipe(["a red digit 7"] * n, num_inference_steps=steps, guidance_scale=7.5,
               generator=torch.Generator().manual_seed(seed), output_type="np")
    return time.perf_counter() - t0, out.images


def main() -> None:
    from diffusers import StableDiffusionPipeline

    from hf_fair.diffusion import EMBEDDED_PATH, load_base

    ap = argparse.ArgumentParser()
    ap.add_argument("--num-images", type=int, default=64)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    ours = load_base("embedded")
    direct = StableDiffusionPipeline.from_pretrained(str(EMBEDDED_PATH), local_files_only=True)
    direct.set_progress_bar_config(disable=True)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, device cpu, "
          f"{args.num_images} images x {args.steps} steps, {args.repeats} repeats (median)")
    _run(ours, 4, 2)
    _run(direct, 4, 2)
    times = {"ours": [], "direct": []}
    same = True
    for r in range(args.repeats):
        for name, pipe in (("ours", ours), ("direct", direct)) if r % 2 == 0 else (("direct", direct), ("ours", ours)):
            dt, images = _run(pipe, args.num_images, args.steps)
            times[name].append(dt)
            if name == "ours":
                ours_images = images
            else:
                direct_images = images
        same &= bool(np.array_equal(ours_images, direct_images))
    rate = {k: args.num_images / statistics.median(v) for k, v in times.items()}
    print(f"ours   (load_base)       {rate['ours']:8.1f} images/s  runs {[round(t, 2) for t in times['ours']]} s")
    print(f"direct (from_pretrained) {rate['direct']:8.1f} images/s  runs {[round(t, 2) for t in times['direct']]} s")
    print(f"identical images: {same}")
    print(f"RATIO {rate['ours'] / rate['direct']:.3f}")


if __name__ == "__main__":
    main()
