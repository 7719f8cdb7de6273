"""What every tab of the Space shares: messages and error guarding, reading the page's inputs
(severity, dataset location, uploaded image), the run folder, and image helpers."""

from __future__ import annotations

import functools
import json
import logging
import os
import re
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402
from PIL import Image, UnidentifiedImageError  # noqa: E402

from hf_fair.data import load_group_dataset  # noqa: E402
from hf_fair.errors import HfFairError  # noqa: E402

logger = logging.getLogger("hf_fair.space")

ROOT = Path(__file__).resolve().parents[2]  # the checkout (or the bundle) that holds hf_fair/
DEFAULT_RUN = "runs/demo"
OFFLINE_DATASET = "colored-digits"
SEVERITY_CHOICES = ["none", "0.9", "0.95", "0.97", "0.99", "0.995"]
MAX_PIXELS = 40_000_000  # refuse larger uploads (decoding them would take seconds and gigabytes)
MAX_SIDE = 512  # larger images are shrunk for display; the classifier resizes to its own size
NO_RUN = "no run found: run `make demo` or `hf-fair run CONFIG`"


# ------------------------------------------------------------------ small helpers
def message_of(e: BaseException) -> str:
    """A one-paragraph message for the page: ours as is, anything else by type and first line."""
    if isinstance(e, HfFairError):
        return str(e)
    text = str(e).strip().splitlines()[0][:300] if str(e).strip() else ""
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def guarded(n_outputs: int, status: int = 0):
    """Run a handler; on any error show the message (toast + the status Markdown), keep serving.

    ``status`` is the index of the Markdown output that receives the message; the other outputs
    are left as they were.
    """

    def deco(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            except Exception as e:  # noqa: BLE001 — the page gets a message, never a stack trace
                msg = message_of(e)
                if not isinstance(e, HfFairError):
                    logger.exception("handler %s failed", fn.__name__)
                gr.Warning(msg, duration=8)
                out = [gr.skip()] * n_outputs
                out[status] = f"**Error:** {msg}"
                return tuple(out) if n_outputs > 1 else out[0]

        return wrapper

    return deco


def parse_severity(text) -> float | None:
    text = str(text if text is not None else "").strip().lower()
    if text in ("", "none", "no", "off"):
        return None
    try:
        b = float(text)
    except ValueError:
        raise HfFairError(f"severity '{text}' is not a number; pick one of {SEVERITY_CHOICES} or type b in (0.5, 1)") from None
    if not 0.5 < b < 1:
        raise HfFairError(f"severity {b} is outside (0.5, 1): it is the share of each class in its majority group")
    return b


def data_kwargs(dataset: str, location: str | None, severity) -> dict:
    """Arguments of ``load_group_dataset`` from the page: a folder goes to data_dir, anything else
    to hub_dataset (the loader says which of them a dataset accepts)."""
    kw = {"dataset": dataset, "severity": parse_severity(severity)}
    location = (location or "").strip()
    if location:
        path = Path(location).expanduser()
        looks_like_path = location.startswith(("/", ".", "~")) or location.count("/") > 1 or "\\" in location
        if path.is_dir() and not (path / "dataset_dict.json").is_file():
            kw["data_dir"] = str(path)
        elif looks_like_path and not path.exists():
            raise HfFairError(f"folder '{location}' does not exist; give an existing folder in the dataset's original layout, or a Hub dataset id (namespace/name)")
        else:
            kw["hub_dataset"] = location
    return kw


def load_data(dataset: str, location: str | None = None, severity=None):
    return _load_data(json.dumps(data_kwargs(dataset, location, severity), sort_keys=True))


@functools.lru_cache(maxsize=4)
def _load_data(key: str):
    kw = json.loads(key)
    dataset, location = kw["dataset"], kw.get("data_dir") or kw.get("hub_dataset")
    try:
        return load_group_dataset(**kw)
    except HfFairError as e:
        if "--data-dir" in str(e) or "--hub-dataset" in str(e):
            raise HfFairError(f"{e} (on this page the 'local folder or Hub dataset id' box sets --data-dir for a "
                              "folder and --hub-dataset for a Hub id; colored-digits needs neither)") from None
        raise
    except Exception as e:  # noqa: BLE001 — network, missing files, wrong layout
        where = f" from '{location}'" if location else ""
        raise HfFairError(
            f"could not load dataset '{dataset}'{where} ({message_of(e)}). "
            f"'{OFFLINE_DATASET}' works offline; the others need a local folder in the source's original "
            "layout (celeba, waterbirds, utkface, imagefolder) or a reachable Hub dataset id"
        ) from None


_CODE = re.compile(r"`[^`]*`")


def table_md(text: str) -> str:
    """Markdown with table cells' code spans made safe: a bare pipe inside a code span splits a
    GFM table cell (results files written before the library escaped it)."""
    def fix(m):
        return re.sub(r"(?<!\\)\|", r"\\|", m.group(0))

    return "\n".join(_CODE.sub(fix, line) if line.lstrip().startswith("|") else line for line in text.splitlines())


def thumbs(images, side: int = 96) -> list[Image.Image]:
    """Same-size RGB thumbnails (grids need equal sizes); small images are enlarged (nearest)."""
    out = []
    for im in images:
        im = im.convert("RGB")
        w, h = im.size
        scale = side / max(w, h)
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        out.append(im.resize(size, Image.NEAREST if scale >= 1 else Image.BILINEAR))
    target = out[0].size
    return [im if im.size == target else im.resize(target, Image.BILINEAR) for im in out]


def upscaled(im: Image.Image, side: int = 128) -> Image.Image:
    w, h = im.size
    k = max(1, side // max(w, h))
    return im.resize((w * k, h * k), Image.NEAREST) if k > 1 else im


# ------------------------------------------------------------------ run folder
def resolve_run(text: str | None) -> Path:
    """The run folder as typed; a relative path that is not under the working directory is
    also looked up under the repository root (``python Space/app.py`` from anywhere)."""
    p = Path((text or DEFAULT_RUN).strip() or DEFAULT_RUN).expanduser()
    if not p.is_absolute() and not p.exists() and (ROOT / p).exists():
        return ROOT / p
    return p



def read_image(path) -> tuple[Image.Image, list[str]]:
    """An uploaded file as an RGB image, with notes on what was converted; clear errors otherwise."""
    if path is None:
        raise HfFairError("no image: upload an image file (PNG, JPEG, WebP, ...) or pick a test image")
    path = Path(getattr(path, "name", path))
    notes = []
    try:
        with Image.open(path) as probe:
            w, h = probe.size
            mode, fmt = probe.mode, probe.format
            if w * h > MAX_PIXELS:
                raise HfFairError(f"'{path.name}' is {w}x{h} pixels, too large for this demo (limit {MAX_PIXELS // 1_000_000} megapixels); resize it first")
            probe.draft("RGB", (MAX_SIDE, MAX_SIDE))  # JPEG: decode at a reduced size
            im = probe.convert("RGB")
    except HfFairError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as e:
        raise HfFairError(f"'{path.name}' is not an image this app can read ({message_of(e)}); upload a PNG, JPEG or WebP file") from None
    if mode != "RGB":
        notes.append(f"converted from mode {mode} to RGB")
    if max(im.size) > MAX_SIDE:
        im.thumbnail((MAX_SIDE, MAX_SIDE), Image.BILINEAR)
        notes.append(f"shrunk from {w}x{h} to {im.size[0]}x{im.size[1]}")
    notes.insert(0, f"{fmt or 'image'} {w}x{h}")
    return im, notes
