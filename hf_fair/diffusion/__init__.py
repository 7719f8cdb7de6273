"""Text-to-image bases: the embedded tiny Stable Diffusion (offline) or any Hub / local pipeline.

``load_base("embedded")`` returns a plain diffusers ``StableDiffusionPipeline``; see
``hf_fair.diffusion.base``; ``grid`` and ``sample_cli`` draw image grids from a base. The pieces
of the embedded base live in ``hf_fair.diffusion.embedded``. Adapters are ``hf_fair.adapters``,
synthetic datasets ``hf_fair.generate``.
"""

from hf_fair.diffusion.base import EMBEDDED, EMBEDDED_PATH, base_revision, load_base, resolve_base

__all__ = ["EMBEDDED", "EMBEDDED_PATH", "base_revision", "load_base", "resolve_base"]
