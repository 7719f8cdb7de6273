"""Classifier training: timm models, robust objectives, an accelerate loop, model selection.

The names below load on first use: ``import hf_fair`` imports ``hf_fair.classify.small_resnets``
(to register hf-fair's timm models) and should not pull the trainer's dependencies with it.
"""

import importlib

_WHERE = {
    "OBJECTIVES": "hf_fair.classify.config",
    "ClassifierArguments": "hf_fair.classify.config",
    "Objective": "hf_fair.classify.objectives",
    "make_objective": "hf_fair.classify.objectives",
    "train_classifier": "hf_fair.classify.trainer",
}
__all__ = list(_WHERE)


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'hf_fair.classify' has no attribute '{name}'")
