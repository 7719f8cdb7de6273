"""Group-balanced synthetic data: run the plan shard by shard, resumably, across processes.

Work lives in ``<output>/.partial/``: ``config.json`` (fingerprint of the settings) and one Arrow
file per finished shard (written to a temporary name, then renamed: a shard exists whole or not
at all), with a ``.json`` of its filter counts. A re-run with the same settings skips finished
shards; the remaining ones are split over the processes in contiguous slices, each generated
exactly once. The main process then concatenates the shards in plan order, adds the card, the
grid and the fidelity report, and moves the finished dataset into place atomically.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from dataclasses import asdict
from pathlib import Path

import datasets
import numpy as np
import torch

from hf_fair import runfolder
from hf_fair.diffusion.base import check_base
from hf_fair.diffusion.draw import load_pipeline, pick_dtype, sample
from hf_fair.generate.config import GenerateArguments, fingerprint, uses_clip
from hf_fair.generate.plan import DrawUnit, Shard, assign, image_seed, make_shards
from hf_fair.judges.quality import make_judge, score_images
from hf_fair.generate.sources import UnitSwitcher, adapter_units, resolve_adapters, vanilla_units
from hf_fair.errors import HfFairError
from hf_fair.io_utils import atomic_dir, atomic_file, removed_on_failure, write_json
from hf_fair.progress import progress

logger = logging.getLogger("hf_fair.generate")
PARTIAL = ".partial"
RESULT = "generation.json"


# ------------------------------------------------------------------ columns
def output_features(spec, clip: bool = False) -> datasets.Features:
    """The synthetic dataset's columns; ``clip``: with the CLIP filter's ``clip_score``."""
    return spec.features({
        "cluster": datasets.Value("int32"),  # null for group-level units
        "source": datasets.Value("string"),
        "prompt": datasets.Value("string"),
        "seed": datasets.Value("int64"),
        "adapter": datasets.Value("string"),  # null for the base
        "slot": datasets.Value("int32"),  # position within the group: same slot, same starting noise in every source
        **({"clip_score": datasets.Value("float32")} if clip else {}),  # CLIP's probability of the image's own group
    })


# ------------------------------------------------------------------ one shard
def generate_shard(pipe, switcher: UnitSwitcher, shard: Shard, args: GenerateArguments, spec, judge=None) -> tuple[dict, dict]:
    """Rows of one shard (every slot filled) and its filter counts."""
    unit = shard.unit
    switcher.activate(unit)
    stats = {"drawn": 0, "rejected_blank": 0, "rejected_wrong_group": 0, "kept_wrong_group": 0}
    done: dict[int, tuple] = {}
    pending = list(shard.slots)
    for attempt in range(args.max_attempts):
        seeds = [image_seed(args.seed, unit.group, s, attempt) for s in pending]
        images = sample(pipe, [unit.prompt] * len(pending), seeds, args.num_inference_steps, args.guidance_scale,
                        args.negative_prompt, args.batch_size)
        stats["drawn"] += len(images)
        if not args.quality_filter:
            done.update({s: (im, sd, None) for s, im, sd in zip(pending, images, seeds)})
            pending = []
            break
        blank, wrong, score = score_images(images, unit.group, spec, args.min_std, judge)
        score = [None] * len(images) if score is None else score.tolist()
        last = attempt == args.max_attempts - 1
        retry = []
        for s, im, sd, b, w, sc in zip(pending, images, seeds, blank, wrong, score):
            if b:
                stats["rejected_blank"] += 1
                retry.append(s)
            elif w and not last:
                stats["rejected_wrong_group"] += 1
                retry.append(s)
            else:
                stats["kept_wrong_group"] += int(w)
                done[s] = (im, sd, sc)
        pending = retry
        if not pending:
            break
    if pending:
        raise HfFairError(
            f"unit {unit.name} ({spec.group_names[unit.group]}) drew only blank images for {len(pending)} slot(s) in "
            f"{args.max_attempts} attempts; check the adapter (or lower --min_std, raise --max_attempts)"
        )
    y, a = spec.split_group(unit.group)
    slots = sorted(done)
    rows = {
        "image": [done[s][0] for s in slots],
        "label": [y] * len(slots),
        "attribute": [a] * len(slots),
        "group": [unit.group] * len(slots),
        "cluster": [unit.cluster] * len(slots),
        "source": [unit.source] * len(slots),
        "prompt": [unit.prompt] * len(slots),
        "seed": [done[s][1] for s in slots],
        "adapter": [unit.adapter] * len(slots),
        "slot": slots,
    }
    if uses_clip(args):
        rows["clip_score"] = [done[s][2] for s in slots]
    return rows, stats


# ------------------------------------------------------------------ shard store
class PartialStore:
    """``<output>/.partial``: finished shards of one configuration."""

    def __init__(self, out: Path, features: datasets.Features):
        self.root = out / PARTIAL
        self.features = features

    def fingerprint(self) -> str | None:
        f = self.root / "config.json"
        return json.loads(f.read_text()).get("fingerprint") if f.is_file() else None

    def start(self, fp: str, config: dict) -> None:
        (self.root / "shards").mkdir(parents=True, exist_ok=True)
        if not (self.root / "config.json").is_file():
            write_json(self.root / "config.json", {"fingerprint": fp, **config})

    def path(self, shard: Shard) -> Path:
        return self.root / "shards" / f"{shard.id}.arrow"

    def done(self, shard: Shard) -> bool:
        return self.path(shard).is_file()

    def write(self, shard: Shard, rows: dict, stats: dict) -> None:
        import pyarrow as pa

        path = self.path(shard)
        write_json(path.with_suffix(".json"), {"shard": shard.id, "unit": shard.unit.name, "n": len(shard), **stats})
        table = datasets.Dataset.from_dict(rows, features=self.features).data.table
        with atomic_file(path) as tmp, pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)  # the shard counts only once complete

    def stats(self, shard: Shard) -> dict:
        return json.loads(self.path(shard).with_suffix(".json").read_text())

    def load(self, shards: list[Shard]) -> datasets.Dataset:
        parts = [datasets.Dataset.from_file(str(self.path(s))) for s in shards]
        return datasets.concatenate_datasets(parts).cast(self.features)


# ------------------------------------------------------------------ the run
def _quota(args: GenerateArguments, real_train, spec) -> int:
    if args.images_per_group is not None:
        return args.images_per_group
    counts = np.bincount(np.asarray(real_train["group"]), minlength=spec.n_groups)
    return int(counts.max())


def draw_units(args: GenerateArguments, spec) -> tuple[dict[int, list[DrawUnit]], dict | None, str | None]:
    """Units per group, the adapters manifest (or None) and an id of the adapters' content."""
    if args.source == "vanilla":
        return vanilla_units(spec, range(spec.n_groups), args.prompt_template), None, None
    folder = resolve_adapters(args.adapters)
    units, manifest = adapter_units(folder, args.source, spec, args.prompt_template, args.fallback_vanilla)
    adapters_id = hashlib.sha256((folder / "manifest.json").read_bytes()).hexdigest()[:16]
    return units, manifest, adapters_id


def _check_output(out: Path, fp: str, overwrite: bool, store: PartialStore) -> str:
    """'finished' | 'resume' | 'fresh' | 'replace' (read-only, the same answer on every process)."""
    result = out / RESULT
    recorded = json.loads(result.read_text()).get("fingerprint") if result.is_file() else None
    state = runfolder.claim(out, fp, recorded if result.is_file() else store.fingerprint(), overwrite, "synthetic dataset")
    return "finished" if state == "resume" and result.is_file() else state


def generate_dataset(args: GenerateArguments, data_args, dsd: datasets.DatasetDict | None = None,
                     command: str | None = None, accelerator=None, api=None) -> dict:
    """Generate (or resume, or find finished) the dataset in ``args.output_dir``; returns the
    content of its ``generation.json``. A run that fails before its first shard is written
    leaves no folder behind."""
    from hf_fair.accel import make_accelerator

    if not args.output_dir:
        raise HfFairError("--output_dir is required: the folder to write the synthetic dataset to")
    if args.base:
        check_base(args.base)  # before the folder is made
    if args.fidelity:  # an encoder this command cannot use fails before any image is drawn
        from hf_fair.generate.fidelity import resolve_encoder

        resolve_encoder(args.fidelity_encoder, data_args.dataset)
    acc = accelerator or make_accelerator("no")  # the pipeline dtype is --dtype's
    with removed_on_failure(args.output_dir, early=(f"{PARTIAL}/config.json",), enabled=acc.is_main_process):
        return _generate_dataset(args, data_args, dsd, command, acc, api)


def _generate_dataset(args, data_args, dsd, command, acc, api) -> dict:
    from hf_fair.data import load_group_dataset, spec_of

    out = Path(args.output_dir)
    if dsd is None:
        dsd, _ = load_group_dataset(data_args)
    if "train" not in dsd:
        raise HfFairError(f"the real dataset has no 'train' split (splits: {list(dsd)})")
    spec = spec_of(dsd)
    units, manifest, adapters_id = draw_units(args, spec)
    quota = _quota(args, dsd["train"], spec)
    shards = make_shards(units, quota, args.shard_size, args.cluster_quota)
    base = args.base or (manifest or {}).get("base") or "embedded"
    fp = fingerprint(args, data_args, adapters_id, base)
    features = output_features(spec, uses_clip(args))
    store = PartialStore(out, features)

    state = _check_output(out, fp, args.overwrite, store)
    if state == "finished":
        logger.info("'%s' already holds this dataset; nothing to do", out)
        return json.loads((out / RESULT).read_text())
    # the judge before any folder: a --clip_model that cannot be loaded leaves nothing behind
    device = torch.device(args.device) if args.device else acc.device
    judge = make_judge(args.filter_classifier, spec, args.clip_model, args.clip_min_prob, base, device,
                       pick_dtype(args.dtype, device)) if args.quality_filter else None
    acc.wait_for_everyone()
    if acc.is_main_process:
        if state == "replace":
            shutil.rmtree(out)
        store.start(fp, {"generate": asdict(args), "data": asdict(data_args)})
    acc.wait_for_everyone()
    todo = [s for s in shards if not store.done(s)]
    acc.wait_for_everyone()  # everyone has listed before anyone writes
    if len(todo) < len(shards) and acc.is_main_process:
        logger.info("resuming: %d of %d shards already done", len(shards) - len(todo), len(shards))
    mine = assign(todo, acc.process_index, acc.num_processes)

    started = time.perf_counter()
    if mine:
        _run_shards(mine, args, manifest, spec, acc, store, judge)
    write_json(store.root / f"run-rank{acc.process_index}.json", {"generated": [s.id for s in mine], "seconds": time.perf_counter() - started})
    acc.wait_for_everyone()
    if not acc.is_main_process:
        return {}
    missing = [s.id for s in shards if not store.done(s)]
    if missing:  # a process failed: keep what is done, say how to continue
        raise HfFairError(f"{len(missing)} shard(s) are missing ({missing[:3]} ...); re-run the same command to finish them")
    generated = []
    for r in range(acc.num_processes):
        f = store.root / f"run-rank{r}.json"
        generated += json.loads(f.read_text())["generated"] if f.is_file() else []
    return _finish(args, data_args, dsd, spec, units, manifest, shards, store, fp, quota, command,
                   {"generated_shards": len(generated), "skipped_shards": len(shards) - len(todo),
                    "num_processes": acc.num_processes, "seconds": round(time.perf_counter() - started, 2)}, api)


def _run_shards(mine: list[Shard], args, manifest, spec, acc, store: PartialStore, judge=None) -> None:
    base = args.base or (manifest or {}).get("base") or "embedded"
    if args.base and manifest and manifest.get("base") not in (None, args.base):
        logger.warning("adapters were trained on base '%s'; generating with --base '%s'", manifest.get("base"), args.base)
    device = torch.device(args.device) if args.device else acc.device
    pipe = load_pipeline(base, device, pick_dtype(args.dtype, device), args.scheduler)
    switcher = UnitSwitcher(pipe)
    bar = progress(total=sum(len(s) for s in mine), desc=f"generate {args.source}", unit="img", disable=not acc.is_local_main_process)
    for shard in mine:
        rows, stats = generate_shard(pipe, switcher, shard, args, spec, judge)
        store.write(shard, rows, stats)
        bar.update(len(shard))
    bar.close()
    switcher.restore_base()


def _finish(args, data_args, dsd, spec, units, manifest, shards, store, fp, quota, command, run, api) -> dict:
    from hf_fair.data.groups import attach_spec
    from hf_fair.generate.card import generated_dataset_card

    out = Path(args.output_dir)
    train = store.load(shards)
    synth = attach_spec(datasets.DatasetDict({"train": train}), spec)
    counts = np.bincount(np.asarray(train["group"]), minlength=spec.n_groups)
    filt = {name: {"drawn": 0, "rejected_blank": 0, "rejected_wrong_group": 0, "kept_wrong_group": 0} for name in spec.group_names}
    for s in shards:
        st = store.stats(s)
        for k in filt[spec.group_names[s.unit.group]]:
            filt[spec.group_names[s.unit.group]][k] += st.get(k, 0)
    # share of draws the filter passed (wrong-group images kept on the last attempt do not count)
    acceptance = {name: round((f["drawn"] - f["rejected_blank"] - f["rejected_wrong_group"] - f["kept_wrong_group"]) / f["drawn"], 4)
                  if f["drawn"] else None for name, f in filt.items()}
    unit_rows = []
    for g, us in units.items():
        for u in us:
            unit_rows.append({"name": u.name, "group": g, "group_name": spec.group_names[g], "cluster": u.cluster, "format": u.format,
                              "prompt": u.prompt, "caption": u.caption, "weight": u.weight,
                              "images": sum(len(s) for s in shards if s.unit == u)})
    result = {
        "fingerprint": fp,
        "finished": True,
        "source": args.source,
        "base": args.base or (manifest or {}).get("base") or "embedded",
        "adapters": None if manifest is None else {"id": args.adapters, "method": manifest["method"], "unit": manifest["unit"], "base": manifest.get("base")},
        "images_per_group": quota,
        "counts": {name: int(counts[g]) for g, name in enumerate(spec.group_names)},
        "filter": filt,
        "acceptance": acceptance,
        "units": unit_rows,
        "run": run,
        "command": command,
        "config": asdict(args),
        "data": asdict(data_args),
        "versions": runfolder.versions("diffusers", "datasets"),
    }
    if uses_clip(args):
        from hf_fair.judges.clip import clip_name, clip_revision, default_clip_model

        clip = default_clip_model(args.clip_model, result["base"])
        groups, scores = np.asarray(train["group"]), np.asarray(train["clip_score"], dtype=np.float64)
        result["config"]["clip_model"] = clip_name(clip)  # a name, never this machine's path
        result["clip"] = {"model": clip_name(clip), "revision": clip_revision(clip),
                          "rule": "most likely group" if args.clip_min_prob is None else f"own probability >= {args.clip_min_prob}",
                          "mean_clip_score": {name: round(float(scores[groups == g].mean()), 4) if (groups == g).any() else None
                                              for g, name in enumerate(spec.group_names)}}
    fidelity = None
    with atomic_dir(out) as tmp:
        synth.save_to_disk(str(tmp))
        if args.fidelity:
            from hf_fair.generate.fidelity import fidelity_report, write_report

            fidelity = fidelity_report(dsd, {args.source: train}, spec, split=args.fidelity_split, encoder=args.fidelity_encoder,
                                       dataset_name=data_args.dataset)
            write_report(fidelity, tmp)
            result["fidelity"] = {"file": "fidelity.json", "split": args.fidelity_split, "encoder": fidelity["encoder"]}
        if args.grid:
            _write_grid(train, spec, tmp / "grid.png")
        card = generated_dataset_card(synth, result, data_args, fidelity)
        (tmp / "README.md").write_text(str(card))
        write_json(tmp / RESULT, result)
    logger.info("wrote %s: %d images, %s", out, len(train), result["counts"])
    if args.push_to_hub:
        from hf_fair.hub import publish_dataset

        result["hub_url"] = publish_dataset(synth_from_disk(out), str(card), args.push_to_hub, api=api, private=args.private, local_output=out)
    return result


def synth_from_disk(out: Path) -> datasets.DatasetDict:
    return datasets.load_from_disk(str(out))


def _write_grid(train: datasets.Dataset, spec, path: Path, per_group: int = 8) -> None:
    from hf_fair.diffusion.grid import make_grid

    groups = np.asarray(train["group"])
    images = []
    for g in range(spec.n_groups):
        idx = np.flatnonzero(groups == g)[:per_group].tolist()
        ims = [train[i]["image"] for i in idx]
        blank = ims[0].copy() if ims else None
        if blank is not None:
            blank.paste((40, 40, 40), (0, 0, *blank.size))
            ims += [blank] * (per_group - len(ims))
            images += ims
    if images:
        make_grid(images, ncols=per_group, upscale=max(1, 128 // images[0].size[0]), pad=2).save(path)
