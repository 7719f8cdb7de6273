"""Shared pieces for loaders: image-file checks and assembling a group-annotated DatasetDict."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Iterable

import datasets
import numpy as np
from PIL import Image, UnidentifiedImageError

from hf_fair.data.groups import GroupSpec
from hf_fair.data.groups import attach_spec
from hf_fair import skipped
from hf_fair.errors import HfFairError

logger = logging.getLogger(__name__)

STANDARD_SPLITS = ("train", "validation", "test")
# Names that sources use for the validation split.
SPLIT_ALIASES = {
    "train": "train",
    "training": "train",
    "validation": "validation",
    "valid": "validation",
    "val": "validation",
    "dev": "validation",
    "test": "test",
    "testing": "test",
}


def require_dir(path: str | os.PathLike, what: str) -> Path:
    p = Path(path)
    if not p.is_dir():
        raise HfFairError(f"{what}: folder '{p}' does not exist; pass the folder with --data-dir")
    return p


def require_file(folder: Path, name: str, dataset: str) -> Path:
    p = folder / name
    if not p.is_file():
        raise HfFairError(
            f"{dataset}: required file '{name}' is missing from '{folder}'; "
            f"the folder must be in the original {dataset} layout"
        )
    return p


def check_images(paths: Iterable[str], skip_bad: bool, dataset: str) -> np.ndarray:
    """Boolean mask of usable image files. A missing/unreadable file is an error naming it,
    or (with ``skip_bad``) a counted, logged skip."""
    paths = list(paths)
    ok = np.ones(len(paths), dtype=bool)
    bad: list[tuple[str, str]] = []
    for i, p in enumerate(paths):
        reason = None
        if not os.path.isfile(p):
            reason = "missing"
        else:
            try:
                with Image.open(p) as im:  # reads the header only
                    im.size
            except (UnidentifiedImageError, OSError) as e:
                reason = f"unreadable ({type(e).__name__})"
        if reason:
            if not skip_bad:
                raise HfFairError(
                    f"{dataset}: image file '{p}' is {reason}; fix or remove its metadata row, "
                    "or pass --skip-bad-images to skip such rows (they are counted)"
                )
            ok[i] = False
            bad.append((p, reason))
            skipped.record(p, reason)
    if bad:
        logger.warning(
            "%s: skipped %d bad image file(s), e.g. %s", dataset, len(bad), ", ".join(p for p, _ in bad[:3])
        )
    return ok


def build_dataset_dict(
    spec: GroupSpec,
    splits: dict[str, dict[str, list]],
    extra_features: dict | None = None,
) -> datasets.DatasetDict:
    """``splits`` maps split name -> columns (``image`` holds file paths or PIL images,
    ``label``/``attribute`` class ids, plus any extra columns)."""
    feats = spec.features(extra_features)
    out = {}
    for split in STANDARD_SPLITS:
        if split not in splits:
            raise HfFairError(f"split '{split}' is missing; every dataset needs {list(STANDARD_SPLITS)}")
        cols = dict(splits[split])
        cols["group"] = [spec.group_id(y, a) for y, a in zip(cols["label"], cols["attribute"])]
        ordered = {name: cols[name] for name in feats}
        out[split] = datasets.Dataset.from_dict(ordered, features=feats, split=split)
    return attach_spec(datasets.DatasetDict(out), spec)


def seeded_split(
    n: int, strata: np.ndarray, fractions: tuple[float, float, float], seed: int
) -> np.ndarray:
    """Stratified split assignment (0 train, 1 validation, 2 test) for sources without splits."""
    if abs(sum(fractions) - 1.0) > 1e-6:
        raise HfFairError(f"split fractions must sum to 1, got {fractions}")
    assign = np.zeros(n, dtype=np.int64)
    rng = np.random.default_rng(seed)
    for s in np.unique(strata):
        idx = rng.permutation(np.flatnonzero(strata == s))
        n_train = int(round(len(idx) * fractions[0]))
        n_val = int(round(len(idx) * fractions[1]))
        assign[idx[n_train : n_train + n_val]] = 1
        assign[idx[n_train + n_val :]] = 2
    return assign


def balance_indices(groups: np.ndarray, n_groups: int, seed: int | np.random.Generator, per_group: int | None = None) -> np.ndarray:
    """Sorted indices of a group-balanced subset: ``per_group`` images of each present group
    (default: as many as the smallest has), a seeded permutation of each group in group order."""
    groups = np.asarray(groups)
    present = [g for g in range(n_groups) if (groups == g).any()]
    if not present:
        return np.array([], dtype=np.int64)
    n = min(int((groups == g).sum()) for g in present) if per_group is None else per_group
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    return np.sort(np.concatenate([rng.permutation(np.flatnonzero(groups == g))[:n] for g in present]))
