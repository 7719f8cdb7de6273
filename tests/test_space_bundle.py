"""``hf-fair space build``: a bundle from a small *real* run starts on its own (the checkout not
importable) and, in headless Chromium, shows the run's table and classifies an uploaded image.

``HF_FAIR_BUNDLE_RUN=runs/demo-colored-mnist`` builds the bundle from that run instead of a fresh tiny one, and
``HF_FAIR_SCREENSHOTS=docs/space`` writes a screenshot of every tab there (how docs/space/ is made).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from fixtures import isolated_python
from test_space import (CHROMIUM, CHROMIUM_ARGS, _skip_without_browser, answers, click_until, free_port, open_tab,
                        shoot, stop, wait_for, wait_text)

ROOT = Path(__file__).resolve().parent.parent
TINY_RUN = [
    "methods=[erm, lora]",
    "severities=[0.99]",
    "seeds=[0]",
    "adapters.max_train_steps=4",
    "generate.images_per_group=4",
    "generate.num_inference_steps=2",
    "generate.fidelity=false",
    "generate.max_attempts=2",  # 4-step LoRA draws: the CLIP filter would redraw most of them up to 30 times
    "classifier.epochs=1",
    "pretrain.epochs=1",
]


def _cli(*args, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1"}
    return subprocess.run([sys.executable, "-m", "hf_fair.cli", *args], cwd=cwd, env=env, capture_output=True, text=True)


@pytest.fixture(scope="module")
def real_run(tmp_path_factory) -> Path:
    given = os.environ.get("HF_FAIR_BUNDLE_RUN")
    if given:
        return (ROOT / given).resolve()
    root = tmp_path_factory.mktemp("run")
    r = _cli("run", str(ROOT / "configs" / "colored_digits.yaml"), "--output_dir", str(root / "run"), "--set", *TINY_RUN, cwd=root)
    assert r.returncode == 0, r.stderr[-3000:]
    return root / "run"


def test_bad_inputs_write_nothing(real_run, tmp_path):
    out = tmp_path / "space"
    r = _cli("space", "build", str(out), "--run", str(tmp_path / "nope"), cwd=tmp_path)
    assert r.returncode == 2 and "is not a folder" in r.stderr and not out.exists()
    unfinished = tmp_path / "unfinished"
    (unfinished / "severity-0.99").mkdir(parents=True)
    r = _cli("space", "build", str(out), "--run", str(unfinished), cwd=tmp_path)
    assert r.returncode == 2 and "not a finished run" in r.stderr and not out.exists()
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    r = _cli("space", "build", str(out), "--run", str(real_run), cwd=tmp_path)
    assert r.returncode == 2 and "not empty" in r.stderr and "Traceback" not in r.stderr
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


def test_bundle_holds_no_machine_path(real_run, tmp_path, tmp_path_factory):
    """Nothing the bundle ships (run folder, library, assets) names the checkout or a temporary folder here."""
    from machine_paths import machine_paths

    out = tmp_path / "space"
    r = _cli("space", "build", str(out), "--run", str(real_run), cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert machine_paths(out, tmp_path, real_run, tmp_path_factory.getbasetemp()) == []


def test_bundle_is_complete_and_runs_alone_in_a_browser(real_run, tmp_path):
    out = tmp_path / "space"
    r = _cli("space", "build", str(out), "--run", str(real_run), cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    for name in ("app.py", "README.md", "requirements.txt", "hf_fair/space/app.py", "hf_fair/assets/tiny-sd/model_index.json",
                 "run/results.md", "run/wga_vs_severity.png", "run/severity-0.99/results.json"):
        assert (out / name).is_file(), name
    card = (out / "README.md").read_text()
    assert card.startswith("---\n") and "sdk: gradio" in card and "app_file: app.py" in card
    assert "torch" in (out / "requirements.txt").read_text()
    assert list((out / "run" / "severity-0.99" / "adapters").glob("*/manifest.json"))
    assert list((out / "run" / "severity-0.99" / "classify").glob("*/model/model.safetensors"))

    _skip_without_browser()
    from playwright.sync_api import sync_playwright

    python = isolated_python(tmp_path / "venv")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    log = tmp_path / "app.log"
    env = {k: v for k, v in os.environ.items() if k not in ("HF_FAIR_RUN", "GRADIO_SERVER_PORT", "PYTHONPATH")}
    env.update(GRADIO_ANALYTICS_ENABLED="False", PYTHONUNBUFFERED="1")
    shots = [tmp_path / "screenshots"] + ([Path(os.environ["HF_FAIR_SCREENSHOTS"])] if os.environ.get("HF_FAIR_SCREENSHOTS") else [])
    with open(log, "w") as f:
        proc = subprocess.Popen([str(python), str(out / "app.py"), "--port", str(port), "--host", "127.0.0.1"],
                                cwd=elsewhere, env=env, stdout=f, stderr=subprocess.STDOUT)
    try:
        wait_for(url, proc, log)
        assert f"hf_fair from {out / 'hf_fair'}" in log.read_text()
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                page.set_default_timeout(120_000)
                page.goto(url)
                page.wait_for_load_state("networkidle")

                open_tab(page, "data")
                click_until(page, page.get_by_role("button", name="Show data"), page.locator("#data-gallery img").first)
                wait_text(page, "#data-status", "Severity b = 0.99")
                shoot(page, "data", shots)

                open_tab(page, "clusters")
                page.get_by_role("button", name="Show the run's clusters").click()
                page.locator("#clusters-gallery img").first.wait_for()
                shoot(page, "clusters", shots)

                open_tab(page, "generate")
                page.locator("#gen-found input").click()
                preferred = page.get_by_role("option").filter(has_text=": dreambooth_cluster (")  # the paper's method, when the run has it
                (preferred if preferred.count() else page.get_by_role("option").filter(has_text=": lora (")).first.click()
                page.get_by_role("button", name="Generate", exact=True).click()
                wait_text(page, "#generate-status", "image(s) of group", timeout=180_000)
                shoot(page, "generate", shots)

                open_tab(page, "results")
                table = wait_text(page, "#results-table", "worst-group acc")
                assert "erm" in table and "lora" in table
                digit = tmp_path / "digit.png"
                Image.new("RGB", (32, 32), (0, 200, 0)).save(digit)
                page.locator("#results-upload input[type=file]").set_input_files(str(digit))
                pred = wait_text(page, "#prediction-status", "Prediction:")
                assert ("small" in pred or "large" in pred) and "Traceback" not in page.content()
                shoot(page, "results", shots)
                assert answers(url)
            finally:
                browser.close()
    finally:
        stop(proc)


def test_bundle_gets_the_users_umask(real_run, tmp_path):
    """Under umask 022 every folder of the bundle is 0755 and every file 0644, whatever the
    modes of the run it copies (atomic_dir gives the whole bundle the umask before renaming it)."""
    from fixtures import wrong_modes

    from hf_fair.space.bundle import main as space_main

    before = os.umask(0o022)
    try:
        assert space_main([str(tmp_path / "space"), "--run", str(real_run)]) == 0
    finally:
        os.umask(before)
    assert (tmp_path / "space" / "app.py").is_file() and wrong_modes(tmp_path / "space") == []
