"""Human-readable summaries of a group-annotated DatasetDict."""

from __future__ import annotations

import datasets

from hf_fair.data.severity import SeverityReport, group_counts
from hf_fair.data.groups import spec_of


def group_count_table(dsd: datasets.DatasetDict, report: SeverityReport | None = None) -> str:
    """A plain-text table: one row per group, one column per split, plus totals and the
    realised majority share per class."""
    spec = spec_of(dsd)
    splits = list(dsd)
    counts = {s: group_counts(dsd[s], spec.n_groups) for s in splits}
    name_w = max(len("group"), *(len(n) for n in spec.group_names), len("total"))
    col_w = max(10, *(len(s) for s in splits))
    lines = [f"{'group':<{name_w}}  " + "  ".join(f"{s:>{col_w}}" for s in splits)]
    lines.append("-" * len(lines[0]))
    for g, name in enumerate(spec.group_names):
        lines.append(f"{name:<{name_w}}  " + "  ".join(f"{counts[s][g]:>{col_w}}" for s in splits))
    lines.append("-" * len(lines[0]))
    lines.append(f"{'total':<{name_w}}  " + "  ".join(f"{len(dsd[s]):>{col_w}}" for s in splits))
    if report is not None:
        lines.append("")
        lines.append(f"severity b = {report.severity} (seed {report.seed}); realised majority share per class:")
        for s in splits:
            shares = report.realised.get(s, [])
            txt = ", ".join(
                f"{spec.label_names[y]}: {'-' if v is None else f'{v:.4f}'}" for y, v in enumerate(shares)
            )
            lines.append(f"  {s}: {txt}")
    return "\n".join(lines)
