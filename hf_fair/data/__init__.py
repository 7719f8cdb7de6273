"""Group-annotated datasets: specs, loaders, bias severity."""

from hf_fair.data.groups import GroupSpec
from hf_fair.data.registry import DATASET_NAMES, DataArguments, load_group_dataset, load_source
from hf_fair.data.severity import SeverityReport, apply_bias_severity, group_counts, largest_feasible_severity
from hf_fair.data.groups import attach_spec, spec_of

__all__ = [
    "DATASET_NAMES",
    "DataArguments",
    "GroupSpec",
    "SeverityReport",
    "apply_bias_severity",
    "attach_spec",
    "group_counts",
    "largest_feasible_severity",
    "load_group_dataset",
    "load_source",
    "spec_of",
]
