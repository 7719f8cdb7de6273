"""The domain gap of a run's base, measured before any method runs.

Per group, two questions about the base's own (vanilla, unfiltered) draws:

* **How far are they from the real images?** The Frechet distance between the draws and the real
  *train* images of that group, on the fidelity module's encoder (``auto``: the embedded world's
  fixed reference encoder). Beside it, the Frechet distance between the group's real train and
  real test images: the figure two samples of the same real distribution reach. A group with
  fewer than 2 real images gets no figure (``None``), as in ``fidelity_report``; with fewer real
  images than feature dimensions the covariance is rank-deficient, so ``n_real`` is reported.
* **Does a classifier trained on real data read them right?** The oracle (group-balanced real
  data, the run's ``oracle`` row, seed 0: one training serves both) reads each draw's label; a
  *group reader* (the same data and recipe, trained to predict the group) reads its group. Their
  accuracies on the real test split are the reference lines. ``group_reader: false`` skips the
  reader (one classifier training less: the demo's choice); its figures are then ``None``.

A benchmark in the paper's regime has a large gap (the base knows the concept, not the dataset's
look), which is what finetuning the generator is for. The runner writes
``severity-<b>/domain_gap.json`` and ``domain_gap.md``; ``hf-fair gap`` computes the same alone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hf_fair.errors import HfFairError
from hf_fair.results import table_cell

FOLDER = "domain_gap"  # draws and the group reader, inside the severity folder


@dataclass
class DomainGapArguments:
    enabled: bool = field(default=False, metadata={"help": "measure the base's domain gap before any method runs"})
    images_per_group: int = field(default=256, metadata={"help": "unfiltered vanilla draws per group"})
    encoder: str = field(default="auto", metadata={"help": "Frechet encoder: auto (reference for the embedded benchmarks) | reference | pixels | timm:<model> | hf:<model id>"})
    group_reader: bool = field(default=True, metadata={"help": "also train a group reader (the oracle's data and recipe, predicting "
                                                                "the group) and report how often it reads each draw's group; "
                                                                "false saves one classifier training"})

    def __post_init__(self):
        if self.images_per_group < 2:
            raise HfFairError(f"domain_gap.images_per_group must be >= 2 (the Frechet distance needs 2 draws per group), got {self.images_per_group}")


def with_group_target(dsd):
    """The same splits with ``label`` replaced by the group (names: the group names): what the
    group reader learns. ``group`` stays, so selection and metrics are per group as usual."""
    import datasets

    from hf_fair.data import attach_spec, spec_of

    spec = spec_of(dsd)
    out = {}
    for split, ds in dsd.items():
        features = ds.features.copy()
        features["label"] = datasets.ClassLabel(names=list(spec.group_names))
        out[split] = ds.map(lambda g: {"label": g}, input_columns="group", features=features)
    return attach_spec(datasets.DatasetDict(out), spec)


def read_draws(model_dir: str | Path, images, batch_size: int = 256) -> np.ndarray:
    from hf_fair.classify.predict import predict_labels

    return predict_labels(str(model_dir), images, batch_size)


def _rate(mask: np.ndarray) -> float | None:
    return float(mask.mean()) if mask.size else None


def _mean(values: list) -> float | None:
    known = [v for v in values if v is not None]
    return float(np.mean(known)) if known else None


def gap_report(real_train, real_test, draws, spec, encoder: str, oracle_model, oracle_test: dict,
               reader_model, reader_test: dict, about: dict) -> dict:
    """The report: ``real_train``/``real_test``/``draws`` are Datasets with image and group;
    ``*_test``: the classifiers' test-split metrics (group_metrics). ``reader_model`` None: no
    group reader (its figures are None)."""
    from hf_fair.generate.fidelity import features, frechet_distance

    r_g, t_g, d_g = (np.asarray(ds["group"]) for ds in (real_train, real_test, draws))
    r_x, t_x, d_x = (features(ds["image"], encoder) for ds in (real_train, real_test, draws))
    label_pred = read_draws(oracle_model, draws["image"])
    group_pred = None if reader_model is None else read_draws(reader_model, draws["image"])
    d_y = np.asarray(draws["label"])
    groups = {}
    for g, name in enumerate(spec.group_names):
        m, rm, tm = d_g == g, r_g == g, t_g == g
        fd = frechet_distance(r_x[rm], d_x[m]) if rm.sum() >= 2 and m.sum() >= 2 else None
        floor = frechet_distance(r_x[rm], t_x[tm]) if rm.sum() >= 2 and tm.sum() >= 2 else None
        groups[name] = {"n_draws": int(m.sum()), "n_real": int(rm.sum()), "frechet": fd, "frechet_real_test": floor,
                        "label_read": _rate(label_pred[m] == d_y[m]), "group_read": None if group_pred is None else _rate(group_pred[m] == g)}
    fds = [v["frechet"] for v in groups.values() if v["frechet"] is not None]
    return {
        **about,
        "encoder": encoder,
        "groups": groups,
        "mean_over_groups": {
            "frechet": float(np.mean(fds)) if fds else None,
            **{k: _mean([v[k] for v in groups.values()]) for k in ("label_read", "group_read")},
        },
        "oracle_test": {k: oracle_test[k] for k in ("average_acc", "worst_group_acc")},
        "group_reader_test": None if reader_test is None else {k: reader_test[k] for k in ("average_acc", "worst_group_acc")},
    }


def _fmt(x, scale: float = 1.0, digits: int = 1) -> str:
    return "n/a" if x is None else f"{scale * x:.{digits}f}"


def gap_markdown(report: dict) -> str:
    o, r = report["oracle_test"], report["group_reader_test"]
    lines = [
        f"Domain gap of the base `{report.get('base', '?')}`: {report.get('images_per_group', '?')} unfiltered vanilla draws per group "
        f"({report.get('num_inference_steps', '?')} steps, guidance {report.get('guidance_scale', '?')}) against the real train images; "
        f"encoder `{report['encoder']}`.",
        "",
        "| group | draws | real train | Frechet (draws vs real train) | Frechet (real test vs real train) | oracle reads label % | group reader reads group % |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, v in report["groups"].items():
        lines.append(f"| {table_cell(name)} | {v['n_draws']} | {v['n_real']} | {_fmt(v['frechet'], digits=2)} | "
                     f"{_fmt(v['frechet_real_test'], digits=2)} | {_fmt(v['label_read'], 100)} | {_fmt(v['group_read'], 100)} |")
    mean = report["mean_over_groups"]
    lines.append(f"| **mean** | | | {_fmt(mean['frechet'], digits=2)} | | {_fmt(mean['label_read'], 100)} | {_fmt(mean['group_read'], 100)} |")
    reader = ("no group reader was trained (`domain_gap.group_reader: false`)" if r is None else
              f"the group reader the group {_fmt(r['average_acc'], 100)}% (worst group {_fmt(r['worst_group_acc'], 100)}%)")
    lines += ["", f"Reference: on the real test split the oracle reads the label right {_fmt(o['average_acc'], 100)}% "
                  f"(worst group {_fmt(o['worst_group_acc'], 100)}%), {reader}. Frechet distances from few real images are biased "
                  "upwards: compare groups of similar `real train`."]
    return "\n".join(lines) + "\n"


def stem(variant: str | None = None) -> str:
    """``domain_gap``, or ``domain_gap-<variant>`` for an ablation's variant (as results files)."""
    return "domain_gap" if variant is None else f"domain_gap-{variant}"


def write_gap(report: dict, folder: str | Path, variant: str | None = None) -> None:
    from hf_fair.io_utils import atomic_file, write_json

    folder = Path(folder)
    write_json(folder / f"{stem(variant)}.json", report)
    with atomic_file(folder / f"{stem(variant)}.md") as tmp:
        Path(tmp).write_text(gap_markdown(report))


def gap_summary(report: dict, group_names: list[str], variant: str | None = None) -> dict:
    """What the results document keeps: per group id (the results contract's keys), the figures."""
    keep = ("n_real", "frechet", "label_read", "group_read")
    return {
        "file": f"{stem(variant)}.json",
        "encoder": report["encoder"],
        "images_per_group": report.get("images_per_group"),
        "per_group": {str(g): {k: report["groups"][name][k] for k in keep} for g, name in enumerate(group_names)
                      if name in report["groups"]},
        "mean_over_groups": report["mean_over_groups"],
        "oracle_test": report["oracle_test"],
    }


def read_gap(folder: str | Path, variant: str | None = None) -> dict | None:
    path = Path(folder) / f"{stem(variant)}.json"
    return json.loads(path.read_text()) if path.is_file() else None
