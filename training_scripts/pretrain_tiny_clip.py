"""Train the embedded CLIP on the base's captioned corpus (never on benchmark images).

    accelerate launch training_scripts/pretrain_tiny_clip.py --output_dir out/tiny-clip
    accelerate launch --cpu --num_processes 2 training_scripts/pretrain_tiny_clip.py config.yaml

Same flags as ``hf-fair base pretrain-clip`` (the fields of
``hf_fair.diffusion.embedded.clip.ClipPretrainArguments``, as flags or a YAML file). Re-running
the same command resumes an interrupted run.
"""

import sys

from hf_fair.cli import main

if __name__ == "__main__":
    sys.exit(main(["base", "pretrain-clip", *sys.argv[1:]]))
