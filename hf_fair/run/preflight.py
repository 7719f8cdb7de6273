"""Before any work: every setting of a run that needs the Hub, checked against the local cache
when the Hub is off (``HF_HUB_OFFLINE=1``), so that an offline run fails in its first second
with every culprit named, not after hours of adapter training.
"""

from __future__ import annotations

from pathlib import Path

from huggingface_hub import constants, snapshot_download
from huggingface_hub.errors import LocalEntryNotFoundError

from hf_fair.errors import HfFairError

DEFAULT_HUB_DATASETS = {"celeba": "flwrlabs/celeba", "waterbirds": "grodino/waterbirds"}


def _cached(repo_id: str, repo_type: str = "model") -> bool:
    try:
        snapshot_download(repo_id, repo_type=repo_type, local_files_only=True)
        return True
    except (LocalEntryNotFoundError, FileNotFoundError, OSError, ValueError):
        return False


def _encoder_repo(encoder: str) -> tuple[str, str] | None:
    """(repo id, repo type) behind a ``timm:``/``hf:`` encoder name; None for ``pixels``/``reference``."""
    if encoder.startswith("hf:"):
        return encoder[3:], "model"
    if encoder.startswith("timm:"):
        return _timm_repo(encoder[5:])
    return None


def _timm_repo(model: str) -> tuple[str, str] | None:
    import timm

    try:
        cfg = timm.models.get_pretrained_cfg(model)
    except Exception:  # an unknown name is reported by the stage that builds it
        return None
    hub_id = getattr(cfg, "hf_hub_id", None) if cfg is not None else None
    return (hub_id.split("@")[0], "model") if hub_id else None


def _clip_reference(cfg) -> tuple[str, str, str] | None:
    """(setting, repo id, "model") of the Hub CLIP behind the CLIP filter (set in the generate or
    the recipe section), or None: no CLIP filter, the embedded CLIP, or a local folder."""
    from hf_fair.judges.clip import default_clip_model, resolve_clip

    generate, recipe = cfg.sections.get("generate", {}), cfg.sections.get("recipe", {})
    section = "recipe" if recipe.get("filter") is not None else "generate"
    values = {"filter_classifier": recipe["filter"], **{k: recipe[k] for k in ("clip_model",) if k in recipe}} if section == "recipe" else generate
    if values.get("filter_classifier") != "clip" or generate.get("quality_filter", True) is False:
        return None
    model = default_clip_model(values.get("clip_model"), generate.get("base", cfg.base))
    return None if model == "embedded" or Path(resolve_clip(model)).is_dir() else (f"{section}.clip_model", model, "model")


def hub_references(cfg) -> list[tuple[str, str, str]]:
    """(setting, repo id, repo type) for every Hub download the run may need."""
    refs = []
    if cfg.base != "embedded" and not Path(cfg.base).is_dir():
        refs.append(("base", cfg.base, "model"))
    from hf_fair.run.config import SOURCE_ADAPTERS

    for section in ("adapters", *[s for s in cfg.sections if s in SOURCE_ADAPTERS]):
        base = cfg.sections.get(section, {}).get("base")
        if base and base != "embedded" and not Path(base).is_dir():
            refs.append((f"{section}.base", base, "model"))
    data = cfg.sections.get("data", {})
    if not data.get("data_dir") and cfg.dataset in DEFAULT_HUB_DATASETS:
        hub = data.get("hub_dataset") or DEFAULT_HUB_DATASETS[cfg.dataset]
        if not Path(hub).is_dir():
            refs.append(("data.hub_dataset", hub, "dataset"))
    for key in ("cluster.encoder", "generate.fidelity_encoder"):
        section, name = key.split(".")
        value = cfg.sections.get(section, {}).get(name)
        repo = _encoder_repo(value) if isinstance(value, str) else None
        if repo:
            refs.append((key, *repo))
    clip = _clip_reference(cfg)
    if clip:
        refs.append(clip)
    for section in ("classifier", "pretrain"):
        values = {**cfg.sections.get("classifier", {}), **cfg.sections.get(section, {})}
        if values.get("pretrained") and values.get("model"):
            repo = _timm_repo(values["model"])
            if repo:
                refs.append((f"{section}.pretrained (model {values['model']})", *repo))
    return list(dict.fromkeys(refs))


def check_offline(cfg) -> None:
    """Raise one error naming every setting that needs a download the offline Hub cannot serve."""
    if not constants.HF_HUB_OFFLINE:
        return
    missing = [(setting, repo, kind) for setting, repo, kind in hub_references(cfg) if not _cached(repo, kind)]
    if missing:
        names = "; ".join(f"{setting} = {repo} ({kind} not in the local cache)" for setting, repo, kind in missing)
        raise HfFairError(
            f"HF_HUB_OFFLINE is set and the run needs downloads: {names}. Download them once with the Hub "
            "on (huggingface-cli download <id>), or point the settings at local copies / offline choices "
            "(base: embedded, encoder: pixels, classifier pretrained: false, clip_model: embedded)"
        )


def check_arguments(cfg) -> None:
    """Every stage's arguments built once, the bases resolved and the classifier models known,
    before the run folder is made: a bad value fails in the first second with nothing written,
    not after the stages before the one it belongs to."""
    from hf_fair.classify.models import check_model_name
    from hf_fair.diffusion.base import check_base

    for severity in cfg.severities:
        cfg.data_args(severity)
    cfg.cluster_args()
    bases = {cfg.base}
    for source in cfg.sources():
        if source != "vanilla":
            bases.add(cfg.adapter_args(source, output_dir=None).base)
        generate = cfg.generate_args(source, None if source == "vanilla" else "adapters", output_dir=None)
        bases.add(generate.base or cfg.base)
    if cfg.domain_gap().enabled:
        from hf_fair.generate.fidelity import resolve_encoder

        resolve_encoder(cfg.domain_gap().encoder, cfg.dataset)  # `auto` knows the embedded benchmarks only
        bases.add(cfg.gap_generate_args().base or cfg.base)
    models = {cfg.classifier_args().model} | ({cfg.pretrain_args().model} if cfg.sources() else set())
    for model in sorted(models):
        check_model_name(model)
    for base in sorted(bases):
        check_base(base)
