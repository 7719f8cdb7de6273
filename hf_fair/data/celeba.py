"""CelebA: target and spurious attribute chosen among the 40 binary attributes.

Sources: a Hub id (default ``flwrlabs/celeba``: ``image``, ``celeb_id`` and 40 bool columns,
splits train/valid/test) or a local folder in the original layout::

    img_align_celeba/000001.jpg ...
    list_attr_celeba.txt      # line 1: count; line 2: 40 names; then "000001.jpg -1 1 ..."
    list_eval_partition.txt   # "000001.jpg 0" (0 train, 1 validation, 2 test)
"""

from __future__ import annotations

from pathlib import Path

import datasets
import numpy as np

from hf_fair.data.building import build_dataset_dict, check_images, require_dir, require_file
from hf_fair.data.groups import GroupSpec
from hf_fair.data.hub_source import annotate, load_hub_dataset
from hf_fair.errors import HfFairError

NAME = "celeba"
DEFAULT_SOURCE = "flwrlabs/celeba"
ATTRIBUTES = (
    "5_o_Clock_Shadow", "Arched_Eyebrows", "Attractive", "Bags_Under_Eyes", "Bald", "Bangs",
    "Big_Lips", "Big_Nose", "Black_Hair", "Blond_Hair", "Blurry", "Brown_Hair", "Bushy_Eyebrows",
    "Chubby", "Double_Chin", "Eyeglasses", "Goatee", "Gray_Hair", "Heavy_Makeup",
    "High_Cheekbones", "Male", "Mouth_Slightly_Open", "Mustache", "Narrow_Eyes", "No_Beard",
    "Oval_Face", "Pale_Skin", "Pointy_Nose", "Receding_Hairline", "Rosy_Cheeks", "Sideburns",
    "Smiling", "Straight_Hair", "Wavy_Hair", "Wearing_Earrings", "Wearing_Hat",
    "Wearing_Lipstick", "Wearing_Necklace", "Wearing_Necktie", "Young",
)  # fmt: skip
# Readable class names for the attributes used in the literature; others get not_x / x.
_NAMES = {
    "Blond_Hair": ("not_blond", "blond"),
    "Male": ("female", "male"),
    "Young": ("old", "young"),
    "Eyeglasses": ("no_eyeglasses", "eyeglasses"),
    "Wearing_Lipstick": ("no_lipstick", "lipstick"),
}
SPLIT_IDS = {0: "train", 1: "validation", 2: "test"}


def _class_names(attr: str) -> tuple[str, str]:
    return _NAMES.get(attr, (f"not_{attr.lower()}", attr.lower()))


def check_attribute(name: str, flag: str) -> str:
    if name not in ATTRIBUTES:
        import difflib

        close = difflib.get_close_matches(name, ATTRIBUTES, n=3)
        hint = f" Did you mean {close}?" if close else ""
        raise HfFairError(f"celeba: unknown attribute '{name}' for {flag}.{hint} Valid: {list(ATTRIBUTES)}")
    return name


def make_spec(target: str, attribute: str) -> GroupSpec:
    check_attribute(target, "--target")
    check_attribute(attribute, "--attribute")
    if target == attribute:
        raise HfFairError("celeba: --target and --attribute must differ")
    return GroupSpec(
        target=target,
        attribute=attribute,
        label_names=_class_names(target),
        attribute_names=_class_names(attribute),
        prompt_template="a photo of the face of a {attribute} celebrity, {label}",
        description=f"CelebA, y = {target}, a = {attribute}",
    )


def _read_attr_file(path: Path) -> tuple[list[str], list[str], np.ndarray]:
    lines = path.read_text().splitlines()
    if len(lines) < 2:
        raise HfFairError(f"celeba: '{path}' is too short to be list_attr_celeba.txt")
    names = lines[1].split()
    files, rows = [], []
    for ln, line in enumerate(lines[2:], start=3):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != len(names) + 1:
            raise HfFairError(f"celeba: '{path.name}' line {ln} has {len(parts) - 1} values, expected {len(names)}")
        files.append(parts[0])
        rows.append([int(v) for v in parts[1:]])
    return names, files, (np.asarray(rows, dtype=np.int64) > 0)


def load_celeba_local(data_dir, spec: GroupSpec, skip_bad_images: bool = False) -> datasets.DatasetDict:
    root = require_dir(data_dir, NAME)
    attr_file = require_file(root, "list_attr_celeba.txt", NAME)
    part_file = require_file(root, "list_eval_partition.txt", NAME)
    img_dir = root / "img_align_celeba"
    if not img_dir.is_dir():
        raise HfFairError(f"celeba: image folder 'img_align_celeba/' is missing from '{root}'")
    names, files, values = _read_attr_file(attr_file)
    for col in (spec.target, spec.attribute):
        if col not in names:
            raise HfFairError(f"celeba: attribute '{col}' is not in {attr_file.name} (has {names})")
    partition = {}
    for line in part_file.read_text().splitlines():
        parts = line.split()
        if len(parts) == 2:
            partition[parts[0]] = int(parts[1])
    missing = [f for f in files if f not in partition]
    if missing:
        raise HfFairError(f"celeba: {len(missing)} images (e.g. '{missing[0]}') have no row in {part_file.name}")
    paths = [str(img_dir / f) for f in files]
    ok = check_images(paths, skip_bad_images, NAME)
    ti, ai = names.index(spec.target), names.index(spec.attribute)
    splits = {s: {"image": [], "label": [], "attribute": [], "image_id": [], **{n: [] for n in names}} for s in SPLIT_IDS.values()}
    for i, f in enumerate(files):
        if not ok[i]:
            continue
        split = SPLIT_IDS.get(partition[f])
        if split is None:
            raise HfFairError(f"celeba: '{part_file.name}' gives split {partition[f]} for '{f}'; expected 0, 1 or 2")
        cols = splits[split]
        cols["image"].append(paths[i])
        cols["label"].append(int(values[i, ti]))
        cols["attribute"].append(int(values[i, ai]))
        cols["image_id"].append(f)
        for j, n in enumerate(names):
            cols[n].append(bool(values[i, j]))
    extra = {"image_id": datasets.Value("string"), **{n: datasets.Value("bool") for n in names}}
    return build_dataset_dict(spec, splits, extra)


def _binary(column) -> np.ndarray:
    """Bool columns and the original -1/1 coding both map to 0/1."""
    return (np.asarray(list(column)).astype(np.int64) > 0).astype(np.int64)


def load_celeba(
    target: str = "Blond_Hair",
    attribute: str = "Male",
    data_dir: str | None = None,
    source: str | None = None,
    skip_bad_images: bool = False,
) -> datasets.DatasetDict:
    spec = make_spec(target, attribute)
    if data_dir is not None:
        return load_celeba_local(data_dir, spec, skip_bad_images)
    src = source or DEFAULT_SOURCE
    raw = load_hub_dataset(src, NAME)
    cols = raw["train"].column_names
    for col, flag in ((target, "--target"), (attribute, "--attribute")):
        if col not in cols:
            raise HfFairError(f"celeba: '{src}' has no column '{col}' ({flag}); columns: {cols}")
    keep = [c for c in cols if c != "image"]
    return annotate(
        raw,
        spec,
        label_of=lambda ds: _binary(ds[target]),
        attribute_of=lambda ds: _binary(ds[attribute]),
        keep_columns=keep,
    )
