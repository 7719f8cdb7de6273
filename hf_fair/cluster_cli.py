"""``hf-fair cluster``: cluster each group's images and write a report.

    hf-fair cluster colored-digits --severity 0.99 --k auto --reference_column digit --output_dir runs/clusters

Writes ``clusters.json`` (settings, per-group k / sizes / silhouette / ARI, and the cluster of
every row of the split), ``clusters.md`` and one grid PNG per group, atomically.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from hf_fair.errors import HfFairError


@dataclass
class ClusterOutputArguments:
    output_dir: str = field(default=None, metadata={"help": "folder for clusters.json, clusters.md and grids"})
    overwrite: bool = field(default=False, metadata={"help": "replace a non-empty output folder"})


def main(argv: list[str]) -> int:
    from hf_fair.cluster import ClusterArguments, cluster_to_folder
    from hf_fair.config import parse_config
    from hf_fair.data import DataArguments, load_group_dataset
    from hf_fair.io_utils import check_output_dir

    data_args, cluster_args, out_args = parse_config(
        [DataArguments, ClusterArguments, ClusterOutputArguments], argv, prog="hf-fair cluster"
    )
    if not out_args.output_dir:
        raise HfFairError("--output_dir is required: the folder to write clusters.json, clusters.md and the grids to")
    output = check_output_dir(out_args.output_dir, out_args.overwrite)
    dsd, _ = load_group_dataset(data_args)
    cluster_to_folder(dsd, cluster_args, data_args, Path(output))
    print((Path(output) / "clusters.md").read_text(), end="")
    print(f"wrote {output}")
    return 0
