"""``hf-fair demo``: the embedded default end to end, with the results table at the end.

Colored Digits at severity 0.99, one seed, the paper's comparison (ERM, Group-DRO, DFR, vanilla
and clustered DreamBooth synthetic data with last-layer finetuning and with DFR, the oracle),
through the same runner as ``hf-fair run``; ``configs/colored_digits.yaml`` has every method.
``--quick`` is a short smoke run of the same stages.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

from hf_fair.config import parse_config


@dataclass
class DemoArguments:
    quick: bool = field(default=False, metadata={"help": "a short smoke run of the same stages"})
    output_dir: str = field(default=None, metadata={"help": "run folder (default runs/demo or runs/demo-quick; re-running resumes)"})
    seed: int = field(default=0, metadata={"help": "classifier seed"})


def main(argv: list[str]) -> int:
    from pathlib import Path

    from hf_fair.run.config import config_from_dict
    from hf_fair.run.presets import DEMO, QUICK
    from hf_fair.run.runner import run

    args = parse_config([DemoArguments], argv, prog="hf-fair demo")
    preset = dict(QUICK if args.quick else DEMO)
    preset["seeds"] = [args.seed]
    if args.output_dir:
        preset["output_dir"] = args.output_dir
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
