"""Quality filter of generated images: blank / near-constant images, and (optionally) images a
judge assigns to another group.

A judge maps images to (label, attribute) ids of the dataset's GroupSpec. ``reference``: the
shipped reference classifier of the embedded world (digit + colour heads) read through the
colored-digits spec (label = digit >= 5, attribute = stroke colour). ``clip``: a zero-shot CLIP
over the GroupSpec's prompts (``hf_fair.judges.clip``), for any dataset; it also scores each
image (its probability of its own group, the ``clip_score`` column). Other judges (e.g. a
classifier trained on group-balanced real data) can be passed to :func:`check_images` directly.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from hf_fair.errors import HfFairError
from hf_fair.judges.images import as_array

FILTERS = ("none", "reference", "clip")
# a generated image whose grey levels vary less than this is blank (generation and class images alike)
MIN_STD = 0.02


class Judge(Protocol):
    def predict_groups(self, images) -> tuple[np.ndarray, np.ndarray]:
        """(label ids, attribute ids) of ``images`` (PIL list or uint8 array n x h x w x 3)."""


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


def make_judge(name: str, spec, clip_model: str | None = None, clip_min_prob: float | None = None,
               base: str | None = None, device=None, dtype=None) -> Judge | None:
    """The judge behind ``--filter_classifier``. ``clip`` loads ``clip_model`` (default: the
    embedded CLIP when ``base`` is the embedded one) on ``device`` / ``dtype``."""
    if name == "none":
        return None
    if name == "reference":
        return DigitsJudge(spec)
    if name == "clip":
        from hf_fair.judges.clip import ClipJudge, default_clip_model

        return ClipJudge(spec, default_clip_model(clip_model, base), min_prob=clip_min_prob, device=device, dtype=dtype)
    raise HfFairError(f"--filter_classifier must be one of {list(FILTERS)}, got '{name}'")


def score_images(images, group: int, spec, min_std: float, judge: Judge | None = None):
    """(blank, wrong_group, score) for images meant for ``group``: boolean masks, and the judge's
    probability of ``group`` per image when it gives one (a CLIP judge), else None."""
    arr = as_array(images)
    blank = blank_mask(arr, min_std)
    wrong, score = np.zeros(len(arr), dtype=bool), None
    if judge is not None and len(arr):
        if hasattr(judge, "verdict"):  # a judge with its own keep rule and score
            wrong, score = judge.verdict(arr, group)
        else:
            y, a = judge.predict_groups(arr)
            want_y, want_a = spec.split_group(group)
            wrong = (y != want_y) | (a != want_a)
    return blank, wrong & ~blank, score


def check_images(images, group: int, spec, min_std: float, judge: Judge | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(blank, wrong_group) boolean masks for images meant for ``group``."""
    return score_images(images, group, spec, min_std, judge)[:2]
