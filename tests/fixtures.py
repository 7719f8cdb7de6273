"""Small datasets in the sources' original layouts, made by the tests themselves."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from PIL import Image

from hf_fair.data.celeba import ATTRIBUTES


def _img(path: Path, color, size=(24, 20)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path)


def make_celeba(root: Path, n: int = 60, seed: int = 0) -> Path:
    """img_align_celeba/ + list_attr_celeba.txt + list_eval_partition.txt."""
    rng = np.random.default_rng(seed)
    values = rng.choice([-1, 1], size=(n, len(ATTRIBUTES)))
    # Make every (Blond_Hair, Male) group present in every split.
    b, m = ATTRIBUTES.index("Blond_Hair"), ATTRIBUTES.index("Male")
    for i in range(n):
        values[i, b] = 1 if (i // 4) % 2 else -1
        values[i, m] = 1 if i % 2 else -1
    lines = [str(n), " ".join(ATTRIBUTES)]
    parts = []
    for i in range(n):
        name = f"{i + 1:06d}.jpg"
        _img(root / "img_align_celeba" / name, (int(rng.integers(256)), 80, 80), (178, 218))
        lines.append(name + " " + " ".join(f"{v:2d}" for v in values[i]))
        split = 0 if i < n * 0.6 else 1 if i < n * 0.8 else 2
        parts.append(f"{name} {split}")
    (root / "list_attr_celeba.txt").write_text("\n".join(lines) + "\n")
    (root / "list_eval_partition.txt").write_text("\n".join(parts) + "\n")
    return root


def make_celeba_hub(root: Path, n: int = 24) -> Path:
    """The Hub layout of flwrlabs/celeba (parquet shards with image, celeb_id, 40 bools)."""
    import datasets

    feats = datasets.Features(
        {"image": datasets.Image(), "celeb_id": datasets.Value("int64"), **{a: datasets.Value("bool") for a in ATTRIBUTES}}
    )
    (root / "data").mkdir(parents=True, exist_ok=True)
    for split in ("train", "valid", "test"):
        rows = {"image": [], "celeb_id": [], **{a: [] for a in ATTRIBUTES}}
        for i in range(n):
            rows["image"].append(Image.new("RGB", (16, 16), (i * 9 % 256, 0, 0)))
            rows["celeb_id"].append(i)
            for a in ATTRIBUTES:
                rows[a].append(bool((i // 2) % 2) if a == "Blond_Hair" else bool(i % 2) if a == "Male" else False)
        datasets.Dataset.from_dict(rows, features=feats).to_parquet(str(root / "data" / f"{split}-00000-of-00001.parquet"))
    return root


def make_waterbirds(root: Path, per_group_split: int = 3) -> Path:
    """group_DRO layout: metadata.csv (img_id,img_filename,y,split,place,place_filename) + images."""
    rows = []
    k = 0
    for split in (0, 1, 2):
        for y in (0, 1):
            for place in (0, 1):
                for _ in range(per_group_split):
                    k += 1
                    fn = f"{1 + y:03d}.Bird_{y}/Bird_{k:04d}.jpg"
                    _img(root / fn, (0, 100 * place, 100 * y))
                    rows.append(
                        {"img_id": k, "img_filename": fn, "y": y, "split": split, "place": place, "place_filename": f"/p/{place}.jpg"}
                    )
    with (root / "metadata.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return root


def make_utkface(root: Path, per_cell: int = 6) -> Path:
    """Files named age_gender_race_date.jpg.chip.jpg, plus two malformed names."""
    k = 0
    for gender in (0, 1):
        for age in (2, 4, 25, 40, 70):  # 70 falls outside FFR's buckets
            for r in range(per_cell):
                k += 1
                _img(root / f"{age}_{gender}_{r % 5}_2017011{k:010d}.jpg.chip.jpg", (age * 3, gender * 200, 50))
    _img(root / "39_1_20170116174525125.jpg.chip.jpg", (1, 2, 3))  # race missing (a real UTKFace name): skipped
    _img(root / "not_a_face_name.jpg", (1, 2, 3))  # unparseable: counted and skipped
    return root


def make_imagefolder(root: Path, n: int = 40, with_split: bool = False) -> Path:
    rows = []
    for i in range(n):
        label = ["cat", "dog"][i % 2]
        attr = ["indoor", "outdoor"][(i // 2) % 2]
        fn = f"images/{i:03d}.png"
        _img(root / fn, (i * 5, 0, 0), (8, 8))
        row = {"file_name": fn, "label": label, "attribute": attr, "photographer": f"p{i % 3}"}
        if with_split:
            row["split"] = ["train", "val", "test"][i % 3]
        rows.append(row)
    with (root / "metadata.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return root


def populate_hub_cache(folder, cache, repo_id: str, commit: str, monkeypatch):
    """Put ``folder`` into a local HF cache as snapshot ``commit`` of model ``repo_id`` and make
    huggingface_hub read only that cache (HF_HUB_OFFLINE). Returns the snapshot path."""
    import shutil

    import huggingface_hub.constants

    repo = Path(cache) / ("models--" + repo_id.replace("/", "--"))
    shutil.copytree(folder, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    return repo / "snapshots" / commit


def isolated_python(venv: Path) -> Path:
    """A venv's python that imports this environment's dependencies but not the editable
    hf_fair of the checkout: the site-packages folder is added through a plain path file, whose
    own .pth files (the editable install's finder) are therefore not run."""
    import subprocess
    import sys
    import sysconfig

    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = venv / "bin" / "python"
    site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    Path(site, "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return py


def wrong_modes(root: Path, umask: int = 0o022) -> list[str]:
    """Paths under ``root`` (itself included) whose permission bits are not what a folder or a
    file made under ``umask`` gets: 0755 / 0644 under 022 (tempfile's 0700 / 0600 are caught)."""
    want_dir, want_file = 0o777 & ~umask, 0o666 & ~umask
    bad = []
    for p in [root, *sorted(root.rglob("*"))]:
        mode = p.lstat().st_mode & 0o777
        if mode != (want_dir if p.is_dir() else want_file):
            bad.append(f"{p.relative_to(root.parent)} {mode:o}")
    return bad


def first_per_group(ds, n: int, n_groups: int):
    """The first ``n`` examples of each group of ``ds``, in their original order (small test sets)."""
    import numpy as np

    g = np.asarray(ds["group"])
    return ds.select(np.sort(np.concatenate([np.flatnonzero(g == k)[:n] for k in range(n_groups)])))
