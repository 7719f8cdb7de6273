"""The generic pretraining corpus: typeset digits, rendered on the fly with Pillow's bundled font.

Each image is 32x32 RGB (the benchmark's size): one digit 0-9 drawn with
``ImageFont.load_default(size=...)`` at a random size, stroke width, rotation and position,
supersampled 2x and reduced with a box filter, then coloured in one of ``COLORS`` (hue /
saturation / brightness jitter like the benchmark's) on a black background. Rendering
``STYLES``: ``typeset`` (thin to medium strokes), ``bold`` (thick strokes), ``lowres`` (a large
glyph reduced to 8-12 px and scaled back up bicubically) and ``scan8`` (the glyph squared in an
8x8 box at 17 grey levels, scaled up bicubically: how a low-resolution scan is rendered) and
``hand`` (procedurally written pen strokes, ``hf_fair.diffusion.embedded.handwriting``, through the same
scan rendering; captioned "handwritten" 70% of the time). The
shipped base was pretrained on ``typeset``, continued on ``hand`` (its UNet) and had its VAE
decoder refitted on ``hand``, ``typeset`` and ``scan8`` (docs/BASE.md, docs/RESULTS.md session 4). Captions
read like "a red digit 7", "a photo of a small blue digit seven", "a digit 3" (colour dropped),
"a green digit" (digit dropped) or "" (for classifier-free guidance).

Nothing here touches scikit-learn's handwritten digits: the base must learn digits and colours
but not the benchmark's handwriting (the same gap vanilla Stable Diffusion has to CelebA).
Everything is a pure function of a seed, so the corpus is reproducible without being stored.
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np
from PIL import Image, ImageFont, ImageDraw

from hf_fair.diffusion.embedded.handwriting import pen_mask
from hf_fair.diffusion.embedded.tokenizer import DIGIT_WORDS

IMAGE_SIZE = 32
SUPERSAMPLE = 2
# name -> (hue, saturation range); hues are spaced so that a +-0.03 jitter never overlaps.
COLORS: dict[str, tuple[float, tuple[float, float]]] = {
    "red": (0.0, (0.75, 1.0)),
    "orange": (0.08, (0.8, 1.0)),
    "yellow": (0.16, (0.75, 1.0)),
    "green": (1.0 / 3.0, (0.75, 1.0)),
    "cyan": (0.5, (0.75, 1.0)),
    "blue": (0.65, (0.75, 1.0)),
    "purple": (0.76, (0.75, 1.0)),
    "magenta": (0.87, (0.75, 1.0)),
    "white": (0.0, (0.0, 0.08)),
}
COLOR_NAMES: tuple[str, ...] = tuple(COLORS)
HUE_JITTER = 0.03
VALUE_RANGE = (0.7, 1.0)
FONT_SIZES = (16, 28)  # glyph font size at 32x32 (before supersampling)
SMALL_MAX, LARGE_MIN = 19, 25  # font sizes <= SMALL_MAX are captioned "small", >= LARGE_MIN "large"
MAX_ROTATION = 20.0
STROKE_WIDTHS = (0, 1, 2)  # at the supersampled scale
STYLES = ("typeset", "bold", "lowres", "scan8", "hand")  # which ones the shipped base saw: docs/BASE.md
STYLE_WEIGHTS = (0.4, 0.3, 0.3, 0.3, 0.6)
P_HANDWRITTEN_WORD = 0.7  # share of "hand" captions that say "handwritten"
SCAN_SIDE, SCAN_LEVELS = 8, 16  # "scan8": the glyph filling an 8x8 box at 17 grey levels, scaled up bicubically
BOLD_STROKE_WIDTHS = (3, 4)
LOWRES_FONT_SIZES = (28, 38)  # large: a scanned digit fills its frame
LOWRES_STROKE_WIDTHS = (1, 2, 3)
LOWRES_SIZES = (8, 12)  # the glyph is reduced to this many pixels a side before scaling back up


@dataclass(frozen=True)
class DigitSpec:
    digit: int
    color: str
    font_size: int
    stroke_width: int
    rotation: float
    dx: float  # position of the glyph inside the free margin, in [0, 1]
    dy: float
    hue: float
    saturation: float
    value: float
    style: str = "typeset"
    lowres: int = 0  # side of the low-resolution image (styles "lowres", "scan8", "hand")
    shape_seed: int = 0  # the pen strokes' seed (style "hand" only)


@lru_cache(maxsize=64)
def _font(size: int):
    return ImageFont.load_default(size=size)


@lru_cache(maxsize=4096)
def _glyph(digit: int, size: int, stroke: int, rotation_decideg: int) -> np.ndarray:
    """Tight-cropped supersampled intensity mask (uint8) of one rotated glyph."""
    s = size * SUPERSAMPLE
    canvas = Image.new("L", (3 * s, 3 * s), 0)
    draw = ImageDraw.Draw(canvas)
    draw.text((1.5 * s, 1.5 * s), str(digit), fill=255, font=_font(s), anchor="mm", stroke_width=stroke, stroke_fill=255)
    canvas = canvas.rotate(rotation_decideg / 10.0, resample=Image.BICUBIC)
    box = canvas.getbbox()
    return np.asarray(canvas.crop(box) if box else canvas)


def sample_spec(
    rng: np.random.Generator, digit: int | None = None, color: str | None = None, styles: tuple[str, ...] = ("typeset",)
) -> DigitSpec:
    """One random render. With ``styles=("typeset",)`` the draws are exactly those of the
    typeset-only corpus (the style is drawn last, and only when there is a choice)."""
    unknown = set(styles) - set(STYLES)
    if unknown or not styles:
        raise ValueError(f"styles {sorted(unknown) or styles} not in {STYLES}")
    color = color if color is not None else COLOR_NAMES[rng.integers(len(COLOR_NAMES))]
    hue, (smin, smax) = COLORS[color]
    spec = DigitSpec(
        digit=int(rng.integers(10)) if digit is None else int(digit),
        color=color,
        font_size=int(rng.integers(FONT_SIZES[0], FONT_SIZES[1] + 1)),
        stroke_width=int(rng.choice(STROKE_WIDTHS)),
        rotation=float(rng.uniform(-MAX_ROTATION, MAX_ROTATION)),
        dx=float(rng.uniform()),
        dy=float(rng.uniform()),
        hue=float((hue + rng.uniform(-HUE_JITTER, HUE_JITTER)) % 1.0),
        saturation=float(rng.uniform(smin, smax)),
        value=float(rng.uniform(*VALUE_RANGE)),
    )
    if len(styles) == 1 and styles[0] == "typeset":
        return spec
    weights = np.array([STYLE_WEIGHTS[STYLES.index(x)] for x in styles])
    style = styles[int(rng.choice(len(styles), p=weights / weights.sum()))]
    if style == "bold":
        return replace(spec, style=style, stroke_width=int(rng.choice(BOLD_STROKE_WIDTHS)))
    if style == "scan8":  # a tall glyph centred in its box, as a scanned digit
        return replace(spec, style=style, font_size=30, stroke_width=int(rng.choice((0, 1, 2))), lowres=SCAN_SIDE)
    if style == "hand":
        # font_size between the size words: a written digit fills its box, it is not "small" or "large"
        return replace(spec, style=style, font_size=SMALL_MAX + 3, lowres=SCAN_SIDE, shape_seed=int(rng.integers(2**31)))
    if style == "lowres":
        return replace(
            spec,
            style=style,
            font_size=int(rng.integers(LOWRES_FONT_SIZES[0], LOWRES_FONT_SIZES[1] + 1)),
            stroke_width=int(rng.choice(LOWRES_STROKE_WIDTHS)),
            lowres=int(rng.integers(LOWRES_SIZES[0], LOWRES_SIZES[1] + 1)),
        )
    return replace(spec, style=style)


def render(spec: DigitSpec) -> np.ndarray:
    """32x32x3 uint8 image of ``spec``."""
    if spec.style == "hand":
        return _scan8(pen_mask(spec.digit, spec.shape_seed), spec)
    big = IMAGE_SIZE * SUPERSAMPLE
    glyph = _glyph(spec.digit, spec.font_size, spec.stroke_width, int(round(spec.rotation * 10)))
    h, w = glyph.shape
    if spec.style == "scan8":
        return _scan8(glyph, spec)
    if h > big or w > big:  # never for the default ranges; keep the glyph whole anyway
        scale = big / max(h, w)
        glyph = np.asarray(Image.fromarray(glyph).resize((max(1, int(w * scale)), max(1, int(h * scale))), Image.BOX))
        h, w = glyph.shape
    y0 = int(round(spec.dy * (big - h)))
    x0 = int(round(spec.dx * (big - w)))
    mask = np.zeros((big, big), dtype=np.uint8)
    mask[y0 : y0 + h, x0 : x0 + w] = glyph
    small = Image.fromarray(mask).resize((IMAGE_SIZE, IMAGE_SIZE), Image.BOX)
    if spec.style == "lowres":
        small = small.resize((spec.lowres, spec.lowres), Image.BOX).resize((IMAGE_SIZE, IMAGE_SIZE), Image.BICUBIC)
    intensity = np.asarray(small, dtype=np.float32)[..., None] / 255.0
    rgb = np.array(colorsys.hsv_to_rgb(spec.hue, spec.saturation, spec.value), dtype=np.float32)
    return np.clip(intensity * rgb * 255.0 + 0.5, 0, 255).astype(np.uint8)


def _scan8(glyph: np.ndarray, spec: DigitSpec) -> np.ndarray:
    """The glyph squared and centred, box-reduced to 8x8, quantised to 17 grey levels and scaled
    up bicubically: the rendering a low-resolution digit scan goes through (font shapes only)."""
    h, w = glyph.shape
    side = max(h, w)
    canvas = np.zeros((side, side), dtype=np.uint8)
    canvas[(side - h) // 2 : (side - h) // 2 + h, (side - w) // 2 : (side - w) // 2 + w] = glyph
    small = np.asarray(Image.fromarray(canvas).resize((spec.lowres, spec.lowres), Image.BOX), dtype=np.float32)
    levels = np.round(small / 255.0 * SCAN_LEVELS) / SCAN_LEVELS * 255.0
    up = Image.fromarray(levels.astype(np.uint8)).resize((IMAGE_SIZE, IMAGE_SIZE), Image.BICUBIC)
    intensity = np.asarray(up, dtype=np.float32)[..., None] / 255.0
    rgb = np.array(colorsys.hsv_to_rgb(spec.hue, spec.saturation, spec.value), dtype=np.float32)
    return np.clip(intensity * rgb * 255.0 + 0.5, 0, 255).astype(np.uint8)


def size_word(spec: DigitSpec) -> str | None:
    if spec.font_size <= SMALL_MAX:
        return "small"
    if spec.font_size >= LARGE_MIN:
        return "large"
    return None


def caption(
    spec: DigitSpec,
    rng: np.random.Generator,
    p_empty: float = 0.1,
    p_drop_color: float = 0.05,
    p_drop_digit: float = 0.05,
) -> str:
    """A caption for ``spec``; random template, numeral or word, optional size; sometimes
    partial or empty (so that classifier-free guidance and partial prompts work)."""
    u = rng.uniform()
    if u < p_empty:
        return ""
    drop_color = u < p_empty + p_drop_color
    drop_digit = p_empty + p_drop_color <= u < p_empty + p_drop_color + p_drop_digit
    words = []
    size = size_word(spec)
    if size is not None and rng.uniform() < 0.3:
        words.append(size)
    if spec.style == "bold" and rng.uniform() < 0.5:
        words.append("bold" if rng.uniform() < 0.5 else "thick")
    if not drop_color:
        words.append(spec.color)
    if spec.style == "hand" and rng.uniform() < P_HANDWRITTEN_WORD:
        words.append("handwritten")
    words.append("digit")
    if not drop_digit:
        words.append(DIGIT_WORDS[spec.digit] if rng.uniform() < 0.25 else str(spec.digit))
    article = "an" if words[0][0] in "aeiou" else "a"
    prefix = "a photo of " if rng.uniform() < 0.2 else ""
    return prefix + article + " " + " ".join(words)


def prompt(color: str, digit: int) -> str:
    """The canonical prompt for one (colour, digit): "a red digit 7"."""
    article = "an" if color[0] in "aeiou" else "a"
    return f"{article} {color} digit {digit}"


def render_batch(
    rng: np.random.Generator,
    n: int,
    digits=None,
    colors=None,
    with_captions: bool = True,
    styles: tuple[str, ...] = ("typeset",),
    **caption_kwargs,
) -> tuple[np.ndarray, list[str], list[DigitSpec]]:
    """``n`` images (n, 32, 32, 3) uint8, their captions and specs; digits/colours random unless given."""
    specs = [
        sample_spec(rng, None if digits is None else digits[i], None if colors is None else colors[i], styles)
        for i in range(n)
    ]
    images = np.stack([render(s) for s in specs])
    caps = [caption(s, rng, **caption_kwargs) for s in specs] if with_captions else []
    return images, caps, specs


def to_tensor(images: np.ndarray):
    """uint8 (n, H, W, 3) -> float tensor (n, 3, H, W) in [-1, 1] (the VAE's range)."""
    import torch

    return torch.from_numpy(images).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


def corpus_dataset(n: int, seed: int = 0):
    """A ``datasets.Dataset`` view of ``n`` corpus images (image, caption, digit, color)."""
    import datasets

    rng = np.random.default_rng(seed)
    images, caps, specs = render_batch(rng, n)
    return datasets.Dataset.from_dict(
        {
            "image": [Image.fromarray(im) for im in images],
            "caption": caps,
            "digit": [s.digit for s in specs],
            "color": [s.color for s in specs],
        },
        features=datasets.Features(
            {
                "image": datasets.Image(),
                "caption": datasets.Value("string"),
                "digit": datasets.Value("int64"),
                "color": datasets.ClassLabel(names=list(COLOR_NAMES)),
            }
        ),
    )
