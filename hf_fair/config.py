"""Dataclass configs parsed by ``transformers.HfArgumentParser`` from flags and/or a YAML file.

``parse_config([A, B], ["cfg.yaml", "--lr", "0.1"])`` reads the YAML (keys = field names) and
lets later flags override it. Flags accept both ``--data_dir`` and ``--data-dir``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Sequence

import yaml

from hf_fair.errors import HfFairError


def yaml_to_flags(path: str | Path) -> list[str]:
    path = Path(path)
    if not path.is_file():
        raise HfFairError(f"config file '{path}' does not exist")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise HfFairError(f"config file '{path}' is not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise HfFairError(f"config file '{path}' must hold a mapping of option: value")
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
    parser = HfArgumentParser(list(dataclass_types), prog=prog)
    try:
        parsed = parser.parse_args_into_dataclasses(args=argv, return_remaining_strings=True)
    except ValueError as e:  # raised by dataclass __post_init__ checks
        raise HfFairError(str(e)) from None
    *configs, remaining = parsed
    if remaining:
        raise HfFairError(f"unknown option(s) {remaining}; run with --help to list the options")
    return configs[0] if len(configs) == 1 else tuple(configs)
