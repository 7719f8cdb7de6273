"""Train a timm classifier on a group dataset with ERM / reweight / resample / Group-DRO / JTT / DFR.

    accelerate launch training_scripts/train_classifier.py --dataset colored-digits --severity 0.99 \
        --objective groupdro --output_dir runs/groupdro
    accelerate launch training_scripts/train_classifier.py config.yaml     # same options in YAML

Pretrain on a synthetic DatasetDict, then finetune on real data:
    ... --dataset runs/synthetic --stage pretrain --output_dir runs/pre
    ... --dataset colored-digits --severity 0.99 --stage finetune --init runs/pre/model \
        --finetune_scope last_layer --output_dir runs/ft
"""

import sys

from hf_fair.classify.config import ClassifierArguments
from hf_fair.classify.trainer import train_classifier
from hf_fair.config import parse_config
from hf_fair.data import DataArguments
from hf_fair.errors import HfFairError


def main() -> int:
    try:
        data_args, args = parse_config([DataArguments, ClassifierArguments], prog="train_classifier.py")
        metrics = train_classifier(args, data_args)
    except HfFairError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    test = metrics["splits"].get("test")
    if test:
        print(f"test worst-group acc {test['worst_group_acc']:.4f}  average acc {test['average_acc']:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
