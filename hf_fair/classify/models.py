"""timm models: creation by name, checkpoints in timm's Hugging Face format, head handling."""

from __future__ import annotations

import difflib
import json
from pathlib import Path

import timm
import torch

from hf_fair.classify import small_resnets  # noqa: F401 — registers the stride-1 ResNets with timm
from hf_fair.errors import HfFairError, first_line


def check_model_name(name: str) -> str:
    if name.startswith(("hf-hub:", "hf_hub:", "local-dir:")):
        return name
    known = timm.list_models()
    base = name.split(".")[0]
    if base not in known:
        close = difflib.get_close_matches(base, known, n=5, cutoff=0.6)
        hint = f" Close names: {close}." if close else ""
        raise HfFairError(f"unknown timm model '{name}'.{hint} See timm.list_models() for all names")
    return name


def create_model(name: str, num_classes: int, pretrained: bool) -> torch.nn.Module:
    check_model_name(name)
    try:
        return timm.create_model(name, pretrained=pretrained, num_classes=num_classes)
    except (OSError, RuntimeError, ValueError) as e:
        if pretrained:
            raise HfFairError(
                f"could not get pretrained weights for '{name}' ({first_line(e)}); "
                "the Hub is unreachable and they are not in the HF cache — pass --pretrained false to start from scratch"
            ) from None
        raise


def read_checkpoint_config(path: str | Path) -> dict:
    path = Path(path)
    cfg_file = path / "config.json"
    if not cfg_file.is_file() or not any((path / f).is_file() for f in ("model.safetensors", "pytorch_model.bin")):
        raise HfFairError(
            f"--init '{path}' is not a timm checkpoint folder (needs config.json and model.safetensors); "
            "pass the 'model' folder of an hf-fair classifier run"
        )
    return json.loads(cfg_file.read_text())


def load_checkpoint(path: str | Path, num_classes: int, reinit_head: bool) -> torch.nn.Module:
    """Load a saved model; a different number of classes is an error unless ``reinit_head``."""
    cfg = read_checkpoint_config(path)
    saved = int(cfg.get("num_classes", 0))
    model = timm.create_model(f"local-dir:{Path(path).resolve()}", pretrained=True)
    if saved != num_classes:
        if not reinit_head:
            raise HfFairError(
                f"--init checkpoint '{path}' has {saved} classes but the data has {num_classes}; "
                "pass --reinit_head true to start a new classifier head"
            )
        model.reset_classifier(num_classes)
    return model


def save_checkpoint(
    model: torch.nn.Module,
    directory: str | Path,
    input_size: int | None = None,
    label_names: list[str] | None = None,
    extra_config: dict | None = None,
) -> None:
    """timm's HF format: config.json + model.safetensors, loadable with
    ``timm.create_model("local-dir:<dir>", pretrained=True)`` (after ``import hf_fair`` for its own
    architectures). The input size goes into the config's ``pretrained_cfg.input_size`` and the
    class names into ``label_names`` (timm's own fields)."""
    from timm.models import save_for_hf

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    model_config = {"num_classes": model.num_classes, **({"label_names": list(label_names)} if label_names else {})}
    model_config.update(extra_config or {})
    data_config = {"input_size": (3, int(input_size), int(input_size))} if input_size else None
    save_for_hf(model, str(directory), model_config=model_config, safe_serialization=True, data_config=data_config)


def head_parameters(model: torch.nn.Module) -> list[torch.nn.Parameter]:
    return list(model.get_classifier().parameters())


def freeze_backbone(model: torch.nn.Module) -> None:
    """Train the last layer only (the paper's finetuning): everything else frozen."""
    head = {id(p) for p in head_parameters(model)}
    for p in model.parameters():
        p.requires_grad_(id(p) in head)


def forward_features(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Pooled pre-logit features."""
    return model.forward_head(model.forward_features(x), pre_logits=True)
