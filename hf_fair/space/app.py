"""hf-fair Space: the method, step by step, on the embedded Colored Digits default (CPU, offline).

Tabs: (1) a group-annotated dataset and its bias, (2) clusters inside each group, (3) images
from the vanilla base, a group LoRA or a cluster DreamBooth, (4) a run's worst-group accuracy
table and plot, and the trained classifier's prediction on an image.

Everything real lives in the ``hf_fair`` library; this module only wires it to Gradio. It is
started by ``Space/app.py`` in a checkout and by the ``app.py`` of a bundle that
``hf-fair space build`` writes (see :mod:`hf_fair.space.bundle`).

    python Space/app.py [--port 7860] [--run runs/demo] [--host 127.0.0.1]

Environment: ``GRADIO_SERVER_PORT`` / ``GRADIO_SERVER_NAME`` (as Gradio reads them),
``HF_FAIR_RUN`` (run folder, default ``runs/demo``; a bundle sets its own ``run/``),
``HF_FAIR_BASE`` (base for the vanilla source, default ``embedded``).
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import os
import re
import tempfile
import threading
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

ROOT = Path(__file__).resolve().parents[2]  # the checkout (or the bundle) that holds hf_fair/

import gradio as gr  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image, UnidentifiedImageError  # noqa: E402

from hf_fair.data import DATASET_NAMES, group_counts, load_group_dataset, spec_of  # noqa: E402
from hf_fair.diffusion.grid import make_grid  # noqa: E402
from hf_fair.generate.sources import SOURCE_TABLE, SOURCES  # noqa: E402
from hf_fair.adapters.manifest import spec_of_manifest  # noqa: E402
from hf_fair.errors import HfFairError  # noqa: E402
from hf_fair.run.folder import adapters_folders, classifier_folders, read_results, severity_dirs  # noqa: E402

logger = logging.getLogger("hf_fair.space")

DEFAULT_RUN = "runs/demo"
OFFLINE_DATASET = "colored-digits"
SEVERITY_CHOICES = ["none", "0.9", "0.95", "0.97", "0.99", "0.995"]
SOURCE_LABELS = {name: s.label for name, s in SOURCE_TABLE.items()}
ALL_UNITS = "all units of the group"
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


def run_adapters(run: Path) -> list[tuple[str, str]]:
    return [(label, path) for path, label in adapters_folders(run).items()]


def adapters_source_of(folder: str) -> str | None:
    """Which generator source an adapters folder serves (from its manifest), or None."""
    from hf_fair.adapters.manifest import read_manifest
    from hf_fair.generate.sources import source_of_manifest

    try:
        m = read_manifest(folder)
    except HfFairError:
        return None
    return source_of_manifest(m)


# ------------------------------------------------------------------ tab 1: data and bias
def counts_figure(dsd, report, spec):
    from matplotlib.figure import Figure

    names = list(spec.group_names)
    bars = {}
    if report is not None:
        bars["train before severity"] = report.counts_before["train"]
    for split in ("train", "validation", "test"):
        if split in dsd:
            bars[split if report is None else f"{split} (b={report.severity})" if split != "test" else "test (never biased)"] = group_counts(dsd[split], spec.n_groups)
    fig = Figure(figsize=(7.5, 3.6))
    ax = fig.add_subplot(111)
    x = np.arange(len(names))
    width = 0.8 / max(1, len(bars))
    for i, (label, counts) in enumerate(bars.items()):
        pos = x + (i - (len(bars) - 1) / 2) * width
        rects = ax.bar(pos, counts, width, label=label, hatch="//" if "before" in label else None, alpha=0.85)
        ax.bar_label(rects, fontsize=7, padding=1)
    ax.set_xticks(x, names)
    ax.set_ylabel("images")
    ax.set_title("images per group (label|attribute)")
    ax.legend(fontsize=7)
    ax.margins(y=0.15)
    fig.tight_layout()
    return fig


def group_gallery(ds, spec, per_group: int = 16) -> list[tuple[Image.Image, str]]:
    groups = np.asarray(ds["group"])
    out = []
    for g, name in enumerate(spec.group_names):
        idx = np.flatnonzero(groups == g)[:per_group].tolist()
        if not idx:
            continue
        grid = make_grid(thumbs([ds[i]["image"] for i in idx]), ncols=min(4, len(idx)), pad=2)
        out.append((grid, f"{name}: {int((groups == g).sum())} train images"))
    return out


@guarded(3)
def show_data(dataset, location, severity, progress=gr.Progress()):
    progress(0.1, desc=f"loading {dataset}")
    dsd, report = load_data(dataset, location, severity)
    spec = spec_of(dsd)
    progress(0.7, desc="drawing")
    lines = [f"**{dataset}**: label `{spec.target}` ({', '.join(spec.label_names)}), "
             f"spurious attribute `{spec.attribute}` ({', '.join(spec.attribute_names)}); "
             f"group id = label x {spec.n_attributes} + attribute."]
    if report is not None:
        realised = ", ".join(f"{v:.3f}" if v is not None else "n/a" for v in report.realised.get("train", []))
        lines.append(f"Severity b = {report.severity}: train and validation keep every majority image and thin the "
                     f"minority groups (realised share of each class in its majority group, train: {realised}); "
                     "test stays group-balanced.")
    counts = {s: group_counts(dsd[s], spec.n_groups) for s in dsd}
    lines.append("\n| split | " + " | ".join(f"`{n}`" for n in spec.group_names) + " |")
    lines.append("|---|" + "---:|" * spec.n_groups)
    lines += [f"| {s} | " + " | ".join(str(c) for c in cs) + " |" for s, cs in counts.items()]
    gallery = group_gallery(dsd["train"], spec)
    progress(1.0)
    return table_md("\n".join(lines)), counts_figure(dsd, report, spec), gallery


# ------------------------------------------------------------------ tab 2: clusters
def run_cluster_choices(run_text: str) -> list[str]:
    run = resolve_run(run_text)
    return [d.name for d in severity_dirs(run) if (d / "clusters").is_dir()]


@guarded(3)
def show_run_clusters(run_text, severity_dir):
    run = resolve_run(run_text)
    if not run.is_dir():
        return f"{NO_RUN} (looked for `{run}`); or compute clusters below.", "", []
    choices = run_cluster_choices(run_text)
    if not choices:
        return f"run `{run}` has no clusters folder yet; compute clusters below.", "", []
    name = severity_dir if severity_dir in choices else choices[-1]
    folder = run / name / "clusters"
    table = (folder / "clusters.md").read_text() if (folder / "clusters.md").is_file() else "(no clusters.md)"
    grids = [(Image.open(p).convert("RGB"), p.stem.replace("clusters_", "")) for p in sorted(folder.glob("clusters_group*.png"))]
    return f"Clusters of run `{run}`, `{name}` (from `{folder}`).", table_md(table), grids


@guarded(3)
def compute_clusters(dataset, location, severity, k, min_size, encoder, progress=gr.Progress()):
    from hf_fair.cluster import ClusterArguments, cluster_grids, cluster_groups, write_cluster_report

    progress(0.05, desc=f"loading {dataset}")
    dsd, _ = load_data(dataset, location, severity)
    args = ClusterArguments(k=str(k).strip() or "auto", min_cluster_size=int(min_size), encoder=(encoder or "pixels").strip())
    args.k_value()  # a clear message for a bad k before any work
    progress(0.2, desc="encoding and clustering each group")
    clustered, report = cluster_groups(dsd, args)
    progress(0.7, desc="drawing cluster grids")
    folder = Path(tempfile.mkdtemp(prefix="hf-fair-space-clusters-"))
    write_cluster_report(report, folder)
    paths = cluster_grids(clustered[args.split], folder)
    sizes = {name: rep["sizes"] for name, rep in report["groups"].items()}
    grids = [(Image.open(p).convert("RGB"), f"{name}: sizes {sizes[name]}") for p, name in zip(paths, report["groups"])]
    progress(1.0)
    return (f"Clustered the `{args.split}` split of **{dataset}** with encoder `{args.encoder}`, k = `{args.k}`.",
            table_md((folder / "clusters.md").read_text()), grids)


# ------------------------------------------------------------------ tab 3: generate
class Generator:
    """One pipeline at a time, switched between units in place; one request at a time."""

    def __init__(self):
        self.lock = threading.Lock()
        self.base_name = None
        self.pipe = None
        self.switcher = None

    def ensure(self, base: str, progress=None):
        from hf_fair.diffusion.base import load_base
        from hf_fair.generate.sources import UnitSwitcher

        if self.base_name != base:
            if progress is not None:
                progress(0.05, desc=f"loading base '{base}'")
            self.pipe, self.switcher, self.base_name = None, None, None
            pipe = load_base(base)
            pipe.set_progress_bar_config(disable=True)
            self.pipe, self.switcher, self.base_name = pipe, UnitSwitcher(pipe), base
        return self.pipe, self.switcher


GENERATOR = Generator()


def warm_up(base: str) -> None:
    """Load the base in the background at start, so the first Generate does not wait for it."""
    try:
        with GENERATOR.lock:
            GENERATOR.ensure(base)
    except Exception as e:  # noqa: BLE001 — the Generate tab reports it when used
        logger.warning("could not preload base '%s': %s", base, message_of(e))


def source_units(source: str, adapters: str | None, dataset: str = OFFLINE_DATASET):
    """(units by group, spec, base name, adapters folder) for a source."""
    from hf_fair.generate.sources import adapter_units, resolve_adapters, vanilla_units

    if source not in SOURCES:
        raise HfFairError(f"unknown source '{source}'; pick one of {list(SOURCES)}")
    if source == "vanilla":
        try:
            dsd, _ = load_data(dataset)
        except HfFairError:
            dsd, _ = load_data(OFFLINE_DATASET)
        spec = spec_of(dsd)
        return vanilla_units(spec, range(spec.n_groups)), spec, os.environ.get("HF_FAIR_BASE", "embedded"), None
    adapters = (adapters or "").strip()
    if not adapters:
        raise HfFairError(f"source '{source}' needs adapters: pick a folder of the run, or type a folder or a Hub repo id "
                          "(train them with `hf-fair adapters train`)")
    folder = resolve_adapters(adapters)
    from hf_fair.adapters.manifest import read_manifest

    manifest = read_manifest(folder)
    spec = spec_of_manifest(manifest)
    units, manifest = adapter_units(folder, source, spec)
    return units, spec, manifest.get("base") or "embedded", folder


def unit_label(u) -> str:
    return f"{u.name}: {u.prompt}" + (f" (cluster of {u.weight} images)" if u.cluster is not None else "")


@guarded(3)
def refresh_units(source, adapters, group):
    """Group and unit choices for the chosen source."""
    units, spec, base, folder = source_units(source, adapters)
    groups = list(spec.group_names)
    group = group if group in groups else groups[0]
    g = groups.index(group)
    unit_choices = [ALL_UNITS] + [unit_label(u) for u in units[g]]
    where = f" from `{folder}` (base `{base}`)" if folder else f" (base `{base}`)"
    msg = f"**{SOURCE_LABELS[source]}**{where}: " + ", ".join(f"`{n}` {len(units[i])} unit(s)" for i, n in enumerate(groups))
    return msg, gr.update(choices=groups, value=group), gr.update(choices=unit_choices, value=ALL_UNITS)


def pick_adapters(choice, source):
    """A run's adapters folder picked from the list fills the text box (and the source it serves)."""
    if not choice:
        return gr.skip(), gr.skip()
    served = adapters_source_of(choice)
    return choice, (served if served and source != served else gr.skip())


@guarded(3)
def generate(source, adapters, group, unit_choice, seed, n_images, steps, guidance, progress=gr.Progress()):
    from hf_fair.generate.core import sample

    progress(0.0, desc="reading the source")
    units, spec, base, _ = source_units(source, adapters)
    groups = list(spec.group_names)
    if group not in groups:
        raise HfFairError(f"group '{group}' is not one of this source's groups {groups}")
    pool = units[groups.index(group)]
    if unit_choice and unit_choice != ALL_UNITS:
        pool = [u for u in pool if unit_label(u) == unit_choice] or pool
    n, seed, steps = int(n_images), int(seed), int(steps)
    if not 1 <= n <= 16:
        raise HfFairError("number of images must be between 1 and 16")
    if not 1 <= steps <= 100:
        raise HfFairError("inference steps must be between 1 and 100")
    plan: dict = {}  # unit -> [seeds]; image i uses unit i mod len(pool), seed seed + i
    for i in range(n):
        plan.setdefault(pool[i % len(pool)], []).append(seed + i)
    images = []
    with GENERATOR.lock:
        pipe, switcher = GENERATOR.ensure(base, progress)
        for k, (unit, seeds) in enumerate(plan.items()):
            progress((k, len(plan)), desc=f"sampling {unit.name} ({len(seeds)} image(s), {steps} steps)")
            switcher.activate(unit)
            outs = sample(pipe, [unit.prompt] * len(seeds), seeds, steps, float(guidance))
            images += [(upscaled(im), f"{unit.name} seed {s}") for im, s in zip(outs, seeds)]
        switcher.restore_base()
    prompts = "; ".join(sorted({f"`{u.name}`: {u.prompt}" for u in plan}))
    return f"{len(images)} image(s) of group `{group}` from {SOURCE_LABELS[source]} — {prompts}", images, gr.skip()


# ------------------------------------------------------------------ tab 4: results
def model_choices(sev: Path, doc: dict) -> list[tuple[str, str]]:
    return classifier_folders(sev, doc)


def label_names_of(doc: dict, n_classes: int) -> list[str]:
    """Class names from the results' group names (group g = label * n_attributes + attribute)."""
    names = doc.get("group_names") or []
    if names and len(names) % n_classes == 0:
        k = len(names) // n_classes
        return [names[y * k].split("|")[0] for y in range(n_classes)]
    return [f"class {y}" for y in range(n_classes)]


@guarded(7)
def load_run(run_text, severity_dir=None):
    """Overview of a run; the severity dropdown; that severity's table, grid and models."""
    run = resolve_run(run_text)
    empty = ("", None, gr.update(choices=[], value=None), "", None, gr.update(choices=[], value=None))
    if not run.is_dir():
        return (f"**{NO_RUN}** (looked for `{run}`).",) + empty
    sevs = [d for d in severity_dirs(run) if (d / "results.json").is_file()]
    overall = run / "results.md"
    if not sevs and not overall.is_file():
        return (f"**run `{run}` has no results yet** (no results.md, no severity-*/results.json): the run may still be "
                "going or was stopped; finish it with `hf-fair run CONFIG` (it resumes), or `make demo`.",) + empty
    md = overall.read_text() if overall.is_file() else "\n".join((d / "results.md").read_text() for d in sevs if (d / "results.md").is_file())
    plot = Image.open(run / "wga_vs_severity.png").convert("RGB") if (run / "wga_vs_severity.png").is_file() else None
    names = [d.name for d in sevs]
    name = severity_dir if severity_dir in names else (names[-1] if names else None)
    status = f"Run `{run}`: {len(sevs)} severity folder(s) with results."
    if name is None:
        return (status, md, plot, gr.update(choices=[], value=None), "", None, gr.update(choices=[], value=None))
    sev_md, grid, models = severity_view(run, name)
    return (status, table_md(md), plot, gr.update(choices=names, value=name), sev_md, grid, models)


def _fmt(v) -> str:
    return "" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)


def severity_view(run: Path, name: str):
    sev = run / name
    doc = read_results(sev) or {}
    single = len([d for d in severity_dirs(run) if (d / "results.json").is_file()]) == 1 and (run / "results.md").is_file()
    # with one severity its table is the run's table above
    md = (sev / "results.md").read_text() if (sev / "results.md").is_file() and not single else ""
    if doc.get("selection"):
        md += f"\n\nModel selection: `{doc['selection']}`."
    fidelity = doc.get("fidelity") or {}
    if fidelity:  # how close each source's synthetic images are to the real ones
        # scalar columns only: the per-group figures are in the run's results.md above
        keys = list(dict.fromkeys(k for f in fidelity.values() for k, v in f.items() if not isinstance(v, (dict, list))))
        md += "\n\n**Synthetic data fidelity**\n\n| source | " + " | ".join(keys) + " |\n|---|" + "---:|" * len(keys) + "\n"
        md += "\n".join(f"| {src} | " + " | ".join(_fmt(f.get(k)) for k in keys) + " |" for src, f in fidelity.items())
    grid_file = sev / "grids" / "real_vs_synthetic.png"
    grid = Image.open(grid_file).convert("RGB") if grid_file.is_file() else None
    choices = model_choices(sev, doc)
    return table_md(md), grid, gr.update(choices=choices, value=choices[0][1] if choices else None)


@guarded(4)
def change_severity(run_text, name):
    run = resolve_run(run_text)
    if not name or not (run / name).is_dir():
        return gr.skip(), "", None, gr.update(choices=[], value=None)
    md, grid, models = severity_view(run, name)
    return gr.skip(), md, grid, models


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


def load_classifier(model_dir: str):
    """(model, eval transform, image size, class names) of a run's classifier folder."""
    from hf_fair.classify.predict import load_classifier as load

    return load(str(model_dir))


def predict(model_dir: str, image: Image.Image, doc: dict) -> dict[str, float]:
    from hf_fair.classify.predict import predict_proba

    probs = predict_proba(model_dir, image)
    if all(name.startswith("class ") for name in probs):  # a checkpoint without recorded names
        probs = dict(zip(label_names_of(doc, len(probs)), probs.values()))
    return probs


def severity_doc(run_text, name) -> dict:
    run = resolve_run(run_text)
    if not name:
        raise HfFairError(f"{NO_RUN}: there is no classifier to ask" if not run.is_dir() else f"run `{run}` has no results with classifiers")
    return read_results(run / name) or {}


def describe_prediction(probs: dict[str, float], notes: list[str], model_dir: str, truth: str | None = None) -> str:
    best = max(probs, key=probs.get)
    size = load_classifier(model_dir)[2]
    text = f"Prediction: **{best}** ({probs[best]:.1%}) from `{Path(model_dir).parent.name}`; input {', '.join(notes)}; resized to {size}x{size} for the model."
    if truth:
        text += f" True: {truth}."
    return text


@guarded(4)
def classify_upload(run_text, name, model_dir, file, progress=gr.Progress()):
    doc = severity_doc(run_text, name)
    if not model_dir:
        raise HfFairError("pick a classifier first (the run's results list none)")
    image, notes = read_image(file)
    progress(0.5, desc="classifying")
    probs = predict(model_dir, image, doc)
    return describe_prediction(probs, notes, model_dir), upscaled(image, 128), probs, gr.skip()


@guarded(5)
def classify_test_image(run_text, name, model_dir, index, progress=gr.Progress()):
    doc = severity_doc(run_text, name)
    if not model_dir:
        raise HfFairError("pick a classifier first (the run's results list none)")
    progress(0.1, desc=f"loading the test split of {doc.get('dataset')}")
    dsd, _ = load_data(doc.get("dataset") or OFFLINE_DATASET)
    test = dsd["test"]
    i = int(index) % len(test)
    row = test[i]
    spec = spec_of(dsd)
    image = row["image"].convert("RGB")
    probs = predict(model_dir, image, doc)
    truth = f"label `{spec.label_names[row['label']]}`, group `{spec.group_names[row['group']]}` (test image {i})"
    w, h = image.size
    return describe_prediction(probs, [f"{w}x{h}"], model_dir, truth), upscaled(image, 128), probs, gr.skip(), None


# ------------------------------------------------------------------ the page
INTRO = """# hf-fair: fair classifiers from diffusion-generated data
A classifier trained on **biased** data (most of each class shares one attribute) learns the
attribute instead of the class. *hf-fair* learns a generator of each group (a LoRA or a DreamBooth
per group, or per cluster inside a group), draws a **group-balanced** synthetic set, pretrains the
classifier on it, finetunes on the real data, and compares **worst-group accuracy** with ERM and
Group-DRO. This Space runs the embedded default, **Colored Digits** (label: digit >= 5, spurious
attribute: stroke colour), on CPU. Paper: Bhat et al., *Harnessing Diffusion-Generated Synthetic
Images for Fair Image Classification* (AAAI 2026)."""


def build_app(run: str | None = None) -> gr.Blocks:
    run_default = str(run or os.environ.get("HF_FAIR_RUN") or DEFAULT_RUN)
    run_path = resolve_run(run_default)
    found_adapters = run_adapters(run_path)
    with gr.Blocks(title="hf-fair") as demo:
        gr.Markdown(INTRO)
        with gr.Row():
            run_box = gr.Textbox(value=run_default, label="run folder (made by `make demo` / `hf-fair run CONFIG`)", scale=4)
            run_reload = gr.Button("Reload run", scale=1)

        # ---- 1. data
        with gr.Tab("1. Data and bias", id="data"):
            gr.Markdown("Choose a group-annotated dataset and a **bias severity** b: the share of each class "
                        "kept in its majority group (train and validation; test stays balanced).")
            with gr.Row():
                ds_name = gr.Dropdown(list(DATASET_NAMES), value=OFFLINE_DATASET, label="dataset")
                ds_loc = gr.Textbox(label="local folder or Hub dataset id (all but colored-digits)", placeholder="/data/celeba or grodino/waterbirds")
                ds_sev = gr.Dropdown(SEVERITY_CHOICES, value="0.99", allow_custom_value=True, label="severity b")
                ds_btn = gr.Button("Show data", variant="primary")
            ds_msg = gr.Markdown(elem_id="data-status")
            ds_plot = gr.Plot(label="group counts")
            ds_gallery = gr.Gallery(label="training images per group (first 16)", columns=4, height=330, object_fit="contain",
                                    fit_columns=False, elem_id="data-gallery")
            ds_btn.click(show_data, [ds_name, ds_loc, ds_sev], [ds_msg, ds_plot, ds_gallery], show_progress_on=[ds_plot, ds_gallery])

        # ---- 2. clusters
        with gr.Tab("2. Clusters", id="clusters"):
            gr.Markdown("A group is not one thing: *large|red* holds five digit shapes. Clustered DreamBooth "
                        "clusters each group (image features + k-means, k by silhouette) and trains one "
                        "generator per cluster.")
            with gr.Row():
                cl_sev = gr.Dropdown(run_cluster_choices(run_default), label="run severity folder", scale=2)
                cl_show = gr.Button("Show the run's clusters")
            gr.Markdown("Or cluster the dataset chosen in tab 1 now:")
            with gr.Row():
                cl_k = gr.Textbox(value="auto", label="k per group (integer or auto)")
                cl_min = gr.Number(value=5, precision=0, label="min cluster size")
                cl_enc = gr.Textbox(value="pixels", label="encoder (pixels | timm:<name> | hf:<id>)")
                cl_btn = gr.Button("Compute clusters", variant="primary")
            cl_msg = gr.Markdown(elem_id="clusters-status")
            cl_table = gr.Markdown()
            cl_gallery = gr.Gallery(label="clusters per group (one row per cluster)", columns=4, height=420, object_fit="contain",
                                    fit_columns=False, elem_id="clusters-gallery")
            cl_show.click(show_run_clusters, [run_box, cl_sev], [cl_msg, cl_table, cl_gallery])
            cl_btn.click(compute_clusters, [ds_name, ds_loc, ds_sev, cl_k, cl_min, cl_enc], [cl_msg, cl_table, cl_gallery],
                         show_progress_on=[cl_gallery])

        # ---- 3. generate
        with gr.Tab("3. Generate", id="generate"):
            gr.Markdown("Draw images of one group from the **vanilla** base (group prompt only, as in FFR), a "
                        "**group LoRA**, or a **cluster DreamBooth**. Adapters come from the run, a folder, or a "
                        "Hub model repo with a `manifest.json`.")
            with gr.Row():
                gen_source = gr.Radio([(SOURCE_LABELS[s], s) for s in SOURCES], value="vanilla", label="source")
                gen_found = gr.Dropdown(found_adapters, value=None, label="adapters found in the run (pick one)", scale=2, elem_id="gen-found")
            gen_adapters = gr.Textbox(label="adapters: folder or Hub repo id (not used by the vanilla source)",
                                      placeholder="runs/demo/severity-0.99/adapters/lora-... or user/hf-fair-lora", elem_id="gen-adapters")
            with gr.Row():
                gen_group = gr.Dropdown(["small|red", "small|green", "large|red", "large|green"], value="small|green", label="group")
                gen_unit = gr.Dropdown([ALL_UNITS], value=ALL_UNITS, label="unit (a prompt, or a cluster's adapter)")
                gen_seed = gr.Number(value=0, precision=0, label="seed (image i uses seed + i)")
                gen_n = gr.Slider(1, 16, value=4, step=1, label="images")
            with gr.Row():
                gen_steps = gr.Slider(5, 50, value=15, step=1, label="inference steps")
                gen_cfg = gr.Slider(1.0, 7.5, value=2.0, step=0.5, label="guidance scale (the tiny base's adapters like ~2)")
                gen_load = gr.Button("Load units")
                gen_btn = gr.Button("Generate", variant="primary", elem_id="generate-btn")
            gen_msg = gr.Markdown(elem_id="generate-status")
            gen_gallery = gr.Gallery(label="generated images", columns=8, height=240, object_fit="contain", fit_columns=False,
                                     elem_id="generate-gallery")
            unit_inputs = [gen_source, gen_adapters, gen_group]
            gen_found.input(pick_adapters, [gen_found, gen_source], [gen_adapters, gen_source]).then(
                refresh_units, unit_inputs, [gen_msg, gen_group, gen_unit])
            for trigger in (gen_source.input, gen_adapters.submit, gen_load.click):
                trigger(refresh_units, unit_inputs, [gen_msg, gen_group, gen_unit])
            gen_group.input(refresh_units, unit_inputs, [gen_msg, gen_group, gen_unit])
            gen_btn.click(generate, [gen_source, gen_adapters, gen_group, gen_unit, gen_seed, gen_n, gen_steps, gen_cfg],
                          [gen_msg, gen_gallery, gen_unit], show_progress_on=[gen_gallery])

        # ---- 4. results
        with gr.Tab("4. Results", id="results"):
            res_msg = gr.Markdown(elem_id="results-status")
            res_table = gr.Markdown(elem_id="results-table")
            with gr.Row():
                res_plot = gr.Image(label="worst-group accuracy vs severity", type="pil", interactive=False)
                res_grid = gr.Image(label="real vs synthetic images per group (selected severity)", type="pil", interactive=False)
            res_sev = gr.Dropdown([], label="severity folder")
            res_sev_md = gr.Markdown()
            gr.Markdown("### Ask a trained classifier")
            with gr.Row():
                res_model = gr.Dropdown([], label="classifier (method, seed)", scale=2)
                res_index = gr.Number(value=0, precision=0, label="test image index", elem_id="results-index")
                res_pick = gr.Button("Classify a test image")
            with gr.Row():
                res_file = gr.File(label="or upload an image (PNG, JPEG, WebP; grayscale and large images are converted)", type="filepath", elem_id="results-upload")
                res_preview = gr.Image(label="input", type="pil", interactive=False)
                res_label = gr.Label(label="class probabilities", num_top_classes=5)
            res_pred = gr.Markdown(elem_id="prediction-status")

            overview_out = [res_msg, res_table, res_plot, res_sev, res_sev_md, res_grid, res_model]
            res_sev.input(change_severity, [run_box, res_sev], [res_msg, res_sev_md, res_grid, res_model])
            res_pick.click(classify_test_image, [run_box, res_sev, res_model, res_index], [res_pred, res_preview, res_label, res_msg, res_file],
                           show_progress_on=[res_label])
            res_file.upload(classify_upload, [run_box, res_sev, res_model, res_file], [res_pred, res_preview, res_label, res_msg],
                            show_progress_on=[res_label])

        for trigger in (run_reload.click, run_box.submit, demo.load):
            trigger(load_run, [run_box], overview_out)
        run_reload.click(lambda t: gr.update(choices=run_cluster_choices(t)), [run_box], [cl_sev])
        run_reload.click(lambda t: gr.update(choices=run_adapters(resolve_run(t))), [run_box], [gen_found])
    return demo


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="hf-fair Space (Gradio)")
    p.add_argument("--port", type=int, default=None, help="port (default: env GRADIO_SERVER_PORT, else 7860)")
    p.add_argument("--host", default=None, help="address (default: env GRADIO_SERVER_NAME, else 127.0.0.1)")
    p.add_argument("--run", default=None, help=f"run folder (default: env HF_FAIR_RUN, else {DEFAULT_RUN})")
    return p.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    import hf_fair

    logger.info("hf_fair from %s; run folder %s", Path(hf_fair.__file__).parent, args.run or os.environ.get("HF_FAIR_RUN") or DEFAULT_RUN)
    demo = build_app(args.run)
    threading.Thread(target=warm_up, args=(os.environ.get("HF_FAIR_BASE", "embedded"),), daemon=True).start()
    port = args.port or int(os.environ.get("GRADIO_SERVER_PORT", 7860))
    demo.queue(default_concurrency_limit=2).launch(server_name=args.host, server_port=port, show_error=False, ssr_mode=False)


if __name__ == "__main__":
    main()
