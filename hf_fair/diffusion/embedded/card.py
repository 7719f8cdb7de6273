"""The model card (README.md) of a pretrained tiny base folder, rendered offline."""

from __future__ import annotations

from pathlib import Path

CARD_TEMPLATE = """---
{metadata}
---

# hf-fair embedded tiny Stable Diffusion

A real diffusers `StableDiffusionPipeline` (AutoencoderKL + UNet2DConditionModel + CLIPTextModel +
CLIPTokenizer + DPMSolverMultistepScheduler), small enough to train and sample on a CPU. It is the
offline stand-in for "vanilla Stable Diffusion" in hf-fair: it knows digits
and colours, not the Colored Digits benchmark's handwriting.

```python
from hf_fair.diffusion import load_base
pipe = load_base("embedded")          # or StableDiffusionPipeline.from_pretrained(<this folder>)
image = pipe("a red digit 7", num_inference_steps=20).images[0]   # 32x32 RGB
```

## How it was made

* **Data**: a generic corpus rendered on the fly (`hf_fair.diffusion.embedded.corpus`), digits 0-9
  in one of its styles (`--corpus_styles`; each run below names its own): `typeset` (Pillow's
  bundled font at sizes 16-28, stroke widths 0-2, rotations within +-20 degrees, random
  positions, 2x supersampled), `hand` (procedurally written pen strokes, slanted, rotated and
  stretched, `hf_fair.diffusion.embedded.handwriting`) and `scan8` (a glyph squared into an 8x8
  box and scaled back up), in nine colours (red, orange, yellow, green, cyan, blue, purple,
  magenta, white; hue/saturation/brightness jitter) on black, 32x32 RGB. Captions like "a red
  digit 7", "a photo of a small blue digit seven", "a red handwritten digit 7"; 10% empty
  (classifier-free guidance), 5% without the colour, 5% without the digit. **None of
  scikit-learn's handwritten digits** (the benchmark) were used.
* **Tokenizer**: byte-level BPE CLIP tokenizer built offline (`hf_fair.diffusion.embedded.tokenizer`):
  {vocab_size} tokens; every caption word is one token; {n_rare} spare rare tokens (`sks`, `zkz`,
  ...) for DreamBooth identifiers never appear in captions; `model_max_length` {max_length}.
* **Networks** (parameters): VAE {p_vae:,} (2 blocks, latent 16x16x4, scaling factor
  {scaling:.4f}); UNet {p_unet:,} (16x16 plain level, cross-attention only at 8x8); text encoder
  {p_text:,}.
* **Training** (`training_scripts/pretrain_tiny_base.py`, accelerate):
{training}
* **Sampling defaults**: 20 steps of DPM-Solver++ (the saved scheduler), guidance scale 7.5.

Command(s), in order:

```bash
{command}
```

Versions: {versions}.
{extra}"""


def _commands(info: dict) -> list[str]:
    previous = _commands(info["previous"]) if info.get("previous") else []
    return previous + [info.get("command") or "python training_scripts/pretrain_tiny_base.py ..."]


def _training_lines(info: dict) -> str:
    """One bullet per training run, oldest first (a run may continue an earlier one)."""
    cfg = info["config"]
    lines = _training_lines(info["previous"]).splitlines() if info.get("previous") else []
    unet = info.get("unet_steps_done", cfg["unet_steps"])
    last = f"{info['unet_losses'][-1]:.4f}" if info.get("unet_losses") else "n/a"
    common = (
        f"batch {cfg['batch_size']} per process x {info.get('num_processes', 1)} process(es), AdamW lr {cfg['unet_lr']} "
        f"with warm-up {cfg['warmup_steps']} and cosine decay to 10%, epsilon prediction, DDPM betas of SD 1.x "
        f"(scaled_linear 0.00085-0.012), Min-SNR-{cfg['snr_gamma']} weighting, EMA {cfg['ema_decay']}, "
        f"10% empty captions, seed {cfg['seed']}; {info.get('train_seconds', 0) / 60:.0f} min; final UNet loss {last}"
    )
    styles = cfg.get("corpus_styles", "typeset")  # runs before the option existed saw typeset only
    if info.get("init_from"):
        parts = [f"UNet + text encoder {unet} more steps on styles {styles}, {common}"] if unet else []
        if cfg.get("vae_decoder_steps"):
            dec = info.get("vae_decoder_losses") or []
            dec_last = f"{dec[-1]:.4f}" if dec else "n/a"
            parts.append(f"VAE decoder alone (encoder, latents and UNet unchanged) {cfg['vae_decoder_steps']} steps on styles "
                         f"{styles}, AdamW lr {cfg.get('vae_decoder_lr')}, L1 + MSE, seed {cfg['seed']}, final loss {dec_last}; "
                         f"{info.get('train_seconds', 0) / 60:.0f} min")
        lines.append("  - continued (`--init_from`): " + ("; ".join(parts) or "nothing trained") + ".")
    else:
        vae_last = f"{info['vae_losses'][-1]:.4f}" if info.get("vae_losses") else "n/a"
        lines.append(
            f"  - VAE {cfg['vae_steps']} steps (L1 + MSE + {cfg['kl_weight']} x KL, final loss {vae_last}); then "
            f"UNet + text encoder {unet} steps on frozen-VAE latents, styles {styles}, {common}."
        )
    return "\n".join(lines)


def write_model_card(folder: str | Path, info: dict, extra: str = "") -> Path:
    """Render README.md for the pipeline in ``folder`` from the training ``info``."""
    import json

    from huggingface_hub import ModelCardData

    from hf_fair.diffusion.embedded.tokenizer import RARE_TOKENS

    folder = Path(folder)
    vae_cfg = json.loads((folder / "vae" / "config.json").read_text())
    tok_cfg = json.loads((folder / "tokenizer" / "tokenizer_config.json").read_text())
    vocab = json.loads((folder / "tokenizer" / "vocab.json").read_text())
    metadata = ModelCardData(
        library_name="diffusers",
        license="apache-2.0",
        pipeline_tag="text-to-image",
        tags=["stable-diffusion", "text-to-image", "tiny", "hf-fair", "offline"],
    ).to_yaml()
    p = info["parameters"]
    text = CARD_TEMPLATE.format(
        metadata=metadata,
        vocab_size=len(vocab),
        n_rare=len(RARE_TOKENS),
        max_length=tok_cfg.get("model_max_length"),
        p_vae=p["vae"],
        p_unet=p["unet"],
        p_text=p["text_encoder"],
        scaling=vae_cfg["scaling_factor"],
        training=_training_lines(info),
        command="\n".join(_commands(info)),
        versions=", ".join(f"{k} {v}" for k, v in info.get("versions", {}).items()),
        extra=("\n" + extra.strip() + "\n") if extra else "",
    )
    path = folder / "README.md"
    path.write_text(text)
    return path
