"""Last-layer finetuning on the frozen backbone's features, computed once per view.

With the backbone frozen (the paper's finetuning, batch-norm statistics kept), an image's
features depend only on which augmentation it drew. The ``shift`` and ``none`` augmentations
(and horizontal flips) draw from a finite set of views: (2p + 1)^2 translations by up to p pixels,
twice that with flips. So the features of every (view, image) pair are computed once, and the
head trains on them: one backbone pass per view instead of one per epoch, and per-epoch
validation reads cached features too.

The view an example draws comes from the training transform's own random draws (RandomCrop's
``make_params``, the flip's coin): the random stream is the one the image path consumes, so both
paths train on the same views in the same order, and their results agree up to float rounding
(tests/test_frozen_features.py checks each drawn view against the transform's own output).
Random-resized crops are not a finite set: they keep the image path.
"""

from __future__ import annotations

import logging

import datasets
import torch
from torch.utils.data import Dataset
from torchvision import tv_tensors
from torchvision.transforms import v2

from hf_fair.classify import models
from hf_fair.classify.data import CACHE_BYTES, ImageTransform, prepared_images

logger = logging.getLogger("hf_fair.classify")
FINITE_AUGMENTATIONS = ("shift", "none")


def index_maps(image_size: int, shift_px: int, flips: bool) -> list[torch.Tensor]:
    """Every view as a (2, S, S) map of source (row, column) per output pixel: a translation by
    up to ``shift_px`` with edges repeated (RandomCrop with edge padding), then an optional
    horizontal flip, in the order the training transform applies them."""
    s, p = image_size, shift_px
    grid = torch.arange(s)
    maps = []
    for top in range(2 * p + 1):
        for left in range(2 * p + 1):
            rows = (grid + top - p).clamp(0, s - 1)[:, None].expand(s, s)
            cols = (grid + left - p).clamp(0, s - 1)[None, :].expand(s, s)
            view = torch.stack([rows, cols])
            maps.append(view)
            if flips:
                maps.append(view.flip(-1))
    return maps


class ViewDrawer:
    """Draws the view index of one example with the random draws ``transform.augment`` makes:
    RandomCrop's own ``make_params`` (top, left) and RandomHorizontalFlip's coin, in the order
    the transform applies them, without touching pixels."""

    def __init__(self, transform: ImageTransform, shift_px: int, flips: bool):
        s = transform.image_size
        self.probe = [tv_tensors.Image(torch.zeros(3, s, s, dtype=torch.uint8))]  # make_params reads its size
        self.ops = list(transform.geometric)
        self.side, self.flips = 2 * shift_px + 1, flips
        for op in self.ops:
            if not isinstance(op, (v2.RandomCrop, v2.RandomHorizontalFlip)):
                raise ValueError(f"{type(op).__name__} does not draw from a finite set of views")

    def __call__(self) -> int:
        top = left = flipped = 0
        for op in self.ops:
            if isinstance(op, v2.RandomCrop):
                params = op.make_params(self.probe)
                top, left = params["top"], params["left"]
            elif not torch.rand(1) >= op.p:  # the coin of torchvision's random-apply transforms
                flipped = 1
        view = top * self.side + left
        return 2 * view + flipped if self.flips else view


class CachedFeatures(Dataset):
    """Map-style split of cached features: ``(features of the drawn view, label, group, index)``,
    the same items the image path's view yields with the image replaced by its features."""

    def __init__(self, features: torch.Tensor, ds: datasets.Dataset, drawer: ViewDrawer | None):
        self.features = features  # views x examples x dim
        self.labels = torch.as_tensor(ds["label"], dtype=torch.long)
        self.groups = torch.as_tensor(ds["group"], dtype=torch.long) if "group" in ds.column_names else None
        self.drawer = drawer

    def __len__(self):
        return self.features.shape[1]

    def __getitem__(self, i):
        i = int(i)
        view = self.drawer() if self.drawer is not None else 0
        group = -1 if self.groups is None else int(self.groups[i])
        return self.features[view, i], int(self.labels[i]), group, i


def feature_bytes(n_views: int, n_examples: int, dim: int) -> int:
    return n_views * n_examples * dim * 4


@torch.no_grad()
def _features(model, images: torch.Tensor, maps: list[torch.Tensor], transform: ImageTransform, batch_size: int, accelerator) -> torch.Tensor:
    """Pooled features of ``images`` (N x 3 x S x S, uint8) under each view's index map."""
    model.eval()
    out = []
    for index_map in maps:
        rows, cols = index_map[0], index_map[1]
        per_view = []
        for start in range(0, len(images), batch_size):
            batch = images[start:start + batch_size][:, :, rows, cols]
            x = transform.finish(tv_tensors.Image(batch)).to(accelerator.device)
            with accelerator.autocast():
                per_view.append(models.forward_features(model, x).float().cpu())
        out.append(torch.cat(per_view))
    return torch.stack(out)


def cache_splits(model, splits: dict, train_tf: ImageTransform, eval_tf: ImageTransform, shift_px: int, hflip: float,
                 augment: str, batch_size: int, accelerator) -> dict[str, CachedFeatures] | None:
    """Cached features of ``splits`` (``train`` with every view of the training augmentation, the
    others with the evaluation view), or None where the augmentation is not a finite set or the
    features would pass ``CACHE_BYTES``."""
    if augment not in FINITE_AUGMENTATIONS:
        return None
    size = train_tf.image_size
    p = shift_px if augment == "shift" else 0
    train_maps = index_maps(size, p, hflip > 0)
    dim = model.num_features
    total = sum(feature_bytes(len(train_maps) if s == "train" else 1, len(ds), dim) for s, ds in splits.items())
    if total > CACHE_BYTES:
        logger.info("frozen features would take %.1f GiB (> %.1f): training through the images", total / 2**30, CACHE_BYTES / 2**30)
        return None
    model.to(accelerator.device)
    cached = {}
    for split, ds in splits.items():
        training = split == "train"
        tf = train_tf if training else eval_tf
        maps = train_maps if training else index_maps(size, 0, False)
        feats = _features(model, prepared_images(ds, tf), maps, tf, batch_size, accelerator)
        cached[split] = CachedFeatures(feats, ds, ViewDrawer(tf, p, hflip > 0) if training else None)
    logger.info("frozen features cached: %d training views of %d images, %s",
                len(train_maps), len(splits["train"]), ", ".join(f"{s} {len(ds)}" for s, ds in splits.items() if s != "train"))
    return cached
