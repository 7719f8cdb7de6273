"""Turning a group DatasetDict into DataLoaders.

Each image is decoded and resized once (``ImageTransform.prepare``: PIL -> uint8 tensor at the
training resolution); augmentation and normalisation run on that tensor. When a split's prepared
tensors fit in ``CACHE_BYTES`` they are kept in memory, so later epochs skip decoding: on small
images (the embedded benchmark) decoding costs more than the network.
"""

from __future__ import annotations

import datasets
import numpy as np
import torch
from timm.data import resolve_model_data_config
from torch.utils.data import DataLoader, WeightedRandomSampler
from torchvision.transforms import InterpolationMode, v2

from hf_fair.errors import HfFairError

AUGMENTATIONS = ("crop", "shift", "none")
CACHE_BYTES = 1 << 30  # prepared uint8 tensors kept per split up to 1 GiB


def dataset_resolution(ds: datasets.Dataset) -> int:
    w, h = ds[0]["image"].size
    return max(w, h)


class ImageTransform:
    """``prepare`` (deterministic, cacheable) then ``augment`` (random, per epoch)."""

    def __init__(self, image_size: int, mean, std, augmentations: list):
        self.image_size = image_size
        self.prepare = v2.Compose([v2.ToImage(), v2.Resize((image_size, image_size), InterpolationMode.BILINEAR, antialias=True)])
        self.geometric = list(augmentations)  # the random ops (hf_fair.classify.frozen_features reads them)
        self.finish = v2.Compose([v2.ToDtype(torch.float32, scale=True), v2.Normalize(list(mean), list(std))])
        self.augment = v2.Compose([*augmentations, *self.finish.transforms])
        self.views: dict[str, _Transformed] = {}  # decoded splits, kept as long as the transform (one run)

    def __call__(self, image) -> torch.Tensor:
        return self.augment(self.prepare(image.convert("RGB")))


def build_transforms(model: torch.nn.Module, image_size: int, augment: str = "crop", hflip: float = 0.0, shift_px: int = 2):
    """Training and evaluation transforms. ``augment``: ``crop`` (random-resized crop, scale
    0.75-1), ``shift`` (random translation by up to ``shift_px`` pixels, edges repeated) or
    ``none``. Colour is never jittered: it is the spurious attribute of some benchmarks."""
    if augment not in AUGMENTATIONS:
        raise HfFairError(f"--augment '{augment}' is not one of {list(AUGMENTATIONS)}")
    cfg = resolve_model_data_config(model)
    aug = []
    if augment == "crop":
        aug.append(v2.RandomResizedCrop(image_size, scale=(0.75, 1.0), ratio=(0.9, 1.1), antialias=True))
    elif augment == "shift" and shift_px > 0:
        aug.append(v2.RandomCrop(image_size, padding=shift_px, padding_mode="edge"))
    if hflip > 0:
        aug.append(v2.RandomHorizontalFlip(hflip))
    train = ImageTransform(image_size, cfg["mean"], cfg["std"], aug)
    evaluation = ImageTransform(image_size, cfg["mean"], cfg["std"], [])
    return train, evaluation


class _Transformed(torch.utils.data.Dataset):
    """Map-style view that decodes + transforms one example and keeps its index and group."""

    def __init__(self, ds: datasets.Dataset, transform: ImageTransform):
        self.ds = ds
        self.transform = transform
        self.labels = np.asarray(ds["label"], dtype=np.int64)
        self.groups = np.asarray(ds["group"], dtype=np.int64) if "group" in ds.column_names else None
        self.cache = None
        if len(ds) * 3 * transform.image_size**2 <= CACHE_BYTES:
            images = ds.select_columns(["image"])
            self.cache = [transform.prepare(row["image"].convert("RGB")) for row in images]

    def __len__(self):
        return len(self.ds)

    def prepared(self, i: int) -> torch.Tensor:
        """Example ``i`` decoded and resized (uint8), before augmentation."""
        return self.cache[i] if self.cache is not None else self.transform.prepare(self.ds[i]["image"].convert("RGB"))

    def __getitem__(self, i):
        i = int(i)
        group = -1 if self.groups is None else int(self.groups[i])
        return self.transform.augment(self.prepared(i)), int(self.labels[i]), group, i


def _collate(batch):
    x, y, g, idx = zip(*batch)
    return torch.stack(x), torch.tensor(y), torch.tensor(g), torch.tensor(idx)


def split_view(ds: datasets.Dataset, transform: ImageTransform) -> _Transformed:
    """The decoded view of ``ds`` under ``transform`` (labels, groups, ``prepared(i)``), built
    once per split and transform: a trainer builds one loader per epoch over the same view."""
    if ds._fingerprint not in transform.views:
        transform.views[ds._fingerprint] = _Transformed(ds.select_columns([c for c in ("image", "label", "group") if c in ds.column_names]), transform)
    return transform.views[ds._fingerprint]


def make_loader(ds: datasets.Dataset, transform: ImageTransform, batch_size: int, shuffle: bool, seed: int,
                num_workers: int = 0, sample_weights: np.ndarray | None = None) -> DataLoader:
    """Loader over ``ds`` decoded and transformed by ``transform`` (see ``loader_over``)."""
    return loader_over(split_view(ds, transform), batch_size, shuffle, seed, num_workers, sample_weights)


def loader_over(
    view: torch.utils.data.Dataset,
    batch_size: int,
    shuffle: bool,
    seed: int,
    num_workers: int = 0,
    sample_weights: np.ndarray | None = None,
) -> DataLoader:
    """Loader over a map-style split yielding (input, label, group, index) items: shuffling,
    weighted sampling and the last-batch rule every training path shares."""
    gen = torch.Generator().manual_seed(seed)
    sampler = None
    if sample_weights is not None:
        sampler = WeightedRandomSampler(torch.as_tensor(sample_weights, dtype=torch.double), len(view), replacement=True, generator=gen)
        shuffle = False
    training = shuffle or sampler is not None
    return DataLoader(
        view,
        batch_size=batch_size,
        shuffle=shuffle,
        sampler=sampler,
        generator=gen if shuffle else None,
        num_workers=num_workers,
        collate_fn=_collate,
        # a last training batch of one example breaks batch norm on 1x1 feature maps ("Expected
        # more than 1 value per channel"): drop that one (random) example for this epoch
        drop_last=training and len(view) > 1 and len(view) % batch_size == 1,
    )
