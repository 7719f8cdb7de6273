"""A pipeline with Stable Diffusion 1.5's published architecture and random weights, built offline.

Shapes from the SD 1.5 configs (``unet/config.json``, ``vae/config.json``,
``text_encoder/config.json`` of stable-diffusion-v1-5): UNet block widths 320/640/1280/1280 with
cross-attention 768 and 8 heads, 2 layers per block; VAE widths 128/256/512/512 (8x downsampling,
4 latent channels, scaling 0.18215); CLIP text encoder with 12 layers, width 768, 12 heads, MLP
3072, 77 positions, vocabulary 49408. The tokenizer is the embedded base's (its ids are a subset
of the vocabulary) with 77 positions; the scheduler is the embedded base's (SD 1.x betas). Random
weights: fine for timing, useless for images.

    python benchmarks/sd15_shape.py OUTPUT_DIR     # writes a StableDiffusionPipeline folder (~4.3 GB fp32)
"""

from __future__ import annotations

import sys
from pathlib import Path


def build_sd15_shape(seed: int = 0):
    import torch
    from diffusers import AutoencoderKL, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from hf_fair.diffusion.base import load_base

    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        sample_size=64,
        in_channels=4,
        out_channels=4,
        down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
        block_out_channels=(320, 640, 1280, 1280),
        layers_per_block=2,
        cross_attention_dim=768,
        attention_head_dim=8,
    )
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(128, 256, 512, 512),
        layers_per_block=2,
        latent_channels=4,
        sample_size=512,
        scaling_factor=0.18215,
    )
    text_encoder = CLIPTextModel(CLIPTextConfig(
        vocab_size=49408, hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
        max_position_embeddings=77, hidden_act="quick_gelu", projection_dim=768,
    ))
    tiny = load_base("embedded")
    tokenizer = tiny.tokenizer
    tokenizer.model_max_length = 77
    return StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
                                   scheduler=tiny.scheduler, safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)


def write_sd15_shape(folder: Path, seed: int = 0) -> Path:
    pipe = build_sd15_shape(seed)
    pipe.save_pretrained(folder)
    return folder


def parameter_counts(pipe) -> dict[str, int]:
    return {name: sum(p.numel() for p in getattr(pipe, name).parameters()) for name in ("unet", "vae", "text_encoder")}


if __name__ == "__main__":
    out = write_sd15_shape(Path(sys.argv[1]))
    print(out)
