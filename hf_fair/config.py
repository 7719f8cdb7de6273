"""Dataclass configs parsed by ``transformers.HfArgumentParser`` from flags and/or a YAML file.

``parse_config([A, B], ["cfg.yaml", "--lr", "0.1"])`` reads the YAML (keys = field names) and
lets later flags override it. Flags accept both ``--data_dir`` and ``--data-dir``. The run
config's sections go through the same parser (``build_config``), so a value means the same in a
stage's YAML, on its command line and in ``hf-fair run``'s config.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path
from typing import Sequence

import yaml

from hf_fair.errors import HfFairError


def read_yaml(path: str | Path, what: str = "config file") -> dict:
    """A YAML file holding a mapping; a clear error naming the file otherwise."""
    path = Path(path)
    if not path.is_file():
        raise HfFairError(f"{what} '{path}' does not exist")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise HfFairError(f"{what} '{path}' is not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise HfFairError(f"{what} '{path}' must hold a mapping of option: value")
    return data


def yaml_to_flags(path: str | Path) -> list[str]:
    return to_flags(read_yaml(path))


def to_flags(data: dict) -> list[str]:
    """``{"lr": 0.1, "seeds": [0, 1]}`` -> ``["--lr", "0.1", "--seeds", "0", "1"]`` (None: left out)."""
    flags: list[str] = []
    for key, value in data.items():
        if value is None:
            continue
        flags.append(f"--{key}")
        if isinstance(value, (list, tuple)):
            flags.extend(str(v) for v in value)
        else:
            flags.append(str(value))
    return flags


def parse_config(dataclass_types: Sequence[type], argv: Sequence[str] | None = None, prog: str | None = None):
    """Parse flags (optionally preceded by a YAML file) into instances of ``dataclass_types``."""
    from transformers import HfArgumentParser

    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0].endswith((".yaml", ".yml")) and not argv[0].startswith("-"):
        argv = yaml_to_flags(argv[0]) + argv[1:]
    # exit_on_error=False: a bad value becomes our one-line error instead of argparse's usage dump
    parser = HfArgumentParser(list(dataclass_types), prog=prog, exit_on_error=False)
    try:
        parsed = parser.parse_args_into_dataclasses(args=argv, return_remaining_strings=True)
    except argparse.ArgumentError as e:
        raise HfFairError(f"{prog + ': ' if prog else ''}{e}") from None
    except ValueError as e:  # raised by dataclass __post_init__ checks
        raise HfFairError(str(e)) from None
    *configs, remaining = parsed
    if remaining:
        raise HfFairError(f"unknown option(s) {remaining}; run with --help to list the options")
    return configs[0] if len(configs) == 1 else tuple(configs)


def build_config(cls: type, values: dict, where: str):
    """One dataclass from a mapping (a run config's section), through the same parser as flags.

    None keeps a field's default unless the field's default is something else, in which case
    None is set explicitly (the runner passes None for "no adapters").
    """
    given = {k: v for k, v in values.items() if v is not None}
    config = parse_config([cls], to_flags(given), prog=where)
    nones = {k: None for k, v in values.items() if v is None and getattr(config, k, None) is not None}
    try:
        return replace(config, **nones) if nones else config
    except ValueError as e:
        raise HfFairError(f"{where}: {e}") from None
