"""Reading a run folder written by ``hf-fair run`` / ``hf-fair demo``: its severity folders, their
results.json, and the adapters and classifiers those results name (the Space and
``hf-fair space build`` read runs through here, not by re-encoding the runner's paths)."""

from __future__ import annotations

import json
from pathlib import Path

from hf_fair.errors import HfFairError
from hf_fair.run.presets import DEMO_RUN

RESULTS = "results.json"


def severity_dirs(run: Path) -> list[Path]:
    """``severity-<b>`` folders of a run, by increasing b."""
    def key(d: Path):
        try:
            return float(d.name.split("-", 1)[1])
        except (IndexError, ValueError):
            return float("inf")

    return sorted((d for d in Path(run).glob("severity-*") if d.is_dir()), key=key) if Path(run).is_dir() else []


def read_results(sev: Path) -> dict | None:
    """A severity folder's results (None while the severity is unfinished)."""
    f = Path(sev) / RESULTS
    if not f.is_file():
        return None
    try:
        return json.loads(f.read_text())
    except json.JSONDecodeError as e:
        raise HfFairError(f"'{f}' is not valid JSON ({e}); re-run `hf-fair run CONFIG` to rewrite it") from None


def finished_severities(run: Path, flag: str = "--run") -> list[Path]:
    """Severity folders with results; an error naming the run when it has none or no results.md."""
    run = Path(run)
    if not run.is_dir():
        raise HfFairError(f"{flag} '{run}' is not a folder; pass a finished run folder (`make demo` writes {DEMO_RUN})")
    sevs = [d for d in severity_dirs(run) if (d / RESULTS).is_file()]
    if not sevs or not (run / "results.md").is_file():
        raise HfFairError(
            f"{flag} '{run}' is not a finished run (no results.md or no severity-*/{RESULTS}); "
            "finish it with `hf-fair run CONFIG` (it resumes) or `make demo`"
        )
    return sevs


def adapters_folders(run: Path) -> dict[str, str]:
    """Folder -> label of every adapters folder of a run: those its results name, then any other
    ``severity-*/adapters/*/manifest.json``."""
    found: dict[str, str] = {}
    for sev in severity_dirs(run):
        try:
            doc = read_results(sev) or {}
        except HfFairError:
            doc = {}
        for source, rel in (doc.get("artifacts", {}).get("adapters", {}) or {}).items():
            if (sev / rel / "manifest.json").is_file():
                found[str(sev / rel)] = f"{sev.name}: {source} ({rel})"
        for m in sorted(sev.glob("adapters/*/manifest.json")):
            found.setdefault(str(m.parent), f"{sev.name}: {m.parent.name}")
    return found


def classifier_folders(sev: Path, doc: dict | None) -> list[tuple[str, str]]:
    """(label, model folder) of every classifier a severity's results name, with its seed."""
    out = []
    seeds = (doc or {}).get("seeds") or []
    for method, paths in ((doc or {}).get("artifacts", {}).get("models", {}) or {}).items():
        for i, rel in enumerate(paths):
            seed = seeds[i] if len(seeds) == len(paths) else i
            out.append((f"{method} (seed {seed})", str(Path(sev) / rel)))
    return out
