"""The adapters folder contract, shared by adapter training (writer) and generation (reader).

Layout of an adapters folder (local, or a Hub model repo with the same files)::

    manifest.json                 this module's schema (below)
    README.md                     model card for the whole set
    units/<name>/                 one folder per unit (group or cluster)
        pytorch_lora_weights.safetensors   format "lora": load with pipe.load_lora_weights(dir)
        unet/                              format "unet": UNet2DConditionModel.from_pretrained(dir/unet)
        unit.json                          the unit's manifest entry (written last: marks it done)
        README.md                          model card of the unit

``manifest.json``::

    {"hf_fair_adapters": 1, "method": "lora" | "dreambooth" | "dreambooth_lora",
     "unit": "group" | "cluster", "base": "<embedded | folder | hub id>",
     "dataset": {"name": ..., "severity": ..., "group_names": [...], "label_names": [...],
                 "attribute_names": [...]},
     "config": {...training settings...},
     "units": [{"name": "g2c1", "group": 2, "group_name": "large|red", "cluster": 1 | null,
                "cluster_size": 40 | null, "n_images": 40, "format": "lora" | "unet",
                "prompt": "a sks red handwritten digit, large", "class_prompt": "...",
                "token": "sks" | null, "method": ..., "rank": 4 | null, "steps": 200, "seed": 0,
                "final_loss": 0.08, "path": "units/g2c1", "warnings": [...]}, ...]}

``cluster`` is null for group units; ``cluster_size`` is the number of real images in the cluster
(generation splits a group's quota in proportion to it).
"""

from __future__ import annotations

import json
from pathlib import Path

from hf_fair.errors import HfFairError

MANIFEST = "manifest.json"
UNIT_FILE = "unit.json"
SCHEMA_VERSION = 1
METHODS = ("lora", "dreambooth", "dreambooth_lora")
UNITS = ("group", "cluster")
FORMATS = ("lora", "unet")
UNIT_KEYS = ("name", "group", "group_name", "cluster", "n_images", "format", "prompt", "path")


def unit_name(group: int, cluster: int | None) -> str:
    return f"g{group}" if cluster is None else f"g{group}c{cluster}"


def unit_format(method: str) -> str:
    return "unet" if method == "dreambooth" else "lora"


def validate_manifest(m: dict, where: str = "manifest") -> dict:
    if not isinstance(m, dict) or m.get("hf_fair_adapters") != SCHEMA_VERSION:
        raise HfFairError(f"{where} is not an hf-fair adapters manifest (missing 'hf_fair_adapters': {SCHEMA_VERSION})")
    for key, allowed in (("method", METHODS), ("unit", UNITS)):
        if m.get(key) not in allowed:
            raise HfFairError(f"{where}: '{key}' must be one of {list(allowed)}, got {m.get(key)!r}")
    units = m.get("units")
    if not isinstance(units, list) or not units:
        raise HfFairError(f"{where} lists no units; the adapters run did not finish (re-run it to resume)")
    for u in units:
        missing = [k for k in UNIT_KEYS if k not in u]
        if missing:
            raise HfFairError(f"{where}: unit {u.get('name', '?')} lacks {missing}")
        if u["format"] not in FORMATS:
            raise HfFairError(f"{where}: unit {u['name']} has unknown format {u['format']!r}")
    return m


def read_manifest(folder: str | Path) -> dict:
    """Read and validate ``folder/manifest.json``."""
    folder = Path(folder)
    path = folder / MANIFEST
    if not path.is_file():
        raise HfFairError(
            f"'{folder}' has no {MANIFEST}: it is not an hf-fair adapters folder "
            "(make one with `hf-fair adapters train`, or pass the folder that contains manifest.json)"
        )
    try:
        m = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise HfFairError(f"{path} is not valid JSON ({e}); re-run `hf-fair adapters train` to rewrite it") from None
    return validate_manifest(m, str(path))


def check_matches_groups(manifest: dict, group_names: list[str] | tuple[str, ...], where: str = "adapters") -> None:
    """The manifest was made for the same groups as the dataset at hand."""
    theirs = list(manifest.get("dataset", {}).get("group_names", []))
    if theirs != list(group_names):
        raise HfFairError(
            f"{where} were trained for groups {theirs}, but the dataset has groups {list(group_names)}; "
            "train adapters on this dataset (hf-fair adapters train) or pick the matching adapters folder"
        )


def units_by_group(manifest: dict) -> dict[int, list[dict]]:
    out: dict[int, list[dict]] = {}
    for u in manifest["units"]:
        out.setdefault(int(u["group"]), []).append(u)
    return out


def spec_of_manifest(manifest: dict):
    """The groups an adapters folder was trained for (names and the group prompt template; each
    unit's own prompt is in its entry)."""
    from hf_fair.data.groups import GroupSpec

    d = manifest.get("dataset", {})
    return GroupSpec(target="label", attribute="attribute", label_names=d["label_names"], attribute_names=d["attribute_names"],
                     prompt_template=d.get("prompt_template") or "a photo of a {attribute} {label}")
