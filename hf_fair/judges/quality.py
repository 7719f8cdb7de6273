"""Quality filter of generated images: blank / near-constant images, and (optionally) images a
reference classifier assigns to another group.

A judge maps images to (label, attribute) ids of the dataset's GroupSpec. The embedded world has
one: the shipped reference classifier (digit + colour heads) read through the colored-digits
spec (label = digit >= 5, attribute = stroke colour). Real datasets need their own judge (a
classifier trained on group-balanced real data); pass it to :func:`check_images` directly.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from hf_fair.errors import HfFairError

FILTERS = ("none", "reference")
# a generated image whose grey levels vary less than this is blank (generation and class images alike)
MIN_STD = 0.02


class Judge(Protocol):
    def predict_groups(self, images) -> tuple[np.ndarray, np.ndarray]:
        """(label ids, attribute ids) of ``images`` (PIL list or uint8 array n x h x w x 3)."""


def as_array(images) -> np.ndarray:
    if isinstance(images, np.ndarray):
        return images
    return np.stack([np.asarray(im.convert("RGB")) for im in images])


def blank_mask(images, min_std: float) -> np.ndarray:
    """True for images whose pixel standard deviation (grey levels in [0, 1]) is below
    ``min_std``: black/flat frames (e.g. NaN latents decode to black) and empty canvases."""
    x = as_array(images).astype(np.float32) / 255.0
    return x.mean(axis=-1).reshape(len(x), -1).std(axis=1) < min_std


class DigitsJudge:
    """The reference classifier of the embedded world, read as colored-digits groups."""

    def __init__(self, spec, reference=None):
        from hf_fair.diffusion.embedded.reference import load_reference

        self.reference = reference or load_reference()
        if tuple(spec.label_names) != ("small", "large"):
            raise HfFairError(
                f"the reference classifier judges colored-digits (labels small/large); this dataset's labels are "
                f"{list(spec.label_names)}: use --filter_classifier none or a judge trained on this dataset"
            )
        missing = [a for a in spec.attribute_names if a not in self.reference.color_names]
        if missing:
            raise HfFairError(f"attribute value(s) {missing} are no colour the reference classifier knows ({self.reference.color_names})")
        self.attribute_names = list(spec.attribute_names)

    def predict_groups(self, images) -> tuple[np.ndarray, np.ndarray]:
        digits, colors = self.reference.predict(as_array(images))
        labels = (np.asarray(digits) >= 5).astype(np.int64)
        # a colour outside the dataset's attributes counts as wrong (-1)
        attrs = np.array([self.attribute_names.index(c) if c in self.attribute_names else -1 for c in colors], dtype=np.int64)
        return labels, attrs


def make_judge(name: str, spec) -> Judge | None:
    if name == "none":
        return None
    if name == "reference":
        return DigitsJudge(spec)
    raise HfFairError(f"--filter_classifier must be one of {list(FILTERS)}, got '{name}'")


def check_images(images, group: int, spec, min_std: float, judge: Judge | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(blank, wrong_group) boolean masks for images meant for ``group``."""
    arr = as_array(images)
    blank = blank_mask(arr, min_std)
    wrong = np.zeros(len(arr), dtype=bool)
    if judge is not None and len(arr):
        y, a = judge.predict_groups(arr)
        want_y, want_a = spec.split_group(group)
        wrong = (y != want_y) | (a != want_a)
    return blank, wrong & ~blank
