"""Fidelity of synthetic images to the real data, per source and group.

Two numbers per (source, group), both from one fixed encoder:

* **Frechet distance** between the Gaussians fitted to real and synthetic features (FID's formula
  on this encoder's features; small samples bias it upwards, so compare sources at equal n).
* **Probe accuracy**: a logistic-regression probe fitted on the features of group-balanced real
  images predicts label and attribute; the share of synthetic images it assigns to their intended
  label, attribute and group. The probe's cross-validated accuracy on real data is reported too,
  so a reader can tell a weak judge from a bad generator.

Encoders: ``reference`` (the shipped digit/colour classifier's pooled features, the embedded
world; what ``auto`` picks for colored-digits and colored-mnist), ``pixels``, ``timm:<model>`` or ``hf:<model id>`` (see :func:`hf_fair.cluster.encode`),
``classifier:<folder>`` (a classifier trained on the real data, e.g. an oracle: its features before
the last layer, with the image's colour maxima). ``oracle`` is ``hf-fair run``'s name for the run's own seed-0 oracle: on
colored-mnist the reference encoder, which never saw MNIST, cannot separate the real labels (its
probe reads real test images below chance), so a probe on it judges nothing.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import torch
from scipy import linalg
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from hf_fair.errors import HfFairError
from hf_fair.generate.config import RUN_ORACLE


# datasets of the embedded world: ``auto`` reads them with the reference classifier's features
# (a fixed encoder trained on the embedded corpus's digits, never on MNIST, so it favours no source)
REFERENCE_DATASETS = ("colored-digits", "colored-mnist")


def resolve_encoder(encoder: str, dataset_name: str | None) -> str:
    """``auto``: ``reference`` for the embedded benchmarks (colored-digits, colored-mnist); any
    other dataset must name its encoder."""
    if encoder == RUN_ORACLE:
        raise HfFairError(
            f"--fidelity_encoder {RUN_ORACLE} is the seed-0 oracle of `hf-fair run` (its generate section); on its own, "
            "pass --fidelity_encoder classifier:<folder of a classifier trained on the real data> (e.g. an oracle's model/)"
        )
    if encoder != "auto":
        return encoder
    if dataset_name in REFERENCE_DATASETS:
        return "reference"
    raise HfFairError(
        f"--fidelity_encoder auto only knows the embedded benchmarks {list(REFERENCE_DATASETS)}; for '{dataset_name}' pass "
        "--fidelity_encoder timm:<model> (e.g. timm:resnet50.a1_in1k) or hf:<model id> (e.g. hf:facebook/dinov2-small)"
    )


@torch.no_grad()
def reference_features(images) -> np.ndarray:
    from hf_fair.diffusion.embedded.reference import images_to_tensor, load_reference

    model = load_reference()
    x = images_to_tensor(images)
    out = []
    for chunk in x.split(256):
        f = model.features(chunk)
        out.append(torch.cat([f.mean(dim=(2, 3)), f.amax(dim=(2, 3)), chunk.amax(dim=(2, 3))], dim=1))
    return torch.cat(out).numpy().astype(np.float64)


def features(images, encoder: str) -> np.ndarray:
    if encoder == "reference":
        return reference_features(images)
    if encoder.startswith("classifier:"):
        from hf_fair.classify.predict import classifier_features
        from hf_fair.diffusion.embedded.reference import images_to_tensor

        # the colour maxima too, as the reference features have them: an oracle of group-balanced
        # data learns to ignore colour, so its features alone read the attribute of draws badly
        # (60-99% on colored-mnist's synthetic sets, 100% with the maxima)
        colour = images_to_tensor(images).amax(dim=(2, 3)).numpy()
        return np.hstack([classifier_features(encoder[len("classifier:"):], images), colour]).astype(np.float64)
    from hf_fair.cluster import encode

    return np.asarray(encode(images, encoder), dtype=np.float64)


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^1/2)."""
    if len(a) < 2 or len(b) < 2:
        raise HfFairError(f"the Frechet distance needs at least 2 images on each side, got {len(a)} and {len(b)}")
    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a, s_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    with warnings.catch_warnings():  # few images give singular covariances: handled below, as FID implementations do
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        covmean = linalg.sqrtm(s_a @ s_b)
    if not np.isfinite(covmean).all():  # near-singular product: regularise as FID implementations do
        eps = np.eye(len(s_a)) * 1e-6
        covmean = linalg.sqrtm((s_a + eps) @ (s_b + eps))
    covmean = np.real(covmean)
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(s_a) + np.trace(s_b) - 2 * np.trace(covmean))


def _probe(x: np.ndarray, y: np.ndarray) -> tuple[object, float]:
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=1.0))
    folds = int(min(5, np.bincount(y).min())) if len(np.unique(y)) > 1 else 0
    cv = float(cross_val_score(model, x, y, cv=folds).mean()) if folds >= 2 else float("nan")
    model.fit(x, y)
    return model, cv


def fidelity_report(real_dsd, synthetic: dict, spec, split: str = "test", encoder: str = "auto", dataset_name: str | None = None,
                    encoder_name: str | None = None) -> dict:
    """``synthetic``: {source name: Dataset with image/label/attribute/group}. ``encoder_name`` is
    what the report calls the encoder (default: ``encoder``; a caller passing a folder names it
    without the machine's path)."""
    if split not in real_dsd:
        raise HfFairError(f"--fidelity_split '{split}' is not a split of the real dataset (splits: {list(real_dsd)})")
    encoder = resolve_encoder(encoder, dataset_name)
    real = real_dsd[split]
    r_x = features(real["image"], encoder)
    r_y, r_a, r_g = (np.asarray(real[c]) for c in ("label", "attribute", "group"))
    label_probe, label_cv = _probe(r_x, r_y)
    attr_probe, attr_cv = _probe(r_x, r_a)
    report = {
        "encoder": encoder_name or encoder,
        "split": split,
        "n_real": {spec.group_names[g]: int((r_g == g).sum()) for g in range(spec.n_groups)},
        "probe_cv_accuracy": {"label": label_cv, "attribute": attr_cv},
        "sources": {},
    }
    for source, ds in synthetic.items():
        s_x = features(ds["image"], encoder)
        s_y, s_a, s_g = (np.asarray(ds[c]) for c in ("label", "attribute", "group"))
        p_y, p_a = label_probe.predict(s_x), attr_probe.predict(s_x)
        per_group = {}
        for g in range(spec.n_groups):
            m, rm = s_g == g, r_g == g
            if not m.any():
                continue
            per_group[spec.group_names[g]] = {
                "n": int(m.sum()),
                "frechet": frechet_distance(r_x[rm], s_x[m]) if rm.sum() >= 2 and m.sum() >= 2 else None,
                "label_acc": float((p_y[m] == s_y[m]).mean()),
                "attribute_acc": float((p_a[m] == s_a[m]).mean()),
                "group_acc": float(((p_y[m] == s_y[m]) & (p_a[m] == s_a[m])).mean()),
            }
        fds = [v["frechet"] for v in per_group.values() if v["frechet"] is not None]
        report["sources"][source] = {
            "n": len(ds),
            "frechet_all": frechet_distance(r_x, s_x),
            "frechet_mean_over_groups": float(np.mean(fds)) if fds else None,
            "label_acc": float((p_y == s_y).mean()),
            "attribute_acc": float((p_a == s_a).mean()),
            "group_acc": float(((p_y == s_y) & (p_a == s_a)).mean()),
            "per_group": per_group,
        }
    return report


def fidelity_markdown(report: dict) -> str:
    cv = report["probe_cv_accuracy"]
    lines = [
        f"Encoder `{report['encoder']}`; real split `{report['split']}` ({sum(report['n_real'].values())} images). "
        f"Probe cross-validated accuracy on real images: label {100 * cv['label']:.1f}%, attribute {100 * cv['attribute']:.1f}%.",
        "",
        "| source | group | n | Frechet distance (lower is closer) | label acc % | attribute acc % | group acc % |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for source, s in report["sources"].items():
        for name, v in s["per_group"].items():
            fd = "n/a" if v["frechet"] is None else f"{v['frechet']:.2f}"
            lines.append(f"| {source} | {name.replace('|', chr(92) + '|')} | {v['n']} | {fd} | {100 * v['label_acc']:.1f} | "
                         f"{100 * v['attribute_acc']:.1f} | {100 * v['group_acc']:.1f} |")
        mean_fd = s["frechet_mean_over_groups"]
        lines.append(f"| **{source}** | **all** | {s['n']} | {s['frechet_all']:.2f} (group mean {'n/a' if mean_fd is None else f'{mean_fd:.2f}'}) | "
                     f"{100 * s['label_acc']:.1f} | {100 * s['attribute_acc']:.1f} | {100 * s['group_acc']:.1f} |")
    return "\n".join(lines) + "\n"


def write_report(report: dict, folder: str | Path, stem: str = "fidelity") -> None:
    """``<stem>.md`` and ``<stem>.json`` in ``folder``, each atomically, the .json last: it marks the report finished."""
    from hf_fair.io_utils import atomic_file

    folder = Path(folder)
    with atomic_file(folder / f"{stem}.md") as tmp:
        tmp.write_text(fidelity_markdown(report))
    with atomic_file(folder / f"{stem}.json") as tmp:
        tmp.write_text(json.dumps(report, indent=2))
