"""``hf-fair adapters train``: per-group / per-cluster LoRA or DreamBooth adapters.

    hf-fair adapters train --dataset colored-digits --severity 0.99 --method dreambooth --unit cluster \\
        --output_dir runs/adapters-db-cluster
    accelerate launch --num_processes 2 training_scripts/train_adapters.py <same flags>

Flags come from DataArguments, AdapterArguments and ClusterArguments (or one YAML file).
"""

from __future__ import annotations


def main(argv: list[str]) -> int:
    from hf_fair.cluster import ClusterArguments
    from hf_fair.config import parse_config
    from hf_fair.data import DataArguments
    from hf_fair.adapters.config import AdapterArguments
    from hf_fair.adapters.train import train_adapters

    data_args, args, cluster_args = parse_config(
        [DataArguments, AdapterArguments, ClusterArguments], argv, prog="hf-fair adapters train"
    )
    manifest = train_adapters(args, data_args, cluster_args)
    import accelerate

    if accelerate.PartialState().is_main_process:
        for u in manifest["units"]:
            warn = f"  ({len(u['warnings'])} warning)" if u["warnings"] else ""
            print(f"{u['name']:<8} {u['group_name']:<16} {u['n_images']:>5} images  loss {u['final_loss']:.4f}  '{u['prompt']}'{warn}")
        print(f"wrote {len(manifest['units'])} {args.method} adapters to {args.output_dir}")
    return 0
