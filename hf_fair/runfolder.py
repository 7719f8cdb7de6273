"""What every stage writes into its output folder the same way: the fingerprint that decides
whether a folder holds this run (resume) or another one (refuse), and the library versions.

A config field that does not change results (where to write, whether to overwrite, worker and
evaluation batch sizes, reporting) is named in its dataclass's ``NOT_IN_FINGERPRINT`` class
attribute; :func:`fingerprint` leaves it out, so a run resumes when only such a field changed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import json

def result_settings(config) -> dict:
    """A dataclass config as a dict of the fields that change results."""
    left_out = getattr(type(config), "NOT_IN_FINGERPRINT", frozenset())
    return {f.name: getattr(config, f.name) for f in dataclasses.fields(config) if f.name not in left_out}


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
