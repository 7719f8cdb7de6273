"""Configurations and builders for the embedded tiny Stable Diffusion.

Shape (kept fixed, later stages rely on it): 32x32 RGB images; an ``AutoencoderKL`` with two
blocks (downsampling factor 2) gives a 16x16x4 latent; a ``UNet2DConditionModel`` with a plain
16x16 level and cross-attention only at the 8x8 level (down, mid and up); a small
``CLIPTextModel`` over the offline tokenizer; ``DDPMScheduler`` for training and
``DPMSolverMultistepScheduler`` (20 steps are plenty) for sampling.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

IMAGE_SIZE = 32
LATENT_SIZE = 16
LATENT_CHANNELS = 4
# Betas of Stable Diffusion 1.x, so Hub-style training scripts see familiar numbers.
SCHEDULER_KWARGS = dict(
    num_train_timesteps=1000,
    beta_start=0.00085,
    beta_end=0.012,
    beta_schedule="scaled_linear",
    prediction_type="epsilon",
    steps_offset=1,
)
DEFAULT_NUM_INFERENCE_STEPS = 20
DEFAULT_GUIDANCE_SCALE = 7.5  # diffusers' pipeline default; the base is trained with 10% caption dropout for it


@dataclass
class TinyBaseConfig:
    """Widths and depths of the three networks (the shipped base uses the defaults)."""

    vae_channels: tuple[int, ...] = (32, 64)
    vae_layers_per_block: int = 1
    unet_channels: tuple[int, ...] = (32, 64)
    unet_layers_per_block: int = 2
    unet_attention_head_dim: int = 32
    text_hidden_size: int = 64
    text_layers: int = 2
    text_heads: int = 2
    text_intermediate_size: int = 256
    max_length: int = 32

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict) -> "TinyBaseConfig":
        known = {k: (tuple(v) if isinstance(v, list) else v) for k, v in d.items() if k in cls.__dataclass_fields__}
        return cls(**known)


# A much smaller variant for tests: same structure, a fraction of the width.
TEST_CONFIG = TinyBaseConfig(
    vae_channels=(16, 32),
    unet_channels=(32, 64),
    unet_layers_per_block=1,
    unet_attention_head_dim=16,
    text_hidden_size=32,
    text_layers=1,
    text_heads=2,
    text_intermediate_size=64,
)


def _groups(channels: tuple[int, ...]) -> int:
    g = 32
    while any(c % g for c in channels):
        g //= 2
    return g


def build_vae(cfg: TinyBaseConfig):
    from diffusers import AutoencoderKL

    n = len(cfg.vae_channels)
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * n,
        up_block_types=("UpDecoderBlock2D",) * n,
        block_out_channels=tuple(cfg.vae_channels),
        layers_per_block=cfg.vae_layers_per_block,
        latent_channels=LATENT_CHANNELS,
        norm_num_groups=_groups(cfg.vae_channels),
        sample_size=IMAGE_SIZE,
        mid_block_add_attention=False,
    )


def build_unet(cfg: TinyBaseConfig):
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel(
        sample_size=LATENT_SIZE,
        in_channels=LATENT_CHANNELS,
        out_channels=LATENT_CHANNELS,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        mid_block_type="UNetMidBlock2DCrossAttn",
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        block_out_channels=tuple(cfg.unet_channels),
        layers_per_block=cfg.unet_layers_per_block,
        norm_num_groups=_groups(cfg.unet_channels),
        cross_attention_dim=cfg.text_hidden_size,
        attention_head_dim=cfg.unet_attention_head_dim,
    )


def build_text_encoder(cfg: TinyBaseConfig, tokenizer):
    from transformers import CLIPTextConfig, CLIPTextModel

    config = CLIPTextConfig(
        vocab_size=len(tokenizer),
        hidden_size=cfg.text_hidden_size,
        intermediate_size=cfg.text_intermediate_size,
        num_hidden_layers=cfg.text_layers,
        num_attention_heads=cfg.text_heads,
        max_position_embeddings=cfg.max_length,
        projection_dim=cfg.text_hidden_size,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    return CLIPTextModel(config)


def build_train_scheduler():
    from diffusers import DDPMScheduler

    return DDPMScheduler(**SCHEDULER_KWARGS)


def build_sample_scheduler():
    from diffusers import DPMSolverMultistepScheduler

    return DPMSolverMultistepScheduler(**SCHEDULER_KWARGS)


@dataclass
class TinyBaseComponents:
    vae: object
    unet: object
    text_encoder: object
    tokenizer: object
    config: TinyBaseConfig = field(default_factory=TinyBaseConfig)


def build_components(cfg: TinyBaseConfig | None = None, seed: int = 0) -> TinyBaseComponents:
    """Freshly initialised networks (seeded) and the offline tokenizer."""
    from hf_fair.diffusion.embedded.tokenizer import build_tokenizer

    cfg = cfg or TinyBaseConfig()
    torch.manual_seed(seed)
    tokenizer = build_tokenizer(cfg.max_length)
    return TinyBaseComponents(
        vae=build_vae(cfg),
        unet=build_unet(cfg),
        text_encoder=build_text_encoder(cfg, tokenizer),
        tokenizer=tokenizer,
        config=cfg,
    )


def assemble_pipeline(parts: TinyBaseComponents):
    """A ``StableDiffusionPipeline`` over the components (no safety checker: digits only)."""
    from diffusers import StableDiffusionPipeline

    return StableDiffusionPipeline(
        vae=parts.vae,
        text_encoder=parts.text_encoder,
        tokenizer=parts.tokenizer,
        unet=parts.unet,
        scheduler=build_sample_scheduler(),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )


def save_pipeline(pipe, folder: str | Path, origin: str | None = None) -> Path:
    """``save_pretrained`` (safetensors) plus the tokenizer's ``vocab.json``/``merges.txt``. The
    UNet's and VAE's ``_name_or_path`` name the base they continue (``origin``), never a path here."""
    from hf_fair.diffusion.base import base_id
    from hf_fair.diffusion.embedded.tokenizer import save_tokenizer

    folder = Path(folder)
    for part in (pipe.unet, pipe.vae):
        if origin or "_name_or_path" in part.config:
            part.register_to_config(_name_or_path=base_id(origin) if origin else "")
    pipe.save_pretrained(str(folder), safe_serialization=True)
    save_tokenizer(pipe.tokenizer, folder / "tokenizer")
    return folder


def count_parameters(module) -> int:
    return sum(p.numel() for p in module.parameters())
