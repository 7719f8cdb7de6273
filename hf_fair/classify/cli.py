"""``hf-fair classify``: the same as ``accelerate launch training_scripts/train_classifier.py``."""

from __future__ import annotations

from hf_fair.classify.config import ClassifierArguments
from hf_fair.config import parse_config
from hf_fair.data import DataArguments


def main(argv: list[str]) -> int:
    from hf_fair.classify.trainer import train_classifier

    data_args, args = parse_config([DataArguments, ClassifierArguments], argv, prog="hf-fair classify")
    metrics = train_classifier(args, data_args)
    test = metrics["splits"].get("test")
    if test:
        print(
            f"{args.objective} (seed {args.seed}, selected epoch {metrics['selected_epoch']} by {args.selection}): "
            f"test worst-group {test['worst_group_acc'] * 100:.1f}  balanced {test['balanced_acc'] * 100:.1f}  "
            f"average {test['average_acc'] * 100:.1f}"
        )
    print(f"run folder: {args.output_dir}")
    return 0
