"""``hf-fair run CONFIG.yaml [--output_dir DIR] [--severities ...] [--seeds ...] [--methods ...] [--set KEY=VALUE ...]``.

The YAML holds the whole experiment (see ``hf_fair.run.config``); the flags override its
top-level keys for one invocation. Re-running the same command resumes.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def _parser(prog: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, allow_abbrev=False, formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                                description="data -> cluster -> adapters -> generate -> classify -> report, cached per stage")
    p.add_argument("config", help="run config (YAML)")
    p.add_argument("--output_dir", help="run folder (overrides `output_dir`)")
    p.add_argument("--severities", type=float, nargs="+", help="overrides `severities`")
    p.add_argument("--seeds", type=int, nargs="+", help="overrides `seeds`")
    p.add_argument("--methods", nargs="+", help="overrides `methods`")
    p.add_argument("--set", dest="settings", nargs="+", default=[], metavar="KEY=VALUE",
                   help="override any key: `seeds=[0]`, `section.option=value` (e.g. generate.images_per_group=8); values are YAML")
    return p


def overrides_from(ns) -> dict:
    return {k: v for k, v in {"output_dir": ns.output_dir, "severities": ns.severities, "seeds": ns.seeds, "methods": ns.methods}.items() if v}


def main(argv: list[str]) -> int:
    from hf_fair.run.config import load_run_config
    from hf_fair.run.runner import run

    ns = _parser("hf-fair run").parse_args(argv)
    cfg = load_run_config(ns.config, overrides_from(ns), settings=ns.settings)
    docs = run(cfg)
    print()
    table = "ablation.md" if cfg.variants else "results.md"
    print((Path(cfg.output_dir) / table).read_text(), end="")
    what = f"{len(docs)} variants" if cfg.variants else f"{len(docs)} severities"
    print(f"run folder: {cfg.output_dir} ({what})")
    return 0
