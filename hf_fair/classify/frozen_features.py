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

import torch
from torch.utils.data import Dataset
from torchvision import tv_tensors
from torchvision.transforms import v2

from hf_fair.classify import models
from hf_fair.classify.data import CACHE_BYTES, ImageTransform, split_view

logger = logging.getLogger("hf_fair.classify")


def finite_views(transform: ImageTransform) -> tuple[int, bool] | None:
    """(shift p, flips) when the transform's random ops draw from a finite set of views: an
    edge-padded RandomCrop by p pixels (``--augment shift``) and/or a horizontal flip; None for
    anything else (a random-resized crop)."""
    p, flips = 0, False
    for op in transform.geometric:
        if isinstance(op, v2.RandomCrop) and op.padding_mode == "edge" and len(set(op.padding)) == 1:
            p = op.padding[0]
        elif isinstance(op, v2.RandomHorizontalFlip):
            flips = True
        else:
            return None
    return p, flips


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
    """Draws the view index (into ``index_maps``) of one example with the random draws
    ``transform.augment`` makes: RandomCrop's own ``make_params`` (top, left) and
    RandomHorizontalFlip's coin, in the transform's order, without touching pixels."""

    def __init__(self, transform: ImageTransform):
        views = finite_views(transform)
        if views is None:
            raise ValueError("the transform's augmentation does not draw from a finite set of views")
        s = transform.image_size
        self.probe = [tv_tensors.Image(torch.zeros(3, s, s, dtype=torch.uint8))]  # make_params reads its size
        self.ops = transform.geometric
        self.side, self.flips = 2 * views[0] + 1, views[1]

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
    the items of the image path's split view with the image replaced by its features."""

    def __init__(self, features: torch.Tensor, view, drawer: ViewDrawer | None):
        self.features = features  # views x examples x dim
        self.labels, self.groups = view.labels, view.groups
        self.drawer = drawer

    def __len__(self):
        return self.features.shape[1]

    def __getitem__(self, i):
        i = int(i)
        view = self.drawer() if self.drawer is not None else 0
        group = -1 if self.groups is None else int(self.groups[i])
        return self.features[view, i], int(self.labels[i]), group, i


@torch.no_grad()
def _features(model, view, maps: list[torch.Tensor], batch_size: int, accelerator) -> torch.Tensor:
    """Pooled features (views x examples x dim) of a split view's prepared images under each
    view's index map, a batch of images at a time."""
    model.eval()
    per_batch = []
    for start in range(0, len(view), batch_size):
        images = torch.stack([torch.as_tensor(view.prepared(i)) for i in range(start, min(start + batch_size, len(view)))])
        feats = []
        for rows, cols in maps:
            x = view.transform.finish(tv_tensors.Image(images[:, :, rows, cols])).to(accelerator.device)
            with accelerator.autocast():
                feats.append(models.forward_features(model, x).float().cpu())
        per_batch.append(torch.stack(feats))
    return torch.cat(per_batch, dim=1)


def cache_splits(model, splits: dict, train_tf: ImageTransform, eval_tf: ImageTransform, batch_size: int,
                 accelerator) -> dict[str, CachedFeatures] | None:
    """Cached features of ``splits`` (``train`` with every view of the training transform, the
    others with the evaluation view), or None where the training transform's views are not a
    finite set or the features would pass ``CACHE_BYTES``."""
    views = finite_views(train_tf)
    if views is None:
        return None
    train_maps = index_maps(train_tf.image_size, *views)
    n_views = {s: len(train_maps) if s == "train" else 1 for s in splits}
    total = sum(n_views[s] * len(ds) * model.num_features * 4 for s, ds in splits.items())  # float32
    if total > CACHE_BYTES:
        logger.info("frozen features would take %.1f GiB (> %.1f): training through the images", total / 2**30, CACHE_BYTES / 2**30)
        return None
    model.to(accelerator.device)
    cached = {}
    for split, ds in splits.items():
        tf = train_tf if split == "train" else eval_tf
        maps = train_maps if split == "train" else index_maps(eval_tf.image_size, 0, False)
        view = split_view(ds, tf)
        cached[split] = CachedFeatures(_features(model, view, maps, batch_size, accelerator), view,
                                       ViewDrawer(tf) if split == "train" else None)
    logger.info("frozen features cached: %d training views of %d images, %s",
                len(train_maps), len(splits["train"]), ", ".join(f"{s} {len(ds)}" for s, ds in splits.items() if s != "train"))
    return cached
