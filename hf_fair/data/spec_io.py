"""Keep a dataset's GroupSpec with its DatasetDict (in each split's DatasetInfo).

The spec travels through ``save_to_disk``/``load_from_disk``; for datasets made elsewhere it
is recovered from the ``label``/``attribute`` ClassLabel features.
"""

from __future__ import annotations

import json

import datasets

from hf_fair.data.groups import GroupSpec

_PREFIX = "hf-fair GroupSpec: "


def attach_spec(dsd: datasets.DatasetDict, spec: GroupSpec) -> datasets.DatasetDict:
    text = _PREFIX + json.dumps(spec.to_dict(), sort_keys=True)
    for split in dsd.values():
        split.info.description = text
    return dsd


def spec_of(data: datasets.DatasetDict | datasets.Dataset) -> GroupSpec:
    first = next(iter(data.values())) if isinstance(data, datasets.DatasetDict) else data
    desc = first.info.description or ""
    if desc.startswith(_PREFIX):
        return GroupSpec.from_dict(json.loads(desc[len(_PREFIX):]))
    return GroupSpec.from_features(first.features)
