"""Colored Digits: the embedded offline benchmark.

Built from scikit-learn's 1,797 handwritten 8x8 digits, upsampled to 32x32 RGB.
label y = digit >= 5 (each class holds five digit shapes: natural sub-populations);
attribute a = stroke colour, red (0) or green (1), with per-image hue/saturation/brightness jitter.
Majority groups are (y=0, red) and (y=1, green).

Splits (seeded, stratified by digit): 50% train, 20% validation, 30% test.
Train and validation carry a base bias of 0.9 (90% of each class in its majority colour), so
that `apply_bias_severity` can reach any b in [0.9, 1) by dropping minority images only; the
majority groups then keep the same images at every severity (FFR's protocol). The test split is
exactly group-balanced.
"""

from __future__ import annotations

import colorsys
from typing import Callable

import datasets
import numpy as np
from PIL import Image

from hf_fair.data.building import balance_indices
from hf_fair.data.groups import GroupSpec
from hf_fair.data.groups import attach_spec

NAME = "colored-digits"
IMAGE_SIZE = 32
BASE_BIAS = 0.9
SPLIT_FRACTIONS = {"train": 0.5, "validation": 0.2, "test": 0.3}
COLOR_HUES = {"red": 0.0, "green": 1.0 / 3.0}

SPEC = GroupSpec(
    target="digit",
    attribute="color",
    label_names=("small", "large"),
    attribute_names=("red", "green"),
    majority_attribute=(0, 1),
    prompt_template="a {attribute} handwritten digit, {label}",
    description="y = digit >= 5 ('large'), a = stroke colour; majority (small, red) and (large, green)",
    # the class names mean nothing to a text-to-image base: describe each class by its digits
    extra={
        "label_phrases": {"small": [f"digit {d}" for d in range(5)], "large": [f"digit {d}" for d in range(5, 10)]},
        "phrase_template": "a {attribute} {label}",
        # per-image captions (adapters --caption_column digit): words the base knows
        "caption_template": "a {token} {attribute} handwritten digit {caption}",
    },
)


def colorize(gray: np.ndarray, hue: float, saturation: float, value: float) -> np.ndarray:
    """Turn an 8x8 intensity map in [0, 16] into a 32x32 RGB stroke of one colour on black."""
    up = Image.fromarray((gray / 16.0 * 255.0).astype(np.uint8), mode="L").resize(
        (IMAGE_SIZE, IMAGE_SIZE), Image.BICUBIC
    )
    intensity = np.asarray(up, dtype=np.float32)[..., None] / 255.0
    return np.clip(intensity * colour_rgb(hue, saturation, value) * 255.0, 0, 255).astype(np.uint8)


def colour_rgb(hue: float, saturation: float, value: float) -> np.ndarray:
    """The stroke colour (float32 RGB in [0, 1]) of one image's jittered hue, saturation, value."""
    return np.array(colorsys.hsv_to_rgb(hue % 1.0, saturation, value), dtype=np.float32)


def _split_indices(digits: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Stratified (by digit) seeded split."""
    parts = {k: [] for k in SPLIT_FRACTIONS}
    for d in range(10):
        idx = rng.permutation(np.flatnonzero(digits == d))
        n_train = int(round(len(idx) * SPLIT_FRACTIONS["train"]))
        n_val = int(round(len(idx) * SPLIT_FRACTIONS["validation"]))
        parts["train"].append(idx[:n_train])
        parts["validation"].append(idx[n_train : n_train + n_val])
        parts["test"].append(idx[n_train + n_val :])
    return {k: np.sort(np.concatenate(v)) for k, v in parts.items()}


def _assign_colors(labels: np.ndarray, rng: np.random.Generator, bias: float | None) -> np.ndarray:
    """Colour per image: a share `bias` of each class in its majority colour, or half/half (None)."""
    colors = np.empty(len(labels), dtype=np.int64)
    for y in (0, 1):
        idx = rng.permutation(np.flatnonzero(labels == y))
        share = 0.5 if bias is None else bias
        n_major = int(round(len(idx) * share))
        major = SPEC.majority_attribute[y]
        colors[idx[:n_major]] = major
        colors[idx[n_major:]] = 1 - major
    return colors


def _balance(labels: np.ndarray, colors: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Indices of an exactly group-balanced subset (every group trimmed to the smallest)."""
    return balance_indices(labels * 2 + colors, 4, rng)


def load_colored_digits(seed: int = 0, train_bias: float | None = BASE_BIAS) -> datasets.DatasetDict:
    """Build the benchmark (deterministic for a given seed; seed 0 is *the* benchmark).

    ``train_bias=None`` colours train and validation half/half: the same images, group-balanced
    (the runner's ``oracle`` reference). The random stream is the same either way, so the test
    split is identical.
    """
    from sklearn.datasets import load_digits

    raw = load_digits()
    images = raw.images
    return colour_digit_pool(
        raw.target.astype(np.int64), lambda i, h, s, v: colorize(images[i], h, s, v), seed, train_bias
    )


def colour_digit_pool(
    digits: np.ndarray,
    render: Callable[[int, float, float, float], np.ndarray],
    seed: int,
    train_bias: float | None,
) -> datasets.DatasetDict:
    """Split a pool of digit images (stratified by digit), colour each split and render it.

    ``render(i, hue, saturation, value)`` draws pool image ``i`` as an RGB uint8 array. Every
    random draw of the benchmark happens here, in one order (split, then per split: colours, the
    test balance, hue, saturation, value jitter), so any pool of digits gets colored-digits' design
    and colored-digits keeps its stream.
    """
    rng = np.random.default_rng(seed)
    split_idx = _split_indices(digits, rng)
    feats = SPEC.features(
        {
            "digit": datasets.Value("int64"),
            "hue": datasets.Value("float32"),
            "source_index": datasets.Value("int64"),
        }
    )
    out = {}
    for split, idx in split_idx.items():
        labels = (digits[idx] >= 5).astype(np.int64)
        colors = _assign_colors(labels, rng, None if split == "test" else train_bias)
        if split == "test":
            keep = _balance(labels, colors, rng)
            idx, labels, colors = idx[keep], labels[keep], colors[keep]
        hues = np.array([COLOR_HUES[SPEC.attribute_names[c]] for c in colors])
        hues = hues + rng.uniform(-0.03, 0.03, size=len(idx))
        sats = rng.uniform(0.75, 1.0, size=len(idx))
        vals = rng.uniform(0.7, 1.0, size=len(idx))
        rows = {
            "image": [Image.fromarray(render(i, h, s, v)) for i, h, s, v in zip(idx, hues, sats, vals)],
            "label": labels.tolist(),
            "attribute": colors.tolist(),
            "group": (labels * 2 + colors).tolist(),
            "digit": digits[idx].tolist(),
            "hue": (hues % 1.0).astype(np.float32).tolist(),
            "source_index": idx.tolist(),
        }
        out[split] = datasets.Dataset.from_dict(rows, features=feats, split=split)
    return attach_spec(datasets.DatasetDict(out), SPEC)
