"""``hf-fair demo``: the embedded default end to end, with the results table at the end.

Today it runs the stages that exist: the Colored Digits benchmark at severity 0.99 and the
real-data baselines (ERM and Group-DRO) through the same runner code as ``hf-fair baselines``.
The generative stages join as they land.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hf_fair.config import parse_config


@dataclass
class DemoArguments:
    severity: float = field(default=0.99, metadata={"help": "bias severity of train/validation"})
    seed: int = field(default=0, metadata={"help": "training seed"})
    quick: bool = field(default=False, metadata={"help": "a short smoke run (few epochs)"})
    output: str = field(default="runs/demo", metadata={"help": "run folder (re-running resumes)"})


def main(argv: list[str]) -> int:
    from hf_fair.baselines import BaselineArguments, run_baselines
    from hf_fair.classify.config import ClassifierArguments
    from hf_fair.data import DataArguments, load_group_dataset, spec_of
    from hf_fair.data.describe import group_count_table
    from hf_fair.report import results_markdown

    args = parse_config([DemoArguments], argv, prog="hf-fair demo")
    data_args = DataArguments(dataset="colored-digits", severity=args.severity)
    dsd, report = load_group_dataset(data_args)
    print(f"== colored-digits at severity {args.severity}")
    print(group_count_table(dsd, report))
    clf = ClassifierArguments(
        model="resnet18",
        epochs=3 if args.quick else 30,
        learning_rate=0.01,
        eval_every=1 if args.quick else 3,
    )
    base = BaselineArguments(methods=["erm", "groupdro"], seeds=[args.seed], results_dir=f"{args.output}/severity-{args.severity}")
    doc = run_baselines(base, data_args, clf)
    print()
    print(results_markdown(doc, list(spec_of(dsd).group_names)))
    print(f"results: {base.results_dir}/results.json")
    return 0
