"""Supervised contrastive loss (Khosla et al. 2020) for synthetic pretraining: the paper's CE + SupCon.

Choices where the paper's text is silent (docs/CLASSIFIER.md, "CE + SupCon"):

* **One view, in-batch positives.** Each image is seen once per step, with the training
  augmentation the cross-entropy term already uses; its positives are the other images of the
  batch with the same key (label or group). A group-balanced synthetic batch of 64 holds about 16
  images of each group, so every anchor has positives, and the step costs one forward pass
  (Khosla et al.'s two-view form doubles it).
* **L_out** (the mean over positives sits outside the log), the form Khosla et al. found best.
* **Per-example weights act as multiplicities.** An example of weight w counts as w copies of
  itself: as an anchor, as a positive and in every denominator. Weights of 1 give the plain loss,
  and an example of weight 0 gets no gradient from either term.
* **Per process.** Under several processes each one contrasts its own batch; features are not
  gathered (a batch of 64 per process already holds positives for every group).
* The projection head (two linear layers, Khosla et al.'s MLP) is used in training only: the
  saved timm checkpoint is the classifier alone.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def supcon_loss(z: torch.Tensor, keys: torch.Tensor, temperature: float, weight: torch.Tensor | None = None) -> torch.Tensor:
    """SupCon L_out of projections ``z`` (B x D, normalised here) whose positives share ``keys``.

    loss_i = -1 / W_i * sum_{p in P(i)} w_p * log( exp(s_ip) / sum_{a != i} w_a exp(s_ia) ),
    s = z z^T / temperature, W_i = sum_{p in P(i)} w_p; the batch loss is the w-weighted mean over
    anchors that have a positive (0 when none has)."""
    n = z.shape[0]
    z = F.normalize(z.float(), dim=1)
    sim = z @ z.t() / temperature
    w = torch.ones(n, device=z.device) if weight is None else weight.to(z.device, torch.float32)
    others = ~torch.eye(n, dtype=torch.bool, device=z.device)
    # a stable denominator without log(0): shift by the row maximum, weight by multiplicity
    shift = sim.max(dim=1, keepdim=True).values.detach()
    denom = ((sim - shift).exp() * w[None, :] * others).sum(dim=1, keepdim=True)
    log_prob = sim - shift - denom.clamp_min(1e-30).log()
    positive = (keys[:, None] == keys[None, :]) & others
    pos_w = positive * w[None, :]
    mass = pos_w.sum(dim=1)
    has_pos = mass > 0
    per_anchor = -(pos_w * log_prob).sum(dim=1) / mass.clamp_min(1e-30)
    anchor_w = w * has_pos
    total = anchor_w.sum()
    if total <= 0:
        return sim.sum() * 0.0
    return (anchor_w * torch.where(has_pos, per_anchor, torch.zeros_like(per_anchor))).sum() / total


class ProjectionHead(nn.Module):
    """Khosla et al.'s MLP from the penultimate features to the contrastive space."""

    def __init__(self, in_features: int, out_features: int = 128):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_features, in_features), nn.ReLU(inplace=True), nn.Linear(in_features, out_features))

    def forward(self, x):
        return self.net(x)


def features_and_logits(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A timm model's pooled pre-logit features and its logits from one forward pass
    (``forward_features`` -> ``forward_head(pre_logits=True)`` -> the head's dropout and classifier)."""
    pre = model.forward_head(model.forward_features(x), pre_logits=True)
    drop = getattr(model, "head_drop", None)
    return pre, model.get_classifier()(drop(pre) if drop is not None else pre)


class WithProjection(nn.Module):
    """The classifier and its projection head as one module, so that a distributed wrapper (DDP)
    sees both in one forward pass and synchronises both heads' gradients."""

    def __init__(self, classifier: nn.Module, out_features: int = 128):
        super().__init__()
        self.classifier = classifier
        self.projection = ProjectionHead(classifier.num_features, out_features)

    def forward(self, x):
        pre, logits = features_and_logits(self.classifier, x)
        return logits, self.projection(pre)
