"""Generation with the CLIP filter vs generation without a filter, on the same draws.

    python benchmarks/bench_clip_filter.py [--num-images 256] [--steps 6] [--batch-size 32] [--repeats 3]
                                           [--clip-model embedded] [--device cpu]

Both sides run ``generate_shard`` (the inner loop of ``generate_dataset``) over the same shards of
the vanilla source on colored-digits (the embedded base, one unit per prompt "a red digit 0" ..
"a green digit 9", N/4 images per group, shards of 64): the same seeds, so the same images.

* **clip**: ``--filter_classifier clip`` with ``--max_attempts 1``: every draw is scored by the
  CLIP judge (blank check, image features, softmax over the 20 group prompts, the keep rule) and
  its ``clip_score`` stored; with one attempt nothing is redrawn, so both sides draw exactly N.
* **plain**: ``--quality_filter false`` (no filter at all): the draws alone.

With redraws on, a filter that accepts a share r of draws costs (time per drawn image) / r per
kept image whichever judge it is; so at equal acceptance the cost of CLIP filtering per accepted
image is the ratio of the time per drawn image, which is what is measured. The acceptance rate
of each group under the CLIP's keep rule is printed beside it. One warm-up call each, then
alternating repeats; the median counts.

The judge's own time inside each clip run is also printed as a share of that run; on a shared
machine it is the steadier figure, since it does not depend on the load swinging between runs.

Last line: ``RATIO <clip/plain throughput>`` (images per second on the same draws; target >= 0.85).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from dataclasses import replace

import torch


def run(pipe, switcher, shards, args, spec, judge) -> tuple[float, dict]:
    from hf_fair.generate.core import generate_shard

    stats = {}
    t0 = time.perf_counter()
    for shard in shards:
        _, st = generate_shard(pipe, switcher, shard, args, spec, judge)
        g = spec.group_names[shard.unit.group]
        stats[g] = {k: stats.get(g, {}).get(k, 0) + v for k, v in st.items()}
    switcher.restore_base()
    return time.perf_counter() - t0, stats


def main() -> None:
    import diffusers
    import transformers

    from hf_fair.data import DataArguments, load_group_dataset, spec_of
    from hf_fair.diffusion.draw import load_pipeline
    from hf_fair.generate.config import GenerateArguments
    from hf_fair.generate.plan import make_shards
    from hf_fair.generate.sources import UnitSwitcher, vanilla_units
    from hf_fair.judges.quality import make_judge

    ap = argparse.ArgumentParser()
    ap.add_argument("--num-images", type=int, default=256)
    ap.add_argument("--steps", type=int, default=6, help="sampling steps (the runner's colored-digits config uses 6)")
    ap.add_argument("--guidance", type=float, default=2.0)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--clip-model", default="embedded")
    ap.add_argument("--clip-min-prob", type=float, default=None)
    ap.add_argument("--device", default="cpu")
    a = ap.parse_args()

    dsd, _ = load_group_dataset(DataArguments(dataset="colored-digits", severity=0.99))
    spec = spec_of(dsd)
    quota = a.num_images // spec.n_groups
    shards = make_shards(vanilla_units(spec, range(spec.n_groups)), quota, 64)
    common = dict(images_per_group=quota, num_inference_steps=a.steps, guidance_scale=a.guidance, batch_size=a.batch_size,
                  max_attempts=1, fidelity=False, grid=False)
    clip_args = GenerateArguments(filter_classifier="clip", clip_model=a.clip_model, clip_min_prob=a.clip_min_prob, **common)
    plain_args = GenerateArguments(quality_filter=False, **common)
    device = torch.device(a.device)
    dtype = torch.float16 if device.type == "cuda" else torch.float32
    t = time.perf_counter()
    judge = make_judge("clip", spec, a.clip_model, a.clip_min_prob, "embedded", device, dtype)
    judge_load = time.perf_counter() - t
    # the judge's own time inside the clip runs: a share of the same run, free of the load swings
    # between runs that a shared machine gives the two medians
    judge_seconds = [0.0]
    verdict = judge.verdict

    def timed_verdict(images, group):
        t = time.perf_counter()
        out = verdict(images, group)
        judge_seconds[0] += time.perf_counter() - t
        return out

    judge.verdict = timed_verdict
    pipes = {side: load_pipeline("embedded", device, dtype) for side in ("clip", "plain")}
    switchers = {side: UnitSwitcher(p) for side, p in pipes.items()}
    n_params = sum(p.numel() for p in judge.model.parameters())
    print(f"torch {torch.__version__}, diffusers {diffusers.__version__}, transformers {transformers.__version__}, "
          f"threads {torch.get_num_threads()} (OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}), {device} {dtype}; "
          f"N={quota * spec.n_groups} images (vanilla, {len(shards)} shards), {a.steps} steps, guidance {a.guidance}, batch {a.batch_size}, "
          f"{a.repeats} repeats (median); CLIP '{a.clip_model}' ({n_params / 1e6:.2f} M parameters, loaded in {judge_load:.2f} s, untimed), "
          f"rule {'most likely group' if a.clip_min_prob is None else f'own probability >= {a.clip_min_prob}'}")

    # warm-up: one small shard each
    warm = make_shards(vanilla_units(spec, [0]), 4, 4)[:1]
    run(pipes["clip"], switchers["clip"], warm, replace(clip_args, images_per_group=4), spec, judge)
    run(pipes["plain"], switchers["plain"], warm, replace(plain_args, images_per_group=4), spec, None)

    times, stats, shares = {"clip": [], "plain": []}, {}, []
    for r in range(a.repeats):
        for side in ("clip", "plain") if r % 2 == 0 else ("plain", "clip"):
            judge_seconds[0] = 0.0
            dt, st = run(pipes[side], switchers[side], shards, clip_args if side == "clip" else plain_args, spec,
                         judge if side == "clip" else None)
            if side == "clip":
                shares.append(judge_seconds[0] / dt)
            times[side].append(dt)
            stats[side] = st
    n = quota * spec.n_groups
    rate = {s: n / statistics.median(v) for s, v in times.items()}
    acceptance = {g: 1 - (st["kept_wrong_group"] + st["rejected_blank"]) / st["drawn"] for g, st in stats["clip"].items()}
    drawn_all = sum(st["drawn"] for st in stats["clip"].values())
    accepted_all = sum(st["drawn"] - st["kept_wrong_group"] - st["rejected_blank"] for st in stats["clip"].values())
    print(f"clip  (sample + CLIP judge + clip_score)  {rate['clip']:7.2f} images/s  runs {[round(x, 2) for x in times['clip']]} s")
    print(f"plain (sample, no filter)                {rate['plain']:7.2f} images/s  runs {[round(x, 2) for x in times['plain']]} s")
    share = statistics.median(shares)
    print(f"CLIP judge inside the clip runs: {100 * share:.2f}% of the time ({[round(100 * x, 2) for x in shares]} %), "
          f"{1000 * share * statistics.median(times['clip']) / n:.2f} ms per image; "
          f"in-run ratio (time without the judge / with it) {1 - share:.3f}")
    print("acceptance under the CLIP rule: " + ", ".join(f"{g} {100 * r:.1f}%" for g, r in acceptance.items())
          + f"; all {100 * accepted_all / drawn_all:.1f}%")
    print(f"RATIO {rate['clip'] / rate['plain']:.3f}")


if __name__ == "__main__":
    main()
