"""Exporting a group dataset: ``save_to_disk`` folder + dataset card, optionally to the Hub."""

from __future__ import annotations

from pathlib import Path

import datasets

from hf_fair.data.cards import group_dataset_card
from hf_fair.data.severity import SeverityReport
from hf_fair.data.groups import spec_of
from hf_fair.io_utils import atomic_dir, check_output_dir, write_json


def export_dataset(
    dsd: datasets.DatasetDict,
    output_dir: str | Path,
    dataset_name: str,
    source: str,
    report: SeverityReport | None = None,
    command: str = "",
    overwrite: bool = False,
    push_to_hub: str | None = None,
    api=None,
) -> Path:
    """Write the dataset atomically; publish afterwards (a failed push leaves the folder intact)."""
    if push_to_hub:
        from hf_fair.hub import check_repo_id

        check_repo_id(push_to_hub)  # before the folder is written: a bad id leaves nothing
    out = check_output_dir(output_dir, overwrite)
    card = group_dataset_card(dsd, dataset_name, source, report, command)
    with atomic_dir(out) as tmp:
        dsd.save_to_disk(str(tmp))
        (tmp / "README.md").write_text(str(card))
        write_json(tmp / "group_spec.json", spec_of(dsd).to_dict())
        if report is not None:
            write_json(tmp / "severity_report.json", report.to_dict())
    if push_to_hub:
        from hf_fair.hub import publish_dataset

        publish_dataset(dsd, str(card), push_to_hub, api=api, local_output=out)
    return out
