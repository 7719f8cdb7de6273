"""``hf-fair baselines``: classifier objectives x seeds on one dataset/severity, one results file.

The generative methods join these in the end-to-end runner; this command covers the real-data
baselines (ERM, reweight, resample, Group-DRO, JTT, DFR) with the same results-file contract.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from hf_fair.classify.config import OBJECTIVES, ClassifierArguments
from hf_fair.config import parse_config
from hf_fair.data import DataArguments, load_group_dataset, spec_of
from hf_fair.errors import HfFairError
from hf_fair.results import method_results, results_document, write_results


@dataclass
class BaselineArguments:
    methods: list[str] = field(default_factory=lambda: ["erm", "groupdro"], metadata={"help": f"objectives among {list(OBJECTIVES)}"})
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2], metadata={"help": "training seeds"})
    results_dir: str = field(default="runs/baselines", metadata={"help": "folder for results.json/results.md and one run folder per method and seed"})


def run_baselines(base: BaselineArguments, data_args: DataArguments, clf: ClassifierArguments) -> dict:
    for m in base.methods:
        if m not in OBJECTIVES:
            raise HfFairError(f"unknown method '{m}' in --methods; choose among {list(OBJECTIVES)}")
    dsd, _ = load_group_dataset(data_args)
    spec = spec_of(dsd)
    from hf_fair.classify.trainer import train_classifier

    methods = {}
    for m in base.methods:
        per_seed = []
        for seed in base.seeds:
            args = replace(clf, objective=m, seed=seed, output_dir=str(Path(base.results_dir) / f"{m}-seed{seed}"))
            metrics = train_classifier(args, data_args, dsd=dsd)
            per_seed.append(metrics["splits"]["test"])
        methods[m] = method_results(per_seed)
    doc = results_document(
        data_args.dataset, data_args.severity, clf.selection, methods, seeds=list(base.seeds), model=clf.model, epochs=clf.epochs
    )
    write_results(base.results_dir, doc, list(spec.group_names))
    return doc


def main(argv: list[str]) -> int:
    base, data_args, clf = parse_config([BaselineArguments, DataArguments, ClassifierArguments], argv, prog="hf-fair baselines")
    if clf.output_dir is not None:
        raise HfFairError("hf-fair baselines writes one run folder per method and seed under --results_dir; drop --output_dir")
    doc = run_baselines(base, data_args, clf)
    from hf_fair.results import results_markdown

    print(results_markdown(doc, list(spec_of(load_group_dataset(data_args)[0]).group_names)))
    print(f"results in {base.results_dir}/results.json")
    return 0
