"""Tabs 1 and 2 of the Space: a dataset's groups and bias, and the clusters inside each group."""

from __future__ import annotations

import gradio as gr
import numpy as np
from PIL import Image

from hf_fair.data import group_counts, spec_of
from hf_fair.diffusion.grid import make_grid
from hf_fair.run.folder import severity_dirs
from hf_fair.space.common import NO_RUN, guarded, in_run, load_data, resolve_run, run_text_of, table_md, thumbs, work_dir


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


@guarded(3, clear=(1, 2))
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


@guarded(3, clear=(1, 2))
def show_run_clusters(run_text, severity_dir):
    run, shown = resolve_run(run_text), run_text_of(run_text)
    if not run.is_dir():
        return f"{NO_RUN} (looked for `{shown}`); or compute clusters below.", "", []
    choices = run_cluster_choices(run_text)
    if not choices:
        return f"run `{shown}` has no clusters folder yet; compute clusters below.", "", []
    name = severity_dir if severity_dir in choices else choices[-1]
    folder = run / name / "clusters"
    table = (folder / "clusters.md").read_text() if (folder / "clusters.md").is_file() else "(no clusters.md)"
    grids = [(Image.open(p).convert("RGB"), p.stem.replace("clusters_", "")) for p in sorted(folder.glob("clusters_group*.png"))]
    return f"Clusters of run `{shown}`, `{name}` (from `{in_run(folder, run)}`).", table_md(table), grids


@guarded(3, clear=(1, 2))
def compute_clusters(dataset, location, severity, k, min_size, encoder, progress=gr.Progress()):
    from hf_fair.cluster import ClusterArguments, cluster_grids, cluster_groups, write_cluster_report

    progress(0.05, desc=f"loading {dataset}")
    dsd, _ = load_data(dataset, location, severity)
    args = ClusterArguments(k=str(k).strip() or "auto", min_cluster_size=int(min_size), encoder=(encoder or "pixels").strip())
    args.k_value()  # a clear message for a bad k before any work
    progress(0.2, desc="encoding and clustering each group")
    clustered, report = cluster_groups(dsd, args)
    progress(0.7, desc="drawing cluster grids")
    with work_dir("clusters-") as folder:  # the report and grids are read back, then the folder goes
        write_cluster_report(report, folder)
        paths = cluster_grids(clustered[args.split], folder)
        sizes = {name: rep["sizes"] for name, rep in report["groups"].items()}
        grids = [(_loaded(p), f"{name}: sizes {sizes[name]}") for p, name in zip(paths, report["groups"])]
        table = (folder / "clusters.md").read_text()
    progress(1.0)
    return (f"Clustered the `{args.split}` split of **{dataset}** with encoder `{args.encoder}`, k = `{args.k}`.",
            table_md(table), grids)


def _loaded(path) -> Image.Image:
    """An image read whole (its file may be removed next)."""
    with Image.open(path) as im:
        return im.convert("RGB")
