"""What every tab of the Space shares: messages and error guarding, reading the page's inputs
(severity, dataset location, uploaded image), the run folder and how its paths are shown, the
app's temporary folder, and image helpers."""

from __future__ import annotations

import atexit
import contextlib
import functools
import json
import logging
import os
import re
import shutil
import signal
import tempfile
import threading
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402
from PIL import Image, UnidentifiedImageError  # noqa: E402

from hf_fair.data import load_group_dataset  # noqa: E402
from hf_fair.errors import HfFairError, first_line  # noqa: E402
from hf_fair.run.presets import DEMO_RUN  # noqa: E402

logger = logging.getLogger("hf_fair.space")

ROOT = Path(__file__).resolve().parents[2]  # the checkout (or the bundle) that holds hf_fair/
DEFAULT_RUN = DEMO_RUN  # `make demo`'s run folder
OFFLINE_DATASET = "colored-digits"
SEVERITY_CHOICES = ["none", "0.9", "0.95", "0.97", "0.99", "0.995"]
MAX_PIXELS = 40_000_000  # refuse larger uploads (decoding them would take seconds and gigabytes)
MAX_SIDE = 512  # larger images are shrunk for display; the classifier resizes to its own size
NO_RUN = "no run found: run `make demo` or `hf-fair run CONFIG`"


# ------------------------------------------------------------------ small helpers
def message_of(e: BaseException) -> str:
    """A one-paragraph message for the page: ours as is, anything else by type and its first line,
    whole (a message cut at a fixed length ends inside a word or a quote)."""
    if isinstance(e, HfFairError):
        return str(e)
    return first_line(e)


def guarded(n_outputs: int, status: int = 0, clear=()):
    """Run a handler; on any error show the message (toast + the status Markdown), keep serving.

    ``status`` is the index of the Markdown output that receives the message. ``clear`` names the
    outputs the failed request would have replaced (indices, emptied; or index -> value): they are
    emptied, so that no earlier result stands under the error as if it were this request's. The
    other outputs (the inputs' dropdowns, say) are left as they were.
    """
    clear = dict(clear) if isinstance(clear, dict) else dict.fromkeys(clear)

    def deco(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            except Exception as e:  # noqa: BLE001 — the page gets a message, never a stack trace
                msg = message_of(e).replace(f"{ROOT}{os.sep}", "")  # the app's own files by their relative path
                if not isinstance(e, HfFairError):
                    logger.exception("handler %s failed", fn.__name__)
                gr.Warning(msg, duration=8)
                out = [gr.skip()] * n_outputs
                for i, value in clear.items():
                    out[i] = dict(value) if isinstance(value, dict) else value  # a gr.update is a dict: a fresh one each time
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
def run_text_of(text: str | None) -> str:
    """The run folder as the page shows it: as typed (a bundle's is ``run``), never the absolute
    path it resolves to on the machine that serves the app."""
    return (text or DEFAULT_RUN).strip() or DEFAULT_RUN


def resolve_run(text: str | None) -> Path:
    """The run folder as typed; a relative path that is not under the working directory is
    also looked up under the repository root (``python Space/app.py`` from anywhere)."""
    p = Path(run_text_of(text)).expanduser()
    if not p.is_absolute() and not p.exists() and (ROOT / p).exists():
        return ROOT / p
    return p


def in_run(path, run: Path) -> str:
    """A path of the run as the page shows it: relative to the run folder (``severity-0.99/...``);
    a path elsewhere as given."""
    try:
        return Path(path).relative_to(run).as_posix()
    except ValueError:
        return str(path)


def from_run(text: str, run: Path) -> str:
    """A path typed or picked on the page: relative to the run folder when it names something
    there (how the page shows the run's paths), otherwise as typed (a folder or a Hub id)."""
    text = (text or "").strip()
    if text and not Path(text).expanduser().is_absolute() and (run / text).exists():
        return str(run / text)
    return text


# ------------------------------------------------------------------ the app's temporary folder
_TMP: Path | None = None
_TMP_LOCK = threading.Lock()


def app_tmp() -> Path:
    """The one folder that holds every temporary file of this app (made on first use, removed at
    exit): a long-running Space must not fill /tmp with one folder per click."""
    global _TMP
    with _TMP_LOCK:
        if _TMP is None or not _TMP.is_dir():
            _TMP = Path(tempfile.mkdtemp(prefix="hf-fair-space-"))
            atexit.register(remove_app_tmp)
        return _TMP


def remove_app_tmp() -> None:
    global _TMP
    with _TMP_LOCK:
        if _TMP is not None:
            shutil.rmtree(_TMP, ignore_errors=True)
        _TMP = None


@contextlib.contextmanager
def work_dir(prefix: str):
    """A computation's own folder under :func:`app_tmp`, removed when the computation ends."""
    with tempfile.TemporaryDirectory(prefix=prefix, dir=app_tmp()) as d:
        yield Path(d)


def remove_app_tmp_on_exit() -> None:
    """atexit does not run on SIGTERM (how a container or `kill` stops the app): turn it into
    the KeyboardInterrupt on which Gradio closes its server, so that the process exits normally
    and the temporary folder goes. Main thread only (where the app is launched)."""
    def stop(signum, frame):
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
        signal.signal(signal.SIGTERM, stop)



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
    except UnidentifiedImageError:  # PIL's message only repeats the (temporary) path
        raise HfFairError(f"'{path.name}' is not an image this app can read; upload a PNG, JPEG or WebP file") from None
    except (OSError, ValueError, Image.DecompressionBombError) as e:
        why = message_of(e).replace(str(path), path.name)  # the upload's folder is the server's business
        raise HfFairError(f"'{path.name}' is not an image this app can read ({why}); upload a PNG, JPEG or WebP file") from None
    if mode != "RGB":
        notes.append(f"converted from mode {mode} to RGB")
    if max(im.size) > MAX_SIDE:
        im.thumbnail((MAX_SIDE, MAX_SIDE), Image.BILINEAR)
        notes.append(f"shrunk from {w}x{h} to {im.size[0]}x{im.size[1]}")
    notes.insert(0, f"{fmt or 'image'} {w}x{h}")
    return im, notes
