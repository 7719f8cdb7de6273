"""hf-fair: fair image classifiers from diffusion-generated, group-balanced synthetic data."""

__version__ = "0.1.0"

from hf_fair.errors import HfFairError  # noqa: E402

__all__ = ["HfFairError", "__version__"]
