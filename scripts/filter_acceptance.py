"""How often the generation filter accepted a draw as its intended group, per source and group.

Reads each severity's ``results.json`` of a finished `hf-fair run` for the synthetic sets it used,
and each set's ``generation.json`` (``filter``: drawn, rejected, kept of another group), and writes
one JSON and a Markdown table (accepted share %, small|red / ... in the spec's group order):

    python scripts/filter_acceptance.py runs/colored-digits --severities 0.95 0.99 0.995 \
        --output docs/results/colored-digits/filter-acceptance
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from hf_fair.errors import HfFairError
from hf_fair.io_utils import write_json
from hf_fair.results import table_cell


def acceptance(run_dir: Path, severity: float) -> tuple[list[str], dict]:
    results_file = run_dir / f"severity-{severity}" / "results.json"
    if not results_file.is_file():
        raise HfFairError(f"no {results_file}: run `hf-fair run` for severity {severity} first")
    results = json.loads(results_file.read_text())
    out = {}
    for source, folder in results["artifacts"]["synthetic"].items():
        gen = json.loads((results_file.parent / folder / "generation.json").read_text())
        out[source] = {"judge": "clip" if gen.get("clip") else "reference",
                       **{g: {"drawn": f["drawn"], "kept": gen["counts"][g],
                              "accepted_share": round(gen["counts"][g] / f["drawn"], 3),
                              "kept_wrong_group": f["kept_wrong_group"]} for g, f in gen["filter"].items()}}
    return results["group_names"], out


def markdown(groups: list[str], table: dict) -> str:
    severities = list(table)
    sources = list(dict.fromkeys(s for sev in table.values() for s in sev))
    head = " / ".join(table_cell(g) for g in groups)
    lines = [f"Accepted share of draws, %, {head}:", "", "| source | " + " | ".join(severities) + " |",
             "|---|" + "---|" * len(severities)]
    for s in sources:
        cells = [" / ".join(f"{100 * table[b][s][g]['accepted_share']:.0f}" for g in groups) if s in table[b] else "-"
                 for b in severities]
        lines.append(f"| {s} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run_dir", type=Path)
    p.add_argument("--severities", type=float, nargs="+", required=True)
    p.add_argument("--output", type=Path, required=True, help="writes <output>.json and <output>.md")
    args = p.parse_args()
    table, groups = {}, None
    for b in args.severities:
        groups, table[str(b)] = acceptance(args.run_dir, b)
    text = markdown(groups, table)
    write_json(args.output.with_suffix(".json"), table)
    args.output.with_suffix(".md").write_text(text)
    print(text)


if __name__ == "__main__":
    try:
        main()
    except HfFairError as e:
        raise SystemExit(f"error: {e}") from None
