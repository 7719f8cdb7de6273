"""The one place that talks to the Hugging Face Hub.

Everything is published through :func:`publish_folder`, which takes an ``HfApi`` so tests can
pass a recorder and check what would be uploaded. Failures (offline, no token, no permission)
become one clear :class:`HfFairError`; the local output is never touched.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import datasets
from huggingface_hub import HfApi

from hf_fair.errors import HfFairError, first_line


def check_repo_id(repo_id: str, flag: str = "--push_to_hub") -> str:
    """A Hub repo id is ``namespace/name``; checked before a command writes anything."""
    if repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise HfFairError(f"{flag} expects 'namespace/name', got '{repo_id}'")
    return repo_id


def publish_folder(
    folder: str | Path,
    repo_id: str,
    repo_type: str = "model",
    api: HfApi | None = None,
    private: bool = False,
    commit_message: str | None = None,
    local_output: str | Path | None = None,
) -> str:
    """Create ``repo_id`` if needed and upload ``folder`` to it. Returns the repo URL."""
    folder = Path(folder)
    if not folder.is_dir():
        raise HfFairError(f"nothing to publish: '{folder}' is not a folder")
    if repo_type not in ("model", "dataset", "space"):
        raise HfFairError(f"repo_type must be model, dataset or space, got '{repo_type}'")
    check_repo_id(repo_id)
    api = api or HfApi()
    try:
        url = api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=True)
        api.upload_folder(
            folder_path=str(folder),
            repo_id=repo_id,
            repo_type=repo_type,
            commit_message=commit_message or f"Upload with hf-fair from {folder.name}",
        )
    except Exception as e:  # noqa: BLE001 — any transport/auth failure becomes one message
        raise HfFairError(
            f"could not publish '{folder}' to the Hub as {repo_type} '{repo_id}' "
            f"({first_line(e)}). Check your network and `huggingface-cli login`; "
            f"the local output in '{local_output or folder}' is intact"
        ) from None
    return str(url)


def stage_dataset_for_hub(dsd: datasets.DatasetDict, card_text: str, staging: Path) -> Path:
    """Write ``dsd`` as ``data/<split>-00000-of-00001.parquet`` plus README.md — the layout
    ``load_dataset(repo_id)`` reads (the arrow files of ``save_to_disk`` are not)."""
    data = staging / "data"
    data.mkdir(parents=True, exist_ok=True)
    for split, ds in dsd.items():
        ds.to_parquet(str(data / f"{split}-00000-of-00001.parquet"))
    (staging / "README.md").write_text(card_text)
    return staging


def publish_dataset(
    dsd: datasets.DatasetDict,
    card_text: str,
    repo_id: str,
    api: HfApi | None = None,
    private: bool = False,
    local_output: str | Path | None = None,
) -> str:
    staging = Path(tempfile.mkdtemp(prefix="hf-fair-push-"))
    try:
        stage_dataset_for_hub(dsd, card_text, staging)
        return publish_folder(
            staging, repo_id, repo_type="dataset", api=api, private=private, local_output=local_output
        )
    finally:
        shutil.rmtree(staging, ignore_errors=True)
