"""Reading a metadata table (CSV or JSON lines) that lists image files with their columns."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from hf_fair.errors import HfFairError


def read_table(path: Path, dataset: str) -> list[dict[str, str]]:
    if path.suffix == ".jsonl":
        rows = []
        for ln, line in enumerate(path.read_text().splitlines(), start=1):
            if line.strip():
                try:
                    rows.append({k: str(v) for k, v in json.loads(line).items()})
                except json.JSONDecodeError as e:
                    raise HfFairError(f"{dataset}: '{path}' line {ln} is not valid JSON ({e.msg})") from None
        return rows
    with path.open(newline="") as f:
        return [dict(r) for r in csv.DictReader(f)]


def require_columns(rows: list[dict], columns: dict[str, str], path: Path, dataset: str) -> None:
    """``columns`` maps column name -> the flag that names it."""
    if not rows:
        raise HfFairError(f"{dataset}: metadata file '{path}' has no rows")
    have = list(rows[0])
    for col, flag in columns.items():
        if col not in rows[0]:
            raise HfFairError(
                f"{dataset}: metadata file '{path.name}' has no column '{col}' ({flag}); its columns are {have}"
            )
