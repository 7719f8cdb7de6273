"""Drawing images from a base: the one place a pipeline is called to make images.

Synthetic datasets (``hf_fair.generate``), prior-preservation class images (``hf_fair.adapters``),
``hf-fair base sample``, the style probe and the Space all draw through :func:`sample`, so an
image is a function of (pipeline, prompt, seed, steps, guidance) only, not of who asked for it or
of the batch it was drawn in.
"""

from __future__ import annotations

# --scheduler choices of `hf-fair generate`: name -> diffusers class
SCHEDULERS = {
    "dpm++": "DPMSolverMultistepScheduler",
    "ddim": "DDIMScheduler",
    "pndm": "PNDMScheduler",
    "euler": "EulerDiscreteScheduler",
    "euler_a": "EulerAncestralDiscreteScheduler",
    "unipc": "UniPCMultistepScheduler",
    "lms": "LMSDiscreteScheduler",
    "ddpm": "DDPMScheduler",
}


def pick_dtype(choice: str, device: torch.device) -> torch.dtype:
    import torch

    if choice == "auto":
        return torch.float16 if device.type == "cuda" else torch.float32
    return {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[choice]


def load_pipeline(base: str, device: torch.device, dtype: torch.dtype, scheduler: str | None = None):
    """The base on ``device`` without progress bars, its sampler swapped for ``scheduler`` if given."""
    import diffusers

    from hf_fair.diffusion.base import load_base

    pipe = load_base(base, torch_dtype=dtype)
    if scheduler:
        cls = getattr(diffusers, SCHEDULERS[scheduler])
        pipe.scheduler = cls.from_config(pipe.scheduler.config)
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device)


def sample(pipe, prompts: list[str], seeds: list[int], num_inference_steps: int, guidance_scale: float | None = None,
           negative_prompt: str | None = None, batch_size: int = 32, generator_device: str = "cpu") -> list:
    """PIL images, image i drawn from generator ``seeds[i]`` on ``generator_device`` (on the CPU by
    default: the same noise on every device). ``guidance_scale=None`` keeps the pipeline's default."""
    import torch

    guidance = {} if guidance_scale is None else {"guidance_scale": guidance_scale}
    images = []
    for lo in range(0, len(prompts), batch_size):
        p, s = prompts[lo:lo + batch_size], seeds[lo:lo + batch_size]
        out = pipe(
            p,
            negative_prompt=[negative_prompt] * len(p) if negative_prompt else None,
            num_inference_steps=num_inference_steps,
            generator=[torch.Generator(generator_device).manual_seed(x) for x in s],
            **guidance,
        )
        images.extend(out.images)
    return images
