"""``hf-fair`` command line: ``hf-fair <group> <command> [options]``.

Each command parses a dataclass config with HfArgumentParser (flags or a YAML file) and calls
the library. User mistakes print one ``error:`` line and exit with status 2.
"""

from __future__ import annotations

import logging
import os
import shlex
import sys
from dataclasses import dataclass, field
from typing import Callable

from hf_fair import skipped
from hf_fair.errors import HfFairError


@dataclass
class ExportArguments:
    output_dir: str = field(default=None, metadata={"help": "folder to write (save_to_disk + README.md card)"})
    overwrite: bool = field(default=False, metadata={"help": "replace a non-empty output folder"})
    push_to_hub: str | None = field(default=None, metadata={"help": "also publish to this Hub dataset repo (namespace/name)"})
    private: bool = field(default=False, metadata={"help": "make the Hub repo private"})


def _positional_dataset(argv: list[str]) -> list[str]:
    """``hf-fair data describe celeba --seed 1`` == ``... --dataset celeba --data_seed 1``."""
    argv = ["--data_seed" if a == "--seed" else a for a in argv]
    if argv and not argv[0].startswith("-") and not argv[0].endswith((".yaml", ".yml")):
        return ["--dataset", argv[0]] + argv[1:]
    return argv


def cmd_data_describe(argv: list[str]) -> int:
    from hf_fair.config import parse_config
    from hf_fair.data import DataArguments, load_group_dataset
    from hf_fair.data.describe import group_count_table

    args = parse_config([DataArguments], _positional_dataset(argv), prog="hf-fair data describe")
    dsd, report = load_group_dataset(args)
    print(f"dataset: {args.dataset}" + (f"  severity: {args.severity}  seed: {args.data_seed}" if args.severity else ""))
    print(group_count_table(dsd, report))
    return 0


def cmd_data_export(argv: list[str]) -> int:
    from hf_fair.config import parse_config
    from hf_fair.data import DataArguments, load_group_dataset
    from hf_fair.data.describe import group_count_table
    from hf_fair.data.export import export_dataset

    data_args, export_args = parse_config(
        [DataArguments, ExportArguments], _positional_dataset(argv), prog="hf-fair data export"
    )
    if not export_args.output_dir:
        raise HfFairError("--output_dir is required: the folder to write the dataset to")
    dsd, report = load_group_dataset(data_args)
    out = export_dataset(
        dsd,
        export_args.output_dir,
        dataset_name=data_args.dataset,
        source=data_args.data_dir or data_args.hub_dataset or data_args.dataset,
        report=report,
        command="hf-fair data export " + " ".join(shlex.quote(a) for a in argv),
        overwrite=export_args.overwrite,
        push_to_hub=export_args.push_to_hub,
    )
    print(group_count_table(dsd, report))
    print(f"wrote {out}")
    if export_args.push_to_hub:
        print(f"published to https://huggingface.co/datasets/{export_args.push_to_hub}")
    return 0


def cmd_base_sample(argv: list[str]) -> int:
    from hf_fair.diffusion.sample_cli import main as sample_main

    return sample_main(argv)


def cmd_base_pretrain(argv: list[str]) -> int:
    from hf_fair.diffusion.embedded.pretrain import main as pretrain_main

    return pretrain_main(argv)


def cmd_base_pretrain_clip(argv: list[str]) -> int:
    from hf_fair.diffusion.embedded.clip import main as clip_main

    return clip_main(argv)


def cmd_base_reference(argv: list[str]) -> int:
    from hf_fair.diffusion.embedded.reference import main as reference_main

    return reference_main(argv)


def cmd_base_adherence(argv: list[str]) -> int:
    from hf_fair.diffusion.embedded.adherence import main as adherence_main

    return adherence_main(argv)


def cmd_classify(argv: list[str]) -> int:
    from hf_fair.classify.cli import main as classify_main

    return classify_main(argv)


def cmd_baselines(argv: list[str]) -> int:
    from hf_fair.run.baselines import main as baselines_main

    return baselines_main(argv)


def cmd_cluster(argv: list[str]) -> int:
    from hf_fair.cluster import main as cluster_main

    return cluster_main(_positional_dataset(argv))


def cmd_adapters_train(argv: list[str]) -> int:
    from hf_fair.adapters.cli import main as adapters_main

    return adapters_main(argv)


def cmd_adapters_style_probe(argv: list[str]) -> int:
    from hf_fair.generate.style_probe import main as style_probe_main

    return style_probe_main(argv)


def cmd_generate(argv: list[str]) -> int:
    from hf_fair.generate.cli import main as generate_main

    return generate_main(argv)


def cmd_run(argv: list[str]) -> int:
    from hf_fair.run.cli import main as run_main

    return run_main(argv)


def cmd_space(argv: list[str]) -> int:
    from hf_fair.space.bundle import main as space_main

    return space_main(argv)


def cmd_plot(argv: list[str]) -> int:
    from hf_fair.run.plots import main as plot_main

    return plot_main(argv)


def cmd_gap(argv: list[str]) -> int:
    from hf_fair.run.gap_cli import main as gap_main

    return gap_main(argv)


def cmd_demo(argv: list[str]) -> int:
    from hf_fair.run.demo import main as demo_main

    return demo_main(argv)


COMMANDS: dict[tuple[str, ...], tuple[Callable[[list[str]], int], str]] = {
    ("data", "describe"): (cmd_data_describe, "print group counts per split"),
    ("data", "export"): (cmd_data_export, "save a (re-biased) group dataset with its card"),
    ("base", "sample"): (cmd_base_sample, "sample an image grid from a text-to-image base"),
    ("base", "pretrain"): (cmd_base_pretrain, "pretrain (or continue) the embedded tiny Stable Diffusion base on the digit corpus"),
    ("base", "pretrain-clip"): (cmd_base_pretrain_clip, "train the embedded CLIP (vision + text towers) on the base's captioned corpus"),
    ("base", "reference"): (cmd_base_reference, "train the reference digit/colour classifier that judges generations"),
    ("base", "adherence"): (cmd_base_adherence, "measure a base's prompt adherence with the reference classifier"),
    ("classify",): (cmd_classify, "train a timm classifier (pretrain / finetune) with a robust objective"),
    ("baselines",): (cmd_baselines, "real-data baselines (ERM, Group-DRO, ...) x seeds -> results.json/md"),
    ("cluster",): (cmd_cluster, "cluster images within each group -> clusters.json/md + grids"),
    ("adapters", "train"): (cmd_adapters_train, "train per-group / per-cluster LoRA or DreamBooth adapters"),
    ("adapters", "style-probe"): (cmd_adapters_style_probe, "share of an adapter's colored-digits images that look handwritten, vs the base"),
    ("generate",): (cmd_generate, "generate a group-balanced synthetic dataset from a base and adapters"),
    ("run",): (cmd_run, "the whole experiment from one YAML: data -> adapters -> generate -> classify -> report"),
    ("gap",): (cmd_gap, "the base's domain gap: Frechet of its vanilla draws to the real train images, and how an oracle reads them"),
    ("plot",): (cmd_plot, "redraw the worst-group accuracy plot from results.json files or run folders"),
    ("demo",): (cmd_demo, "run the embedded default end to end and print the results table"),
    ("space", "build"): (cmd_space, "write a deployable Gradio Space folder from a finished run"),
}


def usage() -> str:
    lines = ["usage: hf-fair [--log_level debug|info|warning|error] <command> [options]   (each command takes --help)", "", "commands:"]
    for words, (_, help_text) in COMMANDS.items():
        lines.append(f"  {' '.join(words):<18} {help_text}")
    return "\n".join(lines)


LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def _pop_log_level(argv: list[str]) -> tuple[str, list[str]]:
    """``--log_level LEVEL`` (or ``--log_level=LEVEL``) anywhere on the line; default ``info``."""
    level, rest, i = "info", [], 0
    while i < len(argv):
        a = argv[i]
        if a in ("--log_level", "--log-level"):
            if i + 1 >= len(argv):
                raise HfFairError(f"--log_level needs a value: one of {list(LOG_LEVELS)}")
            level, i = argv[i + 1], i + 2
            continue
        if a.startswith(("--log_level=", "--log-level=")):
            level, i = a.split("=", 1)[1], i + 1
            continue
        rest.append(a)
        i += 1
    if level.lower() not in LOG_LEVELS:
        raise HfFairError(f"--log_level '{level}' is not one of {list(LOG_LEVELS)}")
    return level.lower(), rest


def configure_logging(level: str) -> None:
    """The library's records on stderr in one format, whatever the stack did to the root logger."""
    logger = logging.getLogger("hf_fair")
    for h in list(logger.handlers):
        if getattr(h, "_hf_fair", False):
            logger.removeHandler(h)
    handler = logging.StreamHandler(sys.stderr)
    handler._hf_fair = True
    handler.setFormatter(logging.Formatter(LOG_FORMAT, datefmt="%H:%M:%S"))
    handler.setLevel(level.upper())  # the terminal's level; run logs (train.log) still get info lines
    logger.addHandler(handler)
    logger.setLevel(min(logging.INFO, logging.getLevelName(level.upper())))
    logger.propagate = False


def main(argv: list[str] | None = None) -> int:
    try:
        return _dispatch(list(sys.argv[1:] if argv is None else argv))
    except BrokenPipeError:  # `hf-fair --help | head`: the reader went away; no traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # as the Python docs advise for SIGPIPE
        return 141


def _dispatch(argv: list[str]) -> int:
    try:
        level, argv = _pop_log_level(argv)
    except HfFairError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    configure_logging(level)
    from hf_fair.progress import quiet_library_bars

    quiet_library_bars()  # outside a terminal the libraries' bars would fill the log with redraws
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0
    if argv[0] == "--version":
        from hf_fair import __version__

        print(f"hf-fair {__version__}")
        return 0
    for n in (2, 1):
        key = tuple(argv[:n])
        if key in COMMANDS:
            func = COMMANDS[key][0]
            with skipped.collect() as items:
                try:
                    return func(argv[n:])
                except HfFairError as e:
                    print(f"error: {e}", file=sys.stderr)
                    return 2
                except KeyboardInterrupt:
                    print("interrupted; re-run the same command to resume", file=sys.stderr)
                    return 130
                finally:
                    note = skipped.summary(items)
                    if note:
                        logging.getLogger("hf_fair").warning(note)
    print(f"error: unknown command '{' '.join(argv[:2])}'\n\n{usage()}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
