"""Figures of a run: worst-group accuracy against severity, real vs synthetic image grids."""

from __future__ import annotations

from pathlib import Path

import numpy as np


MARKERS = "osD^vP*Xhp<>"


def method_family(method: str) -> str:
    """synthetic (pretrained on generated data, then finetuned), synthetic-only, real (an
    objective on the real data only) or oracle: the plot draws each family in its own line style."""
    if method == "oracle":
        return "oracle"
    if method.startswith("synthetic:"):
        return "synthetic-only"
    from hf_fair.generate.sources import SOURCES

    if method.split("+")[0] in SOURCES:
        return "synthetic"
    return "real"


FAMILY_STYLE = {"synthetic": "-", "synthetic-only": ":", "real": "--", "oracle": "-"}


def plot_wga_vs_severity(docs: list[dict], path: Path) -> None:
    """Worst-group accuracy against severity, one colour and marker per method; families differ
    by line style (synthetic-pretrained solid, synthetic-only dotted, real-data dashed, oracle black)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    docs = sorted(docs, key=lambda d: d["severity"])
    severities = [d["severity"] for d in docs]
    methods = list(dict.fromkeys(m for d in docs for m in d["methods"]))
    fig, ax = plt.subplots(figsize=(10, 5.5))
    xs = np.arange(len(severities))
    colours = plt.get_cmap("tab20").colors
    others = [m for m in methods if m != "oracle"]
    for m in methods:
        mean = [100 * d["methods"][m]["worst_group_acc"]["mean"] if m in d["methods"] else np.nan for d in docs]
        std = [100 * (d["methods"][m]["worst_group_acc"]["std"] or 0) if m in d["methods"] else np.nan for d in docs]
        family = method_family(m)
        i = others.index(m) if m in others else len(others)
        colour = "black" if family == "oracle" else colours[(2 * i) % 20 if i < 10 else (2 * i + 1) % 20]
        offset = (i - len(methods) / 2) * 0.015  # keep error bars apart
        ax.errorbar(xs + offset, mean, yerr=std, marker=MARKERS[i % len(MARKERS)], ms=5, capsize=3, lw=2 if family == "oracle" else 1.3,
                    ls=FAMILY_STYLE[family], color=colour, label=f"{m} ({family})" if family != m else m)
    ax.set_xticks(xs, [str(s) for s in severities])
    ax.set_xlabel("bias severity b (share of each class in its majority group)")
    ax.set_ylabel("worst-group test accuracy (%)")
    ax.set_ylim(-2, 102)
    ax.set_title(f"{docs[0]['dataset']}: worst-group accuracy (mean ± std over seeds)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


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
