"""`evaluate` wrapper around hf_fair.metrics.group_metrics (loads offline from this path).

    import evaluate
    from hf_fair.metrics import EVALUATE_MODULE
    metric = evaluate.load(EVALUATE_MODULE)
    metric.compute(predictions=[0, 1], references=[0, 0], groups=[0, 2], n_groups=4)
"""

import datasets
import evaluate

from hf_fair.metrics import group_metrics

_DESCRIPTION = """Worst-group, balanced (mean over groups), average and per-group accuracy for
group-annotated classification (groups = label x spurious attribute). Absent groups are reported
as None and left out of worst-group and balanced accuracy."""

_KWARGS_DESCRIPTION = """
Args:
    predictions: predicted class ids.
    references: true class ids.
    groups: group id of each sample.
    n_groups: total number of groups (so absent groups are reported), optional.
    n_attributes: number of attribute values (adds worst_class_acc), optional.
Returns:
    worst_group_acc, balanced_acc, average_acc, per_group_acc, group_counts, absent_groups.
"""

_CITATION = """@inproceedings{sagawa2020distributionally,
  title={Distributionally Robust Neural Networks for Group Shifts},
  author={Sagawa, Shiori and Koh, Pang Wei and Hashimoto, Tatsunori B. and Liang, Percy},
  booktitle={ICLR}, year={2020}}"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class GroupAccuracy(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {
                    "predictions": datasets.Value("int64"),
                    "references": datasets.Value("int64"),
                    "groups": datasets.Value("int64"),
                }
            ),
        )

    def _compute(self, predictions, references, groups, n_groups=None, n_attributes=None):
        return group_metrics(predictions, references, groups, n_groups=n_groups, n_attributes=n_attributes)
