"""UTKFace: target gender, spurious attribute an age bucket.

Source: a local folder of files named ``age_gender_race_date.jpg`` (also ``...jpg.chip.jpg``);
gender 0 = male, 1 = female, race 0-4. Images outside every age bucket are dropped; a file name
without all four fields is counted and skipped (named in the command's summary). UTKFace has no official split: a seeded split stratified by group
is made (60/20/20) and the test split is group-balanced (``balance_test``).
"""

from __future__ import annotations

import logging
import re

import datasets
import numpy as np

from hf_fair.data.building import balance_indices, build_dataset_dict, check_images, require_dir, seeded_split
from hf_fair.data.groups import GroupSpec
from hf_fair import skipped
from hf_fair.errors import HfFairError

logger = logging.getLogger(__name__)
NAME = "utkface"
# FFR's preset: young <= 5, old 20-50 (inclusive ages).
AGE_PRESETS = {
    "ffr": "young:0-5,old:20-50",
    "median": "young:0-29,old:30-116",
}
# age_gender_race_date then the extensions (".jpg", ".jpg.chip.jpg"); race is 0-4. Every field is
# required: a name missing one (UTKFace ships "39_1_20170116174525125.jpg.chip.jpg", race missing)
# is skipped, not loaded with a made-up value.
_FILE_RE = re.compile(r"^(\d+)_([01])_([0-4])_(\d+)((\.[a-z]+)*)\.(jpg|jpeg|png)$", re.IGNORECASE)


def parse_age_buckets(text: str) -> list[tuple[str, int, int]]:
    """``"young:0-5,old:20-50"`` or a preset name -> [(name, lo, hi)], non-overlapping."""
    spec = AGE_PRESETS.get(text, text)
    buckets = []
    for part in spec.split(","):
        m = re.fullmatch(r"\s*([A-Za-z_]+)\s*:\s*(\d+)\s*-\s*(\d+)\s*", part)
        if not m:
            raise HfFairError(
                f"utkface: cannot read age bucket '{part}' in --age-buckets '{text}'; use a preset "
                f"{sorted(AGE_PRESETS)} or 'name:lo-hi,name:lo-hi'"
            )
        name, lo, hi = m.group(1), int(m.group(2)), int(m.group(3))
        if lo > hi:
            raise HfFairError(f"utkface: age bucket '{part}' has lo > hi")
        buckets.append((name, lo, hi))
    if len(buckets) < 2:
        raise HfFairError(f"utkface: --age-buckets needs at least two buckets, got '{text}'")
    ordered = sorted(buckets, key=lambda b: b[1])
    for (n1, _, h1), (n2, l2, _) in zip(ordered, ordered[1:]):
        if l2 <= h1:
            raise HfFairError(f"utkface: age buckets '{n1}' and '{n2}' overlap")
    return buckets


def make_spec(age_buckets: str) -> GroupSpec:
    buckets = parse_age_buckets(age_buckets)
    return GroupSpec(
        target="gender",
        attribute="age_bucket",
        label_names=("male", "female"),
        attribute_names=tuple(b[0] for b in buckets),
        prompt_template="a photo of the face of a {attribute} {label} person",
        description=f"UTKFace, y = gender, a = age bucket ({age_buckets})",
    )


def load_utkface(
    data_dir: str | None = None,
    age_buckets: str = "ffr",
    seed: int = 0,
    balance_test: bool = True,
    skip_bad_images: bool = False,
) -> datasets.DatasetDict:
    if data_dir is None:
        raise HfFairError("utkface has no Hub default here: pass --data-dir with the folder of age_gender_race_date.jpg files")
    root = require_dir(data_dir, NAME)
    spec = make_spec(age_buckets)
    buckets = parse_age_buckets(age_buckets)
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if not files:
        raise HfFairError(f"utkface: no .jpg images in '{root}'; expected files named age_gender_race_date.jpg")
    rows = {"path": [], "label": [], "attribute": [], "age": [], "race": [], "file_name": []}
    unparsed = 0
    for p in files:
        m = _FILE_RE.match(p.name)
        if not m:
            unparsed += 1
            skipped.record(p, "name is not age_gender_race_date")
            continue
        age, gender, race = int(m.group(1)), int(m.group(2)), int(m.group(3))
        bucket = next((i for i, (_, lo, hi) in enumerate(buckets) if lo <= age <= hi), None)
        if bucket is None:
            continue
        rows["path"].append(str(p))
        rows["label"].append(gender)
        rows["attribute"].append(bucket)
        rows["age"].append(age)
        rows["race"].append(race)
        rows["file_name"].append(str(p.relative_to(root)))
    if unparsed:
        logger.warning("utkface: skipped %d file(s) whose names are not age_gender_race_date.jpg", unparsed)
    if not rows["path"]:
        raise HfFairError(f"utkface: no image in '{root}' falls into the age buckets {buckets}")
    ok = check_images(rows["path"], skip_bad_images, NAME)
    keep = np.flatnonzero(ok)
    labels = np.asarray(rows["label"])[keep]
    attrs = np.asarray(rows["attribute"])[keep]
    groups = labels * spec.n_attributes + attrs
    assign = seeded_split(len(keep), groups, (0.6, 0.2, 0.2), seed)
    splits = {}
    for sid, split in enumerate(("train", "validation", "test")):
        idx = np.flatnonzero(assign == sid)
        if split == "test" and balance_test:
            idx = idx[balance_indices(groups[idx], spec.n_groups, seed)]
        src = keep[idx]
        splits[split] = {
            "image": [rows["path"][i] for i in src],
            "label": [rows["label"][i] for i in src],
            "attribute": [rows["attribute"][i] for i in src],
            "age": [rows["age"][i] for i in src],
            "race": [rows["race"][i] for i in src],
            "file_name": [rows["file_name"][i] for i in src],
        }
    extra = {"age": datasets.Value("int64"), "race": datasets.Value("int64"), "file_name": datasets.Value("string")}
    return build_dataset_dict(spec, splits, extra)
