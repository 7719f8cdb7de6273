"""One way to build an ``accelerate.Accelerator`` for every stage.

``hf-fair run`` trains adapters, generates and trains classifiers in one process, and the
stages may ask for different precisions (a config's ``adapters.mixed_precision: fp16`` next to
the classifier's ``auto`` -> bf16). accelerate keeps one shared state per process and refuses a
second Accelerator with another precision, so the precision part of that state is reset between
stages (the process group, held by ``PartialState``, is kept).
"""

from __future__ import annotations

import logging

import torch

logger = logging.getLogger(__name__)


def resolve_mixed_precision(choice: str) -> str:
    """``auto``: bf16 where the GPU supports it, else fp16 on GPU, else none. ``fp16`` asked for
    on a machine without CUDA runs in fp32 (CPU kernels have no fp16 autocast worth using)."""
    if choice == "auto":
        if torch.cuda.is_available():
            return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        return "no"
    if choice == "fp16" and not torch.cuda.is_available():
        logger.warning("mixed_precision fp16 needs a CUDA device; running in fp32 on this machine")
        return "no"
    return choice


def make_accelerator(mixed_precision: str = "no", **kwargs):
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState

    precision = resolve_mixed_precision(mixed_precision)
    state = AcceleratorState._shared_state
    if state and str(state.get("_mixed_precision", precision)) != precision:
        AcceleratorState._reset_state(reset_partial_state=False)
    return Accelerator(mixed_precision=precision, cpu=not torch.cuda.is_available(), **kwargs)
