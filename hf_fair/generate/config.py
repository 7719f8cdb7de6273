"""Settings of group-balanced synthetic data generation (``hf-fair generate``)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import ClassVar

from hf_fair import runfolder
from hf_fair.diffusion.draw import SCHEDULERS
from hf_fair.judges.quality import FILTERS, MIN_STD
from hf_fair.generate.sources import SOURCES
from hf_fair.errors import HfFairError

# Settings that cannot change the images: a run may be resumed with other values.

# --fidelity_encoder's name for `hf-fair run`'s seed-0 oracle: only the runner has one, and it
# passes classifier:<its folder> to the fidelity report
RUN_ORACLE = "oracle"


@dataclass
class GenerateArguments:
    # fields that do not change results: left out of the resume fingerprint (hf_fair.runfolder)
    NOT_IN_FINGERPRINT: ClassVar[frozenset] = frozenset({"adapters", "batch_size", "device", "fidelity", "fidelity_encoder", "fidelity_split", "grid", "output_dir", "overwrite", "private", "push_to_hub", "clip_model", "clip_min_prob"})
    # the CLIP filter's settings enter the fingerprint through clip_settings (the model by its weights, not its path)

    output_dir: str = field(default=None, metadata={"help": "dataset folder to write (save_to_disk + README.md card + fidelity report)"})
    source: str = field(default="vanilla", metadata={"help": f"one of {list(SOURCES)}"})
    adapters: str = field(default=None, metadata={"help": "adapters folder (with manifest.json) or Hub model repo id; not for vanilla"})
    base: str = field(default=None, metadata={"help": "base pipeline: 'embedded', a folder or a Hub id (default: the adapters' base, else embedded)"})
    images_per_group: int = field(default=None, metadata={"help": "images per group (or use --match largest)"})
    match: str = field(default=None, metadata={"help": "'largest': as many images per group as the largest real training group"})
    cluster_quota: str = field(default="proportional", metadata={"help": "split of a group's quota over its clusters: proportional (to real cluster sizes) | uniform"})
    num_inference_steps: int = field(default=20, metadata={"help": "sampling steps"})
    guidance_scale: float = field(default=7.5, metadata={"help": "classifier-free guidance scale"})
    scheduler: str = field(default=None, metadata={"help": f"sampler, one of {list(SCHEDULERS)} (default: the base's own)"})
    prompt_template: str = field(default=None, metadata={"help": "override prompts: {label}, {attribute} (and {token} for DreamBooth units); default: the dataset's group prompt / the unit's prompt"})
    negative_prompt: str = field(default=None, metadata={"help": "optional negative prompt"})
    fallback_vanilla: bool = field(default=False, metadata={"help": "draw groups without an adapter from the base instead of failing"})
    seed: int = field(default=0, metadata={"help": "seed; every image's generator seed is derived from (seed, group, slot, attempt) and stored"})
    batch_size: int = field(default=32, metadata={"help": "images per pipeline call"})
    shard_size: int = field(default=64, metadata={"help": "images per resumable shard"})
    quality_filter: bool = field(default=True, metadata={"help": "reject blank / near-constant images and draw replacements"})
    min_std: float = field(default=MIN_STD, metadata={"help": "quality filter: smallest pixel standard deviation (grey levels in [0, 1])"})
    filter_classifier: str = field(default="none", metadata={"help": "also reject images a judge assigns to another group: none | reference (colored-digits) | clip (zero-shot CLIP over the group prompts; stores clip_score)"})
    clip_model: str = field(default=None, metadata={"help": "--filter_classifier clip: a transformers CLIP, Hub id (e.g. openai/clip-vit-base-patch32) or folder (default: the embedded CLIP with the embedded base)"})
    clip_min_prob: float = field(default=None, metadata={"help": "--filter_classifier clip: keep an image when CLIP gives its own group at least this probability (default: when its own group is the most likely; 0 keeps and scores every image)"})
    max_attempts: int = field(default=8, metadata={"help": "draws per slot before the filter gives up (blank: error; wrong group: kept and counted)"})
    fidelity: bool = field(default=True, metadata={"help": "write fidelity.json/md (Frechet distance to real images, reference accuracy)"})
    fidelity_split: str = field(default="test", metadata={"help": "real split the fidelity report compares with (test is group-balanced)"})
    fidelity_encoder: str = field(default="auto", metadata={"help": "auto (reference for colored-digits and colored-mnist) | reference | pixels | timm:<model> | hf:<model id> | "
                                  "classifier:<folder> (a classifier trained on the real data) | oracle (hf-fair run only: the run's seed-0 oracle)"})
    grid: bool = field(default=True, metadata={"help": "write grid.png (first images of each group)"})
    device: str = field(default=None, metadata={"help": "torch device (default: the process's accelerator device)"})
    dtype: str = field(default="auto", metadata={"help": "auto (fp16 on GPU, fp32 on CPU) | fp32 | fp16 | bf16"})
    overwrite: bool = field(default=False, metadata={"help": "replace an output folder holding another config's run"})
    push_to_hub: str = field(default=None, metadata={"help": "also publish the dataset to this Hub dataset repo (namespace/name)"})
    private: bool = field(default=False, metadata={"help": "make the Hub repo private"})

    def __post_init__(self):
        if self.source not in SOURCES:
            raise HfFairError(f"--source must be one of {list(SOURCES)}, got '{self.source}'")
        if self.source == "vanilla" and self.adapters:
            raise HfFairError("--adapters does not apply to --source vanilla (it draws from the base with group prompts)")
        if self.source != "vanilla" and not self.adapters:
            raise HfFairError(f"--source {self.source} needs --adapters <folder or Hub repo id> (made by `hf-fair adapters train`)")
        if self.match not in (None, "largest"):
            raise HfFairError(f"--match must be 'largest', got '{self.match}'")
        if (self.images_per_group is None) == (self.match is None):
            raise HfFairError("give exactly one of --images_per_group N or --match largest")
        if self.cluster_quota not in ("proportional", "uniform"):
            raise HfFairError(f"--cluster_quota must be proportional or uniform, got '{self.cluster_quota}'")
        if self.scheduler is not None and self.scheduler not in SCHEDULERS:
            raise HfFairError(f"--scheduler must be one of {list(SCHEDULERS)}, got '{self.scheduler}'")
        if self.filter_classifier not in FILTERS:
            raise HfFairError(f"--filter_classifier must be one of {list(FILTERS)}, got '{self.filter_classifier}'")
        if self.clip_min_prob is not None and not 0.0 <= self.clip_min_prob <= 1.0:
            raise HfFairError(f"--clip_min_prob must be in [0, 1] (or unset: keep when the own group is the most likely), got {self.clip_min_prob}")
        if self.filter_classifier != "clip" and (self.clip_model is not None or self.clip_min_prob is not None):
            logging.getLogger(__name__).warning("--clip_model / --clip_min_prob act only with --filter_classifier clip; ignored")
        if self.dtype not in ("auto", "fp32", "fp16", "bf16"):
            raise HfFairError(f"--dtype must be auto, fp32, fp16 or bf16, got '{self.dtype}'")
        for name in ("images_per_group", "num_inference_steps", "batch_size", "shard_size", "max_attempts"):
            v = getattr(self, name)
            if v is not None and v < 1:
                raise HfFairError(f"--{name} must be >= 1, got {v}")
        if self.prompt_template is not None:
            try:
                self.prompt_template.format(label="x", attribute="y", token="z")
            except (KeyError, IndexError, ValueError) as e:
                raise HfFairError(f"--prompt_template '{self.prompt_template}' may only use {{label}}, {{attribute}} and {{token}} ({e})") from None


def uses_clip(args: GenerateArguments) -> bool:
    return args.quality_filter and args.filter_classifier == "clip"


def clip_settings(args: GenerateArguments, base: str | None) -> dict:
    """The CLIP filter's part of a fingerprint: {} without it (earlier keys unchanged), else the
    CLIP by ``clip_revision`` (a folder's weight hash, a Hub id) and the keep rule."""
    if not uses_clip(args):
        return {}
    from hf_fair.judges.clip import clip_revision, default_clip_model

    return {"clip": {"model": clip_revision(default_clip_model(args.clip_model, base)), "min_prob": args.clip_min_prob}}


def fingerprint(args: GenerateArguments, data_args, adapters_id: str | None, base: str | None = None) -> str:
    """Key of everything that decides the images (batch size, device and reporting excluded; the
    adapters by the hash of their manifest, not by where they lie; a CLIP by its weights)."""
    return runfolder.fingerprint(args, data_args, {"adapters": adapters_id, **clip_settings(args, base)})
