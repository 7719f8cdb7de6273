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
    # the app's temporary folder (Gradio's uploads and served images in it) went with the app
    tmp_line = next(line for line in log.read_text().splitlines() if "temporary files in " in line)
    app_tmp = Path(tmp_line.split("temporary files in ", 1)[1].split(" (", 1)[0])
    assert app_tmp.name.startswith("hf-fair-space-") and not app_tmp.exists(), log.read_text()[-2000:]
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


# ------------------------------------------------------------------ tab functions, called directly
@pytest.fixture(scope="module")
def fake_run(tmp_path_factory):
    """A fake run in a folder laid out as a bundle: ``<root>/run``, with a stub adapters folder."""
    pytest.importorskip("gradio")
    root = tmp_path_factory.mktemp("bundle")
    run = make_fake_run(root / "run")
    stub = run / "severity-0.99" / ADAPTERS_REL
    stub.mkdir(parents=True)
    (stub / "manifest.json").write_text("{}")  # listed by the run, never loaded here
    return root


@pytest.fixture
def as_bundle(fake_run, tmp_path, monkeypatch):
    """The page's run folder is `run`, found next to the library (as in a bundle) from elsewhere."""
    common = _load("common")
    monkeypatch.setattr(common, "ROOT", fake_run)
    monkeypatch.chdir(tmp_path)
    return fake_run


def _texts(outputs) -> str:
    """Every string the page would show from a handler's outputs (updates' values and choices included)."""
    out = []
    for o in outputs if isinstance(outputs, tuple) else (outputs,):
        if isinstance(o, str):
            out.append(o)
        elif isinstance(o, dict):
            out.append(json.dumps({k: v for k, v in o.items() if k != "__type__"}, default=str))
    return "\n".join(out)


def test_errors_clear_what_they_replace_and_keep_the_rest(as_bundle, tmp_path):
    import gradio as gr

    data_tab, generate_tab, results_tab = _load("data_tab"), _load("generate_tab"), _load("results_tab")
    skip = gr.skip()
    with pytest.warns(UserWarning):
        # Generate: a Hub id that cannot be fetched empties the gallery, keeps the unit choice
        msg, gallery, unit = generate_tab.generate("run", "lora", "nobody-xyz/no-such-adapters", "small|green",
                                                   generate_tab.ALL_UNITS, 0, 4, 15, 2.0)
        assert msg.startswith("**Error:**") and "nobody-xyz/no-such-adapters" in msg
        assert gallery is None and unit == skip
        # the same id typed in the box (Enter / Load units): the dropdowns stay, the gallery goes
        msg, group, unit, gallery = generate_tab.refresh_units("run", "lora", "nobody-xyz/no-such-adapters", "small|green")
        assert msg.startswith("**Error:**") and group == skip and unit == skip and gallery is None
        # Results: an upload that is not an image empties the input shown and the probabilities
        model = results_tab.load_run("run")[5]["value"]
        upload = tmp_path / "gradio" / "0123456789abcdef" / "notes.txt"  # where Gradio keeps an upload
        upload.parent.mkdir(parents=True)
        upload.write_text("this is not an image")
        pred, preview, label, status = results_tab.classify_upload("run", "severity-0.99", model, str(upload))
        assert "'notes.txt' is not an image" in pred and str(upload.parent) not in pred and "gradio" not in pred
        assert preview is None and label is None and status == skip
        out = results_tab.classify_test_image("run", None, None, 0)
        assert out[0].startswith("**Error:**") and out[1] is None and out[2] is None
        # Data and Clusters: a bad severity or k empties the figure, the table and the gallery
        msg, plot, gallery = data_tab.show_data("colored-digits", "", "2")
        assert "outside (0.5, 1)" in msg and plot is None and gallery is None
        msg, table, gallery = data_tab.compute_clusters("colored-digits", "", "0.99", "many", 5, "pixels")
        assert msg.startswith("**Error:**") and table is None and gallery is None
    # a working upload fills both again
    digit = tmp_path / "digit.png"
    Image.new("RGB", (32, 32), (0, 200, 0)).save(digit)
    pred, preview, label, _ = results_tab.classify_upload("run", "severity-0.99", model, str(digit))
    assert pred.startswith("Prediction:") and preview is not None and set(label) == {"small", "large"}


def test_error_messages_are_whole_first_lines(as_bundle):
    common, results_tab = _load("common"), _load("results_tab")
    from hf_fair.errors import HfFairError

    long = "could not reach the Hub " + "x" * 300 + " (set 'HF_HUB_OFFLINE=1' to read the cache)"
    assert common.message_of(OSError(long + "\nTraceback line")) == f"OSError: {long}"
    assert common.message_of(HfFairError(long)) == long
    assert common.message_of(RuntimeError("")) == "RuntimeError"
    # a broken results file: the message names it by its path in the app's folder, not the machine's
    bad = as_bundle / "broken" / "severity-0.99"
    bad.mkdir(parents=True)
    (bad / "results.json").write_text("{not json")
    with pytest.warns(UserWarning):
        out = results_tab.load_run("broken")
    assert "'broken/severity-0.99/results.json' is not valid JSON" in out[0] and str(as_bundle) not in out[0]
    assert out[1] is None and out[3] == "" and out[4] is None and out[2]["choices"] == [] and out[5]["choices"] == []


def test_paths_are_shown_relative_to_the_run(as_bundle):
    data_tab, generate_tab, results_tab = _load("data_tab"), _load("generate_tab"), _load("results_tab")
    common = _load("common")
    machine = str(as_bundle)
    out = results_tab.load_run("run")
    assert out[0] == "Run `run`: 1 severity folder(s) with results." and machine not in _texts(out)
    out = data_tab.show_run_clusters("run", "severity-0.99")
    assert out[0] == "Clusters of run `run`, `severity-0.99` (from `severity-0.99/clusters`)." and machine not in _texts(out)
    found = generate_tab.run_adapters(common.resolve_run("run"))
    assert found == [("severity-0.99: lora (adapters/lora-fake)", "severity-0.99/adapters/lora-fake")]
    assert generate_tab.pick_adapters("run", found[0][1], "lora")[0] == "severity-0.99/adapters/lora-fake"
    # the box's relative path is read against the run; a Hub id or an outside folder as typed
    run = common.resolve_run("run")
    assert common.from_run("severity-0.99/adapters/lora-fake", run) == str(run / "severity-0.99/adapters/lora-fake")
    assert common.from_run("user/hf-fair-lora", run) == "user/hf-fair-lora"
    assert "no run found" in results_tab.load_run("nowhere")[0] and machine not in results_tab.load_run("nowhere")[0]


def test_results_tab_shows_fidelity_once_in_percent_and_the_selector_first(as_bundle, tmp_path):
    from hf_fair.results import write_results

    app, results_tab = _load("app"), _load("results_tab")
    sev = as_bundle / "run" / "severity-0.99"
    doc = json.loads((sev / "results.json").read_text())
    per_group = {str(g): {"label_acc": 0.5, "attribute_acc": 1.0, "frechet": 70.0} for g in range(4)}
    doc["fidelity"] = {"lora": {"frechet_all": 61.25, "label_acc": 0.884765625, "attribute_acc": 1.0, "group_acc": 0.884765625,
                                "per_group": per_group}}
    write_results(sev, doc, GROUPS)
    try:
        table = results_tab.load_run("run")[3]
    finally:
        del doc["fidelity"]
        write_results(sev, doc, GROUPS)
    assert table.count("fidelity") == 1 and "88.5" in table and "0.885" not in table and "0.8847" not in table
    assert table.count("| erm |") == 1  # the severity's table once (it is the run's whole table here)

    def walk(block):
        yield block
        for child in getattr(block, "children", []) or []:
            yield from walk(child)

    demo = app.build_app(str(as_bundle / "run"))
    tab = next(b for b in walk(demo) if getattr(b, "label", None) == "4. Results")
    order = [b.elem_id for b in walk(tab) if getattr(b, "elem_id", None)]
    assert order.index("results-plot") < order.index("results-severity") < order.index("results-table") < order.index("results-grid")
    images = [b for b in walk(tab) if getattr(b, "elem_id", None) in ("results-plot", "results-grid")]
    assert [b.show_label for b in images] == [False, False]  # no label badge over the figures' titles


def test_temporary_folders_are_one_and_do_not_pile_up(as_bundle, tmp_path):
    import tempfile

    common, data_tab = _load("common"), _load("data_tab")
    before = set(Path(tempfile.gettempdir()).glob("hf-fair-space-clusters-*"))
    for _ in range(2):
        msg, table, gallery = data_tab.compute_clusters("colored-digits", "", "0.99", "2", 2, "pixels")
        assert msg.startswith("Clustered") and "| group |" in table.lower() or "group" in table
        assert len(gallery) == 4 and all(im.size[0] > 0 for im, _ in gallery)
    assert list(common.app_tmp().iterdir()) == []  # each click's folder went when it had been read
    assert set(Path(tempfile.gettempdir()).glob("hf-fair-space-clusters-*")) == before

    # the app's folder goes when the process ends, on a SIGTERM too (how a container stops it)
    code = ("import os, signal, time\n"
            "from hf_fair.space import common\n"
            "tmp = common.app_tmp(); (tmp / 'gradio').mkdir(); (tmp / 'gradio' / 'upload.png').write_bytes(b'x')\n"
            "print(tmp, flush=True)\n"
            "common.remove_app_tmp_on_exit()\n"
            "os.kill(os.getpid(), signal.SIGTERM)\n"
            "time.sleep(60)\n")
    env = dict(os.environ, HF_HUB_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    folder = Path(r.stdout.strip().splitlines()[0])
    assert folder.name.startswith("hf-fair-space-") and not folder.exists(), r.stderr[-2000:]
