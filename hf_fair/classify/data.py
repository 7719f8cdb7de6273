"""Turning a group DatasetDict into DataLoaders with timm transforms."""

from __future__ import annotations

import datasets
import numpy as np
import torch
from timm.data import create_transform, resolve_model_data_config
from torch.utils.data import DataLoader, WeightedRandomSampler


def dataset_resolution(ds: datasets.Dataset) -> int:
    w, h = ds[0]["image"].size
    return max(w, h)


def build_transforms(model: torch.nn.Module, image_size: int, augment: bool, hflip: float):
    cfg = resolve_model_data_config(model)
    common = dict(input_size=(3, image_size, image_size), mean=cfg["mean"], std=cfg["std"], interpolation="bilinear")
    train = create_transform(
        **common,
        is_training=augment,
        scale=(0.75, 1.0),
        ratio=(0.9, 1.1),
        hflip=hflip,
        color_jitter=0.0,  # colour is the spurious attribute of some benchmarks: never jitter it
        crop_pct=1.0,
    )
    evaluation = create_transform(**common, is_training=False, crop_pct=1.0)
    return train, evaluation


class _Transformed(torch.utils.data.Dataset):
    """Map-style view that decodes + transforms one example and keeps its index and group."""

    def __init__(self, ds: datasets.Dataset, transform):
        self.ds = ds
        self.transform = transform
        self.labels = np.asarray(ds["label"], dtype=np.int64)
        self.groups = np.asarray(ds["group"], dtype=np.int64) if "group" in ds.column_names else None

    def __len__(self):
        return len(self.ds)

    def __getitem__(self, i):
        image = self.ds[int(i)]["image"].convert("RGB")
        group = -1 if self.groups is None else int(self.groups[i])
        return self.transform(image), int(self.labels[i]), group, int(i)


def _collate(batch):
    x, y, g, idx = zip(*batch)
    return torch.stack(x), torch.tensor(y), torch.tensor(g), torch.tensor(idx)


def make_loader(
    ds: datasets.Dataset,
    transform,
    batch_size: int,
    shuffle: bool,
    seed: int,
    num_workers: int = 0,
    sample_weights: np.ndarray | None = None,
) -> DataLoader:
    view = _Transformed(ds.select_columns([c for c in ("image", "label", "group") if c in ds.column_names]), transform)
    gen = torch.Generator().manual_seed(seed)
    sampler = None
    if sample_weights is not None:
        sampler = WeightedRandomSampler(torch.as_tensor(sample_weights, dtype=torch.double), len(view), replacement=True, generator=gen)
        shuffle = False
    return DataLoader(
        view,
        batch_size=batch_size,
        shuffle=shuffle,
        sampler=sampler,
        generator=gen if shuffle else None,
        num_workers=num_workers,
        collate_fn=_collate,
        drop_last=False,
    )
