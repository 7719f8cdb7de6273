"""hf-fair: fair image classifiers from diffusion-generated, group-balanced synthetic data."""

__version__ = "0.1.0"

from hf_fair.errors import HfFairError  # noqa: E402

# registers hf-fair's timm models (resnet10_s1, ...): after `import hf_fair`, a saved classifier
# loads as its card says, timm.create_model("local-dir:<folder>", pretrained=True). Only timm comes with it.
from hf_fair.classify import small_resnets  # noqa: E402, F401

__all__ = ["HfFairError", "__version__"]
