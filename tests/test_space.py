"""The Gradio Space (Space/app.py), driven in a real headless Chromium through Playwright.

The app runs in a subprocess on a free loopback port with ``HF_HUB_OFFLINE=1`` against a fake
run folder made here (results.json in the runner's schema, a tiny timm classifier, a cluster
report and a LoRA adapters folder trained for 2 steps). Screenshots of each tab go to a temporary
folder and, when ``HF_FAIR_SCREENSHOTS=<dir>`` is set, there too.

Skipped only when /usr/bin/chromium or playwright is missing (``make system-deps`` installs
Chromium; playwright comes with the ``dev`` extra). Playwright never downloads a browser here.
"""

from __future__ import annotations

import base64
import importlib.util
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urljoin

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "Space" / "app.py"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
TABS = {"data": "1. Data and bias", "clusters": "2. Clusters", "generate": "3. Generate", "results": "4. Results"}
GROUPS = ["small|red", "small|green", "large|red", "large|green"]


# ------------------------------------------------------------------ the fake run folder
def _metric(mean: float, per_seed=None) -> dict:
    return {"mean": mean, "std": 0.0, "per_seed": per_seed or [mean]}


def _method(wga: float, per_group: list[float]) -> dict:
    return {"worst_group_acc": _metric(wga), "balanced_acc": _metric(float(np.mean(per_group))),
            "average_acc": _metric(float(np.mean(per_group))), "per_group_acc": {str(g): v for g, v in enumerate(per_group)}}


ADAPTERS_REL = "adapters/lora-fake"


def make_fake_run(run: Path, with_adapters: bool = True) -> Path:
    """A run folder in the layout `hf-fair run` writes (only what the Space reads); the adapters
    folder itself (``severity-0.99/adapters/lora-fake``) is put in place by the caller."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import timm

    from hf_fair.classify.models import save_checkpoint
    from hf_fair.cluster import ClusterArguments, cluster_grids, cluster_groups, write_cluster_report
    from hf_fair.data import load_group_dataset
    from hf_fair.diffusion.grid import make_grid
    from hf_fair.results import results_markdown, write_results

    sev = run / "severity-0.99"
    (run / "config.yaml").parent.mkdir(parents=True, exist_ok=True)
    (run / "config.yaml").write_text("dataset: colored-digits\nseverities: [0.99]\nseeds: [0]\n")
    model_rel = "classify/erm-seed0-fake/model"
    model = timm.create_model("resnet18", num_classes=2)
    save_checkpoint(model, sev / model_rel)
    (sev / "classify/erm-seed0-fake/config.json").write_text(json.dumps(
        {"classifier": {"model": "resnet18", "image_size": None}, "data": {"dataset": "colored-digits", "severity": 0.99}}))
    artifacts = {"clusters": "clusters", "adapters": {}, "synthetic": {}, "models": {"erm": [model_rel]}}
    if with_adapters:
        artifacts["adapters"]["lora"] = ADAPTERS_REL
    doc = {"dataset": "colored-digits", "severity": 0.99, "selection": "val_worst_group",
           "methods": {"erm": _method(0.21, [0.99, 0.21, 0.30, 0.98]), "lora": _method(0.55, [0.9, 0.55, 0.6, 0.92])},
           "group_names": GROUPS, "seeds": [0], "artifacts": artifacts}
    write_results(sev, doc, GROUPS)
    (run / "results.md").write_text(results_markdown(doc, GROUPS))
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.errorbar([0], [21], marker="o", label="erm")
    ax.errorbar([0], [55], marker="o", label="lora")
    ax.set_xticks([0], ["0.99"])
    ax.legend()
    fig.savefig(run / "wga_vs_severity.png", dpi=80)
    plt.close(fig)

    dsd, _ = load_group_dataset(dataset="colored-digits", severity=0.99)
    args = ClusterArguments(k="2", min_cluster_size=2)
    clustered, report = cluster_groups(dsd, args)
    write_cluster_report(report, sev / "clusters")
    cluster_grids(clustered["train"], sev / "clusters")
    (sev / "grids").mkdir(parents=True, exist_ok=True)
    make_grid([dsd["train"][i]["image"] for i in range(12)], ncols=6, upscale=2, pad=1).save(sev / "grids" / "real_vs_synthetic.png")
    return run


def start_tiny_adapters(out: Path, log: Path) -> subprocess.Popen:
    """`hf-fair adapters train` (LoRA per group, 2 steps) in the background."""
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    cmd = [sys.executable, "-m", "hf_fair.cli", "adapters", "train", "--dataset", "colored-digits", "--severity", "0.99",
           "--method", "lora", "--unit", "group", "--output_dir", str(out), "--max_train_steps", "2"]
    hf_fair = shutil.which("hf-fair", path=str(Path(sys.executable).parent))
    if hf_fair:
        cmd = [hf_fair] + cmd[3:]
    with open(log, "w") as f:
        return subprocess.Popen(cmd, env=env, stdout=f, stderr=subprocess.STDOUT)


def finish_tiny_adapters(proc: subprocess.Popen, out: Path, log: Path) -> Path:
    try:
        proc.wait(timeout=300)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    assert proc.returncode == 0, log.read_text()[-3000:]
    assert (out / "manifest.json").is_file()
    return out


# ------------------------------------------------------------------ the server
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, proc: subprocess.Popen, log: Path, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the app exited with {proc.returncode}:\n{log.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"the app did not answer on {url} within {timeout} s:\n{log.read_text()[-4000:]}")


def stop(proc: subprocess.Popen) -> None:
    """End the app's process: terminate, then kill if it lingers."""
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status == 200
    except OSError:
        return False


def _skip_without_browser():
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"{CHROMIUM} is missing (install Debian's chromium: `make system-deps`)")
    if importlib.util.find_spec("playwright") is None:
        pytest.skip("playwright is not installed (pip install -e '.[dev]')")
    if importlib.util.find_spec("gradio") is None:
        pytest.skip("gradio is not installed (pip install -e '.[dev]')")


# ------------------------------------------------------------------ page helpers
def image_std(page, img) -> float:
    """Pixel standard deviation of an <img> of the page (data: URL or fetched from the app)."""
    src = img.get_attribute("src")
    if src.startswith("data:"):
        data = base64.b64decode(src.split(",", 1)[1])
    else:
        data = page.request.get(urljoin(page.url, src)).body()
    return float(np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.float32).std())


def shoot(page, name: str, folders: list[Path]) -> None:
    close = page.locator("[data-testid=toast-close]")  # warnings shown earlier would cover the page
    for i in range(close.count()):
        if close.nth(i).is_visible():
            close.nth(i).click()
    page.locator("[data-testid=toast-body]").first.wait_for(state="hidden", timeout=10_000)
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def open_tab(page, name: str) -> None:
    page.get_by_role("tab", name=TABS[name]).click()


def click_until(page, button, result, tries: int = 4, each_ms: float = 40_000) -> None:
    """Click and wait for ``result``; click again if the first click landed before Gradio had
    wired its event handlers (a click right after page load can be lost)."""
    for attempt in range(tries):
        button.click()
        try:
            result.wait_for(timeout=each_ms)
            return
        except Exception:
            if attempt == tries - 1:
                raise


def wait_text(page, selector: str, text: str, timeout: float = 120_000) -> str:
    loc = page.locator(selector)
    loc.filter(has_text=text).first.wait_for(timeout=timeout)
    return loc.inner_text()


# ------------------------------------------------------------------ the test
def test_space_in_browser(tmp_path):
    _skip_without_browser()
    from playwright.sync_api import sync_playwright

    started = time.monotonic()
    training = start_tiny_adapters(tmp_path / "adapters-lora", tmp_path / "adapters.log")
    try:
        run = make_fake_run(tmp_path / "run")
    finally:
        adapters = finish_tiny_adapters(training, tmp_path / "adapters-lora", tmp_path / "adapters.log")
    shutil.copytree(adapters, run / "severity-0.99" / ADAPTERS_REL)
    print(f"fixtures: {time.monotonic() - started:.0f} s")
    shots = [tmp_path / "screenshots"]
    if os.environ.get("HF_FAIR_SCREENSHOTS"):
        shots.append(Path(os.environ["HF_FAIR_SCREENSHOTS"]))

    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    log = tmp_path / "app.log"
    env = dict(os.environ, HF_HUB_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False", PYTHONUNBUFFERED="1")
    env.pop("GRADIO_SERVER_PORT", None)
    with open(log, "w") as log_file:
        proc = subprocess.Popen([sys.executable, str(APP), "--port", str(port), "--host", "127.0.0.1", "--run", str(run)],
                                cwd=str(tmp_path), env=env, stdout=log_file, stderr=subprocess.STDOUT)
    try:
        wait_for(url, proc, log)
        print(f"app up: {time.monotonic() - started:.0f} s")
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                page.set_default_timeout(120_000)
                page.goto(url)
                # the Results tab is filled on page load
                page.get_by_role("tab", name=TABS["data"]).wait_for()

                # ---- 1. data and bias
                page.wait_for_load_state("networkidle")
                open_tab(page, "data")
                click_until(page, page.get_by_role("button", name="Show data"), page.locator("#data-gallery img").first)
                status = wait_text(page, "#data-status", "Severity b = 0.99")
                assert "405" in status and "134" in status, status  # train majority, balanced test
                assert page.locator("#data-gallery img").count() == 4
                assert image_std(page, page.locator("#data-gallery img").first) > 0
                shoot(page, "data", shots)

                # ---- 2. clusters (the run's folder)
                open_tab(page, "clusters")
                page.get_by_role("button", name="Show the run's clusters").click()
                page.locator("#clusters-gallery img").first.wait_for()
                wait_text(page, "#clusters-status", "severity-0.99")
                assert page.locator("#clusters-gallery img").count() == 4
                shoot(page, "clusters", shots)

                # ---- 3. generate: vanilla, then the run's LoRA, then a bad Hub id
                open_tab(page, "generate")
                page.get_by_role("button", name="Generate", exact=True).click()
                wait_text(page, "#generate-status", "vanilla base", timeout=180_000)
                imgs = page.locator("#generate-gallery img")
                imgs.first.wait_for()
                assert imgs.count() == 4
                assert all(image_std(page, imgs.nth(i)) > 0 for i in range(4))

                # the run's adapters, picked from the list, fill the box and select the source they serve
                page.locator("#gen-found input").click()
                page.get_by_role("option", name="severity-0.99: lora (adapters/lora-fake)").click()
                wait_text(page, "#generate-status", "group LoRA")
                assert page.get_by_label("group LoRA").is_checked()
                assert page.locator("#gen-adapters textarea, #gen-adapters input").first.input_value().endswith("lora-fake")
                page.get_by_role("button", name="Generate", exact=True).click()
                wait_text(page, "#generate-status", "image(s) of group", timeout=180_000)
                wait_text(page, "#generate-status", "group LoRA")
                imgs = page.locator("#generate-gallery img")
                assert imgs.count() == 4
                stds = [image_std(page, imgs.nth(i)) for i in range(4)]
                assert all(s > 0 for s in stds), stds
                shoot(page, "generate", shots)

                box = page.locator("#gen-adapters textarea, #gen-adapters input").first
                box.fill("nobody-xyz/no-such-adapters")
                page.get_by_role("button", name="Generate", exact=True).click()
                msg = wait_text(page, "#generate-status", "could not fetch adapters")
                assert "nobody-xyz/no-such-adapters" in msg and "Traceback" not in page.content()
                box.fill("not a repo id!")
                page.get_by_role("button", name="Generate", exact=True).click()
                wait_text(page, "#generate-status", "neither an existing folder nor a Hub repo id")
                assert answers(url)

                # ---- 4. results: table, plot, a test image, a bad file, a grayscale image
                open_tab(page, "results")
                table = wait_text(page, "#results-table", "worst-group acc")
                assert "erm" in table and "lora" in table
                upload = page.locator("#results-upload input[type=file]")
                bad = tmp_path / "notes.txt"
                bad.write_text("this is not an image")
                upload.set_input_files(str(bad))
                wait_text(page, "#prediction-status", "is not an image")
                gray = tmp_path / "gray.png"
                Image.fromarray((np.random.default_rng(0).random((900, 1200)) * 255).astype(np.uint8), "L").save(gray)
                # a new file input appears once the previous upload is shown: clear it first
                clear = page.locator("#results-upload button[aria-label='Clear']")
                if clear.count():
                    clear.first.click()
                page.locator("#results-upload input[type=file]").set_input_files(str(gray))
                pred = wait_text(page, "#prediction-status", "converted from mode L")
                assert "shrunk from 1200x900" in pred
                page.locator("#results-index input").fill("140")
                page.get_by_role("button", name="Classify a test image").click()
                pred = wait_text(page, "#prediction-status", "True: label")
                assert "test image 140" in pred and ("small" in pred or "large" in pred)
                assert "Traceback" not in page.content()
                shoot(page, "results", shots)
                assert answers(url)
            finally:
                browser.close()
    finally:
        stop(proc)
    for name in TABS:
        assert (shots[0] / f"{name}.png").is_file()
    print(f"space browser test: {time.monotonic() - started:.0f} s")


# ------------------------------------------------------------------ without a browser
def _load(module: str):
    pytest.importorskip("gradio")
    import importlib

    return importlib.import_module(f"hf_fair.space.{module}")


def test_app_builds_without_a_run(tmp_path):
    app, results_tab = _load("app"), _load("results_tab")
    missing = tmp_path / "nothing-here"
    demo = app.build_app(str(missing))
    assert demo is not None
    status = results_tab.load_run(str(missing))[0]
    assert "no run found" in status and "make demo" in status and "hf-fair run CONFIG" in status
    empty = tmp_path / "empty-run"
    (empty / "severity-0.99").mkdir(parents=True)
    assert "has no results yet" in results_tab.load_run(str(empty))[0]


def test_read_image_refuses_clearly(tmp_path):
    common, results_tab = _load("common"), _load("results_tab")
    from hf_fair.errors import HfFairError

    text = tmp_path / "a.png"
    text.write_text("not really a png")
    with pytest.raises(HfFairError, match="not an image"):
        common.read_image(str(text))
    huge = tmp_path / "huge.png"
    Image.new("L", (8000, 6000)).save(huge)
    with pytest.raises(HfFairError, match="too large"):
        common.read_image(str(huge))
    rgba = tmp_path / "rgba.png"
    Image.new("RGBA", (40, 30), (10, 200, 30, 128)).save(rgba)
    im, notes = common.read_image(str(rgba))
    assert im.mode == "RGB" and im.size == (40, 30) and any("RGBA" in n for n in notes)
    # the wrapper turns errors into a message for the page instead of raising
    with pytest.warns(UserWarning, match="no run found"):  # gr.Warning outside a request is a warning
        status = results_tab.classify_upload(str(tmp_path / "no-run"), None, None, str(text))[0]
    assert status.startswith("**Error:**") and "no run found" in status
