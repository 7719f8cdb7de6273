"""Group-balanced synthetic dataset from a base pipeline and per-group / per-cluster adapters.

    accelerate launch --num_processes 2 training_scripts/generate_balanced.py \\
        --dataset colored-digits --severity 0.99 --source lora --adapters runs/adapters-lora \\
        --images_per_group 200 --output_dir runs/synth-lora

Shards of requests are split across processes; same flags as `hf-fair generate`.
"""

import sys

from hf_fair.cli import main

if __name__ == "__main__":
    sys.exit(main(["generate", *sys.argv[1:]]))
