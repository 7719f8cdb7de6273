"""Model cards (README.md) for an adapters folder and for each unit, rendered offline."""

from __future__ import annotations

from huggingface_hub import ModelCard, ModelCardData

from hf_fair.diffusion.base import EMBEDDED

UNIT_TEMPLATE = """---
{{ card_data }}
---

# hf-fair {{ method }} adapter `{{ name }}` — group `{{ group_name }}`{% if cluster is not none %}, cluster {{ cluster }}{% endif %}

Trained by [hf-fair](https://github.com/) on {{ n_images }} real training image(s) of group
`{{ group_name }}` of **{{ dataset }}**{% if severity %} (bias severity {{ severity }}){% endif %},
on base `{{ base }}`, for {{ steps }} steps (seed {{ seed }}, final loss {{ final_loss }}).

Prompt: `{{ prompt }}`{% if token %} (identifier token `{{ token }}`){% endif %}

```python
{{ usage }}
```
{% if warnings %}
## Warnings
{% for w in warnings %}- {{ w }}
{% endfor %}{% endif %}
"""

SET_TEMPLATE = """---
{{ card_data }}
---

# hf-fair adapters: {{ method }} per {{ unit }} on {{ dataset }}

{{ n_units }} adapters for base `{{ base }}`, one per {{ unit }}, made with `hf-fair adapters train`.
They are the generators of the paper's group-balanced synthetic data ("Harnessing
Diffusion-Generated Synthetic Images for Fair Image Classification", Bhat et al., AAAI 2026).
`manifest.json` lists every unit; generate a balanced dataset with

```bash
hf-fair generate --source {{ source }} --adapters <this repo or folder> --dataset {{ dataset }}
```

| unit | group | cluster | images | prompt | final loss |
|---|---|---|---:|---|---:|
{% for u in units %}| {{ u.name }} | {{ u.group_name | replace("|", "\\\\|") }} | {{ u.cluster if u.cluster is not none else "" }} | {{ u.n_images }} | `{{ u.prompt }}` | {{ "%.4f" | format(u.final_loss) }} |
{% endfor %}
{{ small_unit_rule }}.
"""


def _card_data(base: str, method: str) -> ModelCardData:
    tags = ["text-to-image", "diffusers", "hf-fair", "fairness", "lora" if "lora" in method else "dreambooth"]
    kwargs = {"library_name": "diffusers", "tags": tags, "license": "mit"}
    if base != EMBEDDED and "/" in base and not base.startswith((".", "/", "~")):
        kwargs["base_model"] = base
    return ModelCardData(**kwargs)


def _usage(record: dict, base: str) -> str:
    load = 'load_base("embedded")' if base == EMBEDDED else f'StableDiffusionPipeline.from_pretrained("{base}")'
    lines = ["from hf_fair.diffusion import load_base" if base == EMBEDDED else "from diffusers import StableDiffusionPipeline",
             f"pipe = {load}"]
    if record["format"] == "lora":
        lines.append(f'pipe.load_lora_weights("<adapters>/{record["path"]}")')
    else:
        lines.append("from diffusers import UNet2DConditionModel")
        lines.append(f'pipe.unet = UNet2DConditionModel.from_pretrained("<adapters>/{record["path"]}/unet")')
    lines.append(f'image = pipe("{record["prompt"]}").images[0]')
    return "\n".join(lines)


def unit_card(record: dict, base: str, dataset: dict) -> str:
    card = ModelCard.from_template(
        _card_data(base, record["method"]), template_str=UNIT_TEMPLATE,
        dataset=dataset.get("name"), severity=dataset.get("severity"), base=base, usage=_usage(record, base),
        **{k: record[k] for k in ("method", "name", "group_name", "cluster", "n_images", "steps", "seed", "prompt", "token", "warnings")},
        final_loss=f"{record['final_loss']:.4f}",
    )
    return str(card)


def generation_source(manifest: dict) -> str:
    """The ``hf-fair generate --source`` these adapters serve."""
    if manifest["method"] == "lora":
        return "lora"
    return "dreambooth_cluster" if manifest["unit"] == "cluster" else "dreambooth"


def adapters_card(manifest: dict) -> str:
    source = generation_source(manifest)
    card = ModelCard.from_template(
        _card_data(manifest["base"], manifest["method"]), template_str=SET_TEMPLATE,
        method=manifest["method"], unit=manifest["unit"], dataset=manifest["dataset"].get("name"), base=manifest["base"],
        n_units=len(manifest["units"]), units=manifest["units"], source=source,
        small_unit_rule=manifest["small_unit_rule"][0].upper() + manifest["small_unit_rule"][1:],
    )
    return str(card)
