"""Zero-shot CLIP judge of generated images (``--filter_classifier clip``).

Any ``transformers`` CLIP (``CLIPModel`` + ``CLIPProcessor``) reads an image against the text
prompts of every group of the dataset's GroupSpec (``prompt_variants``: the group prompt, or one
prompt per phrase when a class is described by several phrases, as colored-digits' "large" by
"digit 5".."digit 9"). Scoring rule (docs/GENERATION.md): one softmax over *all* prompts of all
groups, and a group's probability is the sum over its phrases — the probability that the image
shows any of the group's sub-classes. (Averaging the phrases' text embeddings, CLIP's prompt
ensembling, is for paraphrases of one concept; the digits 5..9 are different pictures, and their
mean embedding matches none of them.)

Keep rule: the image's own group is the most likely one (default), or, with ``min_prob``, its
own probability is at least ``min_prob`` (``0`` keeps everything and only scores it).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch

from hf_fair.errors import HfFairError

EMBEDDED = "embedded"
_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*$")
_HINT = "pass --clip_model 'embedded', a folder written by CLIPModel.save_pretrained, or a Hub id such as openai/clip-vit-base-patch32"


def embedded_clip_folder() -> Path:
    """The CLIP shipped with the package (trained on the embedded base's corpus), or a clear error."""
    try:
        from hf_fair.diffusion.embedded.clip import embedded_clip_path
    except ImportError:
        embedded_clip_path = None
    path = Path(embedded_clip_path()) if embedded_clip_path else None
    if path is None or not (path / "config.json").is_file():
        raise HfFairError(
            f"the embedded CLIP is missing from the installation ({path.name if path else 'hf_fair/assets/tiny-clip'}); "
            f"reinstall hf-fair (pip install -e .), or {_HINT}"
        )
    return path


def default_clip_model(clip_model: str | None, base: str | None) -> str:
    """``--clip_model`` as given, else the embedded CLIP when the base is the embedded one."""
    if clip_model:
        return clip_model
    if base in (None, EMBEDDED):
        return EMBEDDED
    raise HfFairError(
        f"--filter_classifier clip with --base {base} needs --clip_model ID_OR_PATH (e.g. openai/clip-vit-base-patch32): "
        "the embedded CLIP knows only the embedded base's digits and colours"
    )


def resolve_clip(id_or_path: str) -> str:
    """The folder or Hub id to load for ``--clip_model``, or a clear HfFairError."""
    name = str(id_or_path)
    if name == EMBEDDED:
        return str(embedded_clip_folder())
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise HfFairError(f"--clip_model folder '{name}' has no config.json, so it is not a saved CLIP; {_HINT}")
        return str(path)
    if path.exists():
        raise HfFairError(f"--clip_model '{name}' is a file; {_HINT}")
    if _HUB_ID.match(name) and not name.startswith((".", "/", "~")):
        return name
    raise HfFairError(f"--clip_model '{name}' is neither 'embedded', an existing folder, nor a Hub model id (namespace/name); {_HINT}")


def clip_name(id_or_path: str) -> str:
    """How a CLIP is named in reports: 'embedded', the Hub id, or a folder's last component
    (never the machine's path)."""
    name = str(id_or_path)
    return name if name == EMBEDDED or not Path(name).expanduser().is_dir() else Path(name).expanduser().resolve().name


def clip_revision(id_or_path: str) -> str:
    """What identifies a CLIP in fingerprints: for a folder (the embedded CLIP included) a hash of
    its weight files, so the same weights give the same key on every machine and re-trained
    weights never resume data scored by the old ones; for a Hub id, the id."""
    where = resolve_clip(id_or_path)
    folder = Path(where)
    if not folder.is_dir():
        return where
    from hf_fair.io_utils import weights_digest

    return weights_digest(folder)


def load_clip(id_or_path: str, device=None, dtype=None):
    """(CLIPModel in eval mode, CLIPProcessor) from 'embedded', a folder, or a Hub id (read from the
    local HF cache when HF_HUB_OFFLINE=1); anything unloadable is one HfFairError naming --clip_model."""
    from transformers import CLIPModel, CLIPProcessor
    from transformers.utils import logging as hf_logging

    where = resolve_clip(id_or_path)
    local = Path(where).is_dir()
    kwargs = {"local_files_only": True} if local else {}
    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()  # a load report and a progress bar per call otherwise
    hf_logging.disable_progress_bar()
    try:
        model = CLIPModel.from_pretrained(where, **kwargs, **({"dtype": dtype} if dtype is not None else {}))
        processor = CLIPProcessor.from_pretrained(where, **kwargs)
    except (OSError, ValueError, KeyError) as e:
        reason = str(e).splitlines()[0].rstrip(". ") if str(e).strip() else type(e).__name__
        hint = ("check that it holds a CLIPModel and its processor (save_pretrained of both)" if local else
                f"check the id, or download it once with the Hub on (huggingface-cli download {where}); HF_HUB_OFFLINE=1 reads only the local cache")
        raise HfFairError(f"could not load --clip_model '{clip_name(id_or_path)}': {reason}; {hint}") from None
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()
    model.eval().requires_grad_(False)
    if device is not None:
        model.to(device)
    return model, processor


def _pooled(out) -> torch.Tensor:
    return out.pooler_output if hasattr(out, "pooler_output") else out[1]


class ClipJudge:
    """Zero-shot group probabilities of images under a CLIP; a Judge for ``check_images``."""

    def __init__(self, spec, model_or_path="embedded", processor=None, min_prob: float | None = None,
                 device=None, dtype=None, batch_size: int = 64):
        if isinstance(model_or_path, (str, Path)):
            model, processor = load_clip(str(model_or_path), device=device, dtype=dtype)
        else:
            if processor is None:
                raise ValueError("a CLIPModel needs its CLIPProcessor")
            model = model_or_path.eval().requires_grad_(False)
            if device is not None or dtype is not None:
                model.to(device=device, dtype=dtype)
        if min_prob is not None and not 0.0 <= min_prob <= 1.0:
            raise HfFairError(f"--clip_min_prob must be in [0, 1] (or unset for the most-likely-group rule), got {min_prob}")
        self.spec, self.model, self.processor = spec, model, processor
        self.min_prob, self.batch_size = min_prob, batch_size
        self.device = next(model.parameters()).device
        self.dtype = next(model.parameters()).dtype
        self.prompts, owner = [], []
        for g in range(spec.n_groups):
            variants = spec.prompt_variants(g)
            self.prompts += variants
            owner += [g] * len(variants)
        self.owner = np.asarray(owner)
        # (prompts, groups) 0/1: summing prompt probabilities into group probabilities
        self._pool = torch.zeros(len(owner), spec.n_groups, device=self.device)
        self._pool[torch.arange(len(owner)), torch.as_tensor(owner)] = 1.0
        with torch.inference_mode():  # text side once: the prompts never change
            tok = processor.tokenizer(self.prompts, padding=True, return_tensors="pt").to(self.device)
            text = model.text_projection(_pooled(model.text_model(input_ids=tok["input_ids"], attention_mask=tok.get("attention_mask"))))
            self.text = torch.nn.functional.normalize(text.float(), dim=-1)
            self.scale = model.logit_scale.detach().float().exp()

    def _pixels(self, images) -> torch.Tensor:
        from hf_fair.judges.images import as_array

        arr = as_array(images)
        ip = self.processor.image_processor
        side = getattr(ip, "crop_size", None) or {}
        if (arr.shape[1:3] == (side.get("height"), side.get("width")) and arr.shape[1] == arr.shape[2]
                and (getattr(ip, "size", None) or {}).get("shortest_edge") == arr.shape[1]
                and getattr(ip, "do_rescale", True) and getattr(ip, "do_normalize", True)):
            # already at the processor's size (resize and crop are identities): rescale and normalise
            # in torch on the device, the same numbers without a PIL round trip per image
            x = torch.from_numpy(arr).to(self.device).permute(0, 3, 1, 2).float() * float(ip.rescale_factor)
            mean = torch.tensor(ip.image_mean, device=self.device).view(1, -1, 1, 1)
            std = torch.tensor(ip.image_std, device=self.device).view(1, -1, 1, 1)
            return ((x - mean) / std).to(self.dtype)
        px = ip(images=list(arr), return_tensors="pt")["pixel_values"]
        return px.to(self.device, self.dtype)

    def group_probabilities(self, images) -> np.ndarray:
        """(n, n_groups) float32: softmax over all prompts, summed over each group's prompts."""
        n = len(images)
        out = np.zeros((n, self.spec.n_groups), dtype=np.float32)
        with torch.inference_mode():
            for lo in range(0, n, self.batch_size):
                px = self._pixels(images[lo:lo + self.batch_size])
                feats = self.model.visual_projection(_pooled(self.model.vision_model(pixel_values=px)))
                feats = torch.nn.functional.normalize(feats.float(), dim=-1)
                probs = (self.scale * feats @ self.text.T).softmax(dim=-1) @ self._pool
                out[lo:lo + len(px)] = probs.cpu().numpy()
        return out

    def predict_groups(self, images) -> tuple[np.ndarray, np.ndarray]:
        """(label ids, attribute ids) of each image's most likely group (the Judge protocol)."""
        groups = self.group_probabilities(images).argmax(axis=1)
        return groups // self.spec.n_attributes, groups % self.spec.n_attributes

    def verdict(self, images, group: int) -> tuple[np.ndarray, np.ndarray]:
        """(wrong, own probability) for images meant for ``group``, under the keep rule."""
        probs = self.group_probabilities(images)
        own = probs[:, group]
        wrong = own < self.min_prob if self.min_prob is not None else probs.argmax(axis=1) != group
        return wrong, own
