"""Pretrain the embedded tiny Stable Diffusion base on the generic rendered-digit corpus.

    accelerate launch training_scripts/pretrain_tiny_base.py --output_dir out/tiny-sd
    accelerate launch --cpu --num_processes 2 training_scripts/pretrain_tiny_base.py config.yaml

Options are the fields of ``hf_fair.diffusion.pretrain.PretrainConfig`` (flags or a YAML file).
Re-running the same command resumes an interrupted run.
"""

import os
import shlex
import sys

from hf_fair.config import parse_config
from hf_fair.diffusion.pretrain import PretrainConfig, pretrain
from hf_fair.errors import HfFairError


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        cfg = parse_config([PretrainConfig], argv, prog="pretrain_tiny_base.py")
        launcher = "accelerate launch" if any(k.startswith("ACCELERATE_") for k in os.environ) else "python"
        command = f"{launcher} training_scripts/pretrain_tiny_base.py " + " ".join(shlex.quote(a) for a in argv)
        result = pretrain(cfg, command=command)
    except HfFairError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {result.folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
