"""``hf-fair run CONFIG.yaml [--output DIR] [--severities ...] [--seeds ...] [--methods ...]``.

The YAML holds the whole experiment (see ``hf_fair.run.config``); the flags override its
top-level keys for one invocation. Re-running the same command resumes.
"""

from __future__ import annotations

import argparse


def _parser(prog: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description="data -> cluster -> adapters -> generate -> classify -> report, cached per stage")
    p.add_argument("config", help="run config (YAML)")
    p.add_argument("--output", help="run folder (overrides `output`)")
    p.add_argument("--severities", type=float, nargs="+", help="overrides `severities`")
    p.add_argument("--seeds", type=int, nargs="+", help="overrides `seeds`")
    p.add_argument("--methods", nargs="+", help="overrides `methods`")
    return p


def overrides_from(ns) -> dict:
    return {k: v for k, v in {"output": ns.output, "severities": ns.severities, "seeds": ns.seeds, "methods": ns.methods}.items() if v}


def main(argv: list[str]) -> int:
    from hf_fair.run.config import load_run_config
    from hf_fair.run.runner import run

    ns = _parser("hf-fair run").parse_args(argv)
    cfg = load_run_config(ns.config, overrides_from(ns))
    docs = run(cfg)
    print()
    print((__import__("pathlib").Path(cfg.output) / "results.md").read_text(), end="")
    print(f"run folder: {cfg.output} ({len(docs)} severities)")
    return 0
