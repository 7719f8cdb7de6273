"""Figures of a run: worst-group accuracy against severity (small multiples), real vs synthetic
image grids; ``hf-fair plot`` redraws the first from results.json files."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from hf_fair.errors import HfFairError

REFERENCES = ("oracle", "erm")  # drawn in every panel
# the panels, left to right: (family, title)
PANELS = (
    ("real", "real data: robust objectives"),
    ("synthetic", "synthetic pretraining, then finetuning on real data\n(colour: source; line and marker: finetuning objective)"),
    ("synthetic-only", "trained on synthetic data alone"),
)
REFERENCE_STYLE = {"oracle": {"color": "black", "ls": "-", "marker": "*", "lw": 2.0},
                   "erm": {"color": "#555555", "ls": "--", "marker": "o", "lw": 1.6}}
# colours by a source's / an objective's place in SOURCES / OBJECTIVES, so that a method has the
# same colour in every panel and in every run's plot; the two palettes do not overlap
SOURCE_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#17becf", "#7f7f00", "#000080")
OBJECTIVE_COLOURS = ("#8c564b", "#e377c2", "#bcbd22", "#b8860b", "#008080", "#800000", "#6b8e23", "#ff1493")
OBJECTIVE_STYLES = (("-", "o"), ("--", "s"), ("-.", "^"), (":", "D"), ("--", "v"), ("-.", "P"), (":", "X"), ("--", "h"))


def method_family(method: str) -> str:
    """synthetic (pretrained on generated data, then finetuned), synthetic-only, real (an
    objective on the real data only) or oracle: each family has its own panel."""
    if method == "oracle":
        return "oracle"
    if method.startswith("synthetic:"):
        return "synthetic-only"
    from hf_fair.generate.sources import SOURCES

    if method.split("+")[0] in SOURCES:
        return "synthetic"
    return "real"


def _place(name: str, names) -> int:
    """A stable index for a name: its place in the registry, else after it (by a stable hash of
    the name, so an unknown method still gets the same colour in every plot)."""
    names = list(names)
    return names.index(name) if name in names else len(names) + sum(map(ord, name))


def method_style(method: str) -> dict:
    """Colour, line style and marker of a method: a function of its name alone."""
    from hf_fair.classify.objectives import OBJECTIVES
    from hf_fair.generate.sources import SOURCES

    if method in REFERENCE_STYLE:
        return dict(REFERENCE_STYLE[method])
    family = method_family(method)
    if family == "real":
        i = _place(method, [o for o in OBJECTIVES if o != "erm"])
        ls, marker = OBJECTIVE_STYLES[_place(method, OBJECTIVES) % len(OBJECTIVE_STYLES)]
        return {"color": OBJECTIVE_COLOURS[i % len(OBJECTIVE_COLOURS)], "ls": ls, "marker": marker, "lw": 1.3}
    source, _, objective = method.removeprefix("synthetic:").partition("+")
    colour = SOURCE_COLOURS[_place(source, SOURCES) % len(SOURCE_COLOURS)]
    if family == "synthetic-only":
        return {"color": colour, "ls": ":", "marker": "x", "lw": 1.3}
    ls, marker = OBJECTIVE_STYLES[_place(objective or "erm", OBJECTIVES) % len(OBJECTIVE_STYLES)]
    return {"color": colour, "ls": ls, "marker": marker, "lw": 1.3}


def panel_methods(methods: list[str]) -> list[tuple[str, list[str]]]:
    """(title, methods) of each panel that has a method of its own, references first."""
    refs = [m for m in REFERENCES if m in methods]
    out = []
    for family, title in PANELS:
        own = [m for m in methods if method_family(m) == family and m not in refs]
        if own or (family == "real" and refs):
            out.append((title, refs + own))
    return out or [(PANELS[0][1], list(methods))]


def wga_figure(docs: list[dict]):
    """Worst-group accuracy against severity as small multiples sharing the y axis: real-data
    objectives, synthetic sources with each finetuning objective, synthetic data alone. The
    oracle and ERM are drawn in every panel; a method has the same style in every panel."""
    from matplotlib.figure import Figure

    docs = sorted(docs, key=lambda d: -1.0 if d["severity"] is None else d["severity"])  # None: no severity applied
    severities = ["none" if d["severity"] is None else d["severity"] for d in docs]
    methods = list(dict.fromkeys(m for d in docs for m in d["methods"]))
    panels = panel_methods(methods)
    fig = Figure(figsize=(5.2 * len(panels), 5.6), layout="constrained")
    axes = fig.subplots(1, len(panels), sharey=True, squeeze=False)[0]
    xs = np.arange(len(severities))
    for ax, (title, names) in zip(axes, panels):
        for i, m in enumerate(names):
            wga = [d["methods"][m]["worst_group_acc"] if m in d["methods"] else None for d in docs]
            mean = [100 * w["mean"] if w else np.nan for w in wga]
            std = [100 * (w.get("std") or 0) if w else np.nan for w in wga]
            style = method_style(m)
            offset = (i - (len(names) - 1) / 2) * 0.02  # keep error bars apart
            ax.errorbar(xs + offset, mean, yerr=std, ms=5, capsize=3, label=m, zorder=3 if m in REFERENCES else 2, **style)
        ax.set_title(title, fontsize=9)
        ax.set_xticks(xs, [str(s) for s in severities])
        ax.set_xlabel("bias severity b")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2, frameon=False)
    axes[0].set_ylabel("worst-group test accuracy (%)")
    axes[0].set_ylim(-2, 102)
    fig.suptitle(f"{docs[0]['dataset']}: worst-group accuracy (mean ± std over seeds; oracle and ERM in every panel)", fontsize=11)
    return fig


def plot_wga_vs_severity(docs: list[dict], path: Path):
    """:func:`wga_figure` saved to ``path``; returns the figure."""
    fig = wga_figure(docs)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return fig


def real_vs_synthetic_grid(real_train, synthetic_dirs: dict, spec, path: Path, per_cell: int = 6) -> None:
    """Rows: groups; columns: real training images, then each synthetic source."""
    import datasets
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from hf_fair.diffusion.grid import make_grid

    columns = {"real (train)": real_train}
    for source, folder in synthetic_dirs.items():
        columns[source] = datasets.load_from_disk(str(folder))["train"]
    fig, axes = plt.subplots(spec.n_groups, len(columns), figsize=(2.2 * len(columns), 1.0 * spec.n_groups + 0.6), squeeze=False)
    for c, (name, ds) in enumerate(columns.items()):
        groups = np.asarray(ds["group"])
        for g in range(spec.n_groups):
            ax = axes[g][c]
            idx = np.flatnonzero(groups == g)[:per_cell].tolist()
            if idx:
                ax.imshow(make_grid([ds[i]["image"] for i in idx], ncols=per_cell, pad=1))
            else:
                ax.text(0.5, 0.5, "no images", ha="center", va="center", fontsize=7)
            ax.set_xticks([])
            ax.set_yticks([])
            if g == 0:
                ax.set_title(name, fontsize=8)
            if c == 0:
                ax.set_ylabel(f"{spec.group_names[g]}\n(n={int((groups == g).sum())})", fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ------------------------------------------------------------------ hf-fair plot
def results_files(paths: list[str]) -> list[Path]:
    """results.json files from the arguments: a file as is, a run folder's severity-*/results.json."""
    from hf_fair.run.folder import severity_dirs

    files = []
    for p in map(Path, paths):
        if p.is_dir():
            found = [d / "results.json" for d in severity_dirs(p) if (d / "results.json").is_file()]
            if not found:
                raise HfFairError(f"run folder '{p}' has no severity-*/results.json yet; finish the run with `hf-fair run CONFIG` (it resumes)")
            files += found
        elif p.is_file():
            files.append(p)
        else:
            raise HfFairError(f"'{p}' is neither a results.json file nor a run folder; give a run's folder or its severity-*/results.json")
    return files


def read_docs(files: list[Path]) -> list[dict]:
    docs, seen = [], {}
    for f in files:
        try:
            doc = json.loads(f.read_text())
        except ValueError:
            doc = None
        if not isinstance(doc, dict) or not {"severity", "methods", "dataset"} <= doc.keys():
            raise HfFairError(f"'{f}' is not a results document (results.json of `hf-fair run` / `hf-fair baselines`)")
        if doc["severity"] in seen:
            raise HfFairError(f"'{seen[doc['severity']]}' and '{f}' both hold severity {doc['severity']}; pass one of them")
        seen[doc["severity"]] = f
        docs.append(doc)
    return docs


def main(argv: list[str]) -> int:
    """``hf-fair plot PATH... [--output PNG]``: redraw the worst-group accuracy plot."""
    p = argparse.ArgumentParser(prog="hf-fair plot", formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                                description="redraw the worst-group accuracy plot from results.json files or run folders")
    p.add_argument("paths", nargs="+", metavar="PATH", help="results.json files, or run folders (their severity-*/results.json)")
    p.add_argument("--output", help="PNG to write (default: wga_vs_severity.png in the first run folder, or next to the first file); "
                                     "the same numbers as a table go beside it (.md)")
    ns = p.parse_args(argv)
    files = results_files(ns.paths)
    docs = read_docs(files)
    first = Path(ns.paths[0])
    out = Path(ns.output) if ns.output else (first if first.is_dir() else first.parent) / "wga_vs_severity.png"
    plot_wga_vs_severity(docs, out)
    # the figure in numbers beside it: each method's worst-group accuracy per severity and its mean
    from hf_fair.results import severity_summary, severity_summary_markdown

    table, table_file = severity_summary_markdown(severity_summary(docs)), out.with_suffix(".md")
    table_file.write_text(table)
    print(table)
    print(f"wrote {out} and {table_file} ({len(docs)} severities)")
    return 0
