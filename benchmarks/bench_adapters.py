"""K per-cluster LoRA adapters: one ``train_adapters`` process vs K fresh single-subject runs.

    python benchmarks/bench_adapters.py [--steps 50] [--k 3] [--severity 0.99] [--repeats 1]
        [--concurrent_units 8] [--sequential-too] [--shape sd15 --resolution 64 --units 4]

Units: colored-digits at ``--severity``, clustered with ``ClusterArguments(k=--k)`` inside each
group (k=3 at 0.99 gives 3 + 1 + 1 + 3 = 8 units: the two tiny minority groups stay whole).

* ours: one fresh process running ``train_adapters(AdapterArguments(method="lora", unit="cluster",
  max_train_steps=--steps), DataArguments("colored-digits", severity), ClusterArguments(k))``,
  which loads the dataset, clusters it, loads the base once, caches each unit's VAE latents and
  prompt embedding and trains the units one after another (writes the manifest, cards, grids).
* theirs: what running a standard single-subject DreamBooth-LoRA script once per unit costs: for
  each unit a fresh process of ``benchmarks/_fresh_process_lora.py`` (loads the base from disk,
  adds the same peft LoRA, VAE-encodes the batch and text-encodes the prompt at every step, saves
  the LoRA) on that unit's images, written to a folder beforehand (untimed).

Same units, steps, batch size, resolution (the base's native 32 px), rank/alpha/target modules,
learning rate (1e-3), weight decay, gradient clipping and seeds (unit i: seed + i). Times are wall
clock of the child processes, interpreter start included on both sides. One warm-up of each side
(1 step) runs first; repeats alternate the order; medians count.

Last line: ``RATIO <theirs total time / ours total time>``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REFERENCE = HERE / "_fresh_process_lora.py"


# ------------------------------------------------------------------ ours, in a child process
def child_ours(a) -> None:
    t0 = time.perf_counter()
    import torch

    import hf_fair.adapters.train as ta
    from hf_fair.cluster import ClusterArguments
    from hf_fair.data import DataArguments
    from hf_fair.adapters.trainer import UnitTrainer
    from hf_fair.adapters.config import AdapterArguments

    t_imported = time.perf_counter()
    phases = {"base_s": 0.0, "units_s": [], "encode_s": 0.0}
    marks = {}
    orig_load_base, orig_train_unit, orig_together = ta.load_base, UnitTrainer.train_unit, ta.train_concurrently
    orig_encode_images, orig_encode_prompt = UnitTrainer.encode_images, UnitTrainer.encode_prompt

    def timed(fn, key=None):
        def wrapper(*args, **kw):
            s = time.perf_counter()
            out = fn(*args, **kw)
            if key == "encode_s":
                phases[key] += time.perf_counter() - s
            elif key == "base_s":
                marks.setdefault("first_base", s)
                phases[key] += time.perf_counter() - s
            else:
                phases["units_s"].append(time.perf_counter() - s)
                marks["last_unit_end"] = time.perf_counter()
            return out
        return wrapper

    ta.load_base, UnitTrainer.train_unit, ta.train_concurrently = timed(orig_load_base, "base_s"), timed(orig_train_unit), timed(orig_together)
    UnitTrainer.encode_images, UnitTrainer.encode_prompt = timed(orig_encode_images, "encode_s"), timed(orig_encode_prompt, "encode_s")
    args = AdapterArguments(output_dir=a.child_ours, method="lora", unit="cluster" if a.units == 8 else "group",
                            max_train_steps=a.steps, train_batch_size=a.batch_size, rank=a.rank, seed=a.seed, base=a.base,
                            resolution=a.resolution, concurrent_units=a.concurrent_units)
    t_start = time.perf_counter()
    manifest = ta.train_adapters(args, DataArguments(dataset="colored-digits", severity=a.severity), ClusterArguments(k=str(a.k)))
    t_end = time.perf_counter()
    units = manifest["units"]
    print(json.dumps({
        "import_s": t_imported - t0,
        "setup_s": marks.get("first_base", t_end) - t_start,  # dataset + clustering + grids + output folder
        "base_s": phases["base_s"],
        "units_s": phases["units_s"],  # one entry per unit, or per group of units trained together
        "encode_s": phases["encode_s"],  # VAE + text encoding of the units' images and prompts (cached once)
        "finish_s": t_end - marks.get("last_unit_end", t_end),  # manifest + README
        "run_s": t_end - t_start,
        "units": [u["name"] for u in units],
        "final_loss": [u["final_loss"] for u in units],
        "threads": torch.get_num_threads(),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "peak_cuda_mb": round(torch.cuda.max_memory_allocated() / 2**20, 1) if torch.cuda.is_available() else None,
    }))


# ------------------------------------------------------------------ helpers
def run_child(cmd: list[str]) -> tuple[float, dict]:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    dt = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-4000:])
        raise SystemExit(f"child failed ({proc.returncode}): {' '.join(cmd)}")
    last = [line for line in proc.stdout.splitlines() if line.startswith("{")][-1]
    return dt, json.loads(last)


def plan(a, root: Path) -> list[dict]:
    """The units train_adapters will train (same clustering), with their images written to folders."""
    import datasets
    import numpy as np

    from hf_fair.cluster import ClusterArguments, cluster_groups
    from hf_fair.data import DataArguments, load_group_dataset, spec_of
    from hf_fair.adapters.config import AdapterArguments
    from hf_fair.adapters.units import plan_units

    args = AdapterArguments(method="lora", unit="cluster", seed=a.seed)
    dsd, _ = load_group_dataset(DataArguments(dataset="colored-digits", severity=a.severity))
    ca = ClusterArguments(k=str(a.k))
    ca.min_cluster_size, ca.split = max(ca.min_cluster_size, args.min_unit_images), "train"  # as train_adapters does
    train = dsd["train"]
    clustered, _ = cluster_groups(datasets.DatasetDict({"train": train}), ca)
    if a.units == 8:
        units = plan_units(clustered["train"], spec_of(dsd), "cluster", False, args.min_unit_images, a.seed)
    else:  # one unit per group
        units = plan_units(train, spec_of(dsd), "group", False, args.min_unit_images, a.seed)
    out = []
    for u in units:
        folder = root / "instances" / u.name
        folder.mkdir(parents=True)
        for i in u.indices:
            train[int(i)]["image"].save(folder / f"{i}.png")
        out.append({"name": u.name, "prompt": u.prompt, "seed": u.seed, "n": u.n_images, "dir": str(folder)})
    assert np.sum([u["n"] for u in out]) == len(train)
    return out


def ours_cmd(a, out: Path, steps: int, concurrent: int) -> list[str]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child-ours", str(out), "--steps", str(steps),
           "--k", str(a.k), "--severity", str(a.severity), "--batch-size", str(a.batch_size), "--rank", str(a.rank),
           "--seed", str(a.seed), "--base", a.base, "--units", str(a.units), "--concurrent_units", str(concurrent)]
    return cmd + (["--resolution", str(a.resolution)] if a.resolution else [])


def theirs_cmd(a, unit: dict, base: str, out: Path, steps: int) -> list[str]:
    return [sys.executable, str(REFERENCE), "--base", base, "--instance_dir", unit["dir"], "--prompt", unit["prompt"],
            "--output_dir", str(out), "--steps", str(steps), "--batch_size", str(a.batch_size), "--lr", "1e-3",
            "--rank", str(a.rank), "--seed", str(unit["seed"])] + (["--resolution", str(a.resolution)] if a.resolution else [])


def run_ours(a, out: Path, steps: int, concurrent: int | None = None) -> tuple[float, dict]:
    return run_child(ours_cmd(a, out, steps, a.concurrent_units if concurrent is None else concurrent))


def run_theirs(a, units: list[dict], base: str, out: Path, steps: int) -> tuple[float, list[float], list[dict]]:
    walls, infos = [], []
    for u in units:
        dt, info = run_child(theirs_cmd(a, u, base, out / u["name"], steps))
        walls.append(dt)
        infos.append(info)
    return sum(walls), walls, infos


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=50, help="optimizer steps per unit (both sides)")
    ap.add_argument("--units", type=int, default=8, choices=(4, 8), help="8: clusters (k=3 per big group); 4: one unit per group")
    ap.add_argument("--k", type=int, default=3, help="clusters per big group (k=3 at severity 0.99: 8 units)")
    ap.add_argument("--severity", type=float, default=0.99)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--rank", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--shape", default="tiny", choices=("tiny", "sd15"),
                    help="tiny: the embedded base; sd15: Stable Diffusion 1.5's architecture with random weights (benchmarks/sd15_shape.py)")
    ap.add_argument("--resolution", type=int, default=None, help="training resolution (default: the base's native size)")
    ap.add_argument("--concurrent_units", type=int, default=1, help="ours: units trained together (--concurrent_units)")
    ap.add_argument("--sequential-too", action="store_true",
                    help="also time ours with --concurrent_units 1 and print RATIO_VS_SEQUENTIAL (sequential / concurrent)")
    ap.add_argument("--base", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--child-ours", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child_ours:
        return child_ours(a)

    import diffusers
    import torch

    from hf_fair.diffusion.base import EMBEDDED_PATH

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        if a.shape == "sd15":
            from sd15_shape import build_sd15_shape, parameter_counts

            t0 = time.perf_counter()
            pipe = build_sd15_shape(a.seed)
            counts = parameter_counts(pipe)
            pipe.save_pretrained(root / "sd15")
            del pipe
            a.base = str(root / "sd15")
            print(f"sd15-shape pipeline (random weights) built and saved in {time.perf_counter() - t0:.1f} s (untimed): "
                  + ", ".join(f"{k} {v / 1e6:.1f}M" for k, v in counts.items()))
        else:
            a.base = str(EMBEDDED_PATH)
        units = plan(a, root)
        device = "cuda " + torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu (no GPU: nothing measured on a GPU)"
        print(f"torch {torch.__version__}, diffusers {diffusers.__version__}, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, "
              f"{device}; shape {a.shape}, resolution {a.resolution or 'native'}; K={len(units)} units (colored-digits {a.severity}), "
              f"{a.steps} steps x batch {a.batch_size}, rank {a.rank}, lr 1e-3, ours --concurrent_units {a.concurrent_units}, "
              f"{a.repeats} repeat(s) (median)")
        print("units: " + ", ".join(f"{u['name']} ({u['n']} img)" for u in units))
        # warm-up: page cache, imports, base files (1 step each side)
        run_ours(a, root / "warm_ours", 1)
        run_child(theirs_cmd(a, units[0], a.base, root / "warm_theirs", 1))

        ours_t, theirs_t, seq_t, ours_info, theirs_info, theirs_walls, seq_info = [], [], [], None, None, None, None
        for r in range(a.repeats):
            sides = ["ours", "theirs"] + (["sequential"] if a.sequential_too else [])
            for side in sides if r % 2 == 0 else sides[::-1]:
                if side == "ours":
                    dt, ours_info = run_ours(a, root / f"ours_{r}", a.steps)
                    ours_t.append(dt)
                elif side == "sequential":
                    dt, seq_info = run_ours(a, root / f"seq_{r}", a.steps, concurrent=1)
                    seq_t.append(dt)
                else:
                    dt, theirs_walls, theirs_info = run_theirs(a, units, a.base, root / f"theirs_{r}", a.steps)
                    theirs_t.append(dt)
        if ours_info["units"] != [u["name"] for u in units]:
            print(f"WARNING: train_adapters trained units {ours_info['units']}, the reference {[u['name'] for u in units]}")

    k = len(units)
    o, t = statistics.median(ours_t), statistics.median(theirs_t)

    def describe(label: str, total: float, runs: list[float], info: dict) -> None:
        print(f"{label} total {total:7.1f} s = {total / k:5.2f} s/unit   runs {[round(x, 1) for x in runs]} s")
        print(f"       start+import {total - info['run_s']:.1f} s, dataset+clustering {info['setup_s']:.1f} s, base load {info['base_s']:.2f} s, "
              f"training {sum(info['units_s']):.1f} s ({', '.join(f'{x:.1f}' for x in info['units_s'])}; of which VAE+text encoding "
              f"once per unit {info['encode_s']:.2f} s), manifest+cards {info['finish_s']:.2f} s; peak RSS {info['peak_rss_mb']:.0f} MB"
              + (f", peak CUDA {info['peak_cuda_mb']:.0f} MB" if info.get("peak_cuda_mb") else ""))

    print(f"child threads: {ours_info['threads']}")
    describe(f"ours   (train_adapters, 1 process, --concurrent_units {a.concurrent_units})", o, ours_t, ours_info)
    if seq_t:
        describe("ours   (train_adapters, 1 process, --concurrent_units 1)", statistics.median(seq_t), seq_t, seq_info)
    mean = lambda key: statistics.mean(i[key] for i in theirs_info)  # noqa: E731
    start = statistics.mean(w - i["import_s"] - i["load_s"] - i["train_s"] - i["save_s"] for w, i in zip(theirs_walls, theirs_info))
    print(f"theirs ({k} fresh processes) total {t:7.1f} s = {t / k:5.2f} s/unit   runs {[round(x, 1) for x in theirs_t]} s")
    print(f"       per unit (mean): interpreter {start:.2f} s + imports {mean('import_s'):.2f} s, base load {mean('load_s'):.2f} s, "
          f"train {mean('train_s'):.2f} s (VAE encode {mean('vae_s'):.2f}, text encode {mean('text_s'):.2f}, UNet step {mean('unet_s'):.2f}), "
          f"save {mean('save_s'):.3f} s; peak RSS {max(i['peak_rss_mb'] for i in theirs_info):.0f} MB"
          + (f", peak CUDA {max(i['peak_cuda_mb'] for i in theirs_info):.0f} MB" if theirs_info[0].get("peak_cuda_mb") else "")
          + f"; units {', '.join(f'{x:.1f}' for x in theirs_walls)} s")
    print(f"train s/step/unit: ours {sum(ours_info['units_s']) / (k * a.steps) * 1000:.0f} ms, "
          f"theirs {mean('train_s') / a.steps * 1000:.0f} ms (VAE + text encoder every step)")
    print(f"mean final loss (last 20 steps): ours {statistics.mean(ours_info['final_loss']):.4f}, theirs {mean('final_loss'):.4f}")
    if seq_t:
        print(f"RATIO_VS_SEQUENTIAL {statistics.median(seq_t) / o:.2f}")
    print(f"RATIO {t / o:.2f}")


if __name__ == "__main__":
    main()
