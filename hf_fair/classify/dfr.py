"""Deep Feature Reweighting: refit the last layer on group-balanced held-out data.

Following Kirichenko et al. (2023): features from the frozen network, several group-balanced
subsamples of the validation split, L1-regularised logistic regression with C chosen by
worst-group accuracy on the other half of the validation split; the averaged linear model is
written into the network's classifier head.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from hf_fair.errors import HfFairError
from hf_fair.metrics import group_metrics

C_GRID = (1.0, 0.7, 0.3, 0.1, 0.07, 0.03, 0.01)


def _l1_logistic(c: float) -> LogisticRegression:
    """L1 logistic regression; scikit-learn 1.8 replaced ``penalty`` by ``l1_ratio``."""
    import sklearn

    major, minor = (int(x) for x in sklearn.__version__.split(".")[:2])
    if (major, minor) >= (1, 8):
        return LogisticRegression(l1_ratio=1.0, C=c, solver="liblinear", max_iter=1000)
    return LogisticRegression(penalty="l1", C=c, solver="liblinear", max_iter=1000)


def _balanced_subsample(groups: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    present = np.unique(groups)
    n = min(int((groups == g).sum()) for g in present)
    return np.concatenate([rng.choice(np.flatnonzero(groups == g), n, replace=False) for g in present])


def _fit(x, y, groups, c, repeats, rng, n_classes):
    coefs, intercepts = [], []
    for _ in range(repeats):
        idx = _balanced_subsample(groups, rng)
        if len(np.unique(y[idx])) < 2:
            continue
        clf = _l1_logistic(c)
        clf.fit(x[idx], y[idx])
        coef, icpt = clf.coef_, clf.intercept_
        if n_classes == 2 and coef.shape[0] == 1:  # binary: logits [-z/2, z/2]
            coef = np.concatenate([-coef / 2, coef / 2])
            icpt = np.concatenate([-icpt / 2, icpt / 2])
        coefs.append(coef)
        intercepts.append(icpt)
    if not coefs:
        raise HfFairError("DFR: the group-balanced validation subsamples hold a single class; DFR needs both classes in validation")
    return np.mean(coefs, 0), np.mean(intercepts, 0)


def refit_last_layer(
    features: np.ndarray, labels: np.ndarray, groups: np.ndarray, n_classes: int, n_groups: int, repeats: int, seed: int
) -> tuple[np.ndarray, np.ndarray, dict]:
    """Return (weight, bias) for logits = features @ weight.T + bias, and a tuning report."""
    if len(np.unique(groups)) < 2:
        raise HfFairError("DFR: validation data has fewer than two groups; it needs group annotations")
    scaler = StandardScaler().fit(features)
    x = scaler.transform(features)
    rng = np.random.default_rng(seed)
    # Tune C on halves of the validation split (each half keeps every group when it can).
    perm = rng.permutation(len(x))
    half_a, half_b = np.sort(perm[: len(x) // 2]), np.sort(perm[len(x) // 2 :])
    scores = {}
    for c in C_GRID:
        try:
            w, b = _fit(x[half_a], labels[half_a], groups[half_a], c, repeats, rng, n_classes)
        except (HfFairError, ValueError):
            continue
        pred = np.argmax(x[half_b] @ w.T + b, axis=1)
        scores[c] = group_metrics(pred, labels[half_b], groups[half_b], n_groups)["worst_group_acc"]
    best_c = max(scores, key=scores.get) if scores else C_GRID[0]
    w, b = _fit(x, labels, groups, best_c, repeats, rng, n_classes)
    # Fold the standardisation into the linear layer.
    w_raw = w / scaler.scale_
    b_raw = b - (w * scaler.mean_ / scaler.scale_).sum(1)
    return w_raw.astype(np.float32), b_raw.astype(np.float32), {"C": best_c, "tuning_worst_group_acc": scores}


def set_head(model: torch.nn.Module, weight: np.ndarray, bias: np.ndarray) -> None:
    head = model.get_classifier()
    if not isinstance(head, torch.nn.Linear):
        raise HfFairError(f"DFR needs a linear classifier head, this model has {type(head).__name__}")
    with torch.no_grad():
        head.weight.copy_(torch.from_numpy(weight))
        head.bias.copy_(torch.from_numpy(bias))
