"""Bias severity: re-bias train and validation so each class sits in its majority group.

Severity b is the share of each class that lies in its majority group (FFR's
``minority_to_keep`` is 1 - b). Minority images are dropped (seeded) until the share is b; when
there are too few minority images for the majority size, the majority is trimmed instead. The
test split is never touched.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import datasets
import numpy as np

from hf_fair.data.groups import GroupSpec
from hf_fair.data.groups import attach_spec, spec_of
from hf_fair.errors import HfFairError

BIASED_SPLITS = ("train", "validation")


@dataclass
class SeverityReport:
    severity: float
    seed: int
    majority_attribute: tuple[int, ...]
    group_names: tuple[str, ...]
    counts_before: dict[str, list[int]] = field(default_factory=dict)
    counts_after: dict[str, list[int]] = field(default_factory=dict)
    realised: dict[str, list[float | None]] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "severity": self.severity,
            "seed": self.seed,
            "majority_attribute": list(self.majority_attribute),
            "group_names": list(self.group_names),
            "counts_before": self.counts_before,
            "counts_after": self.counts_after,
            "realised_severity_per_class": self.realised,
        }


def group_counts(ds: datasets.Dataset, n_groups: int) -> list[int]:
    return np.bincount(np.asarray(ds["group"], dtype=np.int64), minlength=n_groups).tolist()


def infer_majority(spec: GroupSpec, counts: list[int]) -> tuple[int, ...]:
    """Most frequent attribute within each label (from training counts)."""
    k = spec.n_attributes
    return tuple(int(np.argmax(counts[y * k : (y + 1) * k])) for y in range(spec.n_labels))


def _keep_counts(
    spec: GroupSpec,
    counts: list[int],
    b: float,
    majority: tuple[int, ...],
    split: str,
    largest: float,
) -> list[int]:
    """How many images of each group to keep so every class has majority share b."""
    k = spec.n_attributes
    keep = list(counts)
    for y in range(spec.n_labels):
        m = majority[y]
        n_major = counts[spec.group_id(y, m)]
        minors = [a for a in range(k) if a != m]
        for a in minors:
            if counts[spec.group_id(y, a)] == 0:
                raise HfFairError(
                    f"group '{spec.group_names[spec.group_id(y, a)]}' has no images in split "
                    f"'{split}', so no severity can keep it; use a source with images of that group"
                )
        # Ideal number per minority group if the whole majority is kept.
        target = n_major * (1.0 - b) / (b * len(minors))
        limiting = min(counts[spec.group_id(y, a)] for a in minors)
        if limiting >= target:
            per_minor = int(math.floor(target + 0.5))
            if per_minor == 0:
                worst = spec.group_names[spec.group_id(y, minors[0])]
                raise HfFairError(
                    f"severity {b} would leave group '{worst}' empty in split '{split}' "
                    f"(its class has {n_major} majority images); the largest feasible severity "
                    f"for this dataset (train and validation) is {math.floor(largest * 10000) / 10000:.4f}"
                )
            keep[spec.group_id(y, m)] = n_major
        else:
            # Too few minority images: keep them all and trim the majority to match b.
            per_minor = limiting
            keep[spec.group_id(y, m)] = min(
                n_major, int(math.floor(per_minor * len(minors) * b / (1.0 - b) + 0.5))
            )
        for a in minors:
            keep[spec.group_id(y, a)] = per_minor
    return keep


def largest_feasible_severity(dsd: datasets.DatasetDict, splits=BIASED_SPLITS) -> float:
    spec = spec_of(dsd)
    train_counts = group_counts(dsd["train"], spec.n_groups)
    majority = spec.majority_attribute or infer_majority(spec, train_counts)
    best = 1.0
    for split in splits:
        if split not in dsd:
            continue
        counts = group_counts(dsd[split], spec.n_groups)
        for y in range(spec.n_labels):
            n_major = counts[spec.group_id(y, majority[y])]
            best = min(best, n_major / (n_major + 0.5 * (spec.n_attributes - 1)))
    return best


def apply_bias_severity(
    dsd: datasets.DatasetDict,
    severity: float,
    seed: int = 0,
    splits: tuple[str, ...] = BIASED_SPLITS,
) -> tuple[datasets.DatasetDict, SeverityReport]:
    """Return a copy of ``dsd`` whose biased splits have majority share ``severity`` per class."""
    try:
        b = float(severity)
    except (TypeError, ValueError):
        raise HfFairError(f"severity must be a number in (0.5, 1), got {severity!r}") from None
    if not 0.5 < b < 1.0:
        raise HfFairError(
            f"severity must lie strictly between 0.5 and 1 (share of each class in its majority "
            f"group), got {b}; FFR's levels are 0.9, 0.95, 0.97, 0.99, 0.999"
        )
    if "train" not in dsd:
        raise HfFairError(f"dataset has no 'train' split (splits: {list(dsd)})")
    spec = spec_of(dsd)
    train_counts = group_counts(dsd["train"], spec.n_groups)
    majority = spec.majority_attribute or infer_majority(spec, train_counts)
    report = SeverityReport(b, seed, majority, spec.group_names)
    largest = largest_feasible_severity(dsd, splits)

    out = {}
    for split_no, (split, ds) in enumerate(dsd.items()):
        counts = group_counts(ds, spec.n_groups)
        report.counts_before[split] = counts
        if split not in splits:
            out[split] = ds
            report.counts_after[split] = counts
            continue
        keep = _keep_counts(spec, counts, b, majority, split, largest)
        groups = np.asarray(ds["group"], dtype=np.int64)
        rng = np.random.default_rng([seed, split_no])
        chosen = []
        for g in range(spec.n_groups):
            members = np.flatnonzero(groups == g)
            chosen.append(rng.permutation(members)[: keep[g]])
        idx = np.sort(np.concatenate(chosen)) if chosen else np.array([], dtype=np.int64)
        out[split] = ds.select(idx.tolist())
        report.counts_after[split] = keep
    for split, counts in report.counts_after.items():
        per_class = []
        for y in range(spec.n_labels):
            total = sum(counts[spec.group_id(y, a)] for a in range(spec.n_attributes))
            per_class.append(None if total == 0 else counts[spec.group_id(y, majority[y])] / total)
        report.realised[split] = per_class
    return attach_spec(datasets.DatasetDict(out), spec), report
