"""Train a timm classifier on a group dataset with ERM / reweight / resample / Group-DRO / JTT / DFR.

    accelerate launch training_scripts/train_classifier.py --dataset colored-digits --severity 0.99 \
        --objective groupdro --output_dir runs/groupdro
    accelerate launch training_scripts/train_classifier.py config.yaml     # same options in YAML

Pretrain on a synthetic DatasetDict, then finetune on real data:

    ... --dataset runs/synthetic --stage pretrain --output_dir runs/pre
    ... --dataset colored-digits --severity 0.99 --stage finetune --init runs/pre/model \
        --finetune_scope last_layer --output_dir runs/ft

Same flags as ``hf-fair classify``.
"""

import sys

from hf_fair.cli import main

if __name__ == "__main__":
    sys.exit(main(["classify", *sys.argv[1:]]))
