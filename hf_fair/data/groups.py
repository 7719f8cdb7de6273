"""GroupSpec: how a target label and a spurious attribute combine into groups.

Group id g = label * n_attributes + attribute, so for binary label and attribute the groups
are (0,0)=0, (0,1)=1, (1,0)=2, (1,1)=3 — the convention of group_DRO and SubpopBench.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

import datasets

from hf_fair.errors import HfFairError


@dataclass(frozen=True)
class GroupSpec:
    """Names and columns that define the groups of a dataset.

    target: name of the source column the label comes from (e.g. ``Blond_Hair``).
    attribute: name of the source column the spurious attribute comes from (e.g. ``Male``).
    label_names / attribute_names: human names, index = class id.
    majority_attribute: for each label, the attribute that dominates it in biased data;
        ``None`` means "infer from the training split".
    prompt_template: how a generator describes a group; ``{label}`` and ``{attribute}`` are
        replaced by the names (overridable per dataset).
    """

    target: str
    attribute: str
    label_names: tuple[str, ...]
    attribute_names: tuple[str, ...]
    majority_attribute: tuple[int, ...] | None = None
    prompt_template: str = "a photo of a {attribute} {label}"
    description: str = ""
    extra: dict = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self):
        object.__setattr__(self, "label_names", tuple(self.label_names))
        object.__setattr__(self, "attribute_names", tuple(self.attribute_names))
        if len(self.label_names) < 2:
            raise HfFairError(f"GroupSpec needs at least 2 label names, got {list(self.label_names)}")
        if len(self.attribute_names) < 2:
            raise HfFairError(
                f"GroupSpec needs at least 2 attribute names, got {list(self.attribute_names)}"
            )
        if self.majority_attribute is not None:
            maj = tuple(int(m) for m in self.majority_attribute)
            if len(maj) != self.n_labels or any(not 0 <= m < self.n_attributes for m in maj):
                raise HfFairError(
                    f"majority_attribute must give one attribute id in [0, {self.n_attributes}) "
                    f"per label ({self.n_labels} labels), got {list(maj)}"
                )
            object.__setattr__(self, "majority_attribute", maj)

    @property
    def n_labels(self) -> int:
        return len(self.label_names)

    @property
    def n_attributes(self) -> int:
        return len(self.attribute_names)

    @property
    def n_groups(self) -> int:
        return self.n_labels * self.n_attributes

    def group_id(self, label: int, attribute: int) -> int:
        return int(label) * self.n_attributes + int(attribute)

    def split_group(self, group: int) -> tuple[int, int]:
        """Inverse of :meth:`group_id`: (label, attribute)."""
        return divmod(int(group), self.n_attributes)

    @property
    def group_names(self) -> tuple[str, ...]:
        return tuple(
            f"{self.label_names[y]}|{self.attribute_names[a]}"
            for y in range(self.n_labels)
            for a in range(self.n_attributes)
        )

    def group_prompt(self, group: int, template: str | None = None) -> str:
        y, a = self.split_group(group)
        return (template or self.prompt_template).format(
            label=self.label_names[y], attribute=self.attribute_names[a]
        )

    def prompt_variants(self, group: int, template: str | None = None) -> list[str]:
        """Prompts that describe a group to a base model that does not know the class names.

        ``extra["label_phrases"]`` maps a label name to phrases the base understands (the
        embedded base knows "digit 3" but not "small"); each phrase fills ``{label}`` of
        ``extra["phrase_template"]``. Without phrases (or with an explicit ``template``) the
        group has its one ``group_prompt``.
        """
        phrases = (self.extra or {}).get("label_phrases")
        if template is not None or not phrases:
            return [self.group_prompt(group, template)]
        y, a = self.split_group(group)
        fmt = self.extra.get("phrase_template", self.prompt_template)
        return [fmt.format(label=p, attribute=self.attribute_names[a]) for p in phrases[self.label_names[y]]]

    def features(self, extra: dict | None = None) -> datasets.Features:
        """The standard features of a group-annotated dataset, plus the source's other columns."""
        feats = {
            "image": datasets.Image(),
            "label": datasets.ClassLabel(names=list(self.label_names)),
            "attribute": datasets.ClassLabel(names=list(self.attribute_names)),
            "group": datasets.ClassLabel(names=list(self.group_names)),
        }
        feats.update(extra or {})
        return datasets.Features(feats)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["label_names"] = list(self.label_names)
        d["attribute_names"] = list(self.attribute_names)
        d["majority_attribute"] = None if self.majority_attribute is None else list(self.majority_attribute)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "GroupSpec":
        return cls(**d)

    @classmethod
    def from_features(cls, features: datasets.Features, **kwargs) -> "GroupSpec":
        """Recover a spec from a DatasetDict made by hf-fair (label/attribute ClassLabels)."""
        for col in ("label", "attribute"):
            if col not in features or not isinstance(features[col], datasets.ClassLabel):
                raise HfFairError(
                    f"dataset has no ClassLabel column '{col}' (columns: {sorted(features)}); "
                    "load it with hf_fair.data.load_group_dataset or add label/attribute columns"
                )
        return cls(
            target=kwargs.pop("target", "label"),
            attribute=kwargs.pop("attribute", "attribute"),
            label_names=features["label"].names,
            attribute_names=features["attribute"].names,
            **kwargs,
        )


# ---- the spec travels with its DatasetDict (in each split's DatasetInfo) through save_to_disk /
# load_from_disk; for datasets made elsewhere it is recovered from the label/attribute ClassLabels
_PREFIX = "hf-fair GroupSpec: "


def attach_spec(dsd: datasets.DatasetDict, spec: GroupSpec) -> datasets.DatasetDict:
    text = _PREFIX + json.dumps(spec.to_dict(), sort_keys=True)
    for split in dsd.values():
        split.info.description = text
    return dsd


def spec_of(data: datasets.DatasetDict | datasets.Dataset) -> GroupSpec:
    first = next(iter(data.values())) if isinstance(data, datasets.DatasetDict) else data
    desc = first.info.description or ""
    if desc.startswith(_PREFIX):
        return GroupSpec.from_dict(json.loads(desc[len(_PREFIX):]))
    return GroupSpec.from_features(first.features)
