"""Configuration of one classifier run (parsed with HfArgumentParser, flags or YAML)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from hf_fair.classify.data import AUGMENTATIONS
from hf_fair.classify.objectives import OBJECTIVES as _REGISTRY
from hf_fair.classify.weights import WEIGHT_RULES
from hf_fair.errors import HfFairError

OBJECTIVES = _REGISTRY  # the live registry (name -> class): `in` and list() give the names
STAGES = ("train", "pretrain", "finetune")
SCOPES = ("full", "last_layer")
SUPCON_POSITIVES = ("label", "group")
SELECTIONS = ("val_worst_group", "val_worst_class", "val_average", "oracle", "last")


@dataclass
class ClassifierArguments:
    # fields that do not change results: left out of the resume fingerprint (hf_fair.runfolder)
    NOT_IN_FINGERPRINT: ClassVar[frozenset] = frozenset({"eval_batch_size", "num_workers", "output_dir", "overwrite", "push_to_hub", "cache_features"})
    # the pretraining recipe's fields came after results were recorded: at their defaults they
    # leave a run's key as it was (hf_fair.runfolder.result_settings)
    IN_FINGERPRINT_WHEN_SET: ClassVar[frozenset] = frozenset({"weight_column", "weight_rule", "supcon_weight", "supcon_temperature", "supcon_positives", "supcon_dim"})

    output_dir: str = field(default=None, metadata={"help": "run folder (checkpoint, metrics.json, config, log)"})
    model: str = field(default="resnet18", metadata={"help": "timm model name"})
    pretrained: bool = field(default=False, metadata={"help": "start from timm's ImageNet weights (needs the Hub or its cache)"})
    stage: str = field(default="train", metadata={"help": f"one of {list(STAGES)}"})
    init: str | None = field(default=None, metadata={"help": "finetune: checkpoint folder (timm HF format) to start from"})
    finetune_scope: str = field(default="last_layer", metadata={"help": "finetune: 'last_layer' (the paper) or 'full' (FFR)"})
    cache_features: bool = field(default=True, metadata={"help": "last_layer finetuning with the shift or none augmentation: compute the frozen backbone's features once per view and train the head on them (same views, same results up to float rounding); false runs the backbone every step"})
    reinit_head: bool = field(default=False, metadata={"help": "finetune: new classifier head when --init has another number of classes"})
    objective: str = field(default="erm", metadata={"help": f"one of {list(OBJECTIVES)}"})
    epochs: int = field(default=20, metadata={"help": "training epochs"})
    max_steps: int | None = field(default=None, metadata={"help": "stop after this many optimizer steps (smoke runs)"})
    batch_size: int = field(default=64, metadata={"help": "per-process training batch size"})
    eval_batch_size: int = field(default=256, metadata={"help": "per-process evaluation batch size"})
    learning_rate: float = field(default=0.05, metadata={"help": "peak learning rate"})
    weight_decay: float = field(default=5e-4, metadata={"help": "weight decay"})
    optimizer: str = field(default="sgd", metadata={"help": "sgd (momentum 0.9) or adamw"})
    warmup_epochs: float = field(default=0.0, metadata={"help": "linear warm-up before the cosine schedule"})
    image_size: int | None = field(default=None, metadata={"help": "input resolution; default: the dataset's"})
    augment: str = field(default="crop", metadata={"help": "training augmentation: crop (random-resized crop), shift (random translation by --shift_px) or none; colour is never jittered"})
    shift_px: int = field(default=2, metadata={"help": "--augment shift: largest translation in pixels at the training resolution"})
    hflip: float = field(default=0.0, metadata={"help": "horizontal flip probability (0 for digits/text)"})
    seed: int = field(default=0, metadata={"help": "training seed"})
    selection: str = field(default="val_worst_group", metadata={"help": f"model selection: {list(SELECTIONS)}"})
    groupdro_eta: float = field(default=0.01, metadata={"help": "Group-DRO step size for the group weights"})
    groupdro_c: float = field(default=0.0, metadata={"help": "Group-DRO generalisation adjustment C (adds C/sqrt(n_g))"})
    jtt_epochs: int = field(default=2, metadata={"help": "JTT: epochs of the identification (ERM) model"})
    jtt_lambda: float = field(default=20.0, metadata={"help": "JTT: upsampling factor of the error set"})
    dfr_repeats: int = field(default=10, metadata={"help": "DFR: group-balanced subsamples averaged"})
    mixed_precision: str = field(default="auto", metadata={"help": "auto (bf16/fp16 on GPU, fp32 on CPU), no, fp16, bf16"})
    num_workers: int = field(default=0, metadata={"help": "DataLoader workers"})
    overwrite: bool = field(default=False, metadata={"help": "start over in a run folder made with another config"})
    push_to_hub: str | None = field(default=None, metadata={"help": "publish the selected model to this Hub repo"})
    eval_every: int = field(default=1, metadata={"help": "evaluate every N epochs (and always at the end)"})
    weight_column: str | None = field(default=None, metadata={"help": "per-example loss weight from this column of the training data (the paper's CLIP weighting: clip_score)"})
    weight_rule: str = field(default="group_mean", metadata={"help": f"normalisation of --weight_column: {list(WEIGHT_RULES)} (group_mean: mean 1 within each group)"})
    supcon_weight: float = field(default=0.0, metadata={"help": "lambda of the supervised contrastive term added to cross-entropy (0 = off; not with last-layer finetuning)"})
    supcon_temperature: float = field(default=0.1, metadata={"help": "SupCon temperature tau (> 0)"})
    supcon_positives: str = field(default="label", metadata={"help": "SupCon positives: images of the same label or of the same group"})
    supcon_dim: int = field(default=128, metadata={"help": "output size of the SupCon projection head (training only; not saved with the model)"})

    def __post_init__(self):
        checks = {"augment": AUGMENTATIONS, "stage": STAGES, "objective": OBJECTIVES, "finetune_scope": SCOPES, "selection": SELECTIONS, "optimizer": ("sgd", "adamw")}
        for name, allowed in checks.items():
            if getattr(self, name) not in allowed:
                raise HfFairError(f"--{name} '{getattr(self, name)}' is not one of {list(allowed)}")
        if self.mixed_precision not in ("auto", "no", "fp16", "bf16"):
            raise HfFairError(f"--mixed_precision '{self.mixed_precision}' is not one of auto, no, fp16, bf16")
        if self.stage == "finetune" and not self.init:
            raise HfFairError("--stage finetune needs --init <checkpoint folder>")
        if self.epochs < 1:
            raise HfFairError("--epochs must be >= 1")
        if self.weight_rule not in WEIGHT_RULES:
            raise HfFairError(f"--weight_rule '{self.weight_rule}' is not one of {list(WEIGHT_RULES)}")
        if not self.supcon_weight >= 0:  # also catches NaN
            raise HfFairError(f"--supcon_weight must be >= 0 (0 turns SupCon off), got {self.supcon_weight}")
        if not self.supcon_temperature > 0:
            raise HfFairError(f"--supcon_temperature must be > 0 (e.g. 0.1), got {self.supcon_temperature}")
        if self.supcon_positives not in SUPCON_POSITIVES:
            raise HfFairError(f"--supcon_positives '{self.supcon_positives}' is not one of {list(SUPCON_POSITIVES)}")
        if self.supcon_dim < 1:
            raise HfFairError(f"--supcon_dim must be >= 1, got {self.supcon_dim}")
        if self.supcon_weight > 0 and self.stage == "finetune" and self.finetune_scope == "last_layer":
            raise HfFairError("--supcon_weight applies to training the features; with --finetune_scope last_layer they are frozen: set it to 0")
