"""Generator sources: which units serve each group, and switching the pipeline between them.

Every source yields images for a (unit, prompts, seeds) request the same way; only the weights
of the pipeline change. Adapters are applied *in place*: a LoRA is loaded, fused into the base
weights and its layers removed (``load_lora_weights`` + ``fuse_lora`` + ``unload_lora_weights``);
a full DreamBooth UNet is copied into the pipeline's UNet with ``load_state_dict``. One snapshot
of each touched component's base weights restores it exactly before the next unit, so memory
stays flat however many adapters there are, sampling runs at the plain pipeline's speed (no LoRA
branches in the forward pass) and a unit's images do not depend on which unit ran before it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import torch

from hf_fair.adapters.manifest import check_matches_groups, read_manifest, units_by_group
from hf_fair.generate.plan import DrawUnit
from hf_fair.errors import HfFairError, first_line

logger = logging.getLogger(__name__)

@dataclass(frozen=True)
class Source:
    """One generator source: what the runner trains for it, which adapters folders serve it."""

    name: str
    label: str  # for people (the Space, cards)
    trains: tuple[str, str] | None = None  # (adapters method, unit) the runner trains; None: the base alone
    serves: frozenset = frozenset()  # (method, unit) pairs of manifests that can serve it
    # adapters trained with per-image captions (adapters --caption_column): a variant of the
    # paper's sources, which condition on the group prompt and a rare token only
    captioned: bool = False


_DREAMBOOTH_CLUSTER = frozenset({("dreambooth", "cluster"), ("dreambooth_lora", "cluster")})
SOURCE_TABLE: dict[str, Source] = {s.name: s for s in (
    Source("vanilla", "vanilla base (group prompt)"),
    Source("lora", "group LoRA", ("lora", "group"), frozenset({("lora", "group")})),
    Source("dreambooth", "group DreamBooth", ("dreambooth", "group"), frozenset({("dreambooth", "group"), ("dreambooth_lora", "group")})),
    Source("dreambooth_cluster", "cluster DreamBooth", ("dreambooth", "cluster"), _DREAMBOOTH_CLUSTER),
    Source("dreambooth_cluster_captioned", "cluster DreamBooth, per-image captions (variant)", ("dreambooth", "cluster"),
           _DREAMBOOTH_CLUSTER, captioned=True),
)}
SOURCES = tuple(SOURCE_TABLE)
SERVES = {s.name: set(s.serves) for s in SOURCE_TABLE.values() if s.serves}
CAPTIONED = {s.name for s in SOURCE_TABLE.values() if s.captioned}
LORA_FILE = "pytorch_lora_weights.safetensors"


def caption_column_of(manifest: dict) -> str | None:
    """The metadata column an adapters folder was captioned from (``--caption_column``), or None."""
    return (manifest.get("config") or {}).get("caption_column")


def source_of_manifest(manifest: dict) -> str | None:
    """The generator source an adapters manifest serves, or None."""
    captioned = bool(caption_column_of(manifest))
    pair = (manifest.get("method"), manifest.get("unit"))
    return next((s for s, pairs in SERVES.items() if pair in pairs and (s in CAPTIONED) == captioned), None)


def resolve_adapters(adapters: str) -> Path:
    """A local adapters folder, or a Hub model repo id fetched with ``snapshot_download``
    (``HF_HUB_OFFLINE=1`` reads the local cache only)."""
    path = Path(adapters).expanduser()
    if path.is_dir():
        return path
    if path.exists():
        raise HfFairError(f"--adapters '{adapters}' is a file; pass the adapters folder (the one holding manifest.json) or a Hub repo id")
    from hf_fair.diffusion.base import _HUB_ID

    if not _HUB_ID.match(adapters) or adapters.startswith((".", "/", "~")):
        raise HfFairError(f"--adapters '{adapters}' is neither an existing folder nor a Hub repo id (namespace/name)")
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(adapters, repo_type="model"))
    except Exception as e:  # noqa: BLE001 — offline, missing, gated: one clear message
        raise HfFairError(
            f"could not fetch adapters '{adapters}' from the Hub ({first_line(e)}); check the id and your "
            "network, or download it while online (HF_HUB_OFFLINE=1 only reads the local cache)"
        ) from None


def vanilla_units(spec, groups, template: str | None = None) -> dict[int, list[DrawUnit]]:
    """The base with group prompts (FFR). A group described by several prompts (the spec's
    label phrases) gets one unit per prompt and an equal share of the quota."""
    out = {}
    for g in groups:
        prompts = spec.prompt_variants(g, template)
        names = [f"g{g}"] if len(prompts) == 1 else [f"g{g}p{i}" for i in range(len(prompts))]
        out[g] = [DrawUnit(name=n, group=g, cluster=None, source="vanilla", format="base", prompt=p) for n, p in zip(names, prompts)]
    return out


def _unit_prompt(entry: dict, spec, template: str | None) -> str:
    if not template:
        return entry["prompt"]
    y, a = spec.split_group(entry["group"])
    return template.format(label=spec.label_names[y], attribute=spec.attribute_names[a], token=entry.get("token") or "")


def adapter_units(folder: Path, source: str, spec, template: str | None = None, fallback_vanilla: bool = False) -> tuple[dict[int, list[DrawUnit]], dict]:
    """Units per group from an adapters folder, checked against ``source`` and the dataset."""
    manifest = read_manifest(folder)
    served = SERVES[source]
    if (manifest["method"], manifest["unit"]) not in served:
        fits = [s for s, pairs in SERVES.items() if (manifest["method"], manifest["unit"]) in pairs]
        raise HfFairError(
            f"adapters '{folder}' are method={manifest['method']}, unit={manifest['unit']}, which serve "
            f"--source {fits[0] if fits else '?'}, not --source {source}"
        )
    captioned = bool(caption_column_of(manifest))
    if captioned != (source in CAPTIONED):
        raise HfFairError(
            f"adapters '{folder}' were trained {'with' if captioned else 'without'} per-image captions "
            f"(caption_column={caption_column_of(manifest)!r}); --source {source} needs adapters "
            + ("trained with --caption_column" if source in CAPTIONED else "trained without --caption_column (use --source dreambooth_cluster_captioned)")
        )
    check_matches_groups(manifest, spec.group_names, where=f"adapters '{folder}'")
    by_group = units_by_group(manifest)
    out: dict[int, list[DrawUnit]] = {}
    for g in range(spec.n_groups):
        entries = sorted(by_group.get(g, []), key=lambda u: (u["cluster"] is not None, u["cluster"] or 0))
        if not entries:
            if not fallback_vanilla:
                raise HfFairError(
                    f"adapters '{folder}' have no unit for group {g} ({spec.group_names[g]}); train it "
                    "(re-run `hf-fair adapters train` to resume) or pass --fallback_vanilla to draw that group from the base"
                )
            logger.warning("group %d (%s) has no adapter: drawing it from the base (--fallback_vanilla)", g, spec.group_names[g])
            out.update(vanilla_units(spec, [g]))
            continue
        units = []
        for e in entries:
            unit_dir = folder / e["path"]
            weights = unit_dir / LORA_FILE if e["format"] == "lora" else unit_dir / "unet"
            if not weights.exists():
                raise HfFairError(f"adapters '{folder}': unit {e['name']} lists '{e['path']}' but '{weights}' is missing; re-run the adapters training to finish it")
            size = e.get("cluster_size") or e.get("n_images") or 1
            if captioned:
                # one sub-unit per caption value, sharing the adapter; quotas in the value's share
                # of the class in the real training data, times the cluster's size
                for value, share in sorted(e["caption_weights"].items()):
                    weight = int(round(size * share * 1000))
                    if weight > 0:
                        units.append(DrawUnit(name=e["name"], group=g, cluster=e["cluster"], source=source, format=e["format"],
                                          prompt=e["caption_prompts"][value], path=unit_dir, weight=weight, caption=value))
                continue
            units.append(DrawUnit(name=e["name"], group=g, cluster=e["cluster"], source=source, format=e["format"],
                              prompt=_unit_prompt(e, spec, template), path=unit_dir, weight=int(size)))
        out[g] = units
    return out, manifest


def _load_unet_weights(folder: Path) -> dict[str, torch.Tensor]:
    st = folder / "diffusion_pytorch_model.safetensors"
    if st.is_file():
        from safetensors.torch import load_file

        return load_file(str(st))
    bin_file = folder / "diffusion_pytorch_model.bin"
    if bin_file.is_file():
        return torch.load(bin_file, map_location="cpu", weights_only=True)
    raise HfFairError(f"'{folder}' holds no diffusion_pytorch_model.safetensors (nor .bin); save the UNet with save_pretrained")


class UnitSwitcher:
    """Puts one unit's weights into a pipeline at a time, restoring the base in between."""

    def __init__(self, pipe):
        self.pipe = pipe
        self.current: DrawUnit | None = None
        self._snapshots: dict[str, dict[str, torch.Tensor]] = {}
        self._dirty: set[str] = set()

    def _snapshot(self, component: str) -> None:
        if component not in self._snapshots:
            module = getattr(self.pipe, component)
            self._snapshots[component] = {k: v.detach().clone() for k, v in module.state_dict().items()}

    def restore_base(self) -> None:
        for component in sorted(self._dirty):
            getattr(self.pipe, component).load_state_dict(self._snapshots[component])
        self._dirty.clear()
        self.current = None

    def activate(self, unit: DrawUnit) -> None:
        # sub-units of one adapter (captioned sources) share its weights
        if self.current is not None and (self.current.path, self.current.format, self.current.name) == (unit.path, unit.format, unit.name):
            return
        self.restore_base()
        if unit.format == "lora":
            self._apply_lora(unit)
        elif unit.format == "unet":
            self._apply_unet(unit)
        self.current = unit

    def _apply_lora(self, unit: DrawUnit) -> None:
        from safetensors import safe_open

        file = unit.path / LORA_FILE
        with safe_open(str(file), framework="pt") as f:
            keys = list(f.keys())
        touched = ["unet"] + (["text_encoder"] if any(k.startswith("text_encoder.") for k in keys) else [])
        for c in touched:
            self._snapshot(c)
        self._dirty.update(touched)
        name = unit.name.replace(".", "_")
        try:
            if "text_encoder" in touched:
                self.pipe.load_lora_weights(str(unit.path), adapter_name=name)
            else:  # the UNet alone: the pipeline-level call warns once per unit that the text encoder has no keys
                self.pipe.unet.load_lora_adapter(str(unit.path), weight_name=LORA_FILE, prefix="unet", adapter_name=name)
        except Exception as e:  # noqa: BLE001 — a broken or mismatched file names the unit
            self.restore_base()
            raise HfFairError(f"could not load LoRA of unit {unit.name} from '{file}' into this base ({first_line(e)}); was it trained on another base?") from None
        self.pipe.fuse_lora(components=touched, lora_scale=1.0, adapter_names=[name])
        self.pipe.unload_lora_weights()  # drops the LoRA layers; the fused weights stay

    def _apply_unet(self, unit: DrawUnit) -> None:
        unet = self.pipe.unet
        state = _load_unet_weights(unit.path / "unet")
        ours = unet.state_dict()
        if set(state) != set(ours) or any(state[k].shape != ours[k].shape for k in ours):
            raise HfFairError(f"the UNet of unit {unit.name} ('{unit.path / 'unet'}') does not fit this base's UNet (other architecture); generate with the base it was trained on")
        self._snapshot("unet")
        self._dirty.add("unet")
        unet.load_state_dict({k: v.to(ours[k].dtype) for k, v in state.items()})
        te = unit.path / "text_encoder"
        if te.is_dir():  # DreamBooth that also trained the text encoder
            from safetensors.torch import load_file

            self._snapshot("text_encoder")
            self._dirty.add("text_encoder")
            self.pipe.text_encoder.load_state_dict(load_file(str(te / "model.safetensors")))
