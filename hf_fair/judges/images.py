"""What every judge reads: a batch of images as one uint8 array (n x h x w x 3)."""

from __future__ import annotations

import numpy as np


def as_array(images) -> np.ndarray:
    if isinstance(images, np.ndarray):
        return images
    return np.stack([np.asarray(im.convert("RGB")) for im in images])
