"""Model card for a trained classifier, with worst-group accuracy as an eval result."""

from __future__ import annotations

import json
from pathlib import Path

from huggingface_hub import EvalResult, ModelCard, ModelCardData

_TEMPLATE = """---
{{ card_data }}
---

# {{ model_name }}

A timm image classifier trained with [hf-fair]: objective **{{ objective }}**, stage **{{ stage }}**{% if scope %} (finetune scope: {{ scope }}){% endif %}, seed {{ seed }}.

- Dataset: {{ dataset }}{% if severity %} at bias severity {{ severity }}{% endif %}
- Model selection: {{ rule }}{% if epoch %} (selected epoch {{ epoch }}){% endif %}

| split | worst-group acc | balanced acc | average acc |
|---|---:|---:|---:|
{% for row in rows %}| {{ row.split }} | {{ row.wga }} | {{ row.bal }} | {{ row.avg }} |
{% endfor %}

## Load it

{% if hf_fair_model %}`{{ architecture }}` is one of hf-fair's timm models: `import hf_fair` (hf-fair installed) registers it with timm.
{% else %}`{{ architecture }}` is a stock timm architecture: timm alone loads it.
{% endif %}
```python
{% if hf_fair_model %}import hf_fair  # registers hf-fair's timm models ({{ architecture }})
{% endif %}import timm

model = timm.create_model("local-dir:<this folder>", pretrained=True).eval()  # or "hf-hub:<repo id>" once pushed
```

`pretrained=True` loads this folder's weights (without it timm builds the architecture with random ones).
{% if input_size %}Inputs: {{ input_size }} x {{ input_size }} RGB, normalised with the mean and std in `config.json`; {% endif %}classes: {{ label_names }}.
"""


def needs_hf_fair(architecture: str) -> bool:
    """Whether loading ``architecture`` needs ``import hf_fair`` first (one of hf-fair's own timm models)."""
    from hf_fair.classify.small_resnets import MODELS

    return architecture in MODELS


def write_model_card(folder: Path, metrics: dict, data_args, args) -> None:
    """README.md of a saved classifier ``folder`` (its config.json already written)."""
    from hf_fair.data.registry import dataset_id

    config = json.loads((Path(folder) / "config.json").read_text())
    dataset = dataset_id(data_args.dataset)  # a local folder by its name, not its place here
    splits = metrics.get("splits", {})
    rows = [
        {"split": s, "wga": f"{m['worst_group_acc'] * 100:.1f}", "bal": f"{m['balanced_acc'] * 100:.1f}", "avg": f"{m['average_acc'] * 100:.1f}"}
        for s, m in splits.items()
    ]
    evals = []
    if "test" in splits:
        for key, name in (("worst_group_acc", "worst-group accuracy"), ("balanced_acc", "balanced accuracy"), ("average_acc", "accuracy")):
            evals.append(
                EvalResult(
                    task_type="image-classification",
                    dataset_type=dataset,
                    dataset_name=f"{dataset}" + (f" (severity {data_args.severity})" if data_args.severity else ""),
                    dataset_split="test",
                    metric_type=key,
                    metric_name=name,
                    metric_value=round(splits["test"][key], 4),
                )
            )
    name = f"hf-fair-{dataset}-{args.objective}"
    card_data = ModelCardData(
        library_name="timm",
        tags=["image-classification", "timm", "hf-fair", "group-robustness"],
        model_name=name,
        eval_results=evals or None,
        license="apache-2.0",
    )
    card = ModelCard.from_template(
        card_data,
        template_str=_TEMPLATE,
        model_name=name,
        objective=args.objective,
        stage=args.stage,
        scope=args.finetune_scope if args.stage == "finetune" else None,
        seed=args.seed,
        dataset=dataset,
        severity=data_args.severity,
        rule=metrics.get("selection_rule"),
        epoch=metrics.get("selected_epoch"),
        rows=rows,
        architecture=config["architecture"],
        hf_fair_model=needs_hf_fair(config["architecture"]),
        input_size=((config.get("pretrained_cfg") or {}).get("input_size") or [None])[-1],
        label_names=", ".join(config.get("label_names") or []) or f"{config.get('num_classes')} (unnamed)",
    )
    card.save(str(folder / "README.md"))
