"""A normal (non-editable) install works: the wheel carries card templates and the tiny base.

Builds the wheel from a copy of the sources, installs it without dependencies into a fresh venv
that sees this environment's site-packages through a path file (so the editable install of the
checkout is *not* active there), and runs the CLI from a folder outside the repository.
"""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from fixtures import isolated_python

REPO = Path(__file__).resolve().parent.parent


def _copy_sources(dest: Path) -> None:
    dest.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, dest / name)
    shutil.copytree(REPO / "hf_fair", dest / "hf_fair", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


@pytest.fixture(scope="module")
def wheel_env(tmp_path_factory):
    root = tmp_path_factory.mktemp("wheel")
    src = root / "src"
    _copy_sources(src)
    dist = root / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "--no-build-isolation", "-w", str(dist), "-q"],
        check=True, cwd=root,
    )
    (wheel,) = dist.glob("hf_fair-*.whl")
    venv = root / "venv"
    py = isolated_python(venv)  # dependencies from this environment, not the checkout's hf_fair
    subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "-q", str(wheel)], check=True)
    return wheel, venv


def _run(venv: Path, args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HF_HUB_OFFLINE": "1", "HOME": str(cwd)}
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)


def test_wheel_carries_runtime_assets(wheel_env):
    wheel, _ = wheel_env
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in (
        "hf_fair/card_templates/group_dataset.md",
        "hf_fair/card_templates/generated_dataset.md",
        "hf_fair/card_templates/colored-mnist.md",
        "hf_fair/assets/tiny-sd/model_index.json",
        "hf_fair/assets/tiny-sd/unet/diffusion_pytorch_model.safetensors",
        "hf_fair/assets/reference-classifier/model.safetensors",
        "hf_fair/assets/tiny-clip/model.safetensors",
        "hf_fair/assets/tiny-clip/processor_config.json",
        "hf_fair/evaluate_metrics/group_accuracy/group_accuracy.py",
    ):
        assert needed in names, needed


def test_installed_wheel_exports_with_a_card_outside_the_repo(wheel_env, tmp_path):
    _, venv = wheel_env
    where = _run(venv, [str(venv / "bin" / "python"), "-c", "import hf_fair; print(hf_fair.__file__)"], tmp_path)
    assert where.returncode == 0, where.stderr
    assert str(venv) in where.stdout and str(REPO) not in where.stdout
    out = tmp_path / "export"
    r = _run(venv, [str(venv / "bin" / "hf-fair"), "data", "export", "colored-digits", "--severity", "0.99", "--output_dir", str(out)], tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    card = (out / "README.md").read_text()
    assert "colored-digits" in card and "0.99" in card


def test_installed_wheel_loads_the_tiny_base(wheel_env, tmp_path):
    _, venv = wheel_env
    code = (
        "from hf_fair.diffusion.base import load_base; import hf_fair; "
        "pipe = load_base(); print(type(pipe).__name__, pipe.unet.config.sample_size)"
    )
    r = _run(venv, [str(venv / "bin" / "python"), "-c", code], tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "Pipeline" in r.stdout


def test_missing_template_names_it(monkeypatch, tmp_path):
    from hf_fair.data import cards
    from hf_fair.errors import HfFairError

    monkeypatch.setattr(cards, "TEMPLATES_DIR", tmp_path)
    with pytest.raises(HfFairError, match="group_dataset.md"):
        cards.template_path("group_dataset.md")
