"""Clustering images within each group (the paper's clustered DreamBooth).

Features come from an encoder: ``pixels`` (grayscale intensities, works offline — the embedded
default), any timm model name (``timm:resnet50.a1_in1k``; pretrained weights from the Hub or its
cache), or a transformers vision model (``hf:facebook/dinov2-small``, ``hf:openai/clip-vit-base-patch32``).
Within each group, features are standardised and reduced with PCA, then k-means (scikit-learn)
runs with a fixed k or an automatic k chosen by silhouette score. Clusters smaller than
``min_cluster_size`` are merged into the nearest remaining cluster, one at a time, smallest first.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path

import datasets
import numpy as np
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.metrics import adjusted_rand_score, silhouette_score
from sklearn.preprocessing import StandardScaler

from hf_fair.data.groups import attach_spec, spec_of
from hf_fair.errors import HfFairError

logger = logging.getLogger(__name__)


@dataclass
class ClusterArguments:
    k: str = field(default="auto", metadata={"help": "clusters per group: an integer or 'auto' (silhouette)"})
    k_max: int = field(default=6, metadata={"help": "largest k tried by --k auto"})
    min_cluster_size: int = field(default=5, metadata={"help": "smaller clusters are merged into the nearest one"})
    encoder: str = field(default="pixels", metadata={"help": "pixels | timm:<model> | hf:<model id>"})
    pca_dim: int = field(default=32, metadata={"help": "PCA dimensions before k-means (0: none)"})
    split: str = field(default="train", metadata={"help": "split to cluster"})
    cluster_seed: int = field(default=0, metadata={"help": "k-means seed"})
    reference_column: str = field(
        default=None,
        metadata={"help": "optional column to score clusters against (adjusted Rand index), e.g. 'digit' on colored-digits"},
    )

    def k_value(self) -> int | None:
        if self.k == "auto":
            return None
        try:
            k = int(self.k)
        except ValueError:
            raise HfFairError(f"--k must be an integer or 'auto', got '{self.k}'") from None
        if k < 1:
            raise HfFairError(f"--k must be >= 1, got {k}")
        return k


# ------------------------------------------------------------------ encoders
def _pixel_features(images, size: int = 16) -> np.ndarray:
    return np.stack([np.asarray(im.convert("L").resize((size, size)), dtype=np.float32).ravel() / 255.0 for im in images])


def _timm_features(images, name: str, batch_size: int = 64) -> np.ndarray:
    import timm
    import torch
    from timm.data import create_transform, resolve_model_data_config

    try:
        model = timm.create_model(name, pretrained=True, num_classes=0).eval()
    except Exception as e:  # noqa: BLE001
        raise HfFairError(
            f"could not load encoder timm:{name} ({type(e).__name__}); it needs the Hub or its cache. "
            "Use --encoder pixels offline"
        ) from None
    tf = create_transform(**resolve_model_data_config(model))
    out = []
    with torch.no_grad():
        for i in range(0, len(images), batch_size):
            x = torch.stack([tf(im.convert("RGB")) for im in images[i : i + batch_size]])
            out.append(model(x).numpy())
    return np.concatenate(out)


def _hf_features(images, name: str, batch_size: int = 32) -> np.ndarray:
    import torch
    from transformers import AutoImageProcessor, AutoModel

    try:
        processor = AutoImageProcessor.from_pretrained(name)
        model = AutoModel.from_pretrained(name).eval()
    except Exception as e:  # noqa: BLE001
        raise HfFairError(
            f"could not load encoder hf:{name} ({type(e).__name__}); it needs the Hub or its cache. "
            "Use --encoder pixels offline"
        ) from None
    out = []
    with torch.no_grad():
        for i in range(0, len(images), batch_size):
            inputs = processor(images=[im.convert("RGB") for im in images[i : i + batch_size]], return_tensors="pt")
            if hasattr(model, "get_image_features"):
                feats = model.get_image_features(**inputs)
            else:
                feats = model(**inputs).pooler_output
            out.append(feats.float().numpy())
    return np.concatenate(out)


def encode(images, encoder: str) -> np.ndarray:
    if encoder == "pixels":
        return _pixel_features(images)
    if encoder.startswith("timm:"):
        return _timm_features(images, encoder[5:])
    if encoder.startswith("hf:"):
        return _hf_features(images, encoder[3:])
    raise HfFairError(f"unknown --encoder '{encoder}'; use pixels, timm:<model name> or hf:<model id>")


# ------------------------------------------------------------------ clustering
def _merge_small(labels: np.ndarray, x: np.ndarray, min_size: int) -> np.ndarray:
    labels = labels.copy()
    while True:
        ids, counts = np.unique(labels, return_counts=True)
        if len(ids) <= 1 or counts.min() >= min_size:
            break
        small = ids[np.argmin(counts)]
        centroids = {c: x[labels == c].mean(0) for c in ids if c != small}
        here = x[labels == small].mean(0)
        nearest = min(centroids, key=lambda c: np.linalg.norm(centroids[c] - here))
        labels[labels == small] = nearest
    # renumber 0..k-1 by decreasing size
    ids, counts = np.unique(labels, return_counts=True)
    new_id = {int(old): new for new, old in enumerate(ids[np.argsort(-counts, kind="stable")])}
    return np.array([new_id[int(v)] for v in labels], dtype=np.int64)


def cluster_features(x: np.ndarray, k: int | None, k_max: int, min_size: int, pca_dim: int, seed: int) -> tuple[np.ndarray, dict]:
    """Cluster one group's features. Returns labels (0 = largest cluster) and a report."""
    n = len(x)
    if n == 0:
        raise HfFairError("cannot cluster an empty group")
    if n < 2 * max(min_size, 1) or (k == 1):
        return np.zeros(n, dtype=np.int64), {"k": 1, "rule": "single cluster (group too small to split or k=1)", "silhouette": {}}
    x = StandardScaler().fit_transform(x)
    if pca_dim and x.shape[1] > pca_dim:
        x = PCA(n_components=min(pca_dim, n - 1), random_state=seed).fit_transform(x)
    scores = {}
    if k is None:
        best_k, best = 1, -1.0
        for cand in range(2, max(2, min(k_max, n // max(min_size, 1))) + 1):
            labels = KMeans(cand, n_init=10, random_state=seed).fit_predict(x)
            if len(np.unique(labels)) < 2:
                continue
            s = float(silhouette_score(x, labels, random_state=seed))
            scores[cand] = s
            if s > best:
                best_k, best = cand, s
        k_used, rule = best_k, "k chosen by the highest silhouette score"
    else:
        k_used, rule = min(k, n), "fixed k"
    labels = KMeans(k_used, n_init=10, random_state=seed).fit_predict(x) if k_used > 1 else np.zeros(n, dtype=np.int64)
    merged = _merge_small(labels, x, min_size)
    return merged, {"k": int(len(np.unique(merged))), "k_before_merge": int(k_used), "rule": rule, "silhouette": scores}


def cluster_groups(dsd: datasets.DatasetDict, args: ClusterArguments) -> tuple[datasets.DatasetDict, dict]:
    """Add a ``cluster`` column (cluster id within the example's group) to ``args.split``."""
    spec = spec_of(dsd)
    if args.split not in dsd:
        raise HfFairError(f"--split '{args.split}' is not in the dataset (splits: {list(dsd)})")
    ds = dsd[args.split]
    if args.reference_column and args.reference_column not in ds.column_names:
        raise HfFairError(
            f"--reference_column '{args.reference_column}' is not a column of split '{args.split}' "
            f"(columns: {ds.column_names})"
        )
    groups = np.asarray(ds["group"])
    reference = np.asarray(ds[args.reference_column]) if args.reference_column else None
    k = args.k_value()
    clusters = np.zeros(len(ds), dtype=np.int64)
    report = {"split": args.split, "encoder": args.encoder, "settings": asdict(args), "groups": {}}
    for g, name in enumerate(spec.group_names):
        idx = np.flatnonzero(groups == g)
        if len(idx) == 0:
            raise HfFairError(f"group '{name}' has no images in split '{args.split}'; nothing to cluster")
        images = [ds[int(i)]["image"] for i in idx]
        labels, rep = cluster_features(encode(images, args.encoder), k, args.k_max, args.min_cluster_size, args.pca_dim, args.cluster_seed)
        clusters[idx] = labels
        rep["sizes"] = np.bincount(labels).tolist()
        rep["n"] = int(len(idx))
        if reference is not None:
            # agreement with a known sub-population label (1 = identical partition, ~0 = chance)
            rep["adjusted_rand_index"] = float(adjusted_rand_score(reference[idx], labels))
        report["groups"][name] = rep
        logger.info("group %s: %d images -> %d clusters %s", name, len(idx), rep["k"], rep["sizes"])
    if "cluster" in ds.column_names:
        ds = ds.remove_columns("cluster")
    out = dict(dsd)
    out[args.split] = ds.add_column("cluster", clusters.tolist(), feature=datasets.Value("int64"))
    return attach_spec(datasets.DatasetDict(out), spec), report


def cluster_grids(ds: datasets.Dataset, folder: Path, per_cluster: int = 8, scale: int = 2) -> list[Path]:
    """One PNG per group: a row of sample images per cluster, labelled with its size."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    spec = spec_of(ds)
    groups, clusters = np.asarray(ds["group"]), np.asarray(ds["cluster"])
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for g, name in enumerate(spec.group_names):
        ids = sorted(set(clusters[groups == g].tolist()))
        fig, axes = plt.subplots(len(ids), per_cluster, figsize=(per_cluster * 0.6 * scale, len(ids) * 0.7 * scale), squeeze=False)
        for r, c in enumerate(ids):
            members = np.flatnonzero((groups == g) & (clusters == c))
            for j in range(per_cluster):
                ax = axes[r][j]
                ax.axis("off")
                if j < len(members):
                    ax.imshow(ds[int(members[j])]["image"])
            axes[r][0].set_title(f"cluster {c} (n={len(members)})", fontsize=7, loc="left")
        fig.suptitle(f"group {name}", fontsize=9)
        path = folder / f"clusters_group{g}.png"
        fig.savefig(path, dpi=80, bbox_inches="tight")
        plt.close(fig)
        written.append(path)
    return written


def write_cluster_report(report: dict, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "clusters.json").write_text(json.dumps(report, indent=2))
    with_ari = any("adjusted_rand_index" in rep for rep in report["groups"].values())
    head = "| group | images | clusters | sizes | rule |" + (" ARI |" if with_ari else "")
    lines = [head, "|---|---:|---:|---|---|" + ("---:|" if with_ari else "")]
    for name, rep in report["groups"].items():
        row = f"| {name.replace('|', chr(92) + '|')} | {rep['n']} | {rep['k']} | {rep['sizes']} | {rep['rule']} |"
        if with_ari:
            row += f" {rep['adjusted_rand_index']:.3f} |" if "adjusted_rand_index" in rep else " |"
        lines.append(row)
    (folder / "clusters.md").write_text("\n".join(lines) + "\n")


def cluster_to_folder(dsd: datasets.DatasetDict, args: ClusterArguments, data_args, output: Path) -> dict:
    """Cluster, then write ``clusters.json`` (with every row's cluster), ``clusters.md`` and the
    grids into ``output`` atomically; returns the report."""
    from hf_fair.io_utils import atomic_dir

    clustered, report = cluster_groups(dsd, args)
    report["dataset"] = {"name": data_args.dataset, "severity": data_args.severity, "seed": data_args.data_seed}
    report["assignments"] = list(clustered[args.split]["cluster"])
    with atomic_dir(output) as tmp:
        write_cluster_report(report, Path(tmp))
        cluster_grids(clustered[args.split], Path(tmp))
    return report


# ---------------------------------------------------------------- hf-fair cluster
@dataclass
class ClusterOutputArguments:
    output_dir: str = field(default=None, metadata={"help": "folder for clusters.json, clusters.md and grids"})
    overwrite: bool = field(default=False, metadata={"help": "replace a non-empty output folder"})


def main(argv: list[str]) -> int:
    from hf_fair.cluster import ClusterArguments, cluster_to_folder
    from hf_fair.config import parse_config
    from hf_fair.data import DataArguments, load_group_dataset
    from hf_fair.io_utils import check_output_dir

    data_args, cluster_args, out_args = parse_config(
        [DataArguments, ClusterArguments, ClusterOutputArguments], argv, prog="hf-fair cluster"
    )
    if not out_args.output_dir:
        raise HfFairError("--output_dir is required: the folder to write clusters.json, clusters.md and the grids to")
    output = check_output_dir(out_args.output_dir, out_args.overwrite)
    dsd, _ = load_group_dataset(data_args)
    cluster_to_folder(dsd, cluster_args, data_args, Path(output))
    print((Path(output) / "clusters.md").read_text(), end="")
    print(f"wrote {output}")
    return 0
