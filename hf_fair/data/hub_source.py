"""Loading a group dataset's source from the Hub (or a local copy in Hub format)."""

from __future__ import annotations

import datasets
import numpy as np

from hf_fair.data.building import SPLIT_ALIASES, STANDARD_SPLITS
from hf_fair.data.groups import GroupSpec
from hf_fair.data.groups import attach_spec
from hf_fair.errors import HfFairError, first_line


def load_hub_dataset(source: str, dataset: str, name: str | None = None) -> datasets.DatasetDict:
    """``datasets.load_dataset`` with one clear message when the Hub can't be reached."""
    try:
        loaded = datasets.load_dataset(source, name=name)
    except (ConnectionError, OSError, FileNotFoundError, ValueError) as e:
        raise HfFairError(
            f"{dataset}: could not load '{source}' with datasets.load_dataset ("
            f"{first_line(e)}). If you are offline, download it once while online "
            "(it is then read from the HF cache), or pass --data-dir with a local copy in the "
            "original layout"
        ) from None
    return rename_splits(loaded, dataset)


def rename_splits(dsd: datasets.DatasetDict, dataset: str) -> datasets.DatasetDict:
    out = {}
    for split, ds in dsd.items():
        std = SPLIT_ALIASES.get(split.lower())
        if std is not None:
            out[std] = ds
    missing = [s for s in STANDARD_SPLITS if s not in out]
    if missing:
        raise HfFairError(
            f"{dataset}: source has splits {list(dsd)}, but {missing} could not be matched "
            f"(accepted names: {sorted(SPLIT_ALIASES)})"
        )
    return datasets.DatasetDict({s: out[s] for s in STANDARD_SPLITS})


def find_column(ds: datasets.Dataset, wanted: str | None, candidates: tuple[str, ...], role: str, dataset: str, flag: str) -> str:
    if wanted is not None:
        if wanted not in ds.column_names:
            raise HfFairError(
                f"{dataset}: column '{wanted}' (from {flag}) is not in the source; "
                f"columns are {ds.column_names}"
            )
        return wanted
    for c in candidates:
        if c in ds.column_names:
            return c
    raise HfFairError(
        f"{dataset}: no {role} column found among {list(candidates)}; columns are "
        f"{ds.column_names}; name it with {flag}"
    )


def annotate(
    dsd: datasets.DatasetDict,
    spec: GroupSpec,
    label_of,
    attribute_of,
    keep_columns: list[str],
    image_column: str = "image",
) -> datasets.DatasetDict:
    """Add label/attribute/group ClassLabel columns computed column-wise from the source.

    ``label_of``/``attribute_of`` take a split Dataset and return integer arrays.
    """
    out = {}
    for split, ds in dsd.items():
        labels = np.asarray(label_of(ds), dtype=np.int64)
        attrs = np.asarray(attribute_of(ds), dtype=np.int64)
        for arr, names, role in ((labels, spec.label_names, "label"), (attrs, spec.attribute_names, "attribute")):
            bad = (arr < 0) | (arr >= len(names))
            if bad.any():
                raise HfFairError(
                    f"split '{split}': {role} values {sorted(set(arr[bad].tolist()))[:5]} are outside "
                    f"the {len(names)} classes {list(names)}"
                )
        if image_column != "image":
            ds = ds.rename_column(image_column, "image")
        keep = ["image"] + [c for c in keep_columns if c in ds.column_names and c not in ("label", "attribute", "group")]
        ds = ds.remove_columns([c for c in ds.column_names if c not in keep])
        ds = ds.cast_column("image", datasets.Image())
        feats = spec.features()
        ds = ds.add_column("label", labels.tolist(), feature=feats["label"])
        ds = ds.add_column("attribute", attrs.tolist(), feature=feats["attribute"])
        ds = ds.add_column("group", (labels * spec.n_attributes + attrs).tolist(), feature=feats["group"])
        out[split] = ds.select_columns(["image", "label", "attribute", "group"] + keep[1:])
    return attach_spec(datasets.DatasetDict(out), spec)
