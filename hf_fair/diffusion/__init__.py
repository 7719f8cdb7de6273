"""Text-to-image bases: the embedded tiny Stable Diffusion (offline) or any Hub / local pipeline.

``load_base("embedded")`` returns a plain diffusers ``StableDiffusionPipeline``; see
``hf_fair.diffusion.base``. The pieces of the embedded base: ``tokenizer`` (offline CLIP BPE),
``corpus`` (rendered digits), ``tiny_base`` (network configs), ``pretrain`` (accelerate loop),
``reference`` (digit/colour classifier) and ``adherence`` (prompt-adherence measurement).
"""

from hf_fair.diffusion.base import EMBEDDED, EMBEDDED_PATH, load_base, resolve_base

__all__ = ["EMBEDDED", "EMBEDDED_PATH", "load_base", "resolve_base"]
