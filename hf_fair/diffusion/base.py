"""Resolving a text-to-image base by name: ``load_base("embedded")``, a local folder or a Hub id.

``"embedded"`` is the tiny Stable Diffusion shipped inside the package (``hf_fair/assets/tiny-sd``);
anything else goes to ``StableDiffusionPipeline.from_pretrained`` unchanged, so the same scripts
run on ``stable-diffusion-v1-5/stable-diffusion-v1-5`` on a GPU. The result is always a plain
diffusers pipeline: no wrapper, no extra work per call.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from hf_fair.errors import HfFairError, first_line

EMBEDDED = "embedded"
ASSETS = Path(__file__).resolve().parent.parent / "assets"
EMBEDDED_PATH = ASSETS / "tiny-sd"
_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*$")


def resolve_base(name_or_path: str | Path = EMBEDDED) -> str:
    """The folder or Hub id to load for ``name_or_path``, or a clear HfFairError."""
    name = str(name_or_path)
    if name == EMBEDDED:
        if not (EMBEDDED_PATH / "model_index.json").is_file():
            raise HfFairError(
                f"the embedded base is missing from the installation ('{EMBEDDED_PATH}'); "
                "reinstall hf-fair (pip install -e .) or rebuild it with training_scripts/pretrain_tiny_base.py"
            )
        return str(EMBEDDED_PATH)
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "model_index.json").is_file():
            raise HfFairError(
                f"base folder '{path}' has no model_index.json, so it is not a diffusers pipeline folder; "
                "point --base at a folder written by save_pretrained (or use 'embedded')"
            )
        return str(path)
    if path.exists():
        raise HfFairError(f"base '{name}' is a file; pass a pipeline folder, a Hub model id or 'embedded'")
    if _HUB_ID.match(name) and not name.startswith((".", "/", "~")):
        return name
    raise HfFairError(
        f"base '{name}' is neither 'embedded', an existing pipeline folder, nor a Hub model id "
        "(namespace/name); check the path"
    )


def check_base(name_or_path: str | Path = EMBEDDED) -> None:
    """What a command checks before it makes its output folder: the base resolves, and a Hub id is
    in the local cache when the Hub is off (``HF_HUB_OFFLINE=1``), so it fails with nothing written."""
    target = resolve_base(name_or_path)
    if Path(target).is_dir():
        return
    from huggingface_hub import constants, snapshot_download

    if constants.HF_HUB_OFFLINE:
        try:
            snapshot_download(target, repo_type="model", local_files_only=True)
        except Exception as e:  # noqa: BLE001 — not cached (or a broken cache): one clear message
            raise HfFairError(
                f"base '{name_or_path}' is not in the local Hub cache and HF_HUB_OFFLINE is set ({first_line(e)}); "
                "download it once while online, or use --base embedded"
            ) from None


def base_id(name_or_path: str | Path = EMBEDDED) -> str:
    """How an artefact names its base (``_name_or_path`` of a saved UNet, a card): ``embedded``, the
    Hub id, or a local folder's name, never where that folder lies on this machine."""
    name = str(name_or_path)
    path = Path(name).expanduser()
    if name == EMBEDDED or not path.is_dir():
        return name
    return EMBEDDED if path.resolve() == EMBEDDED_PATH else path.resolve().name


def base_revision(name_or_path: str | Path = EMBEDDED) -> str:
    """What identifies a base's weights in cache keys: for a local folder (the embedded base
    included) a hash of its weight files, so a re-trained base never reuses stages made with the
    old one; for a Hub id, the id (its revision is the Hub's business)."""
    where = resolve_base(name_or_path)
    folder = Path(where)
    if not folder.is_dir():
        return where
    from hf_fair.io_utils import weights_digest

    return weights_digest(folder)


def _dtype_keyword() -> str:
    """``from_pretrained``'s dtype argument: ``dtype`` where diffusers takes it (it deprecated
    ``torch_dtype`` for ``dtype``, huggingface/diffusers#14205: every load warned), else
    ``torch_dtype`` (older diffusers refuse ``dtype``)."""
    from diffusers.utils import deprecation_utils

    return "dtype" if hasattr(deprecation_utils, "_resolve_dtype") else "torch_dtype"


def load_base(
    name_or_path: str | Path = EMBEDDED,
    *,
    torch_dtype=None,
    device: str | None = None,
    progress_bar: bool = False,
    **from_pretrained_kwargs,
):
    """Load a ``StableDiffusionPipeline``.

    ``name_or_path``: ``"embedded"`` (the shipped tiny base), a local pipeline folder, or a Hub id.
    Extra keyword arguments go to ``StableDiffusionPipeline.from_pretrained``. The embedded base
    and local folders load with ``local_files_only=True`` (nothing is downloaded).
    """
    from diffusers import StableDiffusionPipeline

    from hf_fair.progress import interactive, quiet_library_bars

    quiet_library_bars()  # outside a terminal: no loading bars in the log
    target = resolve_base(name_or_path)
    is_local = Path(target).is_dir()
    kwargs = dict(from_pretrained_kwargs)
    if torch_dtype is not None:
        kwargs[_dtype_keyword()] = torch_dtype
    if is_local:
        kwargs.setdefault("local_files_only", True)
        index = json.loads((Path(target) / "model_index.json").read_text())
        if not any(index.get("safety_checker") or []):  # a pipeline saved without one
            kwargs.setdefault("safety_checker", None)
            kwargs.setdefault("requires_safety_checker", False)
    try:
        pipe = StableDiffusionPipeline.from_pretrained(target, **kwargs)
    except (OSError, ValueError) as e:
        where = "folder" if is_local else "Hub model"
        hint = (
            "check that it is a complete StableDiffusionPipeline folder"
            if is_local
            else "check the id, log in for gated models, or download it while online (HF_HUB_OFFLINE=1 only reads the local cache)"
        )
        reason = str(e).splitlines()[0].split(" Please check out the root cause")[0].rstrip(". ")
        raise HfFairError(f"could not load base {where} '{name_or_path}': {reason}; {hint}") from None
    if device is not None:
        pipe = pipe.to(device)
    pipe.set_progress_bar_config(disable=not (progress_bar and interactive()))
    return pipe
