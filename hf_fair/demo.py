"""``hf-fair demo``: the embedded default, end to end, with a results table at the end.

Stages that exist so far run for real; each later issue adds its stage here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hf_fair.config import parse_config


@dataclass
class DemoArguments:
    severity: float = field(default=0.99, metadata={"help": "bias severity of train/validation"})
    seed: int = field(default=0, metadata={"help": "seed"})
    quick: bool = field(default=False, metadata={"help": "a short smoke run"})


def main(argv: list[str]) -> int:
    from hf_fair.data import DataArguments, load_group_dataset
    from hf_fair.data.describe import group_count_table

    args = parse_config([DemoArguments], argv, prog="hf-fair demo")
    dsd, report = load_group_dataset(DataArguments(dataset="colored-digits", severity=args.severity, data_seed=args.seed))
    print(f"== colored-digits at severity {args.severity} (seed {args.seed})")
    print(group_count_table(dsd, report))
    return 0
