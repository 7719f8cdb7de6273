"""Atomic output folders: a stage writes to a temporary sibling and renames it into place, so an
interrupted run never leaves a half-written folder that looks finished."""

from __future__ import annotations

import contextlib
import fnmatch
import json
import os
import secrets
import shutil
from pathlib import Path

from hf_fair.errors import HfFairError


def check_output_dir(path: str | Path, overwrite: bool, flag: str = "--output_dir") -> Path:
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise HfFairError(f"{flag} '{path}' exists and is a file; choose a folder path")
    if path.is_dir() and any(path.iterdir()) and not overwrite:
        raise HfFairError(f"{flag} '{path}' is not empty; choose another folder or pass --overwrite")
    return path


def make_temp_dir(parent: str | Path, prefix: str) -> Path:
    """A new uniquely named folder in ``parent`` with the user's umask (``tempfile.mkdtemp``
    makes 0700, and the folder keeps that mode when it is renamed into place)."""
    for _ in range(100):
        tmp = Path(parent) / f"{prefix}{secrets.token_hex(4)}"
        try:
            tmp.mkdir(mode=0o777)  # the umask applies, as for any folder the user makes
        except FileExistsError:
            continue
        return tmp
    raise FileExistsError(f"no free temporary folder name in {parent}")


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def apply_umask(root: str | Path) -> None:
    """Give ``root`` and everything under it the modes a plain ``mkdir`` / ``open`` gets under the
    user's umask (executables keep their x bits): some writers create 0600 files whatever the
    umask (safetensors writes a private temporary file and renames it)."""
    mask, root = _umask(), Path(root)
    for p in [root, *root.rglob("*")] if root.is_dir() else [root]:
        if p.is_symlink():
            continue
        mode = p.stat().st_mode & 0o777
        want = (0o777 if p.is_dir() else 0o666 | (0o111 if mode & 0o100 else 0)) & ~mask
        if mode != want:
            p.chmod(want)


@contextlib.contextmanager
def atomic_dir(path: str | Path):
    """Yield a temporary folder next to ``path``; on success it replaces ``path``."""
    path = Path(path)
    made = [p for p in path.parents if not p.exists()]  # deepest first
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = make_temp_dir(path.parent, prefix=f".{path.name}.tmp-")
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        for p in made:  # the parent folders this call made, if still empty
            try:
                p.rmdir()
            except OSError:
                break
        raise
    apply_umask(tmp)
    if path.exists():
        shutil.rmtree(path)
    tmp.rename(path)


@contextlib.contextmanager
def atomic_file(path: str | Path):
    """Yield a temporary file path next to ``path`` (same suffix, so writers that infer the format
    from it work); on success it replaces ``path``, on failure it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{path.suffix}")
    try:
        yield tmp
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    apply_umask(tmp)
    os.replace(tmp, path)


def _holds_only(folder: Path, early: tuple[str, ...]) -> bool:
    """Every file under ``folder`` matches one of the ``early`` patterns (relative paths, fnmatch)."""
    return all(p.is_dir() or any(fnmatch.fnmatchcase(p.relative_to(folder).as_posix(), e) for e in early)
               for p in folder.rglob("*"))


@contextlib.contextmanager
def removed_on_failure(path: str | Path, early: tuple[str, ...] = (), enabled: bool = True):
    """When the block fails, remove the folder ``path`` if the block made it (with any parents it
    made) or found it empty, and it holds no results yet: nothing but files matching ``early``
    (fnmatch patterns of paths relative to ``path``: a log opened first, a config) and empty
    folders. A failed command then leaves nothing behind; a folder with resumable work, or one
    the user filled, is kept."""
    path = Path(path)
    missing = [p for p in (path, *path.parents) if not p.exists()]
    top = missing[-1] if missing else None
    was_empty = path.is_dir() and not any(path.iterdir())
    try:
        yield
    except BaseException:
        if enabled and (top is not None or was_empty) and (not path.is_dir() or _holds_only(path, tuple(early))):
            if top is not None:
                shutil.rmtree(top, ignore_errors=True)
            else:
                for child in path.iterdir():
                    shutil.rmtree(child) if child.is_dir() else child.unlink()
        raise


def write_json(path: str | Path, obj) -> None:
    """Write JSON atomically (temp file + rename)."""
    with atomic_file(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")


def weights_digest(folder: str | Path, length: int = 16) -> str:
    """Hash of a model folder's weight files (names and bytes, streamed: an SD 1.5 UNet is 3.4 GB):
    what identifies local weights in cache keys, the same on every machine, never their path."""
    import hashlib

    folder = Path(folder)
    digest = hashlib.sha256()
    for f in sorted(folder.rglob("*.safetensors")) + sorted(folder.rglob("*.bin")):
        digest.update(str(f.relative_to(folder)).encode())
        with open(f, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 24), b""):
                digest.update(chunk)
    return digest.hexdigest()[:length]
