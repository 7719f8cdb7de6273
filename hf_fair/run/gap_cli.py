"""``hf-fair gap``: the base's domain gap on a dataset, alone (hf_fair/run/domain_gap.py).

A thin run config (the oracle row only, seed 0, ``domain_gap`` enabled) through the runner's own
stage, so its folders are a run's: ``<output_dir>/severity-<b>/domain_gap.json`` and ``.md``, the
draws and the group reader under ``domain_gap/``, the oracle under ``classify/``. A run with the
same settings in the same folder reuses them; the defaults are configs/colored_mnist.yaml's.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from hf_fair.errors import HfFairError


@dataclass
class GapArguments:
    output_dir: str = field(default=None, metadata={"help": "run folder (required; re-running reuses its draws and classifiers)"})
    images_per_group: int = field(default=256, metadata={"help": "unfiltered vanilla draws per group"})
    encoder: str = field(default="auto", metadata={"help": "Frechet encoder: auto | reference | pixels | timm:<model> | hf:<model id>"})
    base: str = field(default="embedded", metadata={"help": "base pipeline: 'embedded', a folder or a Hub id"})
    num_inference_steps: int = field(default=6, metadata={"help": "sampling steps of the draws"})
    guidance_scale: float = field(default=3.0, metadata={"help": "classifier-free guidance of the draws (configs/colored_mnist.yaml's, chosen on its validation split)"})
    batch_size: int = field(default=64, metadata={"help": "images per pipeline call"})
    epochs: int = field(default=None, metadata={"help": "epochs of the oracle and the group reader (default: the dataset's shipped "
                                                        "config's, 20 for colored-mnist, 12 otherwise)"})
    group_reader: bool = field(default=True, metadata={"help": "also train a group reader and report how often it reads each draw's group"})
    set: list[str] = field(default_factory=list, metadata={"help": "any run-config option, `section.option=value` (e.g. classifier.image_size=16); values are YAML"})


def gap_config(data_args, args: GapArguments):
    """The run config of ``hf-fair gap``."""
    from hf_fair.data import DataArguments
    from hf_fair.run.config import apply_settings, config_from_dict
    from hf_fair.run.presets import CLASSIFIER, CONFIG_CLASSIFIERS, DEMO

    if data_args.severity is None:
        raise HfFairError("hf-fair gap needs --severity (e.g. --severity 0.99): the gap is measured against that run's train split")
    # the run config's classifier for this dataset, so `hf-fair gap` and `hf-fair run` share the oracle
    epochs = args.epochs if args.epochs is not None else CONFIG_CLASSIFIERS.get(data_args.dataset, DEMO["classifier"])["epochs"]
    default = DataArguments()
    data = {f.name: getattr(data_args, f.name) for f in fields(DataArguments)
            if f.name not in ("dataset", "severity") and getattr(data_args, f.name) != getattr(default, f.name)}
    preset = {
        "dataset": data_args.dataset, "severities": [data_args.severity], "seeds": [0], "methods": ["oracle"],
        "output_dir": args.output_dir, "base": args.base, "data": data,
        "generate": {"num_inference_steps": args.num_inference_steps, "guidance_scale": args.guidance_scale, "batch_size": args.batch_size},
        "classifier": {**CLASSIFIER, "epochs": epochs, "warmup_epochs": min(2, epochs - 1)},
        "domain_gap": {"enabled": True, "images_per_group": args.images_per_group, "encoder": args.encoder,
                       "group_reader": args.group_reader},
    }
    return config_from_dict(apply_settings(preset, args.set), where="hf-fair gap")


def main(argv: list[str]) -> int:
    from pathlib import Path

    from hf_fair.config import parse_config
    from hf_fair.data import DataArguments
    from hf_fair.io_utils import removed_on_failure
    from hf_fair.run.domain_gap import gap_markdown
    from hf_fair.run.preflight import check_offline
    from hf_fair.run.runner import Runner

    data_args, args = parse_config([DataArguments, GapArguments], argv, prog="hf-fair gap")
    if not args.output_dir:
        raise HfFairError("--output_dir is required: the run folder to write severity-<b>/domain_gap.json into")
    cfg = gap_config(data_args, args)
    check_offline(cfg)
    # a command that fails before any result leaves no folder
    with removed_on_failure(cfg.output_dir):
        report = Runner(cfg).domain_gap_only(data_args.severity)
    print()
    print(gap_markdown(report), end="")
    print(f"wrote {Path(cfg.output_dir) / f'severity-{data_args.severity}' / 'domain_gap.json'}")
    return 0
