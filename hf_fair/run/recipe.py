"""The synthetic pretraining recipe of a run: one section, applied to every synthetic source.

The paper complements its generators with a CLIP filter, a CLIP weight per synthetic image and
a CE + SupCon pretraining loss. A run config states them once::

    recipe: {filter: clip, weighting: clip_score, supcon_weight: 0.5, supcon_temperature: 0.1}

and the runner passes them to the generation of every source (vanilla included) and to every
synthetic pretraining, so that sources are compared under one recipe. The settings land in
``GenerateArguments`` and ``ClassifierArguments``, so they enter those stages' keys: changing the
weighting re-runs pretraining and what follows, not generation.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hf_fair.classify.config import SUPCON_POSITIVES
from hf_fair.classify.weights import WEIGHT_RULES
from hf_fair.errors import HfFairError
from hf_fair.judges.quality import FILTERS

WEIGHTINGS = ("none", "clip_score")


@dataclass
class RecipeArguments:
    filter: str | None = field(default=None, metadata={"help": f"generation filter of every source: {list(FILTERS)} (unset: the generate section's)"})
    clip_model: str | None = field(default=None, metadata={"help": "CLIP of the clip filter: Hub id or folder (default: the embedded CLIP with the embedded base)"})
    clip_min_prob: float | None = field(default=None, metadata={"help": "clip filter: keep an image at this own-group probability (unset: when its group is the most likely)"})
    weighting: str = field(default="none", metadata={"help": f"per-image pretraining weight: {list(WEIGHTINGS)} (clip_score needs filter: clip)"})
    weight_rule: str = field(default="group_mean", metadata={"help": f"normalisation of the weights: {list(WEIGHT_RULES)}"})
    supcon_weight: float = field(default=0.0, metadata={"help": "lambda of SupCon beside cross-entropy in pretraining (0 = CE only)"})
    supcon_temperature: float = field(default=0.1, metadata={"help": "SupCon temperature"})
    supcon_positives: str = field(default="label", metadata={"help": f"SupCon positives: {list(SUPCON_POSITIVES)}"})

    def __post_init__(self):
        if self.filter is not None and self.filter not in FILTERS:
            raise HfFairError(f"recipe.filter '{self.filter}' is not one of {list(FILTERS)}")
        if self.weighting not in WEIGHTINGS:
            raise HfFairError(f"recipe.weighting '{self.weighting}' is not one of {list(WEIGHTINGS)}")
        if self.weighting == "clip_score" and self.filter != "clip":
            raise HfFairError("recipe.weighting clip_score reads the clip_score column that only the CLIP filter writes: set recipe.filter: clip")
        if not self.supcon_weight >= 0:
            raise HfFairError(f"recipe.supcon_weight (--supcon_weight) must be >= 0 (0 = CE only), got {self.supcon_weight}")
        if not self.supcon_temperature > 0:
            raise HfFairError(f"recipe.supcon_temperature (--supcon_temperature) must be > 0, got {self.supcon_temperature}")
        if self.supcon_positives not in SUPCON_POSITIVES:
            raise HfFairError(f"recipe.supcon_positives '{self.supcon_positives}' is not one of {list(SUPCON_POSITIVES)}")
        if self.weight_rule not in WEIGHT_RULES:
            raise HfFairError(f"recipe.weight_rule '{self.weight_rule}' is not one of {list(WEIGHT_RULES)}")
        if self.filter != "clip" and (self.clip_model is not None or self.clip_min_prob is not None):
            raise HfFairError("recipe.clip_model / recipe.clip_min_prob need recipe.filter: clip")

    def generate_settings(self) -> dict:
        """Options of the generate section this recipe sets (none when it leaves the filter alone)."""
        if self.filter is None:
            return {}
        out = {"filter_classifier": self.filter}
        if self.clip_model is not None:
            out["clip_model"] = self.clip_model
        if self.clip_min_prob is not None:
            out["clip_min_prob"] = self.clip_min_prob
        return out

    def pretrain_settings(self) -> dict:
        """Options of synthetic pretraining; defaults are left out, so a run without a recipe keeps
        the stage keys it had before the recipe existed."""
        out = {}
        if self.weighting == "clip_score":
            out.update(weight_column="clip_score", weight_rule=self.weight_rule)
        if self.supcon_weight > 0:
            out.update(supcon_weight=self.supcon_weight, supcon_temperature=self.supcon_temperature,
                       supcon_positives=self.supcon_positives)
        return out

    def describe(self) -> str:
        scored_only = self.filter == "clip" and self.clip_min_prob == 0
        parts = ["CLIP scores, no filter" if scored_only else f"filter {self.filter or 'as generate'}"]
        rule = "" if self.weight_rule == "group_mean" else f" ({self.weight_rule})"
        parts.append(f"CLIP weighting{rule}" if self.weighting == "clip_score" else "no weighting")
        parts.append(f"CE + {self.supcon_weight} SupCon (tau {self.supcon_temperature}, {self.supcon_positives})" if self.supcon_weight > 0 else "CE only")
        return ", ".join(parts)


GENERATE_KEYS = {"filter_classifier", "clip_model", "clip_min_prob"}
PRETRAIN_KEYS = {"weight_column", "weight_rule", "supcon_weight", "supcon_temperature", "supcon_positives"}
