"""The end-to-end run configuration: one YAML file with a section per stage.

```yaml
dataset: colored-digits          # top level: what to compare, where
severities: [0.95, 0.99, 0.995]
seeds: [0, 1, 2]
methods: [erm, groupdro, vanilla, lora, dreambooth, dreambooth_cluster, dreambooth_cluster+groupdro, oracle]
finetune_scope: last_layer
output_dir: runs/colored-digits
data:       {data_seed: 0}                 # DataArguments (dataset and severity come from above)
cluster:    {k: auto, min_cluster_size: 5} # ClusterArguments
adapters:   {max_train_steps: 200}         # AdapterArguments shared by every source
lora:       {learning_rate: 1e-3}          # per-source overrides of `adapters`
generate:   {images_per_group: 200}        # GenerateArguments shared by every source
recipe:     {filter: clip, weighting: clip_score, supcon_weight: 0.5}  # RecipeArguments: every source's pretraining
domain_gap: {enabled: true, images_per_group: 256}  # DomainGapArguments: the base's gap, before any method
classifier: {model: resnet18, epochs: 20}  # ClassifierArguments of real-data training and finetuning
pretrain:   {epochs: 10}                   # overrides of `classifier` for synthetic pretraining
```

Unknown keys are refused with the section and the allowed names, so a typo never silently
falls back to a default.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

import yaml

from hf_fair.classify.config import OBJECTIVES, SCOPES, ClassifierArguments
from hf_fair.cluster import ClusterArguments
from hf_fair.config import build_config, read_yaml
from hf_fair.data import DataArguments
from hf_fair.adapters.config import AdapterArguments
from hf_fair.generate.config import RUN_ORACLE, GenerateArguments
from hf_fair.errors import HfFairError
from hf_fair.run.domain_gap import DomainGapArguments
from hf_fair.run.recipe import GENERATE_KEYS, PRETRAIN_KEYS, RecipeArguments

from hf_fair.generate.sources import CAPTIONED, SOURCE_TABLE, SOURCES

# (method, unit) of the adapters the runner trains for each finetuned source
SOURCE_ADAPTERS = {s.name: s.trains for s in SOURCE_TABLE.values() if s.trains}
SECTIONS = {
    "data": DataArguments,
    "cluster": ClusterArguments,
    "adapters": AdapterArguments,
    **{source: AdapterArguments for source in SOURCE_ADAPTERS},  # per-source overrides of `adapters`
    "generate": GenerateArguments,
    "recipe": RecipeArguments,
    "domain_gap": DomainGapArguments,
    "classifier": ClassifierArguments,
    "pretrain": ClassifierArguments,
}
# set by the runner per stage; a config may not set them
RUNNER_OWNED = {
    "data": {"dataset", "severity"},
    "adapters": {"output_dir", "method", "unit", "overwrite", "push_to_hub"},
    "generate": {"output_dir", "source", "adapters", "overwrite", "push_to_hub"},
    "classifier": {"output_dir", "stage", "init", "objective", "seed", "overwrite", "push_to_hub", "finetune_scope"},
}
RUNNER_OWNED.update({k: RUNNER_OWNED["adapters"] for k in SOURCE_ADAPTERS})
RUNNER_OWNED["pretrain"] = RUNNER_OWNED["classifier"]


@dataclass(frozen=True)
class Method:
    """A results-table row: a real-data objective, optionally after synthetic pretraining."""

    key: str
    source: str | None  # None: real data only; "oracle": group-balanced real data
    objective: str

    @property
    def synthetic(self) -> bool:
        return self.source in SOURCES


def parse_method(key: str) -> Method:
    if key == "oracle":
        return Method(key, "oracle", "erm")
    if key in OBJECTIVES:
        return Method(key, None, key)
    if key in SOURCES:
        return Method(key, key, "erm")
    if "+" in key:
        source, objective = key.split("+", 1)
        if source in SOURCES and objective in OBJECTIVES:
            return Method(key, source, objective)
    raise HfFairError(
        f"unknown method '{key}' in `methods`; use an objective {list(OBJECTIVES)}, a source {list(SOURCES)}, "
        f"'<source>+<objective>' (e.g. dreambooth_cluster+groupdro) or 'oracle'"
    )


@dataclass
class RunArguments:
    dataset: str = "colored-digits"
    severities: list[float] = field(default_factory=lambda: [0.99])
    seeds: list[int] = field(default_factory=lambda: [0])
    methods: list[str] = field(default_factory=lambda: ["erm", "groupdro", "vanilla", "dreambooth_cluster"])
    finetune_scope: str = "last_layer"
    output_dir: str = "runs/run"
    base: str = "embedded"
    # an ablation: variant name -> {key or section.option: value}; each variant is this config with
    # those changes, run into the same folder (shared stages are computed once) and reported in
    # its own results-<variant>.json
    variants: dict = field(default_factory=dict)
    variant: str | None = None  # set by the runner on each variant's config
    sections: dict = field(default_factory=dict)  # section name -> {field: value}

    def __post_init__(self):
        if self.finetune_scope not in SCOPES:
            raise HfFairError(f"finetune_scope '{self.finetune_scope}' is not one of {list(SCOPES)}")
        if not self.severities or not self.seeds or not self.methods:
            raise HfFairError("severities, seeds and methods must each list at least one value")
        self.parsed_methods = [parse_method(m) for m in self.methods]
        dup = {m for m in self.methods if self.methods.count(m) > 1}
        if dup:
            raise HfFairError(f"methods listed twice: {sorted(dup)}")
        for name, values in self.sections.items():
            if name not in SECTIONS:
                raise HfFairError(f"unknown section '{name}' in the run config; sections are {list(SECTIONS)}")
            if not isinstance(values, dict):
                raise HfFairError(f"section '{name}' must be a mapping of option: value")
            allowed = {f.name for f in fields(SECTIONS[name])}
            unknown = sorted(set(values) - allowed)
            if unknown:
                raise HfFairError(f"unknown option(s) {unknown} in section '{name}'; options: {sorted(allowed)}")
            owned = sorted(set(values) & RUNNER_OWNED.get(name, set()))
            if owned:
                raise HfFairError(f"option(s) {owned} in section '{name}' are set by the runner for each stage; remove them")
        if not isinstance(self.variants, dict) or any(not isinstance(v, (dict, type(None))) for v in self.variants.values()):
            raise HfFairError("`variants` must map each variant name to a mapping of key or section.option: value")
        bad = [n for n in self.variants if not re.fullmatch(r"[A-Za-z0-9_.-]+", str(n))]
        if bad:
            raise HfFairError(f"variant names {bad} may use letters, digits, '_', '-' and '.' only (they name files)")
        if self.variants and self.variant is None:
            self.variant_configs()  # every variant's changes are checked before any stage runs
        if "domain_gap" in self.sections:
            self.domain_gap()  # its own checks, before any stage runs
        if "recipe" in self.sections:
            self.recipe()  # its own checks, before any stage runs
            twice = {name: sorted(set(self.sections.get(name, {})) & keys) for name, keys in
                     (("generate", GENERATE_KEYS if self.recipe().filter is not None else set()),
                      ("classifier", PRETRAIN_KEYS), ("pretrain", PRETRAIN_KEYS))}
            twice = {k: v for k, v in twice.items() if v}
            if twice:
                raise HfFairError(f"option(s) {twice} are the pretraining recipe's: set them once, in the `recipe` section")

    # ---------------------------------------------------------------- per-stage arguments
    def _build(self, cls, *names: str, **runner):
        values = {}
        for n in names:
            values.update(self.sections.get(n, {}))
        values.update(runner)
        # the stage commands' parser: YAML's 1e-4 (a string in YAML 1.1) becomes a float there too
        return build_config(cls, values, where=f"section(s) {list(names)}")

    def data_args(self, severity: float) -> DataArguments:
        return self._build(DataArguments, "data", dataset=self.dataset, severity=severity)

    def cluster_args(self) -> ClusterArguments:
        return self._build(ClusterArguments, "cluster")

    def adapter_args(self, source: str, output_dir: str) -> AdapterArguments:
        method, unit = SOURCE_ADAPTERS[source]
        defaults = {"base": self.base}
        args = self._build(AdapterArguments, "adapters", source, output_dir=output_dir, method=method, unit=unit)
        if (args.caption_column is not None) != (source in CAPTIONED):
            raise HfFairError(
                f"source '{source}': " + (f"set caption_column in its section (e.g. `{source}: {{caption_column: digit}}`)"
                                          if source in CAPTIONED else "caption_column belongs to the captioned variant "
                                          "(dreambooth_cluster_captioned), not to a source named after the paper's")
            )
        return args if "base" in self.sections.get("adapters", {}) or "base" in self.sections.get(source, {}) else replace(args, **defaults)

    def recipe(self) -> RecipeArguments:
        return self._build(RecipeArguments, "recipe")

    def domain_gap(self) -> DomainGapArguments:
        return self._build(DomainGapArguments, "domain_gap")

    def fidelity_by_oracle(self) -> bool:
        """``generate.fidelity_encoder: oracle``: every set's fidelity report reads the features of the
        run's seed-0 oracle (hf_fair/generate/fidelity.py says why colored-mnist needs it)."""
        return self.sections.get("generate", {}).get("fidelity_encoder") == RUN_ORACLE and \
            self.sections.get("generate", {}).get("fidelity", True) is not False

    def gap_generate_args(self) -> GenerateArguments:
        """The domain gap's draws: vanilla with the generate section's sampling settings (steps,
        guidance, scheduler, prompts, batch size, seed), unfiltered (no judge, no blank check, no recipe):
        the base's images as they come."""
        gap = self.domain_gap()
        # the section's quota and filter settings are the sources', not the draws'
        values = {k: v for k, v in self.sections.get("generate", {}).items() if k not in GAP_DROPS}
        values.update(source="vanilla", images_per_group=gap.images_per_group, filter_classifier="none",
                      quality_filter=False, fidelity=False)
        values.setdefault("base", self.base)
        return build_config(GenerateArguments, values, where="section(s) ['generate'] (the domain gap's draws)")

    def generate_args(self, source: str, adapters: str | None, output_dir: str) -> GenerateArguments:
        args = self._build(GenerateArguments, "generate", output_dir=output_dir, source=source, adapters=adapters,
                           **self.recipe().generate_settings(),
                           **({"base": self.base} if source == "vanilla" and "base" not in self.sections.get("generate", {}) else {}))
        return args

    def classifier_args(self, **runner) -> ClassifierArguments:
        return self._build(ClassifierArguments, "classifier", **runner)

    def pretrain_args(self, **runner) -> ClassifierArguments:
        # synthetic pretraining keeps its last epoch unless told otherwise: choosing it by the
        # real validation split would leak the few minority images into the pretraining stage
        if "selection" not in self.sections.get("pretrain", {}):
            runner.setdefault("selection", "last")
        return self._build(ClassifierArguments, "classifier", "pretrain", stage="pretrain", **self.recipe().pretrain_settings(), **runner)

    def sources(self) -> list[str]:
        """Synthetic sources the methods need, in a fixed order."""
        used = {m.source for m in self.parsed_methods if m.synthetic}
        return [s for s in SOURCES if s in used]

    def as_dict(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "sections"}
        if not d["variants"]:
            d.pop("variants")
        if d["variant"] is None:
            d.pop("variant")
        d.update(self.sections)
        return d

    def variant_configs(self) -> list["RunArguments"]:
        """One config per variant (the variant's changes applied), in the order listed."""
        base = {k: v for k, v in self.as_dict().items() if k not in ("variants", "variant")}
        out = []
        for name, changes in self.variants.items():
            settings = [f"{k}={yaml.safe_dump(v, default_flow_style=True).strip().removesuffix('...').strip()}" for k, v in (changes or {}).items()]
            data = apply_settings(base, settings)
            if any(k in ("variants", "variant", "output_dir") for k in (changes or {})):
                raise HfFairError(f"variant '{name}' may not change variants, variant or output_dir")
            try:
                out.append(config_from_dict({**data, "variant": name}, where=f"variant '{name}'"))
            except HfFairError as e:  # name the variant whose change is bad, not only the option
                raise HfFairError(f"variant '{name}': {e}") from None
        return out


# generate options the domain gap's draws do not take from the generate section
GAP_DROPS = {"match", "images_per_group", "filter_classifier", "clip_model", "clip_min_prob", "max_attempts", "min_std",
             "quality_filter", "fidelity", "fidelity_encoder", "fidelity_split", "push_to_hub", "private"}

TOP_LEVEL = {f.name for f in fields(RunArguments) if f.name != "sections"}


def config_from_dict(data: dict, where: str = "the run config") -> RunArguments:
    if not isinstance(data, dict):
        raise HfFairError(f"{where} must be a mapping of option: value")
    top = {k: v for k, v in data.items() if k in TOP_LEVEL}
    sections = {k: v or {} for k, v in data.items() if k not in TOP_LEVEL}
    unknown = sorted(k for k in sections if k not in SECTIONS)
    if unknown:
        raise HfFairError(f"unknown key(s) {unknown} in {where}; top-level keys: {sorted(TOP_LEVEL)}, sections: {list(SECTIONS)}")
    for key in ("severities", "seeds", "methods"):
        if key in top and not isinstance(top[key], list):
            top[key] = [top[key]]
    return RunArguments(**top, sections=sections)


def apply_settings(data: dict, settings: list[str]) -> dict:
    """``key=value`` (top level) or ``section.option=value``; values are read as YAML."""
    data = {k: (dict(v) if isinstance(v, dict) else v) for k, v in data.items()}
    for item in settings:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise HfFairError(f"--set '{item}' is not KEY=VALUE (e.g. generate.images_per_group=8 or seeds=[0])")
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise HfFairError(f"--set '{item}': the value is not valid YAML ({e})") from None
        parts = key.split(".")
        if len(parts) == 1:
            data[key] = value
        elif len(parts) == 2:
            section = data.get(parts[0]) or {}
            if not isinstance(section, dict):
                raise HfFairError(f"--set '{item}': '{parts[0]}' is not a section")
            data[parts[0]] = {**section, parts[1]: value}
        else:
            raise HfFairError(f"--set '{item}': keys have at most one dot (section.option)")
    return data


def load_run_config(path: str | Path, overrides: dict | None = None, settings: list[str] | None = None) -> RunArguments:
    path = Path(path)
    data = read_yaml(path, what="run config")
    if overrides:
        data = {**data, **overrides}
    if settings:
        data = apply_settings(data, settings)
    return config_from_dict(data, where=f"'{path}'")
