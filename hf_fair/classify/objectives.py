"""Training objectives behind one interface (cf. SubpopBench's Algorithm, SpuCo's robust_train).

Every objective sees the training set's labels and groups once (``setup``), may ask for a
sampling distribution (``sample_weights``), and turns a batch's logits into a loss
(``loss(logits, y, group, weight)``; ``weight`` is an optional per-example loss weight, e.g. the
CLIP weighting of synthetic pretraining, that scales each example's cross-entropy); ``update`` is called after each optimizer step with the batch's
per-sample losses. State that must survive a resume goes through ``state_dict``. Objectives with
a phase outside the training loop use two hooks the trainer calls for every objective:
``before_training`` (JTT's identification model) and ``after_training`` (DFR's last-layer refit).

``OBJECTIVES`` is the registry (name -> class); ``@register`` adds one, and every list of
objective names (CLI choices, run-config methods, baselines) reads it.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from hf_fair.errors import HfFairError


OBJECTIVES: dict[str, type["Objective"]] = {}


def register(cls: type["Objective"]) -> type["Objective"]:
    OBJECTIVES[cls.name] = cls
    return cls


class Objective:
    name = "erm"
    needs_groups = False
    needs_validation = False
    # the after_training step replaces the classifier head whole (DFR): on frozen features the
    # training epochs would be thrown away, so the trainer skips them
    replaces_head = False

    @classmethod
    def from_args(cls, args) -> "Objective":
        """Build from a ClassifierArguments (objective-specific options live there)."""
        return cls()

    def setup(self, labels: np.ndarray, groups: np.ndarray | None, n_groups: int) -> None:
        self.n_groups = n_groups
        if self.needs_groups and groups is None:
            raise HfFairError(
                f"objective '{self.name}' needs group annotations, but the training data has no "
                "'group' column; load it with hf_fair.data (label/attribute/group) or use --objective erm"
            )
        self.group_counts = None if groups is None else np.bincount(groups, minlength=n_groups)

    def sample_weights(self) -> np.ndarray | None:
        """Per-example sampling weights for the training sampler (None: plain shuffling)."""
        return None

    def per_sample(self, logits: torch.Tensor, y: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
        ce = F.cross_entropy(logits.float(), y, reduction="none")
        return ce if weight is None else ce * weight.to(ce.device, ce.dtype)

    def loss(self, logits: torch.Tensor, y: torch.Tensor, group: torch.Tensor | None, weight: torch.Tensor | None = None) -> torch.Tensor:
        return self.per_sample(logits, y, weight).mean()

    def update(self, per_sample_loss: torch.Tensor, group: torch.Tensor | None) -> None:
        pass

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass

    def before_training(self, run, train, train_tf, eval_tf, n_classes: int) -> None:
        """Called once before the first epoch of a fresh (not resumed) run."""

    def after_training(self, run, model, dsd, spec, eval_tf):
        """Called on the selected model; returns (model, report or None)."""
        return model, None


@register
class ERM(Objective):
    name = "erm"


@register
class Reweight(Objective):
    """Loss weights proportional to 1 / n_g (normalised to mean 1 over the training set)."""

    name = "reweight"
    needs_groups = True

    def setup(self, labels, groups, n_groups):
        super().setup(labels, groups, n_groups)
        counts = self.group_counts.astype(np.float64)
        present = counts > 0
        w = np.zeros(n_groups)
        w[present] = len(groups) / (present.sum() * counts[present])
        self.weights = torch.tensor(w, dtype=torch.float32)

    def loss(self, logits, y, group, weight=None):
        w = self.weights.to(logits.device)[group]
        return (self.per_sample(logits, y, weight) * w).mean()


@register
class Resample(Objective):
    """Group-balanced sampling (each group drawn equally often), plain loss."""

    name = "resample"
    needs_groups = True

    def setup(self, labels, groups, n_groups):
        super().setup(labels, groups, n_groups)
        self._groups = groups

    def sample_weights(self):
        return 1.0 / self.group_counts[self._groups]


@register
class GroupDRO(Objective):
    """Online Group-DRO (Sagawa et al. 2020): q_g <- q_g * exp(eta * (loss_g + C / sqrt(n_g))),
    normalised; the loss is sum_g q_g * loss_g over the groups in the batch."""

    name = "groupdro"
    needs_groups = True

    @classmethod
    def from_args(cls, args):
        return cls(args.groupdro_eta, args.groupdro_c)

    def __init__(self, eta: float = 0.01, c: float = 0.0):
        if eta <= 0:
            raise HfFairError(f"--groupdro_eta must be > 0, got {eta}")
        self.eta, self.c = eta, c

    def setup(self, labels, groups, n_groups):
        super().setup(labels, groups, n_groups)
        self.q = torch.ones(n_groups) / n_groups
        counts = torch.tensor(self.group_counts, dtype=torch.float32).clamp(min=1)
        self.adjust = self.c / counts.sqrt()

    def _group_losses(self, per_sample, group):
        onehot = F.one_hot(group, self.n_groups).float()  # (B, G)
        n = onehot.sum(0)
        sums = onehot.t() @ per_sample
        return sums / n.clamp(min=1), n > 0

    def loss(self, logits, y, group, weight=None):
        per_sample = self.per_sample(logits, y, weight)
        group_loss, present = self._group_losses(per_sample, group)
        q = self.q.to(logits.device)
        with torch.no_grad():
            adjusted = group_loss + self.adjust.to(logits.device)
            q = q * torch.exp(self.eta * adjusted * present.float())
            q = q / q.sum()
            self.q = q.detach().cpu()
        return (q * group_loss).sum()

    def state_dict(self):
        return {"q": self.q.tolist()}

    def load_state_dict(self, state):
        if "q" in state:
            self.q = torch.tensor(state["q"], dtype=torch.float32)


@register
class JTT(Objective):
    """Just Train Twice (Liu et al. 2021): an ERM model trained for a few epochs marks its
    training errors; the final model is trained with those examples upsampled by lambda."""

    name = "jtt"

    @classmethod
    def from_args(cls, args):
        return cls(args.jtt_epochs, args.jtt_lambda)

    def __init__(self, epochs: int = 2, lam: float = 20.0):
        if lam < 1:
            raise HfFairError(f"--jtt_lambda must be >= 1, got {lam}")
        self.epochs, self.lam = epochs, lam
        self.errors: np.ndarray | None = None

    def set_error_set(self, errors: np.ndarray) -> None:
        self.errors = errors.astype(bool)

    def before_training(self, run, train, train_tf, eval_tf, n_classes):
        self.set_error_set(run.training_errors(train, train_tf, eval_tf, n_classes, self.epochs))

    def sample_weights(self):
        if self.errors is None:
            return None
        return np.where(self.errors, self.lam, 1.0)

    def state_dict(self):
        return {"errors": None if self.errors is None else np.flatnonzero(self.errors).tolist(), "n": None if self.errors is None else len(self.errors)}

    def load_state_dict(self, state):
        if state.get("errors") is not None:
            e = np.zeros(state["n"], dtype=bool)
            e[state["errors"]] = True
            self.errors = e


@register
class DFR(ERM):
    """Deep Feature Reweighting (Kirichenko et al. 2023): features are trained with ERM (or come
    from --init); the last layer is then refit on group-balanced validation data."""

    name = "dfr"
    needs_groups = True
    needs_validation = True
    replaces_head = True

    def after_training(self, run, model, dsd, spec, eval_tf):
        return run.refit_last_layer(model, dsd, spec, eval_tf)


def make_objective(args) -> Objective:
    if args.objective not in OBJECTIVES:
        raise HfFairError(f"unknown objective '{args.objective}'; one of {list(OBJECTIVES)}")
    return OBJECTIVES[args.objective].from_args(args)
