"""The results file (what results.json holds, for the runner, the baselines and the Space) and its markdown table."""

from __future__ import annotations

from pathlib import Path

from hf_fair.io_utils import write_json
from hf_fair.metrics import aggregate_seeds, format_pm


def table_cell(name: str) -> str:
    """A group name inside a GFM table cell: its ``|`` escaped."""
    return name.replace("|", "\\|")


def per_group_rows(per_group: dict, names: list[str]):
    """(group name as a table cell, its figures, its Frechet as text) for each group that has figures;
    ``per_group`` is keyed by group id as the results contract has it."""
    for g, name in enumerate(names):
        v = per_group.get(str(g))
        if v is not None:
            yield table_cell(name), v, "-" if v.get("frechet") is None else f"{v['frechet']:.1f}"


def method_results(per_seed_test_metrics: list[dict], per_seed_validation: list[dict | None] | None = None) -> dict:
    """Test-split group metrics of one method over seeds -> the results-file entry; with the
    validation split's, a ``validation`` summary beside them (what selection may read)."""
    entry = aggregate_seeds(per_seed_test_metrics)
    if per_seed_validation and all(v is not None for v in per_seed_validation):
        val = aggregate_seeds(per_seed_validation)
        entry["validation"] = {k: val[k] for k in ("worst_group_acc", "balanced_acc", "average_acc")}
    return entry


def ablation_markdown(variants: dict[str, dict[float, dict]]) -> str:
    """One table per severity: every variant's methods, validation (what chooses) beside test."""
    severities = sorted({b for docs in variants.values() for b in docs})
    parts = []
    for b in severities:
        lines = [f"### severity {b}", "",
                 "| variant | method | val worst-group | val balanced | test worst-group | test balanced | seeds |",
                 "|---|---|---|---|---|---|---|"]
        for name, docs in variants.items():
            doc = docs.get(b)
            if doc is None:
                continue
            for method, m in doc["methods"].items():
                val = m.get("validation") or {}
                lines.append(f"| {name} | {method} | {format_pm(val.get('worst_group_acc', {}))} | {format_pm(val.get('balanced_acc', {}))} | "
                             f"{format_pm(m['worst_group_acc'])} | {format_pm(m['balanced_acc'])} | {len(m['worst_group_acc']['per_seed'])} |")
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n\nMean ± sample std over seeds, in %. Choose by the validation columns; test is reported.\n"


def results_document(dataset: str, severity: float | None, selection: str, methods: dict[str, dict], **extra) -> dict:
    doc = {"dataset": dataset, "severity": severity, "selection": selection, "methods": methods}
    doc.update(extra)
    return doc


def results_markdown(doc: dict, group_names: list[str] | None = None) -> str:
    variant = f", variant `{doc['variant']}`" if doc.get("variant") else ""
    head = f"### {doc['dataset']}, severity {doc['severity']}{variant} (selection: {doc['selection']})\n\n"
    cols = ["method", "worst-group acc", "balanced acc", "average acc", "seeds"]
    if group_names:
        # a pipe inside a cell must be escaped, even inside a code span (GFM tables)
        cols += ["`" + n.replace("|", "\\|") + "`" for n in group_names]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for name, m in doc["methods"].items():
        row = [
            name,
            format_pm(m["worst_group_acc"]),
            format_pm(m["balanced_acc"]),
            format_pm(m["average_acc"]),
            str(len(m["worst_group_acc"]["per_seed"])),
        ]
        if group_names:
            row += ["absent" if m["per_group_acc"].get(str(g)) is None else f"{m['per_group_acc'][str(g)] * 100:.1f}" for g in range(len(group_names))]
        lines.append("| " + " | ".join(row) + " |")
    text = head + "\n".join(lines) + "\n\nTest split; mean ± sample std over seeds, in %; per-group columns are means.\n"
    claims = paper_claims(doc)
    if claims:
        text += "\nThe paper's claims at this severity (mean worst-group accuracy over seeds):\n\n" + _claim_lines(claims)
    # the same checks for the best finetuning objective after clustered-DreamBooth pretraining
    combos = {k: v["worst_group_acc"]["mean"] for k, v in doc.get("methods", {}).items() if k.startswith("dreambooth_cluster+")}
    if claims and combos:
        best = max(combos, key=combos.get)
        text += f"\nThe same checks for the best finetuning objective, `{best}`:\n\n" + _claim_lines(
            [c for c in paper_claims(doc, best) if not c["claim"].startswith("best synthetic")])
    if doc.get("fidelity"):
        text += "\n" + fidelity_markdown(doc["fidelity"], group_names)
    if doc.get("domain_gap"):
        text += "\n" + domain_gap_markdown(doc["domain_gap"], group_names)
    return text


def domain_gap_markdown(gap: dict, group_names: list[str] | None = None) -> str:
    """The results document's ``domain_gap`` (optional; hf_fair/run/domain_gap.py): per group, the
    Frechet distance of the base's unfiltered vanilla draws to the real train images and how often
    the oracle reads their label (and a group reader their group) right."""
    pct = lambda x: "-" if x is None else f"{100 * x:.1f}"  # noqa: E731
    names = group_names or [str(g) for g in sorted(gap.get("per_group", {}), key=int)]
    lines = [f"Domain gap before any method ({gap.get('images_per_group')} unfiltered vanilla draws per group against the real "
             f"train images, encoder `{gap.get('encoder')}`; details in {gap.get('file', 'domain_gap.json')}):", "",
             "| group | real train | Frechet | oracle reads label % | group reader reads group % |", "|---|---:|---:|---:|---:|"]
    for cell, v, fd in per_group_rows(gap.get("per_group", {}), names):
        lines.append(f"| {cell} | {v['n_real']} | {fd} | {pct(v['label_read'])} | {pct(v['group_read'])} |")
    o = gap.get("oracle_test")
    if o:
        lines.append(f"\nThe oracle on the real test split: {pct(o['average_acc'])}% average, {pct(o['worst_group_acc'])}% worst group.")
    return "\n".join(lines) + "\n"


def _claim_lines(claims: list[dict]) -> str:
    return "\n".join(f"- {c['claim']}: {c['figures']} — **{'holds' if c['holds'] else 'fails'}**" for c in claims) + "\n"


def paper_claims(doc: dict, method: str = "dreambooth_cluster") -> list[dict]:
    """The comparisons the paper makes, checked on one results document: clustered DreamBooth
    (synthetic pretraining + last-layer finetuning) against Group-DRO, vanilla (FFR) and ERM at
    high severity, within reach of Group-DRO at moderate severity, and the best synthetic
    combination against the oracle. Only comparisons whose rows are present are listed."""
    methods = doc.get("methods", {})
    wga = {k: v["worst_group_acc"]["mean"] for k, v in methods.items()}
    if method not in wga:
        return []
    me, sev, out = wga[method], doc.get("severity") or 0.0, []

    def add(claim, holds, figures):
        out.append({"claim": claim, "holds": bool(holds), "figures": figures})

    pct = lambda x: f"{100 * x:.1f}"  # noqa: E731
    if sev >= 0.99:
        if "groupdro" in wga:
            add(f"{method} >= groupdro", me >= wga["groupdro"], f"{pct(me)} vs {pct(wga['groupdro'])}")
        # vanilla with the same finetuning objective when the table has it
        objective = method.split("+", 1)[1] if "+" in method else None
        vanilla = f"vanilla+{objective}" if objective and f"vanilla+{objective}" in wga else "vanilla"
        if vanilla in wga:
            add(f"{method} > {vanilla}", me > wga[vanilla], f"{pct(me)} vs {pct(wga[vanilla])}")
        if "erm" in wga:
            add(f"{method} >= erm + 30", me >= wga["erm"] + 0.30, f"{pct(me)} vs {pct(wga['erm'])} + 30")
        from hf_fair.generate.sources import SOURCES

        synthetic = {k: v for k, v in wga.items() if not k.startswith("synthetic:") and k.split("+")[0] in SOURCES}
        if synthetic and "oracle" in wga:
            best = max(synthetic, key=synthetic.get)
            add("best synthetic combination within 5 of oracle", synthetic[best] >= wga["oracle"] - 0.05,
                f"{best} {pct(synthetic[best])} vs oracle {pct(wga['oracle'])}")
    elif "groupdro" in wga:
        add(f"{method} within 5 of groupdro", me >= wga["groupdro"] - 0.05, f"{pct(me)} vs {pct(wga['groupdro'])}")
    return out


def fidelity_markdown(fidelity: dict, group_names: list[str] | None = None) -> str:
    """Per source and group: share of synthetic images the real-data probe gives the intended
    label / attribute, and the Frechet distance to the real images of that group."""
    names = group_names or sorted({g for f in fidelity.values() for g in f.get("per_group", {})})
    lines = ["| source | group | label acc | attribute acc | Frechet |", "|---|---|---:|---:|---:|"]
    for source, f in fidelity.items():
        for cell, v, fd in per_group_rows(f.get("per_group", {}), names):
            lines.append(f"| {source} | {cell} | {100 * v['label_acc']:.1f} | {100 * v['attribute_acc']:.1f} | {fd} |")
        fa = f.get("frechet_all")
        lines.append(f"| {source} | all | {100 * f['label_acc']:.1f} | {100 * f['attribute_acc']:.1f} | {'-' if fa is None else f'{fa:.1f}'} |")
    return "Synthetic data fidelity (probe on real test features; Frechet on the same encoder):\n\n" + "\n".join(lines) + "\n"


def results_stem(variant: str | None) -> str:
    """File stem of a severity's results: ``results``, or ``results-<variant>`` for an ablation's variant."""
    return "results" if variant is None else f"results-{variant}"


def write_results(folder: str | Path, doc: dict, group_names: list[str] | None = None) -> str:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    stem = results_stem(doc.get("variant"))
    write_json(folder / f"{stem}.json", doc)
    md = results_markdown(doc, group_names)
    (folder / f"{stem}.md").write_text(md)
    return md


def severity_summary(docs: list[dict]) -> dict:
    """Mean worst-group accuracy of each method at each severity of ``docs`` (one results
    document per severity) and its mean over the severities where the method has a row: the
    paper's figure (worst-group accuracy against severity) in numbers, and the "averaged over
    severities" comparisons of issue 26. A method missing at some severity gets ``None`` there
    and its mean is over the others (``n_severities`` says how many)."""
    docs = sorted(docs, key=lambda d: d["severity"])
    severities = [d["severity"] for d in docs]
    rows = {}
    for m in dict.fromkeys(m for d in docs for m in d["methods"]):  # every method, in first-seen order
        per = {str(d["severity"]): (d["methods"][m]["worst_group_acc"]["mean"] if m in d["methods"] else None) for d in docs}
        known = [v for v in per.values() if v is not None]
        rows[m] = {"per_severity": per, "mean": sum(known) / len(known), "n_severities": len(known)}
    return {"severities": severities, "metric": "worst_group_acc", "methods": rows}


def severity_summary_markdown(summary: dict) -> str:
    sevs = summary["severities"]
    lines = ["| method | " + " | ".join(f"{b}" for b in sevs) + " | mean over severities |",
             "|---|" + "---:|" * (len(sevs) + 1)]
    for m, row in summary["methods"].items():
        cells = ["-" if row["per_severity"][str(b)] is None else f"{100 * row['per_severity'][str(b)]:.1f}" for b in sevs]
        mean = f"{100 * row['mean']:.1f}" + ("" if row["n_severities"] == len(sevs) else f" ({row['n_severities']} of {len(sevs)})")
        lines.append(f"| {m} | " + " | ".join(cells) + f" | {mean} |")
    return ("Mean worst-group accuracy (test split, mean over seeds, in %) at each severity, and its mean over the severities:\n\n"
            + "\n".join(lines) + "\n")
