"""Which text files of a folder hold a path of the machine that wrote them (the checkout, a temporary folder)."""

from __future__ import annotations

import tempfile
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parent.parent


def machine_paths(folder: Path, *temporary: Path) -> list[str]:
    """``file: path`` for each text file under ``folder`` that names the checkout, one of the
    ``temporary`` folders, or (in anything but Python source, whose comments may name /tmp) a path
    under the system's temporary folder."""
    needles = [str(CHECKOUT), *(str(Path(t).resolve()) for t in temporary), *(str(t) for t in temporary)]
    tmp = tempfile.gettempdir().rstrip("/") + "/"
    found = []
    for f in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
        data = f.read_bytes()
        if b"\0" in data:
            continue  # weights, images, Arrow files
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            continue
        hits = [n for n in needles if n in text] + ([tmp] if f.suffix != ".py" and tmp in text else [])
        found += [f"{f.relative_to(folder)}: {h}" for h in dict.fromkeys(hits)]
    return found
