"""A trained classifier folder as a predictor: load it (timm format, with the input size and
class names the trainer records in timm's own config fields) and score PIL images."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import torch

from hf_fair.classify.data import build_transforms
from hf_fair.classify.models import load_checkpoint, read_checkpoint_config
from hf_fair.errors import HfFairError


@functools.lru_cache(maxsize=4)
def load_classifier(model_dir: str):
    """(model in eval mode, evaluation transform, input size, class names) of a classifier folder."""
    folder = Path(model_dir)
    if not folder.is_dir():
        raise HfFairError(f"classifier folder '{folder}' is missing; the run did not finish this model (re-run `hf-fair run CONFIG`)")
    cfg = read_checkpoint_config(folder)
    n_classes = int(cfg.get("num_classes", 0))
    model = load_checkpoint(folder, n_classes, False).eval()
    size = (cfg.get("pretrained_cfg") or {}).get("input_size", [None])[-1] if cfg.get("label_names") else None
    if size is None:  # checkpoints written before the size was recorded: the trainer's config next to model/
        run_cfg = folder.parent / "config.json"
        size = (json.loads(run_cfg.read_text()).get("classifier") or {}).get("image_size") if run_cfg.is_file() else None
    size = int(size or model.pretrained_cfg.get("input_size", (3, 224, 224))[-1])
    names = cfg.get("label_names") or [f"class {i}" for i in range(n_classes)]
    return model, build_transforms(model, size, "none", 0.0)[1], size, list(names)


@torch.no_grad()
def predict_proba(model_dir: str, image) -> dict[str, float]:
    """Class name -> probability for one PIL image."""
    model, transform, _, names = load_classifier(str(model_dir))
    probs = torch.softmax(model(transform(image.convert("RGB")).unsqueeze(0)), dim=-1)[0].tolist()
    return dict(zip(names, probs))


def _per_batch(model_dir: str, images, batch_size: int, head) -> list:
    """``head(model, batch)`` for each batch of PIL images, through the checkpoint's evaluation transform."""
    model, transform, _, _ = load_classifier(str(model_dir))
    images = list(images)
    with torch.no_grad():
        return [head(model, torch.stack([transform(im.convert("RGB")) for im in images[start : start + batch_size]])).numpy()
                for start in range(0, len(images), batch_size)]


def predict_labels(model_dir: str, images, batch_size: int = 256) -> "np.ndarray":
    """Predicted class index of each PIL image (the checkpoint's evaluation transform, in batches)."""
    import numpy as np

    out = _per_batch(model_dir, images, batch_size, lambda model, x: model(x).argmax(-1))
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)


def classifier_features(model_dir: str, images, batch_size: int = 256) -> "np.ndarray":
    """The classifier's pooled features before its last layer (timm's ``forward_head(pre_logits=True)``)
    for each PIL image: an encoder that knows the real data it was trained on."""
    import numpy as np

    out = _per_batch(model_dir, images, batch_size, lambda model, x: model.forward_head(model.forward_features(x), pre_logits=True))
    return np.concatenate(out) if out else np.zeros((0, 0), dtype=np.float32)
