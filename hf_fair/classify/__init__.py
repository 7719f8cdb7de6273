"""Classifier training: timm models, robust objectives, an accelerate loop, model selection."""

from hf_fair.classify.config import OBJECTIVES, ClassifierArguments
from hf_fair.classify.objectives import Objective, make_objective

__all__ = ["OBJECTIVES", "ClassifierArguments", "Objective", "make_objective", "train_classifier"]


def train_classifier(*args, **kwargs):
    from hf_fair.classify.trainer import train_classifier as _train

    return _train(*args, **kwargs)
