"""``hf-fair demo``: the embedded default end to end, with the results table at the end.

Colored MNIST (real MNIST handwriting, the paper's regime) at severity 0.99, one seed, the paper's
comparison (ERM, Group-DRO, DFR, vanilla and clustered DreamBooth synthetic data with last-layer
finetuning and with DFR, the oracle), with the base's domain gap measured first, through the same
runner as ``hf-fair run``; ``configs/colored_mnist.yaml`` has every method. ``--dataset
colored-digits`` runs the same comparison on Colored Digits, the earlier default
(``configs/colored_digits.yaml``). ``--quick`` is a short smoke run of the same stages, for either
dataset.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

from hf_fair.config import parse_config
from hf_fair.errors import HfFairError
from hf_fair.run.presets import DEFAULT_DEMO


@dataclass
class DemoArguments:
    dataset: str = field(default=DEFAULT_DEMO, metadata={"help": "colored-mnist or colored-digits (hf_fair/run/presets.py DEMOS)"})
    quick: bool = field(default=False, metadata={"help": "a short smoke run of the same stages"})
    output_dir: str = field(default=None, metadata={"help": "run folder (default: the preset's, e.g. runs/demo-colored-mnist, runs/demo-quick-colored-mnist, runs/demo; re-running resumes)"})
    seed: int = field(default=0, metadata={"help": "classifier seed"})


def demo_preset(args: DemoArguments) -> dict:
    """The run config of ``hf-fair demo`` for these arguments (a copy: the caller may change it)."""
    from hf_fair.run.presets import DEMOS

    if args.dataset not in DEMOS:
        raise HfFairError(f"hf-fair demo --dataset '{args.dataset}' has no demo; use one of {list(DEMOS)} "
                          "(other datasets: hf-fair run CONFIG.yaml)")
    preset = dict(DEMOS[args.dataset][1 if args.quick else 0])
    preset["seeds"] = [args.seed]
    if args.output_dir:
        preset["output_dir"] = args.output_dir
    return preset


def main(argv: list[str]) -> int:
    from pathlib import Path

    from hf_fair.run.config import config_from_dict
    from hf_fair.run.runner import run

    args = parse_config([DemoArguments], argv, prog="hf-fair demo")
    preset = demo_preset(args)
    cfg = config_from_dict(preset, where="the demo preset")
    start = time.perf_counter()
    run(cfg)
    out = Path(cfg.output_dir)
    print()
    print((out / "results.md").read_text(), end="")
    print(f"\nrun folder: {out}  (plot: {out / 'wga_vs_severity.png'}, grids: {out}/severity-*/grids/)")
    timings = json.loads((out / "timings.json").read_text())
    stages: dict[str, float] = {}
    for name, seconds in timings.items():  # "adapters:lora" -> "adapters"
        stages[name.split(":")[0]] = stages.get(name.split(":")[0], 0.0) + seconds
    print("seconds per stage: " + ", ".join(f"{k} {v:.0f}" for k, v in stages.items()))
    print(f"finished in {time.perf_counter() - start:.0f} s")
    return 0
