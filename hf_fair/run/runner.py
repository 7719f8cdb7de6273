"""``hf-fair run``: data -> cluster -> adapters -> generate -> classify -> report, cached.

Every stage writes to a folder named after a key of its own settings and of the keys of the
stages it reads from, so re-running skips finished stages, resumes interrupted ones (each stage
resumes on its own: adapters per unit and checkpoint, generation per shard, classifiers per
epoch), and changing one setting recomputes only what depends on it::

    <output_dir>/severity-<b>/
        clusters/                         cluster report (sizes, ARI, grids)
        domain_gap/draws-<key>/           with `domain_gap: {enabled: true}`: the base's unfiltered
        domain_gap/group_reader-seed0-<key>/   vanilla draws and the group reader (hf_fair/run/domain_gap.py)
        domain_gap.json, domain_gap.md    the gap per group (the oracle, seed 0, is the oracle row's)
        adapters/<source>-<key>/          manifest.json + one folder per unit
        synthetic/<source>-<key>/         group-balanced DatasetDict + fidelity report
        classify/pretrain-<source>-seed<s>-<key>/    classifier pretrained on synthetic data
        classify/<method>-seed<s>-<key>/  final classifier (model/, metrics.json)
        results.json, results.md, grids/real_vs_synthetic.png

Adapters and synthetic datasets are made once per severity (seeded by their own sections);
the listed seeds vary the classifiers (pretraining, finetuning and real-data baselines).
"""

from __future__ import annotations

import copy
import json
import logging
import time
import traceback
from dataclasses import replace
from pathlib import Path

import datasets
import yaml

from hf_fair import runfolder
from hf_fair.data import attach_spec, load_group_dataset, spec_of
from hf_fair.errors import HfFairError, first_line
from hf_fair.io_utils import removed_on_failure, write_json
from hf_fair.results import method_results, results_document, results_stem, write_results
from hf_fair.generate.config import RUN_ORACLE
from hf_fair.run.config import SOURCE_ADAPTERS, RunArguments
from hf_fair.run.preflight import check_arguments, check_offline

logger = logging.getLogger("hf_fair.run")
def stage_key(*parts) -> str:
    """Folder key of a stage: its settings that change results (see hf_fair.runfolder) and the
    keys of the stages it reads from."""
    return runfolder.fingerprint(*parts, length=10)


class Runner:
    def __init__(self, cfg: RunArguments, log=print):
        self.cfg = cfg
        self.out = Path(cfg.output_dir)
        self.log = log
        self.timings: dict[str, float] = {}
        self.stage = "data"  # the stage running now, for the one-line error of an unexpected failure
        self._base_weights: dict[str, str] = {}

    # ------------------------------------------------------------------ helpers
    def base_weights(self, base: str | None) -> str:
        """The base's weights in the adapters' and generations' keys: a re-trained base (a new
        embedded one after an upgrade, a re-saved folder) gets new stages, not the old base's."""
        from hf_fair.diffusion.base import base_revision

        name = base or self.cfg.base
        if name not in self._base_weights:
            self._base_weights[name] = base_revision(name)
        return self._base_weights[name]

    def _timed(self, name: str, fn, *a, **kw):
        self.stage = name
        start = time.perf_counter()
        result = fn(*a, **kw)
        self.timings[name] = self.timings.get(name, 0.0) + time.perf_counter() - start
        return result

    def run(self) -> dict[float, dict]:
        self.out.mkdir(parents=True, exist_ok=True)
        suffix = "" if self.cfg.variant is None else f"-{self.cfg.variant}"
        (self.out / f"config{suffix}.yaml").write_text(yaml.safe_dump(self.cfg.as_dict(), sort_keys=False))
        docs = {}
        for b in self.cfg.severities:
            docs[b] = self.run_severity(b)
        from hf_fair.run.plots import plot_wga_vs_severity
        from hf_fair.results import results_markdown, severity_summary, severity_summary_markdown

        md = "\n".join(results_markdown(doc, doc.get("group_names")) for doc in docs.values())
        if len(docs) > 1:
            md += "\n### Over the severities\n\n" + severity_summary_markdown(severity_summary(list(docs.values())))
        (self.out / f"results{suffix}.md").write_text(md)
        plot_wga_vs_severity(list(docs.values()), self.out / f"wga_vs_severity{suffix}.png")
        write_json(self.out / f"timings{suffix}.json", {k: round(v, 1) for k, v in self.timings.items()})
        return docs

    # ------------------------------------------------------------------ one severity
    def run_severity(self, severity: float) -> dict:
        cfg = self.cfg
        sev = self.out / f"severity-{severity}"
        self.severity, self.stage = severity, "data"
        started, before = time.perf_counter(), dict(self.timings)
        data_args = cfg.data_args(severity)
        dsd, report = load_group_dataset(data_args)
        spec = spec_of(dsd)
        data_key = stage_key(data_args)
        self.log(f"== {cfg.dataset} at severity {severity}: train group counts "
                 f"{dict(zip(spec.group_names, report.counts_after['train'] if report else []))}")
        artifacts = {"clusters": "clusters", "adapters": {}, "synthetic": {}, "models": {}}

        self._timed("cluster", self._clusters, dsd, data_args, sev / "clusters")

        notes, oracle, gap = {}, None, None
        oracle_judges = cfg.fidelity_by_oracle()
        if cfg.domain_gap().enabled or oracle_judges:
            from hf_fair.run.oracle import oracle_dataset

            oracle = oracle_dataset(data_args, dsd)
            notes["oracle"] = oracle[1]
        if cfg.domain_gap().enabled:
            # before any source's adapters: the gap is what finetuning the generator is meant to close
            gap = self._timed("domain_gap", self._domain_gap, dsd, data_args, data_key, oracle[0], sev)
        oracle_model = self._timed("oracle", self._oracle_seed0, data_args, data_key, oracle[0], sev)[0] / "model" if oracle_judges else None

        synthetic, fidelity = {}, {}
        for source in cfg.sources():
            adapters_dir, adapters_key = None, None
            if source != "vanilla":
                adapters_dir, adapters_key = self._timed(f"adapters:{source}", self._adapters, source, dsd, data_args, data_key, sev)
                artifacts["adapters"][source] = str(adapters_dir.relative_to(sev))
            gen_dir = self._timed(f"generate:{source}", self._generate, source, dsd, data_args, data_key, adapters_dir, adapters_key, sev)
            artifacts["synthetic"][source] = str(gen_dir.relative_to(sev))
            synthetic[source] = (gen_dir, stage_key(data_key, adapters_key, str(gen_dir.name)))
            fid_file = gen_dir / "fidelity.json"
            if oracle_model is not None:
                fid_file = self._timed(f"fidelity:{source}", self._oracle_fidelity, source, dsd, gen_dir, oracle_model, sev)
            if fid_file.is_file():
                f = json.loads(fid_file.read_text())["sources"][source]
                fidelity[source] = {k: f[k] for k in ("frechet_all", "frechet_mean_over_groups", "label_acc", "attribute_acc", "group_acc")}
                # per group, keyed by group id as the results contract has it
                fidelity[source]["per_group"] = {str(g): f["per_group"][name] for g, name in enumerate(spec.group_names)
                                                 if name in f.get("per_group", {})}

        methods = {}
        for m in cfg.parsed_methods:
            per_seed, per_seed_val, paths = [], [], []
            for seed in cfg.seeds:
                if m.source is None and m.objective == "dfr":
                    # DFR's features are ERM's: the erm row's classifier (trained here when the
                    # row is not listed), its head refit on validation
                    run_dsd = dsd
                    init = self._timed("classify:erm", self._erm_seed, data_args, data_key, dsd, seed, sev)
                    args = cfg.classifier_args(objective="dfr", seed=seed, stage="finetune", init=str(init), finetune_scope="last_layer")
                    key = stage_key(data_key, runfolder.result_settings(args) | {"init": init.parent.name})
                elif m.source is None:
                    run_dsd = dsd
                    args, key = self._real_args(m.objective, data_key, seed)
                elif m.source == "oracle":
                    if oracle is None:
                        from hf_fair.run.oracle import oracle_dataset

                        oracle = oracle_dataset(data_args, dsd)
                        notes["oracle"] = oracle[1]
                    run_dsd = oracle[0]
                    args, key = self._oracle_args(data_key, seed)
                else:
                    gen_dir, gen_key = synthetic[m.source]
                    init = self._timed(f"pretrain:{m.source}", self._pretrain, m.source, gen_dir, gen_key, dsd, data_args, seed, sev)
                    run_dsd = dsd
                    args = cfg.classifier_args(objective=m.objective, seed=seed, stage="finetune", init=str(init),
                                               finetune_scope=cfg.finetune_scope)
                    key = stage_key(data_key, gen_key, runfolder.result_settings(args) | {"init": init.parent.name})
                folder = _classify_folder(sev, m.key, seed, key)
                args = replace(args, output_dir=str(folder))
                self.log(f"-- {m.key} seed {seed}")
                from hf_fair.classify.trainer import train_classifier

                metrics = self._timed(f"classify:{m.key}", train_classifier, args, data_args, run_dsd)
                per_seed.append(metrics["splits"]["test"])
                per_seed_val.append(metrics["splits"].get("validation"))
                paths.append(str((folder / "model").relative_to(sev)))
            methods[m.key] = method_results(per_seed, per_seed_val)
            artifacts["models"][m.key] = paths

        # classifiers trained on synthetic data alone (the pretraining runs), scored on the real
        # test split: the direct measure of how useful each synthetic set is
        for source in cfg.sources():
            gen_dir, gen_key = synthetic[source]
            per_seed, per_seed_val, paths = [], [], []
            for seed in cfg.seeds:
                init = self._timed(f"pretrain:{source}", self._pretrain, source, gen_dir, gen_key, dsd, data_args, seed, sev)
                splits = json.loads((init.parent / "metrics.json").read_text())["splits"]
                per_seed.append(splits["test"])
                per_seed_val.append(splits.get("validation"))
                paths.append(str(init.relative_to(sev)))
            methods[f"synthetic:{source}"] = method_results(per_seed, per_seed_val)
            artifacts["models"][f"synthetic:{source}"] = paths

        seconds = {"total": round(time.perf_counter() - started, 1),
                   **{k: round(v - before.get(k, 0.0), 1) for k, v in self.timings.items() if v - before.get(k, 0.0) > 0.05}}
        clf = cfg.classifier_args()
        doc = results_document(
            cfg.dataset, severity, clf.selection, methods,
            group_names=list(spec.group_names), seeds=list(cfg.seeds), model=clf.model, epochs=clf.epochs,
            finetune_scope=cfg.finetune_scope, fidelity=fidelity, notes=notes, artifacts=artifacts,
            train_group_counts=dict(zip(spec.group_names, report.counts_after["train"])) if report else None,
            seconds=seconds,
            seconds_computed=_seconds_computed(sev / f"{results_stem(cfg.variant)}.json", seconds),
            **({"variant": cfg.variant} if cfg.variant is not None else {}),
            **({"domain_gap": gap} if gap is not None else {}),
            **({"recipe": {**runfolder.result_settings(cfg.recipe()), "text": cfg.recipe().describe()}} if "recipe" in cfg.sections else {}),
        )
        write_results(sev, doc, list(spec.group_names))
        if synthetic:
            from hf_fair.run.plots import real_vs_synthetic_grid

            real_vs_synthetic_grid(dsd["train"], {s: d for s, (d, _) in synthetic.items()}, spec, sev / "grids" / "real_vs_synthetic.png")
        return doc

    def domain_gap_only(self, severity: float) -> dict:
        """``hf-fair gap``: the domain gap at one severity, into the same folders a run uses."""
        from hf_fair.run.domain_gap import read_gap
        from hf_fair.run.oracle import oracle_dataset

        sev = self.out / f"severity-{severity}"
        self.severity, self.stage = severity, "data"
        data_args = self.cfg.data_args(severity)
        dsd, _ = load_group_dataset(data_args)
        self._timed("domain_gap", self._domain_gap, dsd, data_args, stage_key(data_args), oracle_dataset(data_args, dsd)[0], sev)
        return read_gap(sev)

    # ------------------------------------------------------------------ stages
    def _clusters(self, dsd, data_args, folder: Path) -> None:
        if (folder / "clusters.json").is_file():
            return
        from hf_fair.cluster import cluster_to_folder

        cluster_to_folder(dsd, self.cfg.cluster_args(), data_args, folder)

    def _adapters(self, source: str, dsd, data_args, data_key: str, sev: Path) -> tuple[Path, str]:
        from hf_fair.adapters.train import train_adapters

        args = self.cfg.adapter_args(source, output_dir=None)
        cluster_args = self.cfg.cluster_args() if SOURCE_ADAPTERS[source][1] == "cluster" else None
        key = stage_key(data_key, args, cluster_args, {"base_weights": self.base_weights(args.base)})
        folder = sev / "adapters" / f"{source}-{key}"
        if not (folder / "manifest.json").is_file():
            self.log(f"-- adapters for {source} ({args.method}, unit {args.unit}) -> {folder}")
            train_adapters(replace(args, output_dir=str(folder)), data_args, copy.deepcopy(cluster_args), dsd=dsd)
        return folder, key

    def _generate(self, source: str, dsd, data_args, data_key: str, adapters_dir, adapters_key, sev: Path) -> Path:
        from hf_fair.generate.core import RESULT, generate_dataset

        from hf_fair.generate.config import clip_settings

        args = self.cfg.generate_args(source, str(adapters_dir) if adapters_dir else None, output_dir=None)
        if args.fidelity_encoder == RUN_ORACLE:  # the runner writes the oracle's report next to the set
            args = replace(args, fidelity=False)
        # the CLIP filter's model (by its weights) and keep rule; nothing without it, so keys of
        # runs made before the filter existed stay as they were
        clip = clip_settings(args, args.base or self.cfg.base)
        key = stage_key(data_key, adapters_key, args, {"base_weights": self.base_weights(args.base)}, *([clip] if clip else []))
        folder = sev / "synthetic" / f"{source}-{key}"
        if not (folder / RESULT).is_file():
            self.log(f"-- synthetic data from {source} -> {folder}")
            generate_dataset(replace(args, output_dir=str(folder)), data_args, dsd=dsd, command=f"hf-fair run ({source})")
        return folder

    def _trained_once(self, row: str, seed: int, args, key: str, data_args, run_dsd, sev: Path, why: str) -> tuple[Path, dict]:
        """The classifier of results row ``row`` for ``seed`` in that row's own folder, trained
        here unless it is finished (other stages read it before or instead of the row): its
        folder and metrics."""
        from hf_fair.classify.trainer import train_classifier

        folder = _classify_folder(sev, row, seed, key)
        metrics = _finished(folder)
        if metrics is None:
            self.log(f"-- {row}, seed {seed} ({why})")
            metrics = train_classifier(replace(args, output_dir=str(folder)), data_args, run_dsd)
        return folder, metrics

    def _oracle_seed0(self, data_args, data_key: str, oracle_dsd, sev: Path) -> tuple[Path, dict]:
        """The oracle row's seed-0 classifier (trained once; the domain gap and the oracle's fidelity
        report read it): its folder and metrics."""
        o_args, o_key = self._oracle_args(data_key, 0)
        return self._trained_once("oracle", 0, o_args, o_key, data_args, oracle_dsd, sev, "the oracle row reuses it")

    def _erm_seed(self, data_args, data_key: str, dsd, seed: int, sev: Path) -> Path:
        """The erm row's classifier for ``seed`` (trained once), whose features DFR's refit reads;
        its model folder."""
        args, key = self._real_args("erm", data_key, seed)
        return self._trained_once("erm", seed, args, key, data_args, dsd, sev, "DFR's features")[0] / "model"

    def _oracle_fidelity(self, source: str, dsd, gen_dir: Path, oracle_model: Path, sev: Path) -> Path:
        """``generate.fidelity_encoder: oracle``: the set's fidelity report on the features of the
        seed-0 oracle (a classifier of the real data), written once next to the set as
        fidelity-oracle.json/md and returned; its ``encoder`` names the oracle's folder relative to
        the severity folder."""
        from hf_fair.generate.fidelity import fidelity_report, write_report

        name = f"{RUN_ORACLE} ({oracle_model.relative_to(sev)})"
        out = gen_dir / "fidelity-oracle.json"
        if out.is_file() and json.loads(out.read_text()).get("encoder") == name:
            return out
        split = self.cfg.generate_args("vanilla", None, output_dir=None).fidelity_split  # one generate section for every source
        self.log(f"-- fidelity of {source}: probe and Frechet distance on the oracle's features")
        train = datasets.load_from_disk(str(gen_dir))["train"]
        report = fidelity_report(dsd, {source: train}, spec_of(dsd), split=split,
                                 encoder=f"classifier:{oracle_model}", encoder_name=name)
        write_report(report, gen_dir, stem="fidelity-oracle")
        return out

    def _real_args(self, objective: str, data_key: str, seed: int):
        """A real-data row's classifier settings and key: one place, so the erm row and DFR's
        features are one training."""
        args = self.cfg.classifier_args(objective=objective, seed=seed)
        return args, stage_key(data_key, args)

    def _oracle_args(self, data_key: str, seed: int):
        """The oracle row's classifier settings and key (ERM on group-balanced real data): one
        place, so the domain gap's reader and the oracle row are one training."""
        args = self.cfg.classifier_args(objective="erm", seed=seed)
        return args, stage_key(data_key, "oracle", args)

    def _domain_gap(self, dsd, data_args, data_key: str, oracle_dsd, sev: Path) -> dict:
        """Unfiltered vanilla draws (cached by key), their Frechet distance to the real train
        images and how the oracle (seed 0) and a group reader read them, per group; writes
        domain_gap.json/md and returns the results document's summary."""
        from hf_fair.classify.trainer import train_classifier
        from hf_fair.diffusion.base import base_id
        from hf_fair.generate.core import RESULT, generate_dataset
        from hf_fair.generate.fidelity import resolve_encoder
        from hf_fair.run import domain_gap as dg

        gap, spec = self.cfg.domain_gap(), spec_of(dsd)
        encoder = resolve_encoder(gap.encoder, self.cfg.dataset)  # an unknown dataset fails before any draw
        gen = self.cfg.gap_generate_args()
        key = stage_key(data_key, gen, {"base_weights": self.base_weights(gen.base)})
        draws_dir = sev / dg.FOLDER / f"draws-{key}"
        if not (draws_dir / RESULT).is_file():
            self.log(f"-- domain gap: {gen.images_per_group} unfiltered vanilla draws per group -> {draws_dir}")
            generate_dataset(replace(gen, output_dir=str(draws_dir)), data_args, dsd=dsd, command="hf-fair run (domain gap)")
        draws = datasets.load_from_disk(str(draws_dir))["train"]

        o_args, _ = self._oracle_args(data_key, 0)
        o_dir, o_metrics = self._oracle_seed0(data_args, data_key, oracle_dsd, sev)
        r_dir = r_metrics = None
        if gap.group_reader:
            r_dir = sev / dg.FOLDER / f"group_reader-seed0-{stage_key(data_key, 'oracle', 'group_reader', o_args)}"
            r_metrics = _finished(r_dir)
            if r_metrics is None:
                self.log("-- domain gap: the group reader (the oracle's data and recipe, trained to predict the group)")
                r_metrics = train_classifier(replace(o_args, output_dir=str(r_dir)), data_args, dg.with_group_target(oracle_dsd))

        about = {"dataset": self.cfg.dataset, "severity": self.severity, "base": base_id(gen.base),
                 "images_per_group": gen.images_per_group, "num_inference_steps": gen.num_inference_steps,
                 "guidance_scale": gen.guidance_scale, "filter": "none", "real_split": "train",
                 "draws": str(draws_dir.relative_to(sev)), "oracle_model": str((o_dir / "model").relative_to(sev)),
                 "group_reader_model": None if r_dir is None else str((r_dir / "model").relative_to(sev))}
        report = dg.gap_report(dsd["train"], dsd["test"], draws, spec, encoder, o_dir / "model", o_metrics["splits"]["test"],
                               None if r_dir is None else r_dir / "model", None if r_metrics is None else r_metrics["splits"]["test"], about)
        dg.write_gap(report, sev, self.cfg.variant)
        for name, v in report["groups"].items():
            fd = "n/a" if v["frechet"] is None else f"{v['frechet']:.2f}"
            reader = "" if v["group_read"] is None else f", the group reader the group of {100 * v['group_read']:.1f}%"
            self.log(f"domain gap {name}: Frechet {fd} to {v['n_real']} real train images; the oracle reads the label of "
                     f"{100 * v['label_read']:.1f}% of {v['n_draws']} draws{reader}")
        return dg.gap_summary(report, list(spec.group_names), self.cfg.variant)

    def _pretrain(self, source: str, gen_dir: Path, gen_key: str, dsd, data_args, seed: int, sev: Path) -> Path:
        from hf_fair.classify.trainer import train_classifier

        args = self.cfg.pretrain_args(objective="erm", seed=seed)
        key = stage_key(gen_key, args)
        folder = sev / "classify" / f"pretrain-{source}-seed{seed}-{key}"
        if not (folder / "metrics.json").is_file():
            synth = datasets.load_from_disk(str(gen_dir))["train"]
            # pretraining sees synthetic images only; real validation/test are reported, and the
            # checkpoint is chosen by the pretrain section's selection rule
            keep = [c for c in ("image", "label", "attribute", "group", args.weight_column) if c and c in synth.column_names]
            pre = attach_spec(datasets.DatasetDict({"train": synth.select_columns(keep),
                                                    "validation": dsd["validation"], "test": dsd["test"]}), spec_of(dsd))
            self.log(f"-- pretrain on {source} synthetic data, seed {seed}")
            train_classifier(replace(args, output_dir=str(folder)), data_args, pre)
        return folder / "model"


def _classify_folder(sev: Path, method_key: str, seed: int, key: str) -> Path:
    return sev / "classify" / f"{method_key.replace('+', '_')}-seed{seed}-{key}"


def _finished(folder: Path) -> dict | None:
    """The metrics of a finished classifier run in ``folder``, else None."""
    f = folder / "metrics.json"
    if f.is_file():
        done = json.loads(f.read_text())
        if done.get("finished"):
            return done
    return None


def _seconds_computed(previous: Path, seconds: dict) -> dict:
    """Seconds each stage took when it was computed. ``seconds`` is this invocation's, in which a
    finished stage costs only the check that it is finished; a stage that took under a tenth of
    its previously recorded time was found done, and keeps the figure of the run that computed
    it (from the previous results.json). ``total`` sums the stages."""
    old = {}
    if previous.is_file():
        prev = json.loads(previous.read_text())
        old = prev.get("seconds_computed") or {}
    merged = {k: v for k, v in old.items() if k != "total"}
    for k, v in seconds.items():
        if k != "total" and not (k in merged and v < 0.1 * merged[k]):
            merged[k] = v
    merged["total"] = round(sum(merged.values()), 1)
    return merged


ERROR_LOG = "error.log"


def run(cfg: RunArguments, log=print) -> dict:
    """Run every stage. A bad input ends in an HfFairError naming it; any other exception ends in
    one HfFairError naming the stage and the log file that holds the full traceback."""
    if not cfg.output_dir:
        raise HfFairError("`output_dir` (the run folder) is required")
    check_offline(cfg)
    check_arguments(cfg)
    if cfg.variants:
        return run_variants(cfg, log)
    runner = Runner(cfg, log)
    try:
        # a run that fails before any stage's result leaves no folder (its config file only)
        with removed_on_failure(cfg.output_dir, early=("config*.yaml",)):
            return runner.run()
    except (HfFairError, KeyboardInterrupt):
        raise
    except Exception as e:
        where = f"stage '{runner.stage}'" + (f" at severity {runner.severity}" if getattr(runner, "severity", None) is not None else "")
        path = Path(cfg.output_dir) / ERROR_LOG
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as f:
            f.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {where} failed\n{traceback.format_exc()}\n")
        raise HfFairError(f"{where} failed: {first_line(e)} (full traceback in {path})") from e


def run_variants(cfg: RunArguments, log=print) -> dict[str, dict[float, dict]]:
    """An ablation: every variant into the same run folder (stages they share are computed once),
    then ``ablation.md``/``ablation.json``, one row per variant and method, validation beside test."""
    from hf_fair.results import ablation_markdown

    out = {}
    for vcfg in cfg.variant_configs():
        log(f"==== variant {vcfg.variant}")
        out[vcfg.variant] = run(vcfg, log)
    write_json(Path(cfg.output_dir) / "ablation.json", {name: {str(b): doc for b, doc in docs.items()} for name, docs in out.items()})
    (Path(cfg.output_dir) / "ablation.md").write_text(ablation_markdown(out))
    return out
