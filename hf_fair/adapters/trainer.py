"""Training many small adapters (one per group or per cluster) against one loaded base.

The base pipeline is loaded once per process; every unit's images are VAE-encoded once (the latent
mean and std are cached and a latent is sampled from them at each step, as training on raw images
would) and its prompts are encoded once. Units are then trained one after another without
reloading anything:

* LoRA methods add one peft adapter to the UNet's attention projections and re-initialise it
  (seeded) for each unit; weights are saved in diffusers' LoRA format, so
  ``pipe.load_lora_weights(unit_dir)`` works.
* Full DreamBooth restores the base UNet weights from an in-memory copy before each unit and saves
  the finetuned UNet (``unit_dir/unet``).

With N processes (``accelerate launch --num_processes N``) unit i is trained by process i mod N;
there is no gradient exchange. Each unit checkpoints every ``checkpointing_steps`` and resumes
bit-for-bit (its batch order and noise come from its own generator, which is checkpointed too).
"""

from __future__ import annotations

import copy
import json
import logging
from datetime import timedelta
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from hf_fair.adapters.config import AdapterArguments
from hf_fair.adapters.manifest import MANIFEST, SCHEMA_VERSION, UNIT_FILE, unit_format
from hf_fair.adapters.units import Unit
from hf_fair.errors import HfFairError
from hf_fair.io_utils import atomic_dir, atomic_file, write_json

logger = logging.getLogger(__name__)

CONFIG_FILE = "adapters_config.json"
CHECKPOINT = "checkpoint.pt"
TRAIN_ADAPTER = "hf_fair_unit"


def make_accelerator(mixed_precision: str = "no"):
    from accelerate import InitProcessGroupKwargs

    from hf_fair.accel import make_accelerator as build

    # units are unbalanced across processes: the final barrier may wait long for the slowest one
    return build(mixed_precision, kwargs_handlers=[InitProcessGroupKwargs(timeout=timedelta(hours=24))])


# a unit's images are all VAE-encoded up front when it draws at least a quarter as many images as
# it holds; a larger unit encodes each image the first time it is drawn (CelebA groups hold tens
# of thousands of images that a few hundred steps never draw)
EAGER_ENCODE_RATIO = 4


class LatentCache:
    """The VAE latent distributions (mean, std) of one unit's images.

    ``eager``: every image encoded at once (in chunks of 64, in index order). Otherwise each image
    is encoded alone the first time a batch draws it and kept. Either way an image's latents do
    not depend on the order of the draws, so resuming an interrupted unit stays bit-identical.
    """

    def __init__(self, trainer: "UnitTrainer", images, eager: bool):
        self.trainer, self.images, self.eager = trainer, images, eager
        self.encoded: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        self.mean = self.std = None
        if eager:
            self.mean, self.std = trainer.encode_images(images)

    def __len__(self) -> int:
        return len(self.images)

    def take(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.eager:
            return self.mean[idx], self.std[idx]
        for i in idx.tolist():
            if i not in self.encoded:
                mean, std = self.trainer.encode_images([self.images[i]])
                self.encoded[i] = (mean[0], std[0])
        return (torch.stack([self.encoded[i][0] for i in idx.tolist()]),
                torch.stack([self.encoded[i][1] for i in idx.tolist()]))


def images_to_tensor(images, resolution: int) -> torch.Tensor:
    from PIL import Image

    arrays = [
        np.asarray(im.convert("RGB").resize((resolution, resolution), Image.Resampling.BICUBIC), dtype=np.float32)
        for im in images
    ]
    x = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2) / 127.5 - 1.0
    return x


class UnitTrainer:
    """Holds the base pipeline's parts for one process and trains units on it."""

    def __init__(self, args: AdapterArguments, accelerator, pipe):
        self.args = args
        self.accelerator = accelerator
        self.device = accelerator.device
        self.weight_dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(accelerator.mixed_precision, torch.float32)
        from diffusers import DDPMScheduler

        self.pipe = pipe
        self.vae, self.text_encoder, self.tokenizer, self.unet = pipe.vae, pipe.text_encoder, pipe.tokenizer, pipe.unet
        self.noise_scheduler = DDPMScheduler.from_config(pipe.scheduler.config)
        self.vae.requires_grad_(False).eval()
        self.text_encoder.requires_grad_(False).eval()
        if self.weight_dtype != torch.float32:  # frozen parts in half precision on GPU
            self.vae.to(dtype=self.weight_dtype)
            self.text_encoder.to(dtype=self.weight_dtype)
        self.vae.to(self.device)
        self.text_encoder.to(self.device)
        self.unet.requires_grad_(False).to(self.device)  # fp32 master weights; autocast does the rest
        self.resolution = args.resolution or pipe.unet.config.sample_size * pipe.vae_scale_factor
        self.scaling = self.vae.config.scaling_factor
        if args.uses_lora:
            from peft import LoraConfig

            self.unet.add_adapter(
                LoraConfig(r=args.rank, lora_alpha=args.alpha, lora_dropout=args.lora_dropout,
                           target_modules=args.modules(), init_lora_weights="gaussian"),
                adapter_name=TRAIN_ADAPTER,
            )
            self.lora_modules = [m for m in self.unet.modules() if hasattr(m, "reset_lora_parameters")]
            if not self.lora_modules:
                raise HfFairError(f"--target_modules {args.target_modules} matched no UNet module; use e.g. to_k,to_q,to_v,to_out.0")
        else:
            self.base_state = copy.deepcopy({k: v.detach().cpu() for k, v in self.unet.state_dict().items()})
        self.scaler = torch.amp.GradScaler("cuda") if self.weight_dtype == torch.float16 and self.device.type == "cuda" else None

    # ------------------------------------------------------------------ caching
    @torch.no_grad()
    def encode_images(self, images, batch_size: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
        means, stds = [], []
        for i in range(0, len(images), batch_size):
            x = images_to_tensor(images[i : i + batch_size], self.resolution).to(self.device, self.weight_dtype)
            dist = self.vae.encode(x).latent_dist
            means.append(dist.mean.float())
            stds.append(dist.std.float())
        return torch.cat(means), torch.cat(stds)

    def latents(self, images, eager: bool | None = None) -> LatentCache:
        """The latent cache of a unit's images (eager or on first draw, see EAGER_ENCODE_RATIO)."""
        if eager is None:
            draws = self.args.unit_steps(len(images)) * self.args.train_batch_size
            eager = len(images) <= EAGER_ENCODE_RATIO * draws
        return LatentCache(self, images, eager)

    @torch.no_grad()
    def encode_prompt(self, prompt: str) -> torch.Tensor:
        ids = self.tokenizer(prompt, padding="max_length", max_length=self.tokenizer.model_max_length,
                             truncation=True, return_tensors="pt").input_ids.to(self.device)
        return self.text_encoder(ids)[0].float()

    # ------------------------------------------------------------------ parameters
    def reset_unit_weights(self, seed: int) -> list[torch.nn.Parameter]:
        torch.manual_seed(seed)
        if self.args.uses_lora:
            for m in self.lora_modules:
                m.reset_lora_parameters(TRAIN_ADAPTER, "gaussian")
            params = [p for n, p in self.unet.named_parameters() if TRAIN_ADAPTER in n]
        else:
            self.unet.load_state_dict(self.base_state)
            params = list(self.unet.parameters())
        for p in params:
            p.data = p.data.float()
            p.requires_grad_(True)
        return params

    def trainable_state(self) -> dict:
        return {n: p.detach().cpu().clone() for n, p in self.unet.named_parameters() if p.requires_grad}

    def load_trainable_state(self, state: dict) -> None:
        params = dict(self.unet.named_parameters())
        missing = set(state) - set(params)
        if missing:
            raise HfFairError(f"checkpoint has parameters this UNet lacks ({sorted(missing)[:3]} ...); re-run with --overwrite")
        with torch.no_grad():
            for n, v in state.items():
                params[n].copy_(v)

    # ------------------------------------------------------------------ one step
    def draw(self, latents: LatentCache, idx, gen) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(noisy latents, timesteps, target) for the images ``idx``; every random number comes from
        the unit's own generator, in a fixed order, so a unit draws the same batches alone or
        trained concurrently with others."""
        mean, std = latents.take(idx)
        latents = (mean + std * torch.randn(mean.shape, generator=gen).to(self.device)) * self.scaling
        noise = torch.randn(latents.shape, generator=gen).to(self.device)
        t = torch.randint(0, self.noise_scheduler.config.num_train_timesteps, (len(idx),), generator=gen).to(self.device)
        noisy = self.noise_scheduler.add_noise(latents, noise, t)
        if self.noise_scheduler.config.prediction_type == "v_prediction":
            target = self.noise_scheduler.get_velocity(latents, noise, t)
        else:
            target = noise
        return noisy, t, target

    @staticmethod
    def embeddings(prompt_emb: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        """One embedding for the unit, or one per image (--caption_column)."""
        return prompt_emb[idx.to(prompt_emb.device)] if prompt_emb.shape[0] > 1 else prompt_emb.expand(len(idx), -1, -1)

    def unit_batch(self, latents: LatentCache, idx, prompt_emb, gen, class_cache=None):
        """One step's examples of a unit, (noisy latents, timesteps, targets, prompt embeddings):
        its images ``idx``, then with ``class_cache`` (class latents, class prompt embedding) as
        many class images, drawn after the instance noise (the order both training paths keep)."""
        noisy, t, target = self.draw(latents, idx, gen)
        blocks = [(noisy, t, target, self.embeddings(prompt_emb, idx))]
        if class_cache is not None:
            class_latents, class_emb = class_cache
            cidx = torch.randint(0, len(class_latents), (len(idx),), generator=gen)
            blocks.append((*self.draw(class_latents, cidx, gen), self.embeddings(class_emb, cidx)))
        return tuple(torch.cat(parts) for parts in zip(*blocks))

    def loss(self, latents: LatentCache, idx, prompt_emb, gen, class_cache=None) -> torch.Tensor:
        """The denoising loss on the unit's images ``idx``, plus prior_loss_weight x the loss on
        the class images with ``class_cache``. Both go through one UNet pass: a batch of 2 x bs
        costs about a quarter less than two of bs on a CPU (docs/BENCHMARKS.md), and the UNet
        treats each example on its own, so the result is two passes' up to float rounding."""
        noisy, t, target, emb = self.unit_batch(latents, idx, prompt_emb, gen, class_cache)
        with self.accelerator.autocast():
            pred = self.unet(noisy, t, emb).sample.float()
        n, target = len(idx), target.float()
        loss = F.mse_loss(pred[:n], target[:n])
        if class_cache is not None:
            loss = loss + self.args.prior_loss_weight * F.mse_loss(pred[n:], target[n:])
        return loss

    # ------------------------------------------------------------------ pieces of a unit's run
    def read_checkpoint(self, ckpt_path: Path, fingerprint: str) -> dict | None:
        if not ckpt_path.is_file():
            return None
        ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        if ckpt.get("fingerprint") != fingerprint:
            raise HfFairError(
                f"checkpoint '{ckpt_path}' was made with a different configuration; "
                "re-run with the original settings, or pass --overwrite to start over"
            )
        return ckpt

    @staticmethod
    def write_checkpoint(ckpt_path: Path, fingerprint: str, step: int, losses: list, trainable: dict, optimizer, gen) -> None:
        with atomic_file(ckpt_path) as tmp:
            torch.save({"fingerprint": fingerprint, "step": step, "losses": losses, "trainable": trainable,
                        "optimizer": optimizer.state_dict(), "generator": gen.get_state(),
                        "torch_rng": torch.get_rng_state()}, tmp)

    def prompt_embeddings(self, unit: Unit) -> torch.Tensor:
        if unit.image_prompts:
            encoded = {p: self.encode_prompt(p) for p in sorted(set(unit.image_prompts))}
            return torch.cat([encoded[p] for p in unit.image_prompts])
        return self.encode_prompt(unit.prompt)

    def batch_indices(self, n: int, gen) -> torch.Tensor:
        bs = self.args.train_batch_size
        # with-replacement draws when a unit has fewer images than a batch (few-shot DreamBooth)
        return torch.randint(0, n, (bs,), generator=gen) if n < bs else torch.randperm(n, generator=gen)[:bs]

    def nonfinite_message(self, unit: Unit, loss: float, step: int, unit_dir: Path) -> str:
        return (f"unit {unit.name}: loss became {loss} at step {step + 1}; lower --learning_rate "
                f"(now {self.args.lr}); the last checkpoint is in '{unit_dir}'")

    # ------------------------------------------------------------------ a unit
    def train_unit(self, unit: Unit, images, unit_dir: Path, fingerprint: str, class_cache=None) -> dict:
        args = self.args
        ckpt_path = unit_dir / CHECKPOINT
        params = self.reset_unit_weights(unit.seed)
        optimizer = torch.optim.AdamW(params, lr=args.lr, weight_decay=args.adam_weight_decay)
        gen = torch.Generator().manual_seed(unit.seed)
        step, losses = 0, []
        n = len(images)
        total = args.unit_steps(n)
        ckpt = self.read_checkpoint(ckpt_path, fingerprint)
        if ckpt is not None:
            self.load_trainable_state(ckpt["trainable"])
            optimizer.load_state_dict(ckpt["optimizer"])
            gen.set_state(ckpt["generator"])
            torch.set_rng_state(ckpt["torch_rng"])
            step, losses = ckpt["step"], ckpt["losses"]
            logger.info("unit %s: resuming at step %d/%d", unit.name, step, total)

        latents = self.latents(images)
        prompt_emb = self.prompt_embeddings(unit)
        from hf_fair.progress import progress

        bar = progress(total=total, initial=step, desc=f"{unit.name} ({n} img)",
                   disable=not self.accelerator.is_local_main_process and self.accelerator.num_processes > 1, leave=False)
        self.unet.train()
        while step < total:
            idx = self.batch_indices(n, gen)
            loss = self.loss(latents, idx, prompt_emb, gen, class_cache)
            if not torch.isfinite(loss):
                raise HfFairError(self.nonfinite_message(unit, loss.item(), step, unit_dir))
            optimizer.zero_grad(set_to_none=True)
            if self.scaler is not None:
                self.scaler.scale(loss).backward()
                self.scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(params, args.max_grad_norm)
                self.scaler.step(optimizer)
                self.scaler.update()
            else:
                loss.backward()
                torch.nn.utils.clip_grad_norm_(params, args.max_grad_norm)
                optimizer.step()
            step += 1
            losses.append(float(loss.detach()))
            bar.update(1)
            bar.set_postfix(loss=f"{np.mean(losses[-20:]):.4f}")
            if step % args.checkpointing_steps == 0 and step < total:
                self.write_checkpoint(ckpt_path, fingerprint, step, losses, self.trainable_state(), optimizer, gen)
        bar.close()
        self.unet.eval()
        for p in params:
            p.requires_grad_(False)
        return {"final_loss": float(np.mean(losses[-20:])), "losses": losses}

    def save_unit(self, folder: Path) -> None:
        """Write the trained weights of the current unit into ``folder``."""
        if self.args.uses_lora:
            from diffusers import StableDiffusionPipeline
            from diffusers.utils import convert_state_dict_to_diffusers
            from peft.utils import get_peft_model_state_dict

            layers = get_peft_model_state_dict(self.unet, adapter_name=TRAIN_ADAPTER)
            layers = {k: v.detach().cpu().float().contiguous() for k, v in convert_state_dict_to_diffusers(layers).items()}
            metadata = {"r": self.args.rank, "lora_alpha": self.args.alpha, "target_modules": self.args.modules(),
                        "lora_dropout": self.args.lora_dropout}
            StableDiffusionPipeline.save_lora_weights(folder, unet_lora_layers=layers, unet_lora_adapter_metadata=metadata)
        else:
            from hf_fair.diffusion.base import base_id

            # diffusers records where the UNet was loaded from: the base's id, not this machine's path
            self.unet.register_to_config(_name_or_path=base_id(self.args.base))
            self.unet.save_pretrained(folder / "unet")


def load_unit_images(train, unit: Unit) -> list:
    return [train[i]["image"] for i in unit.indices]


def unit_record(unit: Unit, args: AdapterArguments, result: dict, cluster_size: int | None) -> dict:
    return {
        "name": unit.name,
        "group": unit.group,
        "group_name": unit.group_name,
        "cluster": unit.cluster,
        "cluster_size": cluster_size,
        "n_images": unit.n_images,
        "format": unit_format(args.method),
        "method": args.method,
        "prompt": unit.prompt,
        "class_prompt": unit.class_prompt,
        "token": unit.token,
        "rank": args.rank if args.uses_lora else None,
        "lora_alpha": args.alpha if args.uses_lora else None,
        "steps": args.unit_steps(unit.n_images),
        "learning_rate": args.lr,
        "prior_preservation": args.with_prior_preservation,
        "seed": unit.seed,
        "final_loss": result["final_loss"],
        "path": f"units/{unit.name}",
        "warnings": unit.warnings,
        "caption_column": args.caption_column,
        "caption_prompts": unit.caption_prompts,
        "caption_weights": unit.caption_weights,
    }


def finish_unit(trainer: UnitTrainer, unit: Unit, record: dict, unit_dir: Path, card_text: str, losses: list[float]) -> None:
    """Write weights, card and unit.json into a fresh folder, then swap it in (unit.json = done)."""
    with atomic_dir(unit_dir) as tmp:
        trainer.save_unit(tmp)
        (tmp / "README.md").write_text(card_text)
        write_json(tmp / "losses.json", losses)
        write_json(tmp / UNIT_FILE, record)


def read_done(unit_dir: Path) -> dict | None:
    f = unit_dir / UNIT_FILE
    return json.loads(f.read_text()) if f.is_file() else None


def manifest_dict(args: AdapterArguments, dataset_info: dict, records: list[dict], clustering: dict | None) -> dict:
    return {
        "hf_fair_adapters": SCHEMA_VERSION,
        "method": args.method,
        "unit": args.unit,
        "base": args.base,
        "dataset": dataset_info,
        "config": args.training_settings(),
        "clustering": clustering,
        "small_unit_rule": (
            f"clusters with fewer than {args.min_unit_images} images are merged into the nearest cluster of their group; "
            f"groups with fewer than {args.min_unit_images} images train with a warning; a group with none is an error"
        ),
        "units": records,
    }


def write_manifest(output: Path, manifest: dict) -> None:
    write_json(output / MANIFEST, manifest)
