"""Any folder of images with a metadata table giving file name, label and attribute.

Layout (the same convention as ``datasets``' ImageFolder)::

    my_data/metadata.csv        # file_name,label,attribute[,split][,other columns...]
    my_data/images/xxx.png ...  # file_name is relative to the folder

Label and attribute values may be strings or integers; class names are their sorted distinct
values (numeric order for integers). Without a split column a seeded split stratified by group
is made (60/20/20). Other columns are kept as strings.
"""

from __future__ import annotations

from pathlib import Path

import datasets
import numpy as np

from hf_fair.data.building import SPLIT_ALIASES, build_dataset_dict, check_images, require_dir, seeded_split
from hf_fair.data.groups import GroupSpec
from hf_fair.data.metadata_table import read_table, require_columns
from hf_fair.errors import HfFairError

NAME = "imagefolder"
METADATA_NAMES = ("metadata.csv", "metadata.jsonl")


def _class_names(values: list[str]) -> list[str]:
    distinct = set(values)
    try:
        return [str(v) for v in sorted(distinct, key=int)]
    except ValueError:
        return sorted(distinct)


def load_imagefolder(
    data_dir: str,
    metadata: str | None = None,
    image_column: str = "file_name",
    label_column: str = "label",
    attribute_column: str = "attribute",
    split_column: str = "split",
    seed: int = 0,
    skip_bad_images: bool = False,
) -> datasets.DatasetDict:
    if data_dir is None:
        raise HfFairError("imagefolder: pass --data-dir, a folder with metadata.csv (file_name,label,attribute)")
    root = require_dir(data_dir, NAME)
    if metadata is not None:
        meta = Path(metadata) if Path(metadata).is_absolute() else root / metadata
        if not meta.is_file():
            raise HfFairError(f"imagefolder: metadata file '{meta}' (--metadata) does not exist")
    else:
        found = [root / n for n in METADATA_NAMES if (root / n).is_file()]
        if not found:
            raise HfFairError(f"imagefolder: '{root}' has no {' or '.join(METADATA_NAMES)}; add one or pass --metadata")
        meta = found[0]
    rows = read_table(meta, NAME)
    require_columns(
        rows,
        {image_column: "--image-column", label_column: "--label-column", attribute_column: "--attribute-column"},
        meta,
        NAME,
    )
    label_names = _class_names([r[label_column] for r in rows])
    attr_names = _class_names([r[attribute_column] for r in rows])
    for names, col in ((label_names, label_column), (attr_names, attribute_column)):
        if len(names) < 2:
            raise HfFairError(f"imagefolder: column '{col}' has a single value {names}; a group dataset needs at least two")
    spec = GroupSpec(
        target=label_column,
        attribute=attribute_column,
        label_names=tuple(label_names),
        attribute_names=tuple(attr_names),
        description=f"imagefolder '{root.name}': y = {label_column}, a = {attribute_column}",
    )
    paths = [str(root / r[image_column]) for r in rows]
    ok = check_images(paths, skip_bad_images, NAME)
    keep = np.flatnonzero(ok)
    labels = np.asarray([label_names.index(rows[i][label_column]) for i in keep], dtype=np.int64)
    attrs = np.asarray([attr_names.index(rows[i][attribute_column]) for i in keep], dtype=np.int64)
    if split_column in rows[0]:
        split_of = []
        for i in keep:
            s = SPLIT_ALIASES.get(str(rows[i][split_column]).strip().lower())
            if s is None:
                raise HfFairError(
                    f"imagefolder: row {i + 2} of '{meta.name}' has split '{rows[i][split_column]}'; "
                    f"expected one of {sorted(SPLIT_ALIASES)}"
                )
            split_of.append(s)
    else:
        assign = seeded_split(len(keep), labels * len(attr_names) + attrs, (0.6, 0.2, 0.2), seed)
        split_of = [("train", "validation", "test")[a] for a in assign]
    other = [c for c in rows[0] if c not in (image_column, label_column, attribute_column, split_column)]
    splits = {s: {"image": [], "label": [], "attribute": [], "file_name": [], **{c: [] for c in other}} for s in ("train", "validation", "test")}
    for j, i in enumerate(keep):
        cols = splits[split_of[j]]
        cols["image"].append(paths[i])
        cols["label"].append(int(labels[j]))
        cols["attribute"].append(int(attrs[j]))
        cols["file_name"].append(rows[i][image_column])
        for c in other:
            cols[c].append(str(rows[i][c]))
    for s, cols in splits.items():
        if not cols["image"]:
            raise HfFairError(f"imagefolder: split '{s}' is empty; add rows with {split_column}={s} or drop the split column")
    extra = {"file_name": datasets.Value("string"), **{c: datasets.Value("string") for c in other}}
    return build_dataset_dict(spec, splits, extra)
