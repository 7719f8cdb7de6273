"""``hf-fair generate``: a group-balanced synthetic dataset from a base and (optionally) adapters.

    hf-fair generate --dataset colored-digits --severity 0.99 --source vanilla --images_per_group 200 \\
        --output_dir runs/synth-vanilla
    hf-fair generate --dataset colored-digits --severity 0.99 --source dreambooth_cluster \\
        --adapters runs/adapters-db-cluster --match largest --output_dir runs/synth-dbc
    accelerate launch --num_processes 2 training_scripts/generate_balanced.py <same flags>

Flags come from DataArguments and GenerateArguments (or one YAML file).
"""

from __future__ import annotations

import shlex
from pathlib import Path


def main(argv: list[str]) -> int:
    import accelerate

    from hf_fair.config import parse_config
    from hf_fair.data import DataArguments
    from hf_fair.generate.core import generate_dataset
    from hf_fair.generate.config import GenerateArguments

    data_args, args = parse_config([DataArguments, GenerateArguments], argv, prog="hf-fair generate")
    command = "hf-fair generate " + " ".join(shlex.quote(a) for a in argv)
    result = generate_dataset(args, data_args, command=command)
    if accelerate.PartialState().is_main_process and result:
        for name, n in result["counts"].items():
            f = result["filter"][name]
            acc = (result.get("acceptance") or {}).get(name)
            print(f"{name:<16} {n:>6} images  (drawn {f['drawn']}, rejected blank {f['rejected_blank']}, wrong group {f['rejected_wrong_group']}"
                  + ("" if acc is None else f", accepted {100 * acc:.1f}%") + ")")
        fid = Path(args.output_dir) / "fidelity.md"
        if fid.is_file():
            print(fid.read_text(), end="")
        print(f"wrote {args.output_dir}")
    return 0



