"""The reference classifier of the digit world: a small CNN with a digit head and a colour head.

It measures prompt adherence of generators ("a red digit 7" -> is it red? is it a 7?). Trained
on (a) corpus-style typeset digits from seeds the base never saw in pretraining and (b)
benchmark-style handwritten digits (scikit-learn's digits from the Colored Digits *train and
validation* splits only, never the test split) recoloured in all corpus colours, with mild blur /
noise / contrast augmentation so that it tolerates generator artefacts. Shipped in
``hf_fair/assets/reference-classifier`` (``PyTorchModelHubMixin`` format: config.json +
model.safetensors).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from huggingface_hub import PyTorchModelHubMixin

from hf_fair.diffusion.embedded.corpus import COLOR_NAMES, COLORS, HUE_JITTER, VALUE_RANGE, render_batch
from hf_fair.errors import HfFairError

logger = logging.getLogger(__name__)

REFERENCE_PATH = Path(__file__).resolve().parents[2] / "assets" / "reference-classifier"
REFERENCE_SEED_OFFSET = 1_000_003  # corpus seeds disjoint from pretraining's


class ReferenceClassifier(nn.Module, PyTorchModelHubMixin):
    """32x32 RGB -> (digit logits [10], colour logits [len(color_names)])."""

    def __init__(self, color_names: list[str] | tuple[str, ...] = COLOR_NAMES, width: int = 32):
        super().__init__()
        self.color_names = list(color_names)
        w = width

        def block(cin, cout):
            return nn.Sequential(
                nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
                nn.Conv2d(cout, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
                nn.MaxPool2d(2),
            )

        self.features = nn.Sequential(block(3, w), block(w, 2 * w), block(2 * w, 4 * w))  # -> 4x4
        self.digit_head = nn.Sequential(nn.Flatten(), nn.Dropout(0.2), nn.Linear(4 * w * 16, 10))
        # colour is a global property: pool the first block's features and the raw pixels
        self.color_head = nn.Sequential(nn.Linear(4 * w + 6, 64), nn.ReLU(inplace=True), nn.Linear(64, len(self.color_names)))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x``: (n, 3, 32, 32) in [0, 1]."""
        f = self.features(x)
        # brightness-weighted mean colour of the stroke + max colour: cheap, robust colour cues
        weight = x.amax(dim=1, keepdim=True)
        mean_rgb = (x * weight).sum(dim=(2, 3)) / weight.sum(dim=(2, 3)).clamp_min(1e-6)
        max_rgb = x.amax(dim=(2, 3))
        color_in = torch.cat([f.mean(dim=(2, 3)), mean_rgb, max_rgb], dim=1)
        return self.digit_head(f), self.color_head(color_in)

    @torch.no_grad()
    def predict(self, images) -> tuple[np.ndarray, list[str]]:
        """Digit ids and colour names for PIL images or a uint8 array (n, 32, 32, 3)."""
        x = images_to_tensor(images)
        was_training = self.training
        self.eval()
        digits, colors = [], []
        for chunk in x.split(256):
            d, c = self(chunk)
            digits.append(d.argmax(1))
            colors.append(c.argmax(1))
        self.train(was_training)
        return torch.cat(digits).numpy(), [self.color_names[i] for i in torch.cat(colors).tolist()]


def images_to_tensor(images) -> torch.Tensor:
    if isinstance(images, torch.Tensor):
        return images.float()
    if isinstance(images, np.ndarray):
        arr = images
    else:
        arr = np.stack([np.asarray(im.convert("RGB").resize((32, 32))) for im in images])
    return torch.from_numpy(np.ascontiguousarray(arr)).permute(0, 3, 1, 2).float() / 255.0


def load_reference(path: str | Path | None = None) -> ReferenceClassifier:
    """The shipped reference classifier (or one saved with ``save_pretrained`` at ``path``)."""
    path = Path(path) if path is not None else REFERENCE_PATH
    if not (path / "config.json").is_file():
        raise HfFairError(
            f"reference classifier '{path}' not found (config.json missing); reinstall hf-fair or train one with "
            "`hf-fair base reference --output_dir <folder>`"
        )
    model = ReferenceClassifier.from_pretrained(str(path))
    model.eval()
    return model


# ---------------------------------------------------------------- training data
def _handwritten_pool():
    """8x8 handwritten digits of the benchmark's train + validation splits (never test)."""
    from hf_fair.data.colored_digits import load_colored_digits
    from sklearn.datasets import load_digits

    raw = load_digits()
    dsd = load_colored_digits(seed=0)
    idx = np.concatenate([np.asarray(dsd[s]["source_index"]) for s in ("train", "validation")])
    return raw.images[idx], raw.target[idx].astype(np.int64)


def _colour_handwritten(gray: np.ndarray, color: str, rng: np.random.Generator) -> np.ndarray:
    from hf_fair.data.colored_digits import colorize

    hue, (smin, smax) = COLORS[color]
    return colorize(gray, (hue + rng.uniform(-HUE_JITTER, HUE_JITTER)) % 1.0, rng.uniform(smin, smax), rng.uniform(*VALUE_RANGE))


def _augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Mild blur / noise / contrast jitter / shift (generator artefacts)."""
    n = x.shape[0]
    blur = torch.rand(n, generator=gen) < 0.3
    if blur.any():
        k = torch.tensor([1.0, 2.0, 1.0])
        k = (k[:, None] * k[None, :]) / 16.0
        xb = F.conv2d(x[blur], k.expand(3, 1, 3, 3).contiguous(), padding=1, groups=3)
        x = x.clone()
        x[blur] = xb
    gain = 0.8 + 0.4 * torch.rand(n, 1, 1, 1, generator=gen)
    noise = torch.randn(x.shape, generator=gen) * (0.04 * torch.rand(n, 1, 1, 1, generator=gen))
    x = (x * gain + noise).clamp(0, 1)
    shifts = torch.randint(-2, 3, (2,), generator=gen).tolist()
    return torch.roll(x, shifts=shifts, dims=(2, 3))


def training_batch(step: int, n: int, seed: int, handwritten_share: float, pool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng([REFERENCE_SEED_OFFSET + seed, step])
    n_hand = int(round(n * handwritten_share)) if pool is not None else 0
    images, _, specs = render_batch(rng, n - n_hand, with_captions=False)
    digits = [s.digit for s in specs]
    colors = [COLOR_NAMES.index(s.color) for s in specs]
    if n_hand:
        gray, target = pool
        pick = rng.integers(len(target), size=n_hand)
        cols = rng.integers(len(COLOR_NAMES), size=n_hand)
        hand = np.stack([_colour_handwritten(gray[i], COLOR_NAMES[c], rng) for i, c in zip(pick, cols)])
        images = np.concatenate([images, hand])
        digits += target[pick].tolist()
        colors += cols.tolist()
    return images, np.asarray(digits), np.asarray(colors)


@dataclass
class ReferenceTrainArguments:
    output_dir: str = field(default=None, metadata={"help": "folder to save the classifier to"})
    steps: int = field(default=1500, metadata={"help": "optimisation steps"})
    batch_size: int = field(default=128, metadata={"help": "images per step"})
    lr: float = field(default=2e-3, metadata={"help": "AdamW learning rate (cosine decay)"})
    handwritten_share: float = field(default=0.3, metadata={"help": "share of recoloured handwritten digits per batch"})
    width: int = field(default=32, metadata={"help": "channels of the first block"})
    seed: int = field(default=0, metadata={"help": "seed"})
    num_threads: int = field(default=0, metadata={"help": "torch CPU threads (0 = default)"})


def train_reference(cfg: ReferenceTrainArguments, log=print) -> tuple[ReferenceClassifier, list[float]]:
    if cfg.num_threads > 0:
        torch.set_num_threads(cfg.num_threads)
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    pool = _handwritten_pool() if cfg.handwritten_share > 0 else None
    model = ReferenceClassifier(width=cfg.width)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=max(1, cfg.steps), pct_start=0.1)
    losses, running, t0 = [], 0.0, time.time()
    model.train()
    for step in range(cfg.steps):
        images, digits, colors = training_batch(step, cfg.batch_size, cfg.seed, cfg.handwritten_share, pool)
        x = _augment(images_to_tensor(images), gen)
        d_logits, c_logits = model(x)
        loss = F.cross_entropy(d_logits, torch.from_numpy(digits)) + F.cross_entropy(c_logits, torch.from_numpy(colors))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        running += loss.item()
        if (step + 1) % 50 == 0 or step + 1 == cfg.steps:
            k = step % 50 + 1
            losses.append(running / k)
            log(f"reference step {step + 1}/{cfg.steps} loss {running / k:.4f} ({k * cfg.batch_size / (time.time() - t0):.0f} img/s)")
            running, t0 = 0.0, time.time()
    model.eval()
    return model, losses


def evaluate_reference(model: ReferenceClassifier, n: int = 2000, seed: int = 12345) -> dict:
    """Accuracy on fresh typeset digits (unseen seeds) and on the benchmark's test split
    recoloured (handwriting the classifier never saw)."""
    from hf_fair.data.colored_digits import load_colored_digits
    from sklearn.datasets import load_digits

    rng = np.random.default_rng([REFERENCE_SEED_OFFSET, 777, seed])
    images, _, specs = render_batch(rng, n, with_captions=False)
    d, c = model.predict(images)
    typeset = {
        "digit_acc": float(np.mean(d == np.array([s.digit for s in specs]))),
        "color_acc": float(np.mean(np.array(c) == np.array([s.color for s in specs]))),
    }
    raw = load_digits()
    test_idx = np.asarray(load_colored_digits(seed=0)["test"]["source_index"])
    cols = rng.integers(len(COLOR_NAMES), size=len(test_idx))
    hand = np.stack([_colour_handwritten(raw.images[i], COLOR_NAMES[k], rng) for i, k in zip(test_idx, cols)])
    d, c = model.predict(hand)
    handwritten = {
        "digit_acc": float(np.mean(d == raw.target[test_idx])),
        "color_acc": float(np.mean(np.array(c) == np.array([COLOR_NAMES[k] for k in cols]))),
    }
    return {"typeset": typeset, "handwritten_test": handwritten, "n_typeset": n, "n_handwritten": int(len(test_idx))}


def main(argv=None) -> int:
    """``hf-fair base reference --output_dir hf_fair/assets/reference-classifier``"""
    import json

    from hf_fair.config import parse_config

    cfg = parse_config([ReferenceTrainArguments], argv, prog="hf-fair base reference")
    if not cfg.output_dir:
        raise HfFairError("--output_dir is required: the folder to save the reference classifier to")
    model, _ = train_reference(cfg)
    metrics = evaluate_reference(model)
    model.save_pretrained(cfg.output_dir)
    Path(cfg.output_dir, "eval.json").write_text(json.dumps({"config": cfg.__dict__, "metrics": metrics}, indent=2) + "\n")
    from hf_fair.io_utils import apply_umask

    apply_umask(cfg.output_dir)  # safetensors writes 0600 files whatever the umask
    print(json.dumps(metrics, indent=2))
    return 0

