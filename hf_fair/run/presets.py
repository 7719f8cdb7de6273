"""Ready-made run configurations that need nothing but the package (the embedded default)."""

from __future__ import annotations

ALL_METHODS = ["erm", "reweight", "resample", "groupdro", "jtt", "dfr", "vanilla", "lora", "dreambooth",
               "dreambooth_cluster", "dreambooth_cluster+groupdro", "oracle"]

# `hf-fair demo`: every method once on colored-digits at severity 0.99, sized for about ten
# minutes on a 2-core CPU. configs/colored_digits.yaml is the full experiment.
DEMO = {
    "dataset": "colored-digits",
    "severities": [0.99],
    "seeds": [0],
    "methods": ALL_METHODS,
    "finetune_scope": "last_layer",
    "output": "runs/demo",
    "cluster": {"k": "auto", "min_cluster_size": 5},
    "adapters": {"max_train_steps": 60, "checkpointing_steps": 30},
    "generate": {"images_per_group": 64, "num_inference_steps": 10, "guidance_scale": 2.0, "batch_size": 64},
    "classifier": {"model": "resnet18", "epochs": 4, "learning_rate": 0.01, "eval_every": 1},
    "pretrain": {"epochs": 4},
}

# `hf-fair demo --quick`: the same stages at smoke-test size (a minute or two).
QUICK = {
    **DEMO,
    "methods": ["erm", "groupdro", "vanilla", "dreambooth_cluster", "oracle"],
    "output": "runs/demo-quick",
    "adapters": {"max_train_steps": 10, "checkpointing_steps": 5},
    "generate": {"images_per_group": 16, "num_inference_steps": 4, "guidance_scale": 2.0, "fidelity": True},
    "classifier": {"model": "resnet18", "epochs": 1, "learning_rate": 0.01, "eval_every": 1},
    "pretrain": {"epochs": 1},
}
