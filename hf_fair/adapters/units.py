"""Which adapters to train: one unit per group, or one per cluster inside each group.

Rules for small units (stated in the manifest and the log):

* a group with **no** training images is an error naming the group;
* a cluster with fewer than ``min_unit_images`` images is merged into the nearest cluster of the
  same group (clustering does this with ``min_cluster_size = min_unit_images``);
* a group unit with fewer than ``min_unit_images`` images is trained anyway (DreamBooth is made for
  3-5 images) and carries a warning in the manifest.

Each unit gets its own rare identifier token (``RARE_TOKENS``) for DreamBooth prompts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import datasets
import numpy as np

from hf_fair.data.groups import GroupSpec
from hf_fair.adapters.manifest import unit_name
from hf_fair.diffusion.embedded.tokenizer import RARE_TOKENS
from hf_fair.errors import HfFairError

logger = logging.getLogger(__name__)


@dataclass
class Unit:
    name: str
    group: int
    group_name: str
    cluster: int | None
    indices: list[int]  # rows of the training split
    token: str | None
    prompt: str
    class_prompt: str
    seed: int
    warnings: list[str] = field(default_factory=list)
    image_prompts: list[str] | None = None  # --caption_column: one prompt per training image
    caption_prompts: dict[str, str] | None = None  # caption value -> generation prompt
    caption_weights: dict[str, float] | None = None  # caption value -> share within the unit's class (real train data)

    @property
    def n_images(self) -> int:
        return len(self.indices)


def instance_prompt(spec: GroupSpec, group: int, token: str | None, template: str | None) -> str:
    y, a = spec.split_group(group)
    names = {"label": spec.label_names[y], "attribute": spec.attribute_names[a], "token": token or ""}
    if template is not None:
        return " ".join(template.format(**names).split())
    prompt = spec.group_prompt(group)
    if token is None:
        return prompt
    # "a red handwritten digit, small" -> "a sks red handwritten digit, small" (DreamBooth's "a [V] dog")
    first, _, rest = prompt.partition(" ")
    return f"{first} {token} {rest}" if rest else f"{token} {prompt}"


def captioned_prompt(spec: GroupSpec, group: int, token: str | None, template: str | None, caption: str) -> str:
    """Instance prompt with a per-image caption: the template's ``{caption}`` (default: the
    spec's ``caption_template``, else the group prompt followed by the caption)."""
    y, a = spec.split_group(group)
    template = template or (spec.extra or {}).get("caption_template")
    if template is None:
        return f"{instance_prompt(spec, group, token, None)} {caption}"
    names = {"label": spec.label_names[y], "attribute": spec.attribute_names[a], "token": token or "", "caption": caption}
    return " ".join(template.format(**names).split())


def check_caption_column(train: datasets.Dataset, column: str) -> None:
    if column not in train.column_names:
        raise HfFairError(f"--caption_column '{column}' is not a column of the training split (columns: {train.column_names})")


def caption_shares(train: datasets.Dataset, column: str) -> dict[int, dict[str, float]]:
    """Per class label: the share of each value of ``column`` among that class's training images."""
    check_caption_column(train, column)
    labels = np.asarray(train["label"])
    values = [str(v) for v in train[column]]
    out = {}
    for y in sorted(set(labels.tolist())):
        vals = [v for v, l in zip(values, labels) if l == y]
        uniq, counts = np.unique(vals, return_counts=True)
        out[int(y)] = {str(u): float(c) / len(vals) for u, c in zip(uniq, counts)}
    return out


def plan_units(
    train: datasets.Dataset,
    spec: GroupSpec,
    unit: str,
    dreambooth: bool,
    min_unit_images: int,
    seed: int,
    prompt_template: str | None = None,
    caption_column: str | None = None,
) -> list[Unit]:
    if unit == "cluster" and "cluster" not in train.column_names:
        raise HfFairError("--unit cluster needs a 'cluster' column; run clustering first (cluster_groups)")
    groups = np.asarray(train["group"])
    clusters = np.asarray(train["cluster"]) if unit == "cluster" else None
    shares = caption_shares(train, caption_column) if caption_column else None
    captions = [str(v) for v in train[caption_column]] if caption_column else None
    units: list[Unit] = []
    for g, gname in enumerate(spec.group_names):
        rows = np.flatnonzero(groups == g)
        if len(rows) == 0:
            raise HfFairError(
                f"group '{gname}' has no training images, so no adapter can learn it; "
                "lower --severity or add images of that group"
            )
        cluster_ids = [None] if clusters is None else sorted(set(clusters[rows].tolist()))
        for c in cluster_ids:
            idx = rows if c is None else rows[clusters[rows] == c]
            i = len(units)
            if dreambooth and i >= len(RARE_TOKENS):
                raise HfFairError(
                    f"{i + 1} units need more identifier tokens than the {len(RARE_TOKENS)} rare tokens available; "
                    "use fewer clusters (--k, --k_max) or --unit group"
                )
            token = RARE_TOKENS[i] if dreambooth else None
            u = Unit(
                name=unit_name(g, c),
                group=g,
                group_name=gname,
                cluster=c,
                indices=[int(r) for r in idx],
                token=token,
                prompt=instance_prompt(spec, g, token, prompt_template),
                class_prompt=instance_prompt(spec, g, None, None if prompt_template is None else prompt_template.replace("{token}", "")),
                seed=seed + i,
            )
            if shares is not None:
                u.image_prompts = [captioned_prompt(spec, g, token, prompt_template, captions[r]) for r in idx]
                weights = shares[spec.split_group(g)[0]]
                u.caption_weights = weights
                u.caption_prompts = {v: captioned_prompt(spec, g, token, prompt_template, v) for v in weights}
            if len(idx) < min_unit_images:
                msg = (
                    f"unit {u.name} ({gname}) has only {len(idx)} image(s) (< --min_unit_images {min_unit_images}); "
                    "trained anyway: expect it to memorise them"
                )
                u.warnings.append(msg)
                logger.warning(msg)
            units.append(u)
    return units
