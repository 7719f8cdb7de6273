"""Atomic output folders: a stage writes to a temporary sibling and renames it into place, so an
interrupted run never leaves a half-written folder that looks finished."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path

from hf_fair.errors import HfFairError


def check_output_dir(path: str | Path, overwrite: bool, flag: str = "--output_dir") -> Path:
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise HfFairError(f"{flag} '{path}' exists and is a file; choose a folder path")
    if path.is_dir() and any(path.iterdir()) and not overwrite:
        raise HfFairError(f"{flag} '{path}' is not empty; choose another folder or pass --overwrite")
    return path


@contextlib.contextmanager
def atomic_dir(path: str | Path):
    """Yield a temporary folder next to ``path``; on success it replaces ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if path.exists():
        shutil.rmtree(path)
    tmp.rename(path)


@contextlib.contextmanager
def atomic_file(path: str | Path):
    """Yield a temporary file path next to ``path`` (same suffix, so writers that infer the format
    from it work); on success it replaces ``path``, on failure it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{path.suffix}")
    try:
        yield tmp
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)


def write_json(path: str | Path, obj) -> None:
    """Write JSON atomically (temp file + rename)."""
    with atomic_file(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")
