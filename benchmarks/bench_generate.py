"""Sampling N images over K per-cluster adapters vs the same N from the plain base pipeline.

    python benchmarks/bench_generate.py [--num-images 256] [--steps 10] [--batch-size 32] [--repeats 3]
                                        [--adapters DIR | --train-steps 5 --k 3]

Ours is the inner path of ``generate_dataset``: ``UnitSwitcher`` + ``generate.sample`` over one
shard per unit (N/K images each, in unit order), i.e. for every unit the LoRA is loaded, fused into
the base weights and its layers dropped, the unit's images are drawn in batches, and the base is
restored before the next unit (and once at the end). The adapters are a ``dreambooth_lora``
per-cluster folder (K = 8 units on colored-digits 0.99 with k=3), trained first with a few steps
(untimed; their quality does not matter for speed) unless ``--adapters`` names one.

Plain is a second pipeline loaded the same way, called as ``pipe(prompts, num_inference_steps,
guidance_scale, generator=torch.Generator().manual_seed(...))`` on the same prompt batches, with
no adapter switching. Both: same steps, guidance 7.5, batch size, PIL output, fp32 on CPU. One
warm-up call each, then alternating repeats; the median counts.

Last line: ``RATIO <ours/plain throughput>`` (images per second; target >= 0.9).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch


def train_quick_adapters(folder: Path, steps: int, k: int, severity: float) -> None:
    from hf_fair.cluster import ClusterArguments
    from hf_fair.data import DataArguments
    from hf_fair.adapters.config import AdapterArguments
    from hf_fair.adapters.train import train_adapters

    train_adapters(AdapterArguments(output_dir=str(folder), method="dreambooth_lora", unit="cluster", max_train_steps=steps),
                   DataArguments(dataset="colored-digits", severity=severity), ClusterArguments(k=str(k)))


def run_ours(pipe, switcher, units, per_unit, a) -> tuple[float, float]:
    from hf_fair.diffusion.draw import sample

    switch = 0.0
    t0 = time.perf_counter()
    for i, (unit, n) in enumerate(zip(units, per_unit)):
        s = time.perf_counter()
        switcher.activate(unit)
        switch += time.perf_counter() - s
        seeds = [a.seed * 1_000_003 + i * 10_007 + j for j in range(n)]
        sample(pipe, [unit.prompt] * n, seeds, a.steps, 7.5, None, a.batch_size)
    s = time.perf_counter()
    switcher.restore_base()
    switch += time.perf_counter() - s
    return time.perf_counter() - t0, switch


def run_plain(pipe, batches, a) -> float:
    t0 = time.perf_counter()
    for b, prompts in enumerate(batches):
        pipe(prompts, num_inference_steps=a.steps, guidance_scale=7.5, generator=torch.Generator().manual_seed(a.seed + b))
    return time.perf_counter() - t0


def main() -> None:
    import diffusers

    from hf_fair.data import DataArguments, load_group_dataset, spec_of
    from hf_fair.diffusion.draw import load_pipeline
    from hf_fair.generate.sources import UnitSwitcher, adapter_units

    ap = argparse.ArgumentParser()
    ap.add_argument("--num-images", type=int, default=256)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--adapters", default=None, help="a dreambooth_lora/dreambooth per-cluster adapters folder (default: train one)")
    ap.add_argument("--train-steps", type=int, default=5, help="steps per unit of the quickly trained adapters")
    ap.add_argument("--k", type=int, default=3, help="clusters per big group for the quick adapters (k=3: 8 units)")
    ap.add_argument("--severity", type=float, default=0.99)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    diffusers.utils.logging.set_verbosity_error()  # one "no text-encoder LoRA keys" note per switch otherwise

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(a.adapters) if a.adapters else Path(tmp) / "adapters"
        if not a.adapters:
            t = time.perf_counter()
            train_quick_adapters(folder, a.train_steps, a.k, a.severity)
            trained = time.perf_counter() - t
        dsd, _ = load_group_dataset(DataArguments(dataset="colored-digits", severity=a.severity))
        by_group, manifest = adapter_units(folder, "dreambooth_cluster", spec_of(dsd))
        units = [u for g in sorted(by_group) for u in by_group[g]]
        k = len(units)
        per_unit = [a.num_images // k + (i < a.num_images % k) for i in range(k)]
        batches = []
        for u, n in zip(units, per_unit):
            batches += [[u.prompt] * min(a.batch_size, n - lo) for lo in range(0, n, a.batch_size)]

        device, dtype = torch.device("cpu"), torch.float32
        ours_pipe = load_pipeline(manifest.get("base") or "embedded", device, dtype)
        plain_pipe = load_pipeline(manifest.get("base") or "embedded", device, dtype)
        switcher = UnitSwitcher(ours_pipe)
        print(f"torch {torch.__version__}, diffusers {diffusers.__version__}, threads {torch.get_num_threads()} "
              f"(OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}), cpu fp32; N={a.num_images} images over K={k} "
              f"{manifest['method']}/{manifest['unit']} units ({', '.join(u.name for u in units)}), {a.steps} steps, "
              f"guidance 7.5, batch {a.batch_size}, {a.repeats} repeats (median)")
        if not a.adapters:
            print(f"adapters: trained for this run ({a.train_steps} steps/unit, {trained:.1f} s, untimed)")

        # warm-up: one small call each (ours through a switch)
        from hf_fair.diffusion.draw import sample

        switcher.activate(units[0])
        sample(ours_pipe, [units[0].prompt] * 4, list(range(4)), 2, 7.5, None, a.batch_size)
        switcher.restore_base()
        plain_pipe([units[0].prompt] * 4, num_inference_steps=2, guidance_scale=7.5, generator=torch.Generator().manual_seed(0))

        times = {"ours": [], "plain": []}
        switches = []
        for r in range(a.repeats):
            for side in ("ours", "plain") if r % 2 == 0 else ("plain", "ours"):
                if side == "ours":
                    dt, sw = run_ours(ours_pipe, switcher, units, per_unit, a)
                    switches.append(sw)
                else:
                    dt = run_plain(plain_pipe, batches, a)
                times[side].append(dt)
        same_base = all(torch.equal(v, plain_pipe.unet.state_dict()[n]) for n, v in ours_pipe.unet.state_dict().items())

    rate = {s: a.num_images / statistics.median(v) for s, v in times.items()}
    print(f"ours  (UnitSwitcher + sample, {k} adapters)  {rate['ours']:7.2f} images/s  runs {[round(x, 2) for x in times['ours']]} s; "
          f"switching (load+fuse+unload, restore) {statistics.median(switches):.2f} s per pass ({k} units)")
    print(f"plain (base pipeline, no switching)      {rate['plain']:7.2f} images/s  runs {[round(x, 2) for x in times['plain']]} s")
    print(f"base weights restored exactly after the last unit: {same_base}")
    print(f"RATIO {rate['ours'] / rate['plain']:.3f}")


if __name__ == "__main__":
    main()
