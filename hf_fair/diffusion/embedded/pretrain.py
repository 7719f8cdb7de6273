"""Pretraining the embedded tiny base with accelerate (CPU or GPU, one or several processes).

Two stages, both on the generic rendered-digit corpus (``hf_fair.diffusion.embedded.corpus``), rendered
on the fly from per-step seeds (so a resumed run sees the same data):

1. **VAE**: ``AutoencoderKL`` (factor 2), L1 + MSE reconstruction plus a small KL term; then the
   latent ``scaling_factor`` is set to 1 / std of the latents, as Stable Diffusion does.
2. **UNet + text encoder** on frozen-VAE latents: epsilon prediction with the DDPM training
   scheduler, Min-SNR-gamma loss weighting, 10% empty captions (classifier-free guidance),
   EMA weights for sampling.

Every stage writes to ``<output_dir>/../.<name>.work`` and checkpoints with
``accelerator.save_state``; a re-run resumes where it stopped (``--unet_steps`` may change on
resume: a smaller value finishes from the latest checkpoint, a larger one trains on). The final pipeline folder (safetensors, tokenizer, scheduler,
model card, training log) appears at ``output_dir`` atomically, only when everything finished.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from hf_fair import runfolder
from hf_fair.errors import HfFairError

logger = logging.getLogger(__name__)


@dataclass
class PretrainArguments:
    output_dir: str = field(default=None, metadata={"help": "pipeline folder to write (model_index.json, safetensors, README.md)"})
    preset: str = field(default="shipped", metadata={"help": "network sizes: 'shipped' (the embedded base) or 'test' (tiny, for tests)"})
    vae_steps: int = field(default=800, metadata={"help": "optimisation steps of the VAE stage"})
    unet_steps: int = field(default=3000, metadata={"help": "optimisation steps of the UNet + text encoder stage"})
    batch_size: int = field(default=64, metadata={"help": "images per step and process"})
    vae_lr: float = field(default=1e-3, metadata={"help": "VAE learning rate (AdamW)"})
    unet_lr: float = field(default=1e-3, metadata={"help": "UNet and text-encoder learning rate (AdamW, cosine decay)"})
    warmup_steps: int = field(default=200, metadata={"help": "linear warm-up steps of each stage"})
    kl_weight: float = field(default=1e-4, metadata={"help": "weight of the per-element KL term of the VAE"})
    snr_gamma: float = field(default=5.0, metadata={"help": "Min-SNR-gamma loss weighting (0 = plain MSE)"})
    ema_decay: float = field(default=0.999, metadata={"help": "EMA decay of the sampling weights (0 = no EMA)"})
    p_empty_caption: float = field(default=0.1, metadata={"help": "share of empty captions (classifier-free guidance)"})
    corpus_styles: str = field(default="typeset", metadata={"help": "comma-separated rendering styles of the corpus: typeset, bold, lowres, scan8, hand (the shipped base: typeset)"})
    train_text_encoder: bool = field(default=True, metadata={"help": "train the CLIP text encoder with the UNet"})
    seed: int = field(default=0, metadata={"help": "seed of initialisation, data and noise"})
    log_every: int = field(default=50, metadata={"help": "log the loss every N steps"})
    checkpoint_every: int = field(default=500, metadata={"help": "save a resumable checkpoint every N steps"})
    num_threads: int = field(default=0, metadata={"help": "torch CPU threads per process (0 = torch's default)"})
    overwrite: bool = field(default=False, metadata={"help": "replace an existing finished output_dir"})
    init_from: str = field(default=None, metadata={"help": "continue pretraining from this pipeline folder ('embedded' = the shipped base): its VAE is kept, UNet and text encoder train on"})
    vae_decoder_steps: int = field(default=0, metadata={"help": "last stage: steps training the VAE decoder alone on the corpus styles (the encoder, hence the latent space and the UNet, unchanged)"})
    vae_decoder_lr: float = field(default=3e-4, metadata={"help": "VAE-decoder learning rate (AdamW, cosine decay)"})

    def __post_init__(self):
        if self.preset not in ("shipped", "test"):
            raise HfFairError(f"--preset must be 'shipped' or 'test', not '{self.preset}'")
        for name in ("vae_steps", "unet_steps", "vae_decoder_steps"):
            if getattr(self, name) < 0:
                raise HfFairError(f"--{name} must be >= 0")
        if self.batch_size < 1:
            raise HfFairError("--batch_size must be >= 1")
        from hf_fair.diffusion.embedded.corpus import STYLES

        unknown = [x for x in self.styles if x not in STYLES] or ([] if self.styles else ["(none)"])
        if unknown:
            raise HfFairError(f"--corpus_styles {unknown} not among {list(STYLES)}")

    @property
    def styles(self) -> tuple[str, ...]:
        return tuple(x.strip() for x in self.corpus_styles.split(",") if x.strip())


@dataclass
class PretrainResult:
    folder: Path
    vae_losses: list = field(default_factory=list)
    unet_losses: list = field(default_factory=list)
    vae_decoder_losses: list = field(default_factory=list)


def _model_config(preset: str):
    from hf_fair.diffusion.embedded.tiny_base import TEST_CONFIG, TinyBaseConfig

    return TEST_CONFIG if preset == "test" else TinyBaseConfig()


def _batch(seed: int, stage: int, process: int, step: int, n: int, p_empty: float, styles: tuple[str, ...] = ("typeset",)):
    from hf_fair.diffusion.embedded.corpus import render_batch, to_tensor

    rng = np.random.default_rng([seed, stage, process, step])
    images, caps, _ = render_batch(rng, n, p_empty=p_empty, styles=styles)
    return to_tensor(images), caps


def _latest_checkpoint(folder: Path) -> tuple[int, Path | None]:
    if not folder.is_dir():
        return 0, None
    done = [(int(p.name.split("-")[-1]), p) for p in folder.glob("step-*") if (p / "DONE").exists()]
    return max(done) if done else (0, None)


def _save_checkpoint(accelerator, folder: Path, step: int, keep: int = 1) -> None:
    path = folder / f"step-{step}"
    accelerator.save_state(str(path))
    if accelerator.is_main_process:
        (path / "DONE").write_text(str(step))
        from hf_fair.io_utils import apply_umask

        apply_umask(path)  # accelerate's safetensors files are 0600 whatever the umask
        for old_step, old in sorted((int(p.name.split("-")[-1]), p) for p in folder.glob("step-*"))[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()


def _cosine(optimizer, warmup: int, total: int):
    """Linear warm-up, then cosine decay to 10% of the peak (transformers' cosine_with_min_lr)."""
    from transformers import get_scheduler

    return get_scheduler("cosine_with_min_lr", optimizer, num_warmup_steps=warmup, num_training_steps=total,
                         scheduler_specific_kwargs={"min_lr_rate": 0.1})


def _vae_stage(cfg, accelerator, vae, optimizer, sched, steps, ckpt_dir, stream, name, loss_fn, train_part=None):
    """The loop both VAE stages share: resume from the latest checkpoint, draw corpus batches from
    their own stream, log and checkpoint. Returns the prepared model and the logged losses."""
    model, optimizer, sched = accelerator.prepare(vae, optimizer, sched)
    losses: list[float] = []
    accelerator.register_for_checkpointing(_Losses(losses))
    start, path = _latest_checkpoint(ckpt_dir)
    if path is not None:
        accelerator.load_state(str(path))
        logger.info("resuming the %s stage from step %d", name, start)
    inner = accelerator.unwrap_model(model)
    (train_part(inner) if train_part else model).train()
    running, t0 = 0.0, time.time()
    for step in range(start, steps):
        x, _ = _batch(cfg.seed, stream, accelerator.process_index, step, cfg.batch_size, 0.0, cfg.styles)
        loss = loss_fn(inner, x.to(accelerator.device))
        accelerator.backward(loss)
        optimizer.step()
        sched.step()
        optimizer.zero_grad(set_to_none=True)
        running += loss.item()
        if (step + 1) % cfg.log_every == 0 or step + 1 == steps:
            n = (step % cfg.log_every) + 1
            losses.append(running / n)
            rate = n * cfg.batch_size * accelerator.num_processes / (time.time() - t0)
            accelerator.print(f"{name} step {step + 1}/{steps} loss {running / n:.4f} ({rate:.0f} img/s)")
            running, t0 = 0.0, time.time()
        if (step + 1) % cfg.checkpoint_every == 0 and step + 1 < steps:
            _save_checkpoint(accelerator, ckpt_dir, step + 1)
    return model, losses


def train_vae(cfg: PretrainArguments, accelerator, vae, work: Path) -> list[float]:
    """Stage 1. Returns the logged losses; leaves ``vae`` trained with its scaling factor set."""
    from accelerate.utils import set_seed

    ckpt_dir = work / "vae-checkpoints"
    final = work / "vae"
    if (final / "DONE").exists():
        from diffusers import AutoencoderKL

        trained = AutoencoderKL.from_pretrained(str(final))
        vae.load_state_dict(trained.state_dict())
        vae.register_to_config(scaling_factor=trained.config.scaling_factor)
        logger.info("VAE stage already done (%s); skipping", final)
        return json.loads((final / "losses.json").read_text())

    set_seed(cfg.seed + 1)
    optimizer = torch.optim.AdamW(vae.parameters(), lr=cfg.vae_lr, weight_decay=0.0)
    sched = _cosine(optimizer, cfg.warmup_steps, cfg.vae_steps)

    def vae_loss(inner, x):
        posterior = inner.encode(x).latent_dist
        rec = inner.decode(posterior.sample()).sample
        kl = posterior.kl().mean() / posterior.mean[0].numel()
        return F.l1_loss(rec, x) + F.mse_loss(rec, x) + cfg.kl_weight * kl

    model, losses = _vae_stage(cfg, accelerator, vae, optimizer, sched, cfg.vae_steps, ckpt_dir, 1, "vae", vae_loss)
    vae = accelerator.unwrap_model(model)
    vae.eval()
    with torch.no_grad():
        x, _ = _batch(cfg.seed, 3, 0, 0, 512, 0.0, cfg.styles)
        lat = vae.encode(x.to(accelerator.device)).latent_dist.sample()
        std = float(lat.std())
    vae.register_to_config(scaling_factor=1.0 / std)
    if accelerator.is_main_process:
        vae.save_pretrained(str(final))
        (final / "losses.json").write_text(json.dumps(losses))
        (final / "DONE").write_text("ok")
    accelerator.wait_for_everyone()
    return losses


def train_vae_decoder(cfg: PretrainArguments, accelerator, vae, work: Path) -> list[float]:
    """Last stage: the decoder (and post-quant conv) learn to draw the corpus styles from the
    frozen encoder's latents. The latent space does not move, so a UNet trained on it stays valid.
    Why it exists: a VAE trained on typeset glyphs decodes thick, blurred strokes thin and blotchy
    (docs/RESULTS.md, session 4)."""
    ckpt_dir = work / "vae-decoder-checkpoints"
    vae.requires_grad_(False)
    trainable = [*vae.decoder.parameters(), *vae.post_quant_conv.parameters()]
    for p in trainable:
        p.requires_grad_(True)
    optimizer = torch.optim.AdamW(trainable, lr=cfg.vae_decoder_lr, weight_decay=0.0)
    sched = _cosine(optimizer, min(cfg.warmup_steps, cfg.vae_decoder_steps // 4), cfg.vae_decoder_steps)

    def decoder_loss(inner, x):
        with torch.no_grad():
            z = inner.encode(x).latent_dist.mean
        rec = inner.decode(z).sample
        return F.l1_loss(rec, x) + F.mse_loss(rec, x)

    model, losses = _vae_stage(cfg, accelerator, vae, optimizer, sched, cfg.vae_decoder_steps, ckpt_dir, 4, "vae decoder",
                               decoder_loss, train_part=lambda inner: inner.decoder)
    vae = accelerator.unwrap_model(model)
    vae.requires_grad_(False)
    vae.eval()
    return losses


class _Losses:
    """Lets accelerate checkpoint the loss history with the models."""

    def __init__(self, values: list):
        self.values = values

    def state_dict(self):
        return {"values": list(self.values)}

    def load_state_dict(self, state):
        self.values[:] = state["values"]


def train_unet(cfg: PretrainArguments, accelerator, parts, work: Path) -> list[float]:
    """Stage 2: UNet (+ text encoder) on frozen-VAE latents. Leaves EMA weights in the modules."""
    from accelerate.utils import set_seed
    from diffusers.training_utils import EMAModel, compute_snr

    from hf_fair.diffusion.embedded.tiny_base import build_train_scheduler

    ckpt_dir = work / "unet-checkpoints"
    vae, unet, text_encoder, tokenizer = parts.vae, parts.unet, parts.text_encoder, parts.tokenizer
    vae.requires_grad_(False)
    vae.eval()
    vae.to(accelerator.device)
    text_encoder.requires_grad_(cfg.train_text_encoder)
    noise_scheduler = build_train_scheduler()
    set_seed(cfg.seed + 2)

    trainable = [unet] + ([text_encoder] if cfg.train_text_encoder else [])
    params = [p for m in trainable for p in m.parameters()]
    optimizer = torch.optim.AdamW(params, lr=cfg.unet_lr, weight_decay=1e-2)
    sched = _cosine(optimizer, cfg.warmup_steps, cfg.unet_steps)
    if cfg.train_text_encoder:
        unet_p, text_p, optimizer, sched = accelerator.prepare(unet, text_encoder, optimizer, sched)
    else:
        unet_p, optimizer, sched = accelerator.prepare(unet, optimizer, sched)
        text_p = text_encoder.to(accelerator.device)
    # diffusers' EMAModel: decay min(ema_decay, (1 + step) / (10 + step)), checkpointed by accelerate
    ema = EMAModel(params, decay=cfg.ema_decay) if cfg.ema_decay > 0 else None
    losses: list[float] = []
    accelerator.register_for_checkpointing(_Losses(losses))
    if ema is not None:
        accelerator.register_for_checkpointing(ema)
    start, path = _latest_checkpoint(ckpt_dir)
    if path is not None:
        accelerator.load_state(str(path))
        logger.info("resuming the UNet stage from step %d", start)

    unet_p.train()
    text_p.train(cfg.train_text_encoder)
    scaling = vae.config.scaling_factor
    running, t0 = 0.0, time.time()
    for step in range(start, cfg.unet_steps):
        x, caps = _batch(cfg.seed, 2, accelerator.process_index, step, cfg.batch_size, cfg.p_empty_caption, cfg.styles)
        ids = tokenizer(caps, padding="max_length", max_length=tokenizer.model_max_length, truncation=True, return_tensors="pt").input_ids
        with torch.no_grad():
            latents = vae.encode(x.to(accelerator.device)).latent_dist.sample() * scaling
        noise = torch.randn_like(latents)
        t = torch.randint(0, noise_scheduler.config.num_train_timesteps, (latents.shape[0],), device=latents.device)
        noisy = noise_scheduler.add_noise(latents, noise, t)
        with torch.set_grad_enabled(cfg.train_text_encoder):
            cond = text_p(ids.to(accelerator.device))[0]
        pred = unet_p(noisy, t, cond).sample
        mse = F.mse_loss(pred, noise, reduction="none").mean(dim=(1, 2, 3))
        if cfg.snr_gamma > 0:
            snr = compute_snr(noise_scheduler, t)
            weights = torch.clamp(snr, max=cfg.snr_gamma) / snr
            loss = (mse * weights).mean()
        else:
            loss = mse.mean()
        accelerator.backward(loss)
        accelerator.clip_grad_norm_(params, 1.0)
        optimizer.step()
        sched.step()
        optimizer.zero_grad(set_to_none=True)
        if ema is not None:
            ema.step(params)
        running += mse.mean().item()
        if (step + 1) % cfg.log_every == 0 or step + 1 == cfg.unet_steps:
            n = (step % cfg.log_every) + 1
            losses.append(running / n)
            rate = n * cfg.batch_size * accelerator.num_processes / (time.time() - t0)
            accelerator.print(f"unet step {step + 1}/{cfg.unet_steps} loss {running / n:.4f} ({rate:.0f} img/s)")
            running, t0 = 0.0, time.time()
        if (step + 1) % cfg.checkpoint_every == 0 and step + 1 < cfg.unet_steps:
            _save_checkpoint(accelerator, ckpt_dir, step + 1)

    parts.unet_steps_done = max(start, cfg.unet_steps)
    parts.unet = accelerator.unwrap_model(unet_p)
    parts.text_encoder = accelerator.unwrap_model(text_p)
    if ema is not None:
        ema.copy_to(params)
    parts.unet.eval()
    parts.text_encoder.eval()
    return losses


def _load_components(name_or_path: str):
    """Components (and the training log, if any) of an existing pipeline folder, to train on."""
    from hf_fair.diffusion.base import load_base, resolve_base
    from hf_fair.diffusion.embedded.tiny_base import TinyBaseComponents, TinyBaseConfig

    folder = Path(resolve_base(name_or_path))
    pipe = load_base(str(folder))
    log_path = folder / "training_log.json"
    previous = json.loads(log_path.read_text()) if log_path.is_file() else None
    model_cfg = TinyBaseConfig.from_dict(previous["model_config"]) if previous and "model_config" in previous else TinyBaseConfig()
    parts = TinyBaseComponents(vae=pipe.vae, unet=pipe.unet, text_encoder=pipe.text_encoder, tokenizer=pipe.tokenizer, config=model_cfg)
    for m in (parts.unet, parts.text_encoder):
        m.requires_grad_(True)
    return parts, previous


def pretrain(cfg: PretrainArguments, accelerator=None, command: str | None = None) -> PretrainResult:
    """Run both stages and write the pipeline folder to ``cfg.output_dir``."""
    from hf_fair.accel import make_accelerator

    if not cfg.output_dir:
        raise HfFairError("--output_dir is required: the pipeline folder to write")
    out = Path(cfg.output_dir)
    if (out / "model_index.json").exists() and not cfg.overwrite:
        raise HfFairError(f"--output_dir '{out}' already holds a finished pipeline; pass --overwrite to retrain it")
    if out.exists() and not out.is_dir():
        raise HfFairError(f"--output_dir '{out}' is a file; choose a folder path")
    threads_before = torch.get_num_threads()
    if cfg.num_threads > 0:
        torch.set_num_threads(cfg.num_threads)
    try:
        return _pretrain(cfg, accelerator or make_accelerator("no"), command, out)
    finally:
        torch.set_num_threads(threads_before)


def _pretrain(cfg: PretrainArguments, accelerator, command: str | None, out: Path) -> PretrainResult:
    from hf_fair.diffusion.embedded.tiny_base import assemble_pipeline, build_components, count_parameters, save_pipeline
    from hf_fair.diffusion.embedded.card import write_model_card

    work = out.parent / f".{out.name}.work"
    if accelerator.is_main_process:
        work.mkdir(parents=True, exist_ok=True)
        saved = work / "config.json"
        if saved.exists():
            old = json.loads(saved.read_text())
            # what the saved stages depend on; --unet_steps may change on resume (stop early or train on)
            keys = ("preset", "batch_size", "seed", "vae_steps")
            if any(old.get(k) != getattr(cfg, k) for k in keys):
                raise HfFairError(
                    f"'{work}' holds an unfinished run with a different config ({ {k: old.get(k) for k in keys} }); "
                    "re-run with the same options to resume, or delete that folder to start over"
                )
        saved.write_text(json.dumps(asdict(cfg), indent=2))
    accelerator.wait_for_everyone()

    previous = None
    if cfg.init_from:
        parts, previous = _load_components(cfg.init_from)
    else:
        parts = build_components(_model_config(cfg.preset), seed=cfg.seed)
    t_start = time.time()
    vae_losses = train_vae(cfg, accelerator, parts.vae, work) if cfg.vae_steps > 0 and not cfg.init_from else []
    if cfg.vae_steps == 0 and not cfg.init_from:
        parts.vae.register_to_config(scaling_factor=1.0)
    unet_losses = train_unet(cfg, accelerator, parts, work)
    decoder_losses = train_vae_decoder(cfg, accelerator, parts.vae, work) if cfg.vae_decoder_steps > 0 else []
    elapsed = time.time() - t_start

    if accelerator.is_main_process:
        from hf_fair.io_utils import atomic_dir, write_json

        pipe = assemble_pipeline(parts)
        info = {
            "config": asdict(cfg),
            "model_config": parts.config.to_dict(),
            "parameters": {n: count_parameters(m) for n, m in (("vae", parts.vae), ("unet", parts.unet), ("text_encoder", parts.text_encoder))},
            "vae_losses": vae_losses,
            "unet_losses": unet_losses,
            "vae_decoder_losses": decoder_losses,
            "unet_steps_done": getattr(parts, "unet_steps_done", cfg.unet_steps),
            "log_every": cfg.log_every,
            "num_processes": accelerator.num_processes,
            "train_seconds": round(elapsed, 1),
            "command": command,
            "init_from": cfg.init_from,
            "previous": previous,
            "versions": runfolder.versions("diffusers", "transformers", "accelerate"),
        }
        with atomic_dir(out) as tmp:
            save_pipeline(pipe, tmp, cfg.init_from)
            write_json(tmp / "training_log.json", info)
            write_model_card(tmp, info)
        shutil.rmtree(work, ignore_errors=True)
    accelerator.wait_for_everyone()
    return PretrainResult(folder=out, vae_losses=vae_losses, unet_losses=unet_losses, vae_decoder_losses=decoder_losses)


def main(argv: list[str]) -> int:
    """``hf-fair base pretrain`` (also ``accelerate launch training_scripts/pretrain_tiny_base.py``)."""
    import os
    import shlex

    from hf_fair.config import parse_config

    cfg = parse_config([PretrainArguments], argv, prog="hf-fair base pretrain")
    launcher = "accelerate launch training_scripts/pretrain_tiny_base.py" if any(k.startswith("ACCELERATE_") for k in os.environ) else "hf-fair base pretrain"
    result = pretrain(cfg, command=f"{launcher} " + " ".join(shlex.quote(a) for a in argv))
    print(f"wrote {result.folder}")
    return 0
