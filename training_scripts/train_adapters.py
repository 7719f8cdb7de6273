"""Per-group / per-cluster LoRA or DreamBooth adapters on a Stable Diffusion base.

    accelerate launch --num_processes 2 training_scripts/train_adapters.py \\
        --dataset colored-digits --severity 0.99 --method lora --unit group --output_dir runs/adapters

Units are split across processes (unit i on process i mod N). Same flags as `hf-fair adapters train`.
"""

import sys

from hf_fair.cli import main

if __name__ == "__main__":
    sys.exit(main(["adapters", "train", *sys.argv[1:]]))
