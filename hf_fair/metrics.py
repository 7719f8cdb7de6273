"""Group metrics in numpy: worst-group, per-group, balanced and average accuracy.

A group with no samples in the evaluated data is *absent*: its accuracy is ``None`` and it
takes no part in the worst-group or balanced figures (never counted as 0 or 100).
An ``evaluate`` module with the same numbers lives in ``hf_fair/evaluate_metrics/group_accuracy``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from hf_fair.errors import HfFairError

EVALUATE_MODULE = str(Path(__file__).parent / "evaluate_metrics" / "group_accuracy")
SUMMARY_KEYS = ("worst_group_acc", "balanced_acc", "average_acc")


def group_metrics(
    predictions: Sequence[int],
    references: Sequence[int],
    groups: Sequence[int],
    n_groups: int | None = None,
    n_attributes: int | None = None,
) -> dict:
    """Accuracy overall and per group.

    Returns ``average_acc`` (over samples), ``per_group_acc`` ({str(g): acc or None}),
    ``group_counts``, ``worst_group_acc`` and ``balanced_acc`` (mean over present groups),
    ``absent_groups``; with ``n_attributes``, also ``worst_class_acc`` (classes = g // n_attributes).
    """
    pred = np.asarray(predictions).reshape(-1)
    ref = np.asarray(references).reshape(-1)
    grp = np.asarray(groups).reshape(-1).astype(np.int64)
    if not (len(pred) == len(ref) == len(grp)):
        raise HfFairError(
            f"predictions, references and groups must have the same length, got {len(pred)}, {len(ref)}, {len(grp)}"
        )
    if len(pred) == 0:
        raise HfFairError("cannot compute group metrics on an empty evaluation set")
    if (grp < 0).any():
        raise HfFairError("group ids must be non-negative")
    n = int(n_groups) if n_groups is not None else int(grp.max()) + 1
    if grp.max() >= n:
        raise HfFairError(f"group id {int(grp.max())} is outside n_groups={n}")
    correct = pred == ref
    counts = np.bincount(grp, minlength=n)
    hits = np.bincount(grp, weights=correct.astype(np.float64), minlength=n)
    per_group = {str(g): (float(hits[g] / counts[g]) if counts[g] else None) for g in range(n)}
    present = [v for v in per_group.values() if v is not None]
    out = {
        "average_acc": float(correct.mean()),
        "worst_group_acc": float(min(present)),
        "balanced_acc": float(np.mean(present)),
        "per_group_acc": per_group,
        "group_counts": {str(g): int(counts[g]) for g in range(n)},
        "absent_groups": [g for g in range(n) if counts[g] == 0],
    }
    if n_attributes:
        cls = grp // int(n_attributes)
        accs = [float(correct[cls == c].mean()) for c in np.unique(cls)]
        out["worst_class_acc"] = float(min(accs))
    return out


def mean_std(values: Iterable[float | None]) -> dict:
    """Mean and sample standard deviation (ddof=1; 0.0 for a single seed) over seeds.

    ``None`` entries (e.g. an absent group) are left out of the mean and kept in ``per_seed``.
    """
    vals = list(values)
    present = np.asarray([v for v in vals if v is not None], dtype=np.float64)
    if len(present) == 0:
        return {"mean": None, "std": None, "per_seed": vals}
    std = float(present.std(ddof=1)) if len(present) > 1 else 0.0
    return {"mean": float(present.mean()), "std": std, "per_seed": [None if v is None else float(v) for v in vals]}


def aggregate_seeds(per_seed: Sequence[dict]) -> dict:
    """Combine :func:`group_metrics` outputs from several seeds into the results-file shape."""
    if not per_seed:
        raise HfFairError("no seed results to aggregate")
    out = {k: mean_std(m[k] for m in per_seed) for k in SUMMARY_KEYS}
    groups = per_seed[0]["per_group_acc"].keys()
    per_group = {}
    for g in groups:
        vals = [m["per_group_acc"].get(g) for m in per_seed]
        present = [v for v in vals if v is not None]
        per_group[g] = float(np.mean(present)) if present else None
    out["per_group_acc"] = per_group
    return out


def format_pm(stat: dict, scale: float = 100.0, digits: int = 1) -> str:
    """``{"mean": .., "std": ..}`` -> '84.2 ± 1.3' (percent by default)."""
    if stat.get("mean") is None:
        return "absent"
    return f"{stat['mean'] * scale:.{digits}f} ± {stat['std'] * scale:.{digits}f}"
