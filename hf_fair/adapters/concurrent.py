"""Several LoRA units trained together: one UNet forward/backward over a batch holding every
unit's examples, each example passing through its own unit's LoRA.

The UNet keeps the peft adapter that the sequential path trains (``UnitTrainer``), but it is
disabled while units train concurrently; a forward hook on each LoRA layer adds the batched
low-rank update instead. The batch is laid out in equal contiguous blocks, one per unit, so the
update is two batched matmuls (unit k's block times unit k's A, then B) and each unit's
parameters get gradients from its own block only. Each unit keeps its own parameters, AdamW
state, generator, loss log and checkpoint (the same checkpoint format as the sequential path, so
either path resumes the other's units); its initial weights come from the peft layer reset with
the unit's seed, and its batches and noise from its own generator in the sequential order, so a
unit trained concurrently matches the same unit trained alone up to floating-point summation
order (tested).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from hf_fair.adapters.trainer import CHECKPOINT, TRAIN_ADAPTER, LatentCache, UnitTrainer
from hf_fair.adapters.units import Unit
from hf_fair.errors import HfFairError

logger = logging.getLogger(__name__)


@dataclass
class UnitRun:
    """The training state of one unit in a concurrent group."""

    unit: Unit
    unit_dir: Path
    weights: dict[str, torch.Tensor]  # peft parameter name -> this unit's leaf tensor
    optimizer: torch.optim.Optimizer
    gen: torch.Generator
    latents: LatentCache
    prompt_emb: torch.Tensor
    class_cache: tuple | None
    step: int = 0
    losses: list[float] = field(default_factory=list)
    failed: str | None = None  # the message of a non-finite loss


class BatchedLora:
    """Forward hooks that add each block's own LoRA update to the (disabled) peft layers' output."""

    def __init__(self, trainer: UnitTrainer):
        self.trainer = trainer
        self.layers = {name: m for name, m in trainer.unet.named_modules() if hasattr(m, "reset_lora_parameters")}
        self.active: list[UnitRun] = []
        self.handles = []

    def __enter__(self):
        self.trainer.unet.disable_adapters()
        for name, module in self.layers.items():
            self.handles.append(module.register_forward_hook(self._hook(name, module)))
        return self

    def __exit__(self, *exc):
        for h in self.handles:
            h.remove()
        self.handles.clear()
        self.trainer.unet.enable_adapters()

    def _hook(self, name: str, module):
        a_key, b_key = f"{name}.lora_A.{TRAIN_ADAPTER}.weight", f"{name}.lora_B.{TRAIN_ADAPTER}.weight"
        scaling = module.scaling[TRAIN_ADAPTER]
        dropout = module.lora_dropout[TRAIN_ADAPTER]

        def hook(_module, inputs, output):
            x = inputs[0]
            k = len(self.active)
            a = torch.stack([r.weights[a_key] for r in self.active]).to(x.dtype)  # (k, r, in)
            b = torch.stack([r.weights[b_key] for r in self.active]).to(x.dtype)  # (k, out, r)
            blocks = dropout(x).reshape(k, -1, x.shape[-1])  # unit i's examples are block i
            update = torch.bmm(torch.bmm(blocks, a.transpose(1, 2)), b.transpose(1, 2))
            return output + scaling * update.reshape(output.shape).to(output.dtype)

        return hook


def _start(trainer: UnitTrainer, unit: Unit, images, unit_dir: Path, fingerprint: str, class_cache) -> UnitRun:
    args = trainer.args
    trainer.reset_unit_weights(unit.seed)  # the peft init under the unit's seed, as alone
    state = trainer.trainable_state()
    ckpt = trainer.read_checkpoint(unit_dir / CHECKPOINT, fingerprint)
    if ckpt is not None:
        missing = set(ckpt["trainable"]) ^ set(state)
        state = ckpt["trainable"]
        if missing:
            raise HfFairError(f"checkpoint '{unit_dir / CHECKPOINT}' does not match this UNet's LoRA layers ({sorted(missing)[:3]})")
    weights = {n: v.to(trainer.device, torch.float32).clone().requires_grad_(True) for n, v in state.items()}
    optimizer = torch.optim.AdamW(list(weights.values()), lr=args.lr, weight_decay=args.adam_weight_decay)
    gen = torch.Generator().manual_seed(unit.seed)
    run = UnitRun(unit, unit_dir, weights, optimizer, gen, trainer.latents(images), trainer.prompt_embeddings(unit), class_cache)
    if ckpt is not None:
        optimizer.load_state_dict(ckpt["optimizer"])
        gen.set_state(ckpt["generator"])
        run.step, run.losses = ckpt["step"], ckpt["losses"]
        logger.info("unit %s: resuming at step %d/%d", unit.name, run.step, args.unit_steps(unit.n_images))
    return run


def _step_batch(trainer: UnitTrainer, runs: list[UnitRun]):
    """Each unit's examples (instance block, then class block), drawn as the sequential path draws them."""
    blocks = [trainer.unit_batch(r.latents, trainer.batch_indices(len(r.latents), r.gen), r.prompt_emb, r.gen, r.class_cache)
              for r in runs]
    return tuple(torch.cat(parts) for parts in zip(*blocks))


def _unit_losses(pred: torch.Tensor, target: torch.Tensor, k: int, prior: bool, prior_weight: float) -> torch.Tensor:
    per = F.mse_loss(pred.float(), target.float(), reduction="none").flatten(1).mean(1)  # (k * blocks * bs,)
    per = per.reshape(k, 2 if prior else 1, -1).mean(2)  # unit x (instance, class)
    return per[:, 0] + prior_weight * per[:, 1] if prior else per[:, 0]


def train_concurrently(trainer: UnitTrainer, jobs: list[tuple[Unit, list, Path, tuple | None]], fingerprint: str) -> dict[str, dict]:
    """Train the units of ``jobs`` ((unit, images, unit_dir, class_cache) each) together.

    Returns unit name -> ``{"final_loss", "losses", "weights"}`` for the units that finished (put
    ``weights`` into the peft adapter with ``trainer.load_trainable_state`` to save the unit); a
    unit whose loss became non-finite stops alone and is returned with ``"error"``.
    """
    args = trainer.args
    runs = [_start(trainer, unit, images, unit_dir, fingerprint, cc) for unit, images, unit_dir, cc in jobs]
    prior = any(r.class_cache is not None for r in runs)
    from hf_fair.progress import progress

    steps = {r.unit.name: args.unit_steps(r.unit.n_images) for r in runs}
    bar = progress(total=sum(steps.values()), initial=sum(r.step for r in runs),
               desc=f"{len(runs)} units together", leave=False,
               disable=not trainer.accelerator.is_local_main_process and trainer.accelerator.num_processes > 1)
    trainer.unet.train()
    with BatchedLora(trainer) as lora:
        while True:
            active = [r for r in runs if r.failed is None and r.step < steps[r.unit.name]]
            if not active:
                break
            # units resumed at different steps: the furthest behind go first, all in step once level
            low = min(r.step for r in active)
            active = [r for r in active if r.step == low]
            lora.active = active
            noisy, t, target, emb = _step_batch(trainer, active)
            with trainer.accelerator.autocast():
                pred = trainer.unet(noisy, t, emb).sample
            losses = _unit_losses(pred, target, len(active), prior, args.prior_loss_weight)
            finite = torch.isfinite(losses.detach())
            for r, ok, value in zip(active, finite.tolist(), losses.detach().tolist()):
                if not ok:
                    r.failed = trainer.nonfinite_message(r.unit, value, r.step, r.unit_dir)
                    logger.error("%s; the other units go on", r.failed)
            total = losses[finite].sum()
            for r in active:
                r.optimizer.zero_grad(set_to_none=True)
            if trainer.scaler is not None:
                trainer.scaler.scale(total).backward()
            else:
                total.backward()
            for r, ok, value in zip(active, finite.tolist(), losses.detach().tolist()):
                if not ok:
                    continue
                params = list(r.weights.values())
                if trainer.scaler is not None:
                    trainer.scaler.unscale_(r.optimizer)
                torch.nn.utils.clip_grad_norm_(params, args.max_grad_norm)
                if trainer.scaler is not None:
                    trainer.scaler.step(r.optimizer)
                else:
                    r.optimizer.step()
                r.step += 1
                r.losses.append(float(value))
                bar.update(1)
                if r.step % args.checkpointing_steps == 0 and r.step < steps[r.unit.name]:
                    state = {n: v.detach().cpu().clone() for n, v in r.weights.items()}
                    trainer.write_checkpoint(r.unit_dir / CHECKPOINT, fingerprint, r.step, r.losses, state, r.optimizer, r.gen)
            if trainer.scaler is not None:
                trainer.scaler.update()
    bar.close()
    trainer.unet.eval()
    return {
        r.unit.name: (
            {"error": r.failed}
            if r.failed
            else {"final_loss": float(np.mean(r.losses[-20:])), "losses": r.losses, "weights": r.weights}
        )
        for r in runs
    }

