"""Tab 3 of the Space: images of one group from the vanilla base or a run's adapters."""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import gradio as gr

from hf_fair.adapters.manifest import spec_of_manifest
from hf_fair.data import spec_of
from hf_fair.errors import HfFairError
from hf_fair.generate.sources import SOURCE_TABLE, SOURCES
from hf_fair.run.folder import adapters_folders
from hf_fair.space.common import OFFLINE_DATASET, from_run, guarded, in_run, load_data, message_of, resolve_run, upscaled

logger = logging.getLogger("hf_fair.space")

SOURCE_LABELS = {name: s.label for name, s in SOURCE_TABLE.items()}
ALL_UNITS = "all units of the group"


def run_adapters(run: Path) -> list[tuple[str, str]]:
    """(label, folder relative to the run) of the run's adapters folders: the box they fill shows
    the run's own path, not where the run lies on the machine that serves the app."""
    return [(label, in_run(path, run)) for path, label in adapters_folders(run).items()]


def adapters_source_of(folder: str) -> str | None:
    """Which generator source an adapters folder serves (from its manifest), or None."""
    from hf_fair.adapters.manifest import read_manifest
    from hf_fair.generate.sources import source_of_manifest

    try:
        m = read_manifest(folder)
    except HfFairError:
        return None
    return source_of_manifest(m)


# ------------------------------------------------------------------ tab 3: generate
class Generator:
    """One pipeline at a time, switched between units in place; one request at a time."""

    def __init__(self):
        self.lock = threading.Lock()
        self.base_name = None
        self.pipe = None
        self.switcher = None

    def ensure(self, base: str, progress=None):
        from hf_fair.diffusion.base import load_base
        from hf_fair.generate.sources import UnitSwitcher

        if self.base_name != base:
            if progress is not None:
                progress(0.05, desc=f"loading base '{base}'")
            self.pipe, self.switcher, self.base_name = None, None, None
            pipe = load_base(base)
            pipe.set_progress_bar_config(disable=True)
            self.pipe, self.switcher, self.base_name = pipe, UnitSwitcher(pipe), base
        return self.pipe, self.switcher


GENERATOR = Generator()


def warm_up(base: str) -> None:
    """Load the base in the background at start, so the first Generate does not wait for it."""
    try:
        with GENERATOR.lock:
            GENERATOR.ensure(base)
    except Exception as e:  # noqa: BLE001 — the Generate tab reports it when used
        logger.warning("could not preload base '%s': %s", base, message_of(e))


def source_units(source: str, adapters: str | None, dataset: str = OFFLINE_DATASET, run: Path | None = None):
    """(units by group, spec, base name, adapters folder) for a source; ``adapters`` is a folder
    (relative to the run folder when it lies there), or a Hub repo id."""
    from hf_fair.generate.sources import adapter_units, resolve_adapters, vanilla_units

    if source not in SOURCES:
        raise HfFairError(f"unknown source '{source}'; pick one of {list(SOURCES)}")
    if source == "vanilla":
        try:
            dsd, _ = load_data(dataset)
        except HfFairError:
            dsd, _ = load_data(OFFLINE_DATASET)
        spec = spec_of(dsd)
        return vanilla_units(spec, range(spec.n_groups)), spec, os.environ.get("HF_FAIR_BASE", "embedded"), None
    adapters = (adapters or "").strip()
    if not adapters:
        raise HfFairError(f"source '{source}' needs adapters: pick a folder of the run, or type a folder or a Hub repo id "
                          "(train them with `hf-fair adapters train`)")
    folder = resolve_adapters(from_run(adapters, run) if run is not None else adapters)
    from hf_fair.adapters.manifest import read_manifest

    manifest = read_manifest(folder)
    spec = spec_of_manifest(manifest)
    units, manifest = adapter_units(folder, source, spec)
    return units, spec, manifest.get("base") or "embedded", folder


def unit_label(u) -> str:
    return f"{u.name}: {u.prompt}" + (f" (cluster of {u.weight} images)" if u.cluster is not None else "")


@guarded(4, clear={3: None})
def refresh_units(run_text, source, adapters, group):
    """Group and unit choices for the chosen source; the gallery stays unless this fails (its
    images would then stand under the error as if they came from the source that failed)."""
    units, spec, base, folder = source_units(source, adapters, run=resolve_run(run_text))
    groups = list(spec.group_names)
    group = group if group in groups else groups[0]
    g = groups.index(group)
    unit_choices = [ALL_UNITS] + [unit_label(u) for u in units[g]]
    where = f" from `{adapters.strip()}` (base `{base}`)" if folder else f" (base `{base}`)"  # as typed: a Hub id's folder is a cache path
    msg = f"**{SOURCE_LABELS[source]}**{where}: " + ", ".join(f"`{n}` {len(units[i])} unit(s)" for i, n in enumerate(groups))
    return msg, gr.update(choices=groups, value=group), gr.update(choices=unit_choices, value=ALL_UNITS), gr.skip()


def pick_adapters(run_text, choice, source):
    """A run's adapters folder picked from the list fills the text box (and the source it serves)."""
    if not choice:
        return gr.skip(), gr.skip()
    served = adapters_source_of(from_run(choice, resolve_run(run_text)))
    return choice, (served if served and source != served else gr.skip())


@guarded(3, clear=(1,))
def generate(run_text, source, adapters, group, unit_choice, seed, n_images, steps, guidance, progress=gr.Progress()):
    from hf_fair.diffusion.draw import sample

    progress(0.0, desc="reading the source")
    units, spec, base, _ = source_units(source, adapters, run=resolve_run(run_text))
    groups = list(spec.group_names)
    if group not in groups:
        raise HfFairError(f"group '{group}' is not one of this source's groups {groups}")
    pool = units[groups.index(group)]
    if unit_choice and unit_choice != ALL_UNITS:
        pool = [u for u in pool if unit_label(u) == unit_choice] or pool
    n, seed, steps = int(n_images), int(seed), int(steps)
    if not 1 <= n <= 16:
        raise HfFairError("number of images must be between 1 and 16")
    if not 1 <= steps <= 100:
        raise HfFairError("inference steps must be between 1 and 100")
    plan: dict = {}  # unit -> [seeds]; image i uses unit i mod len(pool), seed seed + i
    for i in range(n):
        plan.setdefault(pool[i % len(pool)], []).append(seed + i)
    images = []
    with GENERATOR.lock:
        pipe, switcher = GENERATOR.ensure(base, progress)
        for k, (unit, seeds) in enumerate(plan.items()):
            progress((k, len(plan)), desc=f"sampling {unit.name} ({len(seeds)} image(s), {steps} steps)")
            switcher.activate(unit)
            outs = sample(pipe, [unit.prompt] * len(seeds), seeds, steps, float(guidance))
            images += [(upscaled(im), f"{unit.name} seed {s}") for im, s in zip(outs, seeds)]
        switcher.restore_base()
    prompts = "; ".join(sorted({f"`{u.name}`: {u.prompt}" for u in plan}))
    return f"{len(images)} image(s) of group `{group}` from {SOURCE_LABELS[source]} — {prompts}", images, gr.skip()
