"""What every stage writes into its output folder the same way: the fingerprint that decides
whether a folder holds this run (resume) or another one (refuse), and the library versions.

:func:`claim` is the one rule for an output folder that already exists (resume, refuse, replace).

A config field that does not change results (where to write, whether to overwrite, worker and
evaluation batch sizes, reporting) is named in its dataclass's ``NOT_IN_FINGERPRINT`` class
attribute; :func:`fingerprint` leaves it out, so a run resumes when only such a field changed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import json
from pathlib import Path

from hf_fair.errors import HfFairError


def result_settings(config) -> dict:
    """A dataclass config as a dict of the fields that change results.

    A field named in ``IN_FINGERPRINT_WHEN_SET`` (one added after results were recorded) counts only
    when it differs from its default, so folders made before it existed keep their fingerprint."""
    left_out = getattr(type(config), "NOT_IN_FINGERPRINT", frozenset())
    when_set = getattr(type(config), "IN_FINGERPRINT_WHEN_SET", frozenset())
    return {f.name: getattr(config, f.name) for f in dataclasses.fields(config)
            if f.name not in left_out and not (f.name in when_set and getattr(config, f.name) == f.default)}


def fingerprint(*parts, length: int = 16) -> str:
    """Hash of the parts: dataclass configs (marked fields left out), dicts, strings, numbers."""
    clean = [result_settings(p) if dataclasses.is_dataclass(p) and not isinstance(p, type) else p for p in parts]
    text = json.dumps(clean, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def versions(*packages: str) -> dict:
    """hf_fair's and torch's versions plus the named packages' (recorded next to results)."""
    out = {}
    for name in ("hf_fair", "torch", *packages):
        out[name] = getattr(importlib.import_module(name), "__version__", "unknown")
    return out


def claim(output_dir, fp: str, recorded: str | None, overwrite: bool, what: str,
          changes: list[str] | None = None, early_files: tuple[str, ...] = ()) -> str:
    """What a stage may do with ``output_dir``, given the fingerprint ``recorded`` in it (None when
    it holds no record of this stage): ``"fresh"`` (missing or empty, or holding only
    ``early_files``, which the stage writes before its record), ``"resume"`` (a run of these
    settings: the caller finds what is done), or ``"replace"`` (another run, and ``overwrite``:
    the caller clears it). Anything else is refused with one message naming the folder, ``what``
    it holds, the settings that differ (``changes``) and the fix. Reads only, so every process of
    a distributed run gets the same answer."""
    out = Path(output_dir)
    if out.exists() and not out.is_dir():
        raise HfFairError(f"--output_dir '{out}' is a file; choose a folder path")
    entries = {p.name for p in out.iterdir()} if out.is_dir() else set()
    if recorded is None and entries <= set(early_files):
        return "fresh"
    if recorded == fp:
        return "resume"
    if overwrite:
        return "replace"
    if recorded is None:
        raise HfFairError(
            f"--output_dir '{out}' is not empty and holds no resumable {what}; choose another folder "
            "or pass --overwrite to replace it"
        )
    detail = f" ({'; '.join(changes[:6])})" if changes else ""
    raise HfFairError(
        f"--output_dir '{out}' holds {what} made with a different configuration{detail}; choose another "
        "folder, re-run with the original settings to resume, or pass --overwrite to replace it"
    )
