"""The embedded CLIP: a small ``transformers.CLIPModel`` trained on the embedded base's corpus.

It stands where the web-trained CLIP stands for Stable Diffusion users: it learnt digits and
colours from the captioned corpus the tiny base learnt from (``corpus``: typeset, bold, lowres,
scan8 and hand styles, nine colours, captions like "a red digit 7"), and **never saw a benchmark
image** (no scikit-learn digits, no MNIST). Its text tower reads the base's offline tokenizer
(``tokenizer``), so prompts mean the same words to both. Shipped in ``hf_fair/assets/tiny-clip``
(``CLIPModel`` + ``CLIPProcessor`` folder, model card); retrained by ``hf-fair base pretrain-clip``.

Training data: a pool of ``pool_size`` corpus renders (rendering is the slow part on a CPU, so
each image is drawn once per run), re-captioned and augmented afresh at every step from per-step
seeds, so a resumed run sees the same batches. Empty captions (the base's classifier-free
guidance) are left out: they describe nothing.

Loss: CLIP's symmetric InfoNCE, but with **identical captions as positives**. The corpus repeats
captions a lot (a batch of 256 holds "a red digit 7" several times), and identical captions have
identical text embeddings. With the diagonal as the only positive, image i is asked to score its
own copy of "a red digit 7" high and the other copies, the very same vector, low: the target is
unreachable, and in the text-to-image direction the caption pushes away images that match it
exactly, which teaches the image tower to tell apart images by what no caption says (position,
size, rotation), the opposite of what zero-shot prompts need. The soft target spreads each row's
probability evenly over the entries whose caption equals its own (``caption_targets``);
``--positives diagonal`` gives CLIP's plain loss. Captions that mean the same in other words
("digit 7" / "digit seven") remain negatives of each other, as in CLIP.

With several processes each one draws its own batch and the loss uses in-process negatives only
(features are not gathered): the gradient is the average of per-process losses.
"""

from __future__ import annotations

import json
import logging
import math
import os
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

CLIP_PATH = Path(__file__).resolve().parents[2] / "assets" / "tiny-clip"
IMAGE_MEAN = (0.5, 0.5, 0.5)  # pixel values in [-1, 1], as the base's VAE sees them
IMAGE_STD = (0.5, 0.5, 0.5)
POSITIVES = ("caption", "diagonal")
ALL_STYLES = "typeset,bold,lowres,scan8,hand"
DATA_STREAM, CAPTION_STREAM, EVAL_STREAM = 11, 12, 13  # corpus seed streams of this trainer


def embedded_clip_path() -> Path:
    """The shipped embedded CLIP folder (``CLIPModel`` / ``CLIPProcessor.from_pretrained`` it)."""
    return CLIP_PATH


@dataclass(frozen=True)
class ClipSizes:
    """Tower sizes. The vision tower is a ViT over 32x32 images."""

    patch_size: int = 4
    vision_hidden: int = 64
    vision_layers: int = 4
    vision_heads: int = 4
    vision_intermediate: int = 256
    text_hidden: int = 64
    text_layers: int = 2
    text_heads: int = 2
    text_intermediate: int = 256
    projection_dim: int = 64


PRESETS = {
    "shipped": ClipSizes(),
    "test": ClipSizes(patch_size=8, vision_hidden=16, vision_layers=1, vision_heads=2, vision_intermediate=32,
                      text_hidden=16, text_layers=1, text_heads=2, text_intermediate=32, projection_dim=16),
}


@dataclass
class ClipPretrainArguments:
    output_dir: str = field(default=None, metadata={"help": "folder to write (CLIPModel + CLIPProcessor + README.md)"})
    preset: str = field(default="shipped", metadata={"help": f"tower sizes: one of {list(PRESETS)}"})
    patch_size: int = field(default=0, metadata={"help": "ViT patch size (0 = the preset's)"})
    steps: int = field(default=2400, metadata={"help": "optimisation steps"})
    batch_size: int = field(default=128, metadata={"help": "image-caption pairs per step and process"})
    lr: float = field(default=2e-3, metadata={"help": "AdamW learning rate (linear warm-up, cosine decay to a tenth of it)"})
    warmup_steps: int = field(default=150, metadata={"help": "linear warm-up steps"})
    weight_decay: float = field(default=0.05, metadata={"help": "AdamW weight decay"})
    pool_size: int = field(default=20000, metadata={"help": "corpus images rendered once per run and re-captioned at every draw"})
    corpus_styles: str = field(default=ALL_STYLES, metadata={"help": "comma-separated corpus styles: typeset, bold, lowres, scan8, hand"})
    positives: str = field(default="caption", metadata={"help": "caption: identical captions are positives (soft target); diagonal: CLIP's plain loss"})
    augment: bool = field(default=True, metadata={"help": "blur / noise / gain / shift augmentation (generator artefacts)"})
    eval_size: int = field(default=500, metadata={"help": "fresh corpus renders per style for the zero-shot check in the log (0 = none)"})
    seed: int = field(default=0, metadata={"help": "seed of initialisation, data and augmentation"})
    log_every: int = field(default=25, metadata={"help": "log the loss every N steps"})
    checkpoint_every: int = field(default=200, metadata={"help": "save a resumable checkpoint every N steps"})
    num_threads: int = field(default=0, metadata={"help": "torch CPU threads (0 = torch's default)"})
    overwrite: bool = field(default=False, metadata={"help": "replace an existing finished output_dir"})

    def __post_init__(self):
        from hf_fair.diffusion.embedded.corpus import STYLES

        if self.preset not in PRESETS:
            raise HfFairError(f"--preset must be one of {list(PRESETS)}, not '{self.preset}'")
        if self.positives not in POSITIVES:
            raise HfFairError(f"--positives must be one of {list(POSITIVES)}, not '{self.positives}'")
        for name in ("steps", "batch_size", "pool_size"):
            if getattr(self, name) < 1:
                raise HfFairError(f"--{name} must be >= 1")
        if self.patch_size < 0 or (self.patch_size and 32 % self.patch_size):
            raise HfFairError(f"--patch_size {self.patch_size} must divide 32 (or be 0 for the preset's)")
        unknown = [x for x in self.styles if x not in STYLES] or ([] if self.styles else ["(none)"])
        if unknown:
            raise HfFairError(f"--corpus_styles {unknown} not among {list(STYLES)}")

    @property
    def styles(self) -> tuple[str, ...]:
        return tuple(x.strip() for x in self.corpus_styles.split(",") if x.strip())

    @property
    def sizes(self) -> ClipSizes:
        sizes = PRESETS[self.preset]
        return ClipSizes(**{**asdict(sizes), "patch_size": self.patch_size}) if self.patch_size else sizes


# what a checkpoint depends on: a resumed run must agree on these (steps may change)
RESUME_KEYS = ("preset", "patch_size", "batch_size", "lr", "warmup_steps", "weight_decay", "pool_size",
               "corpus_styles", "positives", "augment", "seed")


# ---------------------------------------------------------------- model and processor
def build_model(sizes: ClipSizes, tokenizer, seed: int = 0):
    """A freshly initialised ``CLIPModel`` over the offline vocabulary and 32x32 images."""
    from transformers import CLIPConfig, CLIPModel

    text = dict(
        vocab_size=len(tokenizer), hidden_size=sizes.text_hidden, intermediate_size=sizes.text_intermediate,
        num_hidden_layers=sizes.text_layers, num_attention_heads=sizes.text_heads,
        max_position_embeddings=tokenizer.model_max_length, hidden_act="quick_gelu",
        # pad = eos, as in the base: the text tower pools at the first eos
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
        projection_dim=sizes.projection_dim,
    )
    vision = dict(
        image_size=32, patch_size=sizes.patch_size, hidden_size=sizes.vision_hidden,
        intermediate_size=sizes.vision_intermediate, num_hidden_layers=sizes.vision_layers,
        num_attention_heads=sizes.vision_heads, hidden_act="quick_gelu", projection_dim=sizes.projection_dim,
    )
    torch.manual_seed(seed)
    return CLIPModel(CLIPConfig(text_config=text, vision_config=vision, projection_dim=sizes.projection_dim))


def build_processor():
    """``CLIPProcessor``: the offline tokenizer + an image processor sized for 32x32 images."""
    from transformers import CLIPImageProcessor, CLIPProcessor

    from hf_fair.diffusion.embedded.tokenizer import build_tokenizer

    image_processor = CLIPImageProcessor(
        do_resize=True, size={"shortest_edge": 32}, do_center_crop=True, crop_size={"height": 32, "width": 32},
        do_rescale=True, rescale_factor=1 / 255, do_normalize=True, image_mean=list(IMAGE_MEAN), image_std=list(IMAGE_STD),
        do_convert_rgb=True,
    )
    return CLIPProcessor(image_processor=image_processor, tokenizer=build_tokenizer())


def pixel_values(images: np.ndarray) -> torch.Tensor:
    """uint8 (n, 32, 32, 3) -> what the processor gives for 32x32 images: (n, 3, 32, 32), [-1, 1]."""
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float() / 255.0
    mean = torch.tensor(IMAGE_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGE_STD).view(1, 3, 1, 1)
    return (x - mean) / std


# ---------------------------------------------------------------- loss
def caption_targets(captions: list[str]) -> torch.Tensor:
    """(n, n) soft targets: row i is uniform over the j whose caption equals caption i (the
    diagonal included). Symmetric, because equal captions have equally many copies."""
    ids = {c: i for i, c in enumerate(dict.fromkeys(captions))}
    key = torch.tensor([ids[c] for c in captions])
    same = (key[:, None] == key[None, :]).float()
    return same / same.sum(dim=1, keepdim=True)


def soft_clip_loss(logits_per_image: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Symmetric cross-entropy of image->text and text->image logits against soft ``targets``
    (the identity gives CLIP's loss)."""
    image_to_text = -(targets * F.log_softmax(logits_per_image, dim=1)).sum(dim=1).mean()
    text_to_image = -(targets.t() * F.log_softmax(logits_per_image.t(), dim=1)).sum(dim=1).mean()
    return (image_to_text + text_to_image) / 2


# ---------------------------------------------------------------- data
def prompt_coverage() -> dict:
    """The colored-digits group prompts (every phrase of every group) and whether each one is a
    caption the corpus writes ("a red digit 3" = ``corpus.prompt``), so zero-shot prompts are in
    distribution."""
    from hf_fair.data.colored_digits import SPEC
    from hf_fair.diffusion.embedded.corpus import COLOR_NAMES, prompt

    canonical = {prompt(c, d) for c in COLOR_NAMES for d in range(10)}
    prompts = [p for g in range(SPEC.n_groups) for p in SPEC.prompt_variants(g)]
    return {"prompts": prompts, "missing": [p for p in prompts if p not in canonical]}


def render_pool(n: int, seed: int, styles: tuple[str, ...]):
    """``n`` corpus renders (uint8 images and their specs), a pure function of the seed."""
    from hf_fair.diffusion.embedded.corpus import render_batch

    rng = np.random.default_rng([seed, DATA_STREAM])
    images, _, specs = render_batch(rng, n, with_captions=False, styles=styles)
    return images, specs


def augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Mild blur / noise / gain / shift of pixel values in [-1, 1] (the base's artefacts)."""
    n = x.shape[0]
    x = (x + 1) / 2
    blur = torch.rand(n, generator=gen) < 0.3
    if blur.any():
        k = torch.tensor([1.0, 2.0, 1.0])
        k = (k[:, None] * k[None, :]) / 16.0
        x = x.clone()
        x[blur] = F.conv2d(x[blur], k.expand(3, 1, 3, 3).contiguous(), padding=1, groups=3)
    gain = 0.8 + 0.4 * torch.rand(n, 1, 1, 1, generator=gen)
    noise = torch.randn(x.shape, generator=gen) * (0.04 * torch.rand(n, 1, 1, 1, generator=gen))
    x = (x * gain + noise).clamp(0, 1)
    shifts = torch.randint(-2, 3, (2,), generator=gen).tolist()
    return torch.roll(x, shifts=shifts, dims=(2, 3)) * 2 - 1


def draw_batch(pool, cfg: ClipPretrainArguments, process: int, step: int) -> tuple[torch.Tensor, list[str]]:
    """Step ``step``'s batch: pool images picked and captioned afresh from the step's seed."""
    from hf_fair.diffusion.embedded.corpus import caption

    images, specs = pool
    rng = np.random.default_rng([cfg.seed, CAPTION_STREAM, process, step])
    pick = rng.integers(len(specs), size=cfg.batch_size)
    caps = [caption(specs[i], rng, p_empty=0.0) for i in pick]
    x = pixel_values(images[pick])
    if cfg.augment:
        x = augment(x, torch.Generator().manual_seed(int(rng.integers(2**62))))
    return x, caps


# ---------------------------------------------------------------- zero-shot check on the corpus
@torch.no_grad()
def zero_shot_groups(model, tokenizer, x: torch.Tensor, spec=None) -> np.ndarray:
    """(n, n_groups) probabilities: softmax over every phrase of every group's prompts, a group's
    probability the sum over its phrases (the rule of the CLIP judge). For the training log only;
    judges use ``hf_fair.judges``."""
    if spec is None:
        from hf_fair.data.colored_digits import SPEC as spec
    prompts, owner = [], []
    for g in range(spec.n_groups):
        for p in spec.prompt_variants(g):
            prompts.append(p)
            owner.append(g)
    ids = tokenizer(prompts, padding=True, return_tensors="pt")
    text = F.normalize(_features(model.get_text_features(**ids)), dim=-1)
    image = F.normalize(torch.cat([_features(model.get_image_features(pixel_values=c)) for c in x.split(256)]), dim=-1)
    probs = (model.logit_scale.exp() * image @ text.t()).softmax(dim=1)
    out = torch.zeros(len(x), spec.n_groups)
    out.index_add_(1, torch.tensor(owner), probs)
    return out.numpy()


def _features(out):
    """Projected features: ``get_*_features`` gives a tensor before transformers 5, an output
    whose ``pooler_output`` is the projection from 5 on."""
    return out if isinstance(out, torch.Tensor) else out.pooler_output


def corpus_check(model, tokenizer, n: int, seed: int) -> dict:
    """Zero-shot label (small = 0-4 / large = 5-9) and attribute (red / green) accuracy on fresh
    red and green corpus renders, per style (seeds no training batch used)."""
    from hf_fair.diffusion.embedded.corpus import render_batch

    out = {}
    was = model.training
    model.eval()
    for style in ("typeset", "scan8", "hand"):
        rng = np.random.default_rng([seed, EVAL_STREAM, len(style)])
        colors = [("red", "green")[i] for i in rng.integers(2, size=n)]
        images, _, specs = render_batch(rng, n, colors=colors, with_captions=False, styles=(style,))
        probs = zero_shot_groups(model, tokenizer, pixel_values(images))
        label, attr = np.divmod(probs.argmax(1), 2)
        out[style] = {
            "label_acc": round(float(np.mean(label == np.array([s.digit >= 5 for s in specs]))), 4),
            "attribute_acc": round(float(np.mean(attr == np.array([c == "green" for c in colors]))), 4),
        }
    model.train(was)
    return out


# ---------------------------------------------------------------- training
def _check_resume(work: Path, cfg: ClipPretrainArguments) -> None:
    saved = work / "config.json"
    if saved.exists():
        old = json.loads(saved.read_text())
        if any(old.get(k) != getattr(cfg, k) for k in RESUME_KEYS):
            raise HfFairError(
                f"'{work}' holds an unfinished run with other settings ({ {k: old.get(k) for k in RESUME_KEYS} }); "
                "re-run with the same options to resume, or delete that folder to start over"
            )
    saved.write_text(json.dumps(asdict(cfg), indent=2))


def train_clip(cfg: ClipPretrainArguments, accelerator, work: Path):
    """The training loop; returns (model, processor, losses). Resumes from ``work``'s checkpoint."""
    from accelerate.utils import set_seed

    from hf_fair.progress import progress

    from hf_fair.diffusion.embedded.pretrain import _Losses, _cosine, _latest_checkpoint, _save_checkpoint

    processor = build_processor()
    tokenizer = processor.tokenizer
    model = build_model(cfg.sizes, tokenizer, seed=cfg.seed)
    set_seed(cfg.seed + 1)
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "embedding" not in n]
    rest = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and "embedding" not in n)]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay}, {"params": rest, "weight_decay": 0.0}], lr=cfg.lr)
    sched = _cosine(optimizer, min(cfg.warmup_steps, cfg.steps // 4), cfg.steps)
    model, optimizer, sched = accelerator.prepare(model, optimizer, sched)
    losses: list[float] = []
    accelerator.register_for_checkpointing(_Losses(losses))
    ckpt_dir = work / "checkpoints"
    start, path = _latest_checkpoint(ckpt_dir)
    if path is not None:
        accelerator.load_state(str(path))
        logger.info("resuming the CLIP run from step %d", start)
    inner = accelerator.unwrap_model(model)

    t0 = time.time()
    pool = render_pool(cfg.pool_size, cfg.seed, cfg.styles)
    logger.info("rendered %d corpus images in %.0f s", cfg.pool_size, time.time() - t0)
    model.train()
    bar = progress(total=cfg.steps, initial=min(start, cfg.steps), desc="clip", unit="step", disable=not accelerator.is_local_main_process)
    running, t0 = 0.0, time.time()
    max_scale = math.log(100.0)  # CLIP's cap on the logit scale
    for step in range(start, cfg.steps):
        x, caps = draw_batch(pool, cfg, accelerator.process_index, step)
        ids = tokenizer(caps, padding=True, truncation=True, return_tensors="pt")
        out = model(input_ids=ids.input_ids.to(accelerator.device), attention_mask=ids.attention_mask.to(accelerator.device),
                    pixel_values=x.to(accelerator.device))
        n = len(caps)
        targets = caption_targets(caps) if cfg.positives == "caption" else torch.eye(n)
        loss = soft_clip_loss(out.logits_per_image, targets.to(accelerator.device))
        accelerator.backward(loss)
        accelerator.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        sched.step()
        optimizer.zero_grad(set_to_none=True)
        with torch.no_grad():
            inner.logit_scale.clamp_(max=max_scale)
        running += loss.item()
        bar.update(1)
        if (step + 1) % cfg.log_every == 0 or step + 1 == cfg.steps:
            k = step % cfg.log_every + 1
            losses.append(round(running / k, 5))
            bar.set_postfix(loss=f"{running / k:.3f}", scale=f"{inner.logit_scale.exp().item():.1f}")
            logger.info("clip step %d/%d loss %.4f logit scale %.1f (%.0f pairs/s)", step + 1, cfg.steps, running / k,
                        inner.logit_scale.exp().item(), k * n * accelerator.num_processes / (time.time() - t0))
            running, t0 = 0.0, time.time()
        if (step + 1) % cfg.checkpoint_every == 0 and step + 1 < cfg.steps:
            _save_checkpoint(accelerator, ckpt_dir, step + 1)
    bar.close()
    inner = accelerator.unwrap_model(model)
    inner.eval()
    return inner, processor, losses


def save_clip(model, processor, folder: Path) -> None:
    """``save_pretrained`` of model and processor, plus the classic vocab.json / merges.txt."""
    from hf_fair.diffusion.embedded.tokenizer import save_tokenizer

    model.save_pretrained(str(folder))
    processor.save_pretrained(str(folder))
    save_tokenizer(processor.tokenizer, folder)
    for name in ("config.json", "tokenizer_config.json", "processor_config.json", "preprocessor_config.json"):
        path = folder / name
        if path.is_file():  # no trace of the machine that made it
            data = json.loads(path.read_text())
            for key in ("_name_or_path", "name_or_path"):
                data.pop(key, None)
            path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    umask = os.umask(0)
    os.umask(umask)
    for path in folder.iterdir():  # safetensors writes 0600; outputs get the user's umask
        path.chmod(0o666 & ~umask)


def pretrain_clip(cfg: ClipPretrainArguments, accelerator=None, command: str | None = None) -> Path:
    """Train and write the CLIP folder to ``cfg.output_dir`` (atomically, when finished)."""
    from hf_fair.accel import make_accelerator

    if not cfg.output_dir:
        raise HfFairError("--output_dir is required: the CLIP folder to write")
    out = Path(cfg.output_dir)
    if out.exists() and not out.is_dir():
        raise HfFairError(f"--output_dir '{out}' is a file; choose a folder path")
    if (out / "config.json").exists() and not cfg.overwrite:
        raise HfFairError(f"--output_dir '{out}' already holds a finished CLIP; pass --overwrite to retrain it")
    coverage = prompt_coverage()
    if coverage["missing"]:  # a corpus or spec change would make zero-shot prompts out of distribution
        raise HfFairError(f"the corpus never writes the colored-digits group prompts {coverage['missing']}; fix corpus.caption")
    accelerator = accelerator or make_accelerator("no")
    threads_before = torch.get_num_threads()
    if cfg.num_threads > 0:
        torch.set_num_threads(cfg.num_threads)
    work = out.parent / f".{out.name}.work"
    try:
        if accelerator.is_main_process:
            work.mkdir(parents=True, exist_ok=True)
            _check_resume(work, cfg)
        accelerator.wait_for_everyone()
        t_start, cpu_start = time.time(), time.process_time()
        model, processor, losses = train_clip(cfg, accelerator, work)
        elapsed, cpu = time.time() - t_start, time.process_time() - cpu_start
        if accelerator.is_main_process:
            from hf_fair.diffusion.embedded.clip_card import write_clip_card
            from hf_fair.io_utils import atomic_dir, write_json

            info = {
                "config": asdict(cfg),
                "sizes": asdict(cfg.sizes),
                "parameters": {
                    "vision": sum(p.numel() for p in model.vision_model.parameters()) + model.visual_projection.weight.numel(),
                    "text": sum(p.numel() for p in model.text_model.parameters()) + model.text_projection.weight.numel(),
                    "total": sum(p.numel() for p in model.parameters()),
                },
                "losses": losses,
                "log_every": cfg.log_every,
                "logit_scale": round(model.logit_scale.exp().item(), 3),
                "corpus_check": corpus_check(model, processor.tokenizer, cfg.eval_size, cfg.seed) if cfg.eval_size else {},
                "group_prompts": coverage["prompts"],
                "num_processes": accelerator.num_processes,
                "train_seconds": round(elapsed, 1),
                "cpu_seconds": round(cpu, 1),  # this process's CPU time (of this run only, on resume)
                "command": command,
                "versions": runfolder.versions("transformers", "torch", "accelerate"),
            }
            with atomic_dir(out) as tmp:
                save_clip(model, processor, tmp)
                write_json(tmp / "training_log.json", info)
                write_clip_card(tmp, info)
            shutil.rmtree(work, ignore_errors=True)
        accelerator.wait_for_everyone()
    finally:
        torch.set_num_threads(threads_before)
    return out


def main(argv: list[str]) -> int:
    """``hf-fair base pretrain-clip`` (also ``accelerate launch training_scripts/pretrain_tiny_clip.py``)."""
    import os
    import shlex

    from hf_fair.config import parse_config

    cfg = parse_config([ClipPretrainArguments], argv, prog="hf-fair base pretrain-clip")
    launcher = ("accelerate launch training_scripts/pretrain_tiny_clip.py" if any(k.startswith("ACCELERATE_") for k in os.environ)
                else "hf-fair base pretrain-clip")
    out = pretrain_clip(cfg, command=f"{launcher} " + " ".join(shlex.quote(a) for a in argv))
    print(f"wrote {out}")
    return 0

