"""Inputs a command left out (a file name it cannot parse, an unreadable image), kept for the
command's closing summary so that no image is lost silently.

Loaders call :func:`record`; ``hf-fair`` wraps each command in :func:`collect` and prints
:func:`summary` on stderr at the end. Outside a collection, a record is only logged.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from pathlib import Path

logger = logging.getLogger(__name__)

_active: list[list[tuple[str, str]]] = []
SHOWN = 5  # items named in a summary; the rest are counted


def record(item: str | Path, reason: str) -> None:
    """One skipped input (a file path or name) and why."""
    logger.debug("skipped %s: %s", item, reason)
    if _active:
        _active[-1].append((Path(str(item)).name, reason))


@contextmanager
def collect():
    """Collect the records made inside the block into the yielded list."""
    items: list[tuple[str, str]] = []
    _active.append(items)
    try:
        yield items
    finally:
        _active.remove(items)


def summary(items: list[tuple[str, str]]) -> str | None:
    """``skipped 1 file: x.jpg — name is not age_gender_race_date`` (None when nothing was skipped)."""
    if not items:
        return None
    unique = list(dict.fromkeys(items))
    head = "; ".join(f"{name} — {reason}" for name, reason in unique[:SHOWN])
    more = f"; and {len(unique) - SHOWN} more" if len(unique) > SHOWN else ""
    return f"skipped {len(unique)} file{'s' if len(unique) != 1 else ''}: {head}{more}"
