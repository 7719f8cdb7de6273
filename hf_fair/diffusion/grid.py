"""Image grids (PIL) for samples and docs."""

from __future__ import annotations

import math

from PIL import Image


def make_grid(images, ncols: int | None = None, upscale: int = 1, pad: int = 0) -> Image.Image:
    """Tile equally sized PIL images row by row; ``upscale`` enlarges with nearest neighbour."""
    images = list(images)
    if not images:
        raise ValueError("make_grid needs at least one image")
    ncols = ncols or math.ceil(math.sqrt(len(images)))
    nrows = math.ceil(len(images) / ncols)
    w, h = images[0].size
    w, h = w * upscale, h * upscale
    grid = Image.new("RGB", (ncols * w + (ncols - 1) * pad, nrows * h + (nrows - 1) * pad), (40, 40, 40))
    for i, im in enumerate(images):
        if upscale != 1:
            im = im.resize((w, h), Image.NEAREST)
        r, c = divmod(i, ncols)
        grid.paste(im.convert("RGB"), (c * (w + pad), r * (h + pad)))
    return grid
