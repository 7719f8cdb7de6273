"""Waterbirds (Sagawa et al. 2020): y = bird type (landbird / waterbird), a = background place.

Sources: a Hub id (default ``grodino/waterbirds``) or the group_DRO folder
(``metadata.csv`` with img_filename, y, split (0/1/2), place; images under the folder).
"""

from __future__ import annotations

import datasets
import numpy as np

from hf_fair.data.building import build_dataset_dict, check_images, require_dir, require_file
from hf_fair.data.groups import GroupSpec
from hf_fair.data.hub_source import annotate, find_column, load_hub_dataset
from hf_fair.data.metadata_table import read_table, require_columns
from hf_fair.errors import HfFairError

NAME = "waterbirds"
DEFAULT_SOURCE = "grodino/waterbirds"
SPEC = GroupSpec(
    target="y",
    attribute="place",
    label_names=("landbird", "waterbird"),
    attribute_names=("land", "water"),
    majority_attribute=(0, 1),
    prompt_template="a photo of a {label} on a {attribute} background",
    description="Waterbirds: y = bird type, a = background (land / water)",
)
SPLIT_IDS = {"0": "train", "1": "validation", "2": "test"}


def load_waterbirds_local(data_dir, skip_bad_images: bool = False) -> datasets.DatasetDict:
    root = require_dir(data_dir, NAME)
    meta = require_file(root, "metadata.csv", NAME)
    rows = read_table(meta, NAME)
    require_columns(rows, {"img_filename": "metadata.csv", "y": "metadata.csv", "split": "metadata.csv", "place": "metadata.csv"}, meta, NAME)
    paths = [str(root / r["img_filename"]) for r in rows]
    ok = check_images(paths, skip_bad_images, NAME)
    splits = {s: {"image": [], "label": [], "attribute": [], "img_filename": [], "place_filename": []} for s in SPLIT_IDS.values()}
    for i, r in enumerate(rows):
        if not ok[i]:
            continue
        split = SPLIT_IDS.get(str(r["split"]).strip())
        if split is None:
            raise HfFairError(f"waterbirds: metadata.csv row {i + 2} has split '{r['split']}'; expected 0, 1 or 2")
        try:
            y, a = int(r["y"]), int(r["place"])
        except ValueError:
            raise HfFairError(f"waterbirds: metadata.csv row {i + 2} has non-integer y/place ({r['y']!r}, {r['place']!r})") from None
        cols = splits[split]
        cols["image"].append(paths[i])
        cols["label"].append(y)
        cols["attribute"].append(a)
        cols["img_filename"].append(r["img_filename"])
        cols["place_filename"].append(r.get("place_filename", ""))
    extra = {"img_filename": datasets.Value("string"), "place_filename": datasets.Value("string")}
    return build_dataset_dict(SPEC, splits, extra)


def load_waterbirds(
    data_dir: str | None = None,
    source: str | None = None,
    skip_bad_images: bool = False,
    label_column: str | None = None,
    attribute_column: str | None = None,
) -> datasets.DatasetDict:
    if data_dir is not None:
        return load_waterbirds_local(data_dir, skip_bad_images)
    src = source or DEFAULT_SOURCE
    raw = load_hub_dataset(src, NAME)
    first = raw["train"]
    ycol = find_column(first, label_column, ("label", "y", "bird", "target"), "bird-type label", NAME, "--label-column")
    acol = find_column(first, attribute_column, ("place", "background", "spurious", "attribute", "a"), "background place", NAME, "--attribute-column")
    icol = find_column(first, None, ("image", "img"), "image", NAME, "--image-column")
    keep = [c for c in first.column_names if c not in (ycol, acol, icol)]
    return annotate(
        raw,
        SPEC,
        label_of=lambda ds: np.asarray(list(ds[ycol]), dtype=np.int64),
        attribute_of=lambda ds: np.asarray(list(ds[acol]), dtype=np.int64),
        keep_columns=keep,
        image_column=icol,
    )
