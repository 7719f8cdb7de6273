"""``hf-fair base sample``: sample an image grid from a text-to-image base.

    hf-fair base sample --base embedded --prompt "a green digit 3" --num-images 16 --seed 0 --output grid.png
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from hf_fair.errors import HfFairError
from hf_fair.io_utils import atomic_file


@dataclass
class SampleArguments:
    prompt: str = field(default=None, metadata={"help": "text prompt, e.g. 'a green digit 3'"})
    output: str = field(default=None, metadata={"help": "PNG file to write the grid to"})
    base: str = field(default="embedded", metadata={"help": "'embedded', a local pipeline folder or a Hub model id"})
    num_images: int = field(default=16, metadata={"help": "number of images in the grid"})
    seed: int = field(default=0, metadata={"help": "seed; image i uses seed + i (stored in the .json next to the grid)"})
    num_inference_steps: int = field(default=20, metadata={"help": "sampling steps"})
    guidance_scale: float = field(default=7.5, metadata={"help": "classifier-free guidance scale"})
    negative_prompt: str = field(default=None, metadata={"help": "optional negative prompt"})
    ncols: int = field(default=0, metadata={"help": "grid columns (0 = square-ish)"})
    upscale: int = field(default=4, metadata={"help": "nearest-neighbour enlargement of each image in the grid"})
    batch_size: int = field(default=64, metadata={"help": "images per pipeline call"})
    device: str = field(default=None, metadata={"help": "torch device (default: cuda if available, else cpu)"})

    def __post_init__(self):
        if self.num_images is not None and self.num_images < 1:
            raise HfFairError(f"--num-images must be >= 1, not {self.num_images}")
        if self.num_inference_steps is not None and self.num_inference_steps < 1:
            raise HfFairError(f"--num-inference-steps must be >= 1, not {self.num_inference_steps}")
        if self.upscale is not None and self.upscale < 1:
            raise HfFairError(f"--upscale must be >= 1, not {self.upscale}")
        if self.batch_size is not None and self.batch_size < 1:
            raise HfFairError(f"--batch-size must be >= 1, not {self.batch_size}")


def sample_images(pipe, prompt: str, num_images: int, seed: int, num_inference_steps: int = 20,
                  guidance_scale: float = 7.5, negative_prompt: str | None = None, batch_size: int = 64):
    """``num_images`` PIL images for ``prompt``; image i is drawn with generator seed ``seed + i``
    on the pipeline's device (so an image does not depend on the batch it was drawn in)."""
    from hf_fair.diffusion.draw import sample

    device = pipe.device.type if pipe.device.type not in ("meta", "mps") else "cpu"
    return sample(pipe, [prompt] * num_images, [seed + i for i in range(num_images)], num_inference_steps,
                  guidance_scale, negative_prompt, batch_size, generator_device=device)


def main(argv: list[str] | None = None) -> int:
    import torch

    from hf_fair.config import parse_config
    from hf_fair.diffusion.base import load_base
    from hf_fair.diffusion.grid import make_grid

    args = parse_config([SampleArguments], argv, prog="hf-fair base sample")
    if not args.prompt:
        raise HfFairError("--prompt is required, e.g. --prompt \"a green digit 3\"")
    if not args.output:
        raise HfFairError("--output is required: the PNG file to write the grid to, e.g. --output grid.png")
    out = Path(args.output)
    if out.suffix.lower() != ".png":
        raise HfFairError(f"--output '{out}' must end in .png")
    if out.is_dir():
        raise HfFairError(f"--output '{out}' is a folder; give a file name such as {out / 'grid.png'}")
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    pipe = load_base(args.base, device=device, progress_bar=True)
    images = sample_images(pipe, args.prompt, args.num_images, args.seed, args.num_inference_steps,
                           args.guidance_scale, args.negative_prompt, args.batch_size)
    grid = make_grid(images, ncols=args.ncols or None, upscale=args.upscale)
    with atomic_file(out) as tmp:
        grid.save(tmp)
    meta = {k: v for k, v in vars(args).items()}
    meta["seeds"] = [args.seed + i for i in range(args.num_images)]
    out.with_suffix(".json").write_text(json.dumps(meta, indent=2) + "\n")
    print(f"wrote {out} ({len(images)} images, {grid.size[0]}x{grid.size[1]})")
    return 0
