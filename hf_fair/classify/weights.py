"""Per-example loss weights from a dataset column (the paper's CLIP weighting: ``clip_score``).

Rules (``--weight_rule``):

* ``group_mean`` (default): each weight divided by the mean weight of its group, so every group
  keeps its total weight (its size) and the weights only reorder importance inside a group. With
  CLIP scores this keeps a group whose images CLIP reads less confidently (a colour it knows
  less well) from being down-weighted as a whole, which would undo the group balance the
  synthetic set was drawn for.
* ``global_mean``: divided by the mean over the whole set (groups may gain or lose weight).
* ``raw``: the column as it is.
"""

from __future__ import annotations

import numpy as np

from hf_fair.errors import HfFairError

WEIGHT_RULES = ("group_mean", "global_mean", "raw")


def example_weights(ds, column: str, rule: str = "group_mean") -> np.ndarray:
    """float32 weights, one per example of ``ds`` (a datasets.Dataset with a ``group`` column
    for ``group_mean``)."""
    if rule not in WEIGHT_RULES:
        raise HfFairError(f"--weight_rule '{rule}' is not one of {list(WEIGHT_RULES)}")
    if column not in ds.column_names:
        raise HfFairError(
            f"--weight_column '{column}' is not a column of the training data (columns: {ds.column_names}); "
            "generate the synthetic set with --filter_classifier clip for 'clip_score', or drop --weight_column"
        )
    w = np.asarray(ds[column], dtype=np.float64)
    if w.ndim != 1 or not np.isfinite(w).all() or (w < 0).any():
        raise HfFairError(f"--weight_column '{column}' must hold finite numbers >= 0 (one per example)")
    if rule == "raw":
        return w.astype(np.float32)
    if rule == "global_mean":
        if w.sum() <= 0:
            raise HfFairError(f"--weight_column '{column}' is 0 everywhere: nothing would be learned")
        return (w / w.mean()).astype(np.float32)
    if "group" not in ds.column_names:
        raise HfFairError("--weight_rule group_mean needs a 'group' column; use --weight_rule global_mean")
    groups = np.asarray(ds["group"], dtype=np.int64)
    out = np.zeros_like(w)
    for g in np.unique(groups):
        members = groups == g
        mean = w[members].mean()
        if mean <= 0:
            raise HfFairError(f"--weight_column '{column}' is 0 for every example of group {int(g)}: nothing would be learned from it")
        out[members] = w[members] / mean
    return out.astype(np.float32)
