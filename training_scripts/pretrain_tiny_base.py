"""Pretrain the embedded tiny Stable Diffusion base on the generic rendered-digit corpus.

    accelerate launch training_scripts/pretrain_tiny_base.py --output_dir out/tiny-sd
    accelerate launch --cpu --num_processes 2 training_scripts/pretrain_tiny_base.py config.yaml

Same flags as ``hf-fair base pretrain`` (the fields of ``hf_fair.diffusion.embedded.pretrain.PretrainArguments``,
as flags or a YAML file). Re-running the same command resumes an interrupted run.
"""

import sys

from hf_fair.cli import main

if __name__ == "__main__":
    sys.exit(main(["base", "pretrain", *sys.argv[1:]]))
