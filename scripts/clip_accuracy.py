"""Zero-shot accuracy of a CLIP on colored-digits, beside the shipped reference classifier's.

Two image sets, each image with a known group:

* ``test``: the real colored-digits test split (group-balanced; ``--severity`` and ``--data_seed``
  pick the benchmark, the test split is the same at every severity);
* ``vanilla``: draws of the embedded base for every group, as ``hf-fair generate --source vanilla``
  draws them (one prompt per phrase of the group, ``--num_inference_steps`` 6 and
  ``--guidance_scale`` 2.0 as in configs/colored_digits.yaml) but with no group filter, so that
  neither judge chose the images. A draw's group is the one it was prompted for: where the base
  drew another digit or colour, both judges are counted wrong; ``agreement`` says how often the
  two judges name the same group.

The CLIP is read by ``hf_fair.judges.clip.ClipJudge`` (softmax over every phrase of every group
prompt, a group's probability the sum over its phrases); the reference classifier by
``hf_fair.judges.quality.DigitsJudge`` (digit >= 5 = large, colour head). Label accuracy =
small / large, attribute accuracy = red / green, group accuracy = both.

    python scripts/clip_accuracy.py --output docs/clip_accuracy.json --update_card
"""

from __future__ import annotations

import shlex
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from hf_fair.errors import HfFairError


@dataclass
class ClipAccuracyArguments:
    clip_model: str = field(default="embedded", metadata={"help": "CLIP to measure: 'embedded', a folder or a Hub id"})
    severity: float = field(default=0.99, metadata={"help": "bias severity of the benchmark (the test split does not depend on it)"})
    data_seed: int = field(default=0, metadata={"help": "benchmark seed (0 = the benchmark)"})
    vanilla_per_group: int = field(default=250, metadata={"help": "vanilla draws per group (0 = skip the vanilla set)"})
    num_inference_steps: int = field(default=6, metadata={"help": "sampling steps of the vanilla draws"})
    guidance_scale: float = field(default=2.0, metadata={"help": "guidance scale of the vanilla draws"})
    seed: int = field(default=0, metadata={"help": "seed of the vanilla draws"})
    output: str = field(default="docs/clip_accuracy.json", metadata={"help": "JSON file to write"})
    update_card: bool = field(default=False, metadata={"help": "re-render the embedded CLIP's model card with these figures"})


def scores(truth_y, truth_a, pred_y, pred_a) -> dict:
    y, a = np.asarray(pred_y) == np.asarray(truth_y), np.asarray(pred_a) == np.asarray(truth_a)
    return {"label_acc": round(float(y.mean()), 4), "attribute_acc": round(float(a.mean()), 4), "group_acc": round(float((y & a).mean()), 4)}


def measure(images, labels, attrs, clip_judge, reference_judge, spec) -> dict:
    cy, ca = clip_judge.predict_groups(images)
    ry, ra = reference_judge.predict_groups(images)
    per_group = {}
    groups = np.asarray(labels) * spec.n_attributes + np.asarray(attrs)
    for g, name in enumerate(spec.group_names):
        m = groups == g
        per_group[name] = {"n": int(m.sum()), "clip": scores(np.asarray(labels)[m], np.asarray(attrs)[m], cy[m], ca[m]),
                           "reference": scores(np.asarray(labels)[m], np.asarray(attrs)[m], ry[m], ra[m])}
    return {
        "n": len(labels),
        "clip": scores(labels, attrs, cy, ca),
        "reference": scores(labels, attrs, ry, ra),
        "agreement": round(float(np.mean((cy == ry) & (ca == ra))), 4),
        "per_group": per_group,
    }


def vanilla_draws(args: ClipAccuracyArguments, data_args, dsd):
    """The base's unfiltered vanilla draws, made by the generation stage itself in a temp folder."""
    from hf_fair.generate.config import GenerateArguments
    from hf_fair.generate.core import generate_dataset, synth_from_disk

    with tempfile.TemporaryDirectory() as tmp:
        gen = GenerateArguments(output_dir=str(Path(tmp) / "vanilla"), source="vanilla", base="embedded",
                                images_per_group=args.vanilla_per_group, num_inference_steps=args.num_inference_steps,
                                guidance_scale=args.guidance_scale, seed=args.seed, filter_classifier="none",
                                fidelity=False, grid=False)
        generate_dataset(gen, data_args, dsd=dsd)
        train = synth_from_disk(Path(gen.output_dir))["train"]
        images = np.stack([np.asarray(im.convert("RGB")) for im in train["image"]])
        return images, np.asarray(train["label"]), np.asarray(train["attribute"])


def main(argv: list[str] | None = None) -> int:
    from hf_fair.config import parse_config
    from hf_fair.data.groups import spec_of
    from hf_fair.data.registry import DataArguments, load_group_dataset
    from hf_fair.io_utils import write_json
    from hf_fair.judges.clip import ClipJudge, clip_name
    from hf_fair.judges.quality import DigitsJudge

    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_config([ClipAccuracyArguments], argv, prog="scripts/clip_accuracy.py")
    data_args = DataArguments(dataset="colored-digits", severity=args.severity, data_seed=args.data_seed)
    dsd, _ = load_group_dataset(data_args)
    spec = spec_of(dsd)
    clip_judge, reference = ClipJudge(spec, args.clip_model), DigitsJudge(spec)
    test = dsd["test"]
    sets = {"test": {"description": f"colored-digits test split (real, group-balanced; seed {args.data_seed})",
                     **measure(np.stack([np.asarray(im.convert("RGB")) for im in test["image"]]), test["label"], test["attribute"],
                               clip_judge, reference, spec)}}
    if args.vanilla_per_group:
        images, labels, attrs = vanilla_draws(args, data_args, dsd)
        sets["vanilla"] = {"description": (f"vanilla draws of the embedded base ({args.num_inference_steps} steps, guidance "
                                           f"{args.guidance_scale}, unfiltered; truth = the prompted group)"),
                           **measure(images, labels, attrs, clip_judge, reference, spec)}
    result = {
        "clip_model": clip_name(args.clip_model),
        "judge": "hf_fair.judges.clip.ClipJudge vs hf_fair.judges.quality.DigitsJudge",
        "rule": "softmax over every phrase of every group prompt; a group's probability is the sum over its phrases",
        "prompts": clip_judge.prompts,
        "command": "python scripts/clip_accuracy.py " + " ".join(shlex.quote(a) for a in argv),
        "config": asdict(args),
        "sets": sets,
    }
    write_json(Path(args.output), result)
    for name, block in sets.items():
        c, r = block["clip"], block["reference"]
        print(f"{name:8s} n={block['n']:5d}  clip label {c['label_acc']:.3f} attribute {c['attribute_acc']:.3f} group {c['group_acc']:.3f}"
              f"  | reference label {r['label_acc']:.3f} attribute {r['attribute_acc']:.3f} group {r['group_acc']:.3f}"
              f"  | agreement {block['agreement']:.3f}")
    if args.update_card:
        if args.clip_model != "embedded":
            raise HfFairError("--update_card re-renders the embedded CLIP's card; measure --clip_model embedded")
        import json

        from hf_fair.diffusion.embedded.clip import embedded_clip_path
        from hf_fair.diffusion.embedded.clip_card import write_clip_card

        folder = embedded_clip_path()
        write_clip_card(folder, json.loads((folder / "training_log.json").read_text()), result)
        print(f"updated {folder / 'README.md'}")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except HfFairError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
