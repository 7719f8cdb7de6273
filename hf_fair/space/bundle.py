"""``hf-fair space build OUTPUT_DIR --run RUN``: a folder that is a complete Hugging Face Space.

The folder holds ``app.py`` (a launcher of :mod:`hf_fair.space.app`), ``README.md`` with the
Space's YAML header, ``requirements.txt``, a copy of the installed ``hf_fair`` package (with the
embedded base) and ``run/``: what the tabs read from the run (results tables, plot and grids,
the cluster reports, the adapters named in the results, the trained classifiers). Nothing else
is needed; ``hf upload <user>/<space> OUTPUT_DIR --repo-type space`` deploys it.

The folder is written next to its destination and renamed into place, so an interrupted or
refused build leaves nothing behind.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import hf_fair
from hf_fair.errors import HfFairError
from hf_fair.io_utils import atomic_dir, check_output_dir
from hf_fair.run.presets import DEMO_RUN
from hf_fair.run.folder import finished_severities

logger = logging.getLogger(__name__)

PACKAGE_DIR = Path(hf_fair.__file__).resolve().parent
CARD_TEMPLATE = Path(__file__).resolve().parent / "space_card.md"
RUN_DIR = "run"
LAUNCHER = '''"""hf-fair Space (built by `hf-fair space build`): the library is the hf_fair/ folder next to
this file, the run it shows is run/."""

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # the bundled hf_fair, never another installed copy
os.environ.setdefault("HF_FAIR_RUN", "run")  # found next to the library wherever the app is started
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the embedded base and the run need no download

from hf_fair.space.app import main  # noqa: E402

if __name__ == "__main__":
    main()
'''
TOP_FILES = ("results.md", "wga_vs_severity.png", "config.yaml", "timings.json")
SEVERITY_FILES = ("results.json", "results.md")
SEVERITY_FOLDERS = ("grids", "clusters")
# resumable training state: not needed to load an adapter
SKIP = shutil.ignore_patterns("__pycache__", "*.pyc", "checkpoint*", "state", ".*.tmp*")


@dataclass
class SpaceBuildArguments:
    output_dir: str = field(default=None, metadata={"help": "folder to write the Space to (must be empty unless --overwrite)"})
    run: str = field(default=DEMO_RUN, metadata={"help": "finished run folder (from `make demo` or `hf-fair run`)"})
    overwrite: bool = field(default=False, metadata={"help": "replace a non-empty output folder"})
    title: str = field(default="hf-fair: fair classifiers from diffusion-generated data", metadata={"help": "Space title"})


def _copy(src: Path, dst: Path) -> None:
    if src.is_dir():
        shutil.copytree(src, dst, ignore=SKIP, dirs_exist_ok=True)
    elif src.is_file():
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst)


def copy_run(run: Path, dest: Path) -> dict:
    """The run files the Space's tabs read; returns counts of what was copied."""
    counts = {"severities": 0, "adapters": 0, "models": 0}
    for name in TOP_FILES:
        _copy(run / name, dest / name)
    for sev in finished_severities(run):
        out = dest / sev.name
        for name in SEVERITY_FILES + SEVERITY_FOLDERS:
            _copy(sev / name, out / name)
        artifacts = json.loads((sev / "results.json").read_text()).get("artifacts") or {}
        for rel in (artifacts.get("adapters") or {}).values():
            if not (sev / rel / "manifest.json").is_file():
                raise HfFairError(f"adapters folder '{sev / rel}' named in {sev / 'results.json'} is missing; re-run the run to finish it")
            _copy(sev / rel, out / rel)
            counts["adapters"] += 1
        for paths in (artifacts.get("models") or {}).values():
            for rel in paths:
                model = sev / rel
                if not (model / "config.json").is_file():
                    raise HfFairError(f"classifier '{model}' named in {sev / 'results.json'} is missing; re-run the run to finish it")
                _copy(model, out / rel)
                _copy(model.parent / "config.json", out / Path(rel).parent / "config.json")  # its image size and data
                counts["models"] += 1
        counts["severities"] += 1
    return counts


def relative_paths(folder: Path, run: Path) -> None:
    """Paths into ``run`` that its files hold as this machine wrote them (a config's output_dir, a
    classifier's init) become paths from the Space's root (``run/...``): nothing names the build machine."""
    places = sorted({str(run.resolve()), str(run.absolute())}, key=len, reverse=True)
    for f in sorted(folder.rglob("*")):
        if f.suffix not in (".json", ".yaml", ".md") or not f.is_file():
            continue
        text = new = f.read_text()
        for place in places:
            new = new.replace(place, RUN_DIR)
        if new != text:
            f.write_text(new)


def requirements() -> list[str]:
    """hf-fair's runtime requirements as installed (gradio itself comes from the Space's sdk_version)."""
    try:
        reqs = metadata.requires("hf-fair") or []
    except metadata.PackageNotFoundError:
        raise HfFairError("hf-fair is not installed (its requirements are read from the install); pip install hf-fair first") from None
    return [r.split(";")[0].strip() for r in reqs if "extra ==" not in r]


def gradio_version() -> str:
    try:
        return metadata.version("gradio")
    except metadata.PackageNotFoundError:
        raise HfFairError("gradio is not installed; pip install 'hf-fair[space]' to build a Space") from None


def space_card(title: str, run: Path, counts: dict) -> str:
    if not CARD_TEMPLATE.is_file():
        raise HfFairError(f"Space card template '{CARD_TEMPLATE.name}' is missing from the installed package; reinstall hf-fair")
    return CARD_TEMPLATE.read_text().format(
        title=title, sdk_version=gradio_version(), run=run.name, severities=counts["severities"],
        adapters=counts["adapters"], models=counts["models"], version=hf_fair.__version__,
    )


def build_space(args: SpaceBuildArguments) -> Path:
    if not args.output_dir:
        raise HfFairError(f"OUTPUT_DIR is required: hf-fair space build OUTPUT_DIR --run {DEMO_RUN}")
    run = Path(args.run)
    finished_severities(run)  # refuse before writing anything
    gradio_version()
    out = check_output_dir(args.output_dir, args.overwrite, flag="OUTPUT_DIR")
    with atomic_dir(out) as tmp:
        counts = copy_run(run, tmp / RUN_DIR)
        relative_paths(tmp / RUN_DIR, run)
        # the library as installed, without hidden scratch folders (a pretraining's .<name>.work)
        shutil.copytree(PACKAGE_DIR, tmp / "hf_fair", ignore=shutil.ignore_patterns(".*", "__pycache__", "*.pyc"))
        (tmp / "app.py").write_text(LAUNCHER)
        (tmp / "requirements.txt").write_text(
            "# hf-fair's runtime dependencies; the library itself is the hf_fair/ folder of this Space\n" + "\n".join(requirements()) + "\n"
        )
        (tmp / "README.md").write_text(space_card(args.title, run, counts))
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    logger.info("wrote %s (%.1f MB): %d severities, %d adapters folders, %d classifiers", out, size / 1e6,
                counts["severities"], counts["adapters"], counts["models"])
    return out


def main(argv: list[str]) -> int:
    """``hf-fair space build OUTPUT_DIR --run RUN [--overwrite true]`` (argv after ``build``)."""
    from hf_fair.config import parse_config

    if argv and not argv[0].startswith("-"):
        argv = ["--output_dir", argv[0], *argv[1:]]
    args = parse_config([SpaceBuildArguments], argv, prog="hf-fair space build")
    out = build_space(args)
    print(f"wrote {out}; deploy with: hf upload <user>/<space> {out} --repo-type space")
    return 0
