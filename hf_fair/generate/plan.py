"""What to generate: per-group quotas, their split over a group's units, shards and seeds.

A *unit* is one generator of one group: the base with the group prompt (vanilla), or one adapter
(a group's LoRA / DreamBooth, or one cluster's DreamBooth). Each group has ``quota`` image slots
numbered 0..quota-1 across its units; a *shard* is a run of consecutive slots of one unit and the
unit of resumable work. The seed of slot s of group g at attempt k (quality-filter retries) is a
hash of (seed, g, s, k): it does not depend on the batch, shard or process that draws it, and the
same slot gets the same starting noise under every source, so sources can be compared image by
image.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from hf_fair.errors import HfFairError


@dataclass(frozen=True)
class DrawUnit:
    """One generator of one group."""

    name: str  # "g2" (group) / "g2c1" (cluster)
    group: int
    cluster: int | None
    source: str  # vanilla | lora | dreambooth | dreambooth_cluster
    format: str  # "base" (no adapter) | "lora" | "unet"
    prompt: str
    path: Path | None = None  # unit folder for adapters
    weight: int = 1  # real images behind the unit (cluster size), for proportional quotas
    caption: str | None = None  # captioned sources: the caption value this sub-unit draws

    @property
    def adapter(self) -> str | None:
        return None if self.format == "base" else self.name


@dataclass(frozen=True)
class Shard:
    unit: DrawUnit
    start: int  # first slot (within the group)
    stop: int  # one past the last slot

    @property
    def id(self) -> str:
        caption = "" if self.unit.caption is None else f"-c{self.unit.caption}"
        return f"{self.unit.name}{caption}-s{self.start:07d}"

    @property
    def slots(self) -> range:
        return range(self.start, self.stop)

    def __len__(self) -> int:
        return self.stop - self.start


def split_quota(total: int, weights: list[int], mode: str = "proportional") -> list[int]:
    """Integers summing to ``total``: proportional to ``weights`` (largest remainder, ties to the
    earlier unit) or as equal as possible (``uniform``)."""
    if not weights:
        raise ValueError("split_quota needs at least one weight")
    if mode == "uniform":
        base, extra = divmod(total, len(weights))
        return [base + (i < extra) for i in range(len(weights))]
    if mode != "proportional":
        raise HfFairError(f"--cluster_quota must be 'proportional' or 'uniform', got '{mode}'")
    if any(w < 0 for w in weights) or sum(weights) <= 0:
        raise HfFairError(f"cluster sizes must be positive to split a quota in proportion, got {weights}")
    s = sum(weights)
    exact = [total * w / s for w in weights]
    out = [int(e) for e in exact]
    order = sorted(range(len(weights)), key=lambda i: (-(exact[i] - out[i]), i))
    for i in order[: total - sum(out)]:
        out[i] += 1
    return out


def image_seed(seed: int, group: int, slot: int, attempt: int = 0) -> int:
    """Generator seed of one slot (63-bit, so it fits an int64 column)."""
    digest = hashlib.blake2b(f"hf-fair/{seed}/{group}/{slot}/{attempt}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & (2**63 - 1)


def make_shards(units_by_group: dict[int, list[DrawUnit]], quota: int, shard_size: int, cluster_quota: str = "proportional") -> list[Shard]:
    """All shards, ordered by group, then unit, then slot."""
    if quota < 1:
        raise HfFairError(f"images per group must be >= 1, got {quota}")
    if shard_size < 1:
        raise HfFairError(f"--shard_size must be >= 1, got {shard_size}")
    shards = []
    for g in sorted(units_by_group):
        units = units_by_group[g]
        counts = split_quota(quota, [u.weight for u in units], cluster_quota)
        slot = 0
        for unit, n in zip(units, counts):
            for start in range(slot, slot + n, shard_size):
                shards.append(Shard(unit, start, min(start + shard_size, slot + n)))
            slot += n
    return shards


def assign(shards: list, rank: int, world: int) -> list:
    """Contiguous, near-equal slices: each process switches through few units."""
    n = len(shards)
    lo, hi = rank * n // world, (rank + 1) * n // world
    return shards[lo:hi]
