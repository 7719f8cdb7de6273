"""Procedural handwriting: digits drawn as pen strokes, for the base's corpus style ``hand``.

Each digit is a few strokes (lines and elliptic arcs) in a unit box, the way digits are commonly
written by hand (an open or closed 4, a 7 with or without a crossbar, a 1 with or without a
flag). Every control value is jittered, the whole digit is slanted, rotated and stretched, drawn
with a round pen of random width, then rendered like a low-resolution scan (squared, 8x8 box, 17
grey levels, scaled up bicubically). Nothing here reads scikit-learn's digits: the shapes are
generic handwriting, written down once as strokes; how well a real-data classifier reads them is
measured in docs/RESULTS.md (session 3).
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

CANVAS = 96  # pen drawing resolution before the scan's reduction
PEN_WIDTH = (0.09, 0.2)  # fraction of the canvas
SLANT = (-0.35, 0.15)  # shear; negative leans right, as most handwriting does
ROTATION = 12.0  # degrees either way
ASPECT = (0.8, 1.3)  # width stretch before the digit is squared into its box
P_CROSSED_SEVEN = 0.7
P_FLAGGED_ONE, P_FOOTED_ONE = 0.5, 0.3
P_OPEN_FOUR = 0.5


def _arc(cx, cy, rx, ry, t0, t1, n=24) -> np.ndarray:
    t = np.deg2rad(np.linspace(t0, t1, n))
    return np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], 1)


def _line(*points) -> np.ndarray:
    s = np.linspace(0.0, 1.0, 8)[:, None]
    return np.concatenate([np.asarray(a) * (1 - s) + np.asarray(b) * s for a, b in zip(points[:-1], points[1:])])


def strokes(digit: int, rng: np.random.Generator) -> list[np.ndarray]:
    """The pen strokes of one written ``digit`` (x right, y down, roughly in [0, 1]^2)."""
    j = lambda s=0.05: rng.normal(0.0, s)  # noqa: E731 - one jitter per control value
    if digit == 0:
        return [_arc(0.5 + j(), 0.5, 0.32 + j(), 0.47 + j(0.02), -90, 275 + j(10))]
    if digit == 1:
        out = [_line((0.55 + j(), 0.02), (0.5 + j(), 0.98))]
        if rng.uniform() < P_FLAGGED_ONE:
            out.append(_line((0.3 + j(), 0.22 + j()), (0.55, 0.02)))
        if rng.uniform() < P_FOOTED_ONE:
            out.append(_line((0.3, 0.98), (0.75, 0.98)))
        return out
    if digit == 2:
        top = _arc(0.5 + j(0.03), 0.3, 0.33 + j(0.03), 0.27 + j(0.03), -170 + j(10), 30 + j(10))
        return [np.concatenate([top, _line(top[-1], (0.12 + j(), 0.97), (0.9 + j(), 0.97 + j(0.02)))])]
    if digit == 3:
        upper = _arc(0.48, 0.27, 0.3 + j(0.03), 0.24, -150 + j(10), 90)
        lower = _arc(0.48, 0.74, 0.36 + j(0.03), 0.24, -90, 150 + j(10))
        return [np.concatenate([upper, lower])]
    if digit == 4:
        x = 0.65 + j()
        if rng.uniform() < P_OPEN_FOUR:
            return [_line((0.2 + j(), 0.0), (0.15 + j(), 0.6 + j()), (0.92, 0.6)), _line((x, 0.05), (x + j(0.03), 1.0))]
        return [_line((x, 0.0), (0.1 + j(), 0.65 + j()), (0.92, 0.65 + j(0.03))), _line((x + 0.03, 0.3), (x, 1.0))]
    if digit == 5:
        top = _line((0.85 + j(), 0.03), (0.25 + j(), 0.03), (0.2 + j(), 0.46 + j()))
        return [np.concatenate([top, _arc(0.47, 0.7, 0.36 + j(0.03), 0.28, -125 + j(10), 145 + j(10))])]
    if digit == 6:
        stem = _line((0.75 + j(), 0.02), (0.42, 0.17), (0.24, 0.42), (0.18, 0.7))
        return [stem, _arc(0.5 + j(0.03), 0.71, 0.32 + j(0.03), 0.27 + j(0.02), 180, 540)]
    if digit == 7:
        out = [_line((0.1 + j(), 0.03 + j(0.02)), (0.9 + j(), 0.03), (0.42 + j(0.08), 1.0))]
        if rng.uniform() < P_CROSSED_SEVEN:
            out.append(_line((0.3, 0.5), (0.85, 0.5)))
        return out
    if digit == 8:
        return [_arc(0.5 + j(0.03), 0.27, 0.27 + j(0.03), 0.24, 0, 360), _arc(0.5 + j(0.03), 0.73, 0.34 + j(0.03), 0.27, 0, 360)]
    if digit == 9:
        loop = _arc(0.5, 0.3, 0.32 + j(0.03), 0.27 + j(0.02), 0, 360)
        return [loop, _line((0.82, 0.3), (0.78 + j(), 0.65), (0.62 + j(0.08), 1.0))]
    raise ValueError(f"digit must be 0-9, got {digit}")


def pen_mask(digit: int, seed: int) -> np.ndarray:
    """uint8 (h, w) ink mask of one written digit, tight-cropped; a pure function of the seed."""
    rng = np.random.default_rng(seed)
    parts = strokes(digit, rng)
    angle = np.deg2rad(rng.uniform(-ROTATION, ROTATION))
    rotate = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    transform = rotate @ np.array([[rng.uniform(*ASPECT), rng.uniform(*SLANT)], [0.0, 1.0]])
    parts = [(p - 0.5) @ transform.T for p in parts]
    lo = np.concatenate(parts).min(0)
    extent = np.concatenate(parts).max(0) - lo
    scale = CANVAS * 0.8 / max(extent.max(), 1e-6)
    offset = (CANVAS - extent * scale) / 2
    width = int(rng.uniform(*PEN_WIDTH) * CANVAS)
    canvas = Image.new("L", (CANVAS, CANVAS), 0)
    draw = ImageDraw.Draw(canvas)
    for p in parts:
        q = (p - lo) * scale + offset
        draw.line([tuple(x) for x in q], fill=255, width=width, joint="curve")
        for x, y in (q[0], q[-1]):  # round pen ends
            draw.ellipse([x - width / 2, y - width / 2, x + width / 2, y + width / 2], fill=255)
    box = canvas.getbbox()
    return np.asarray(canvas.crop(box) if box else canvas)
