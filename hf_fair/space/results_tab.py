"""Tab 4 of the Space: a run's results and its classifiers' predictions on an image."""

from __future__ import annotations

from pathlib import Path

import gradio as gr
from PIL import Image

from hf_fair.data import spec_of
from hf_fair.errors import HfFairError
from hf_fair.run.folder import classifier_folders, read_results, severity_dirs
from hf_fair.space.common import (NO_RUN, OFFLINE_DATASET, from_run, guarded, in_run, load_data, read_image, resolve_run,
                                  run_text_of, table_md, upscaled)


# ------------------------------------------------------------------ tab 4: results
def model_choices(run: Path, sev: Path, doc: dict) -> list[tuple[str, str]]:
    """(label, classifier folder relative to the run): the page holds the run's paths only."""
    return [(label, in_run(path, run)) for label, path in classifier_folders(sev, doc)]


def label_names_of(doc: dict, n_classes: int) -> list[str]:
    """Class names from the results' group names (group g = label * n_attributes + attribute)."""
    names = doc.get("group_names") or []
    if names and len(names) % n_classes == 0:
        k = len(names) // n_classes
        return [names[y * k].split("|")[0] for y in range(n_classes)]
    return [f"class {y}" for y in range(n_classes)]


NO_CHOICES = gr.update(choices=[], value=None)  # copied where used: Gradio may change an update it is given
# outputs of load_run: status, plot, severity selector, the severity's table, its grid, classifiers
LOAD_RUN_CLEARS = {1: None, 2: NO_CHOICES, 3: "", 4: None, 5: NO_CHOICES}


@guarded(6, clear=LOAD_RUN_CLEARS)
def load_run(run_text, severity_dir=None):
    """Overview of a run (the plot of every severity) and the severity selector, then what the
    selected severity holds: its table, its real vs synthetic grid and its classifiers."""
    run, shown = resolve_run(run_text), run_text_of(run_text)
    empty = (None, dict(NO_CHOICES), "", None, dict(NO_CHOICES))
    if not run.is_dir():
        return (f"**{NO_RUN}** (looked for `{shown}`).",) + empty
    sevs = [d for d in severity_dirs(run) if (d / "results.json").is_file()]
    overall = run / "results.md"
    if not sevs and not overall.is_file():
        return (f"**run `{shown}` has no results yet** (no results.md, no severity-*/results.json): the run may still be "
                "going or was stopped; finish it with `hf-fair run CONFIG` (it resumes), or `make demo`.",) + empty
    plot = Image.open(run / "wga_vs_severity.png").convert("RGB") if (run / "wga_vs_severity.png").is_file() else None
    names = [d.name for d in sevs]
    name = severity_dir if severity_dir in names else (names[-1] if names else None)
    status = f"Run `{shown}`: {len(sevs)} severity folder(s) with results."
    if name is None:  # a results.md without severity folders (an older run): the table alone
        return (status, plot, dict(NO_CHOICES), table_md(overall.read_text()), None, dict(NO_CHOICES))
    table, grid, models = severity_view(run, name)
    return (status, plot, gr.update(choices=names, value=name), table, grid, models)


def severity_view(run: Path, name: str):
    """The severity's results.md (every method, the claims, and the fidelity in %), its grid and
    its classifiers."""
    from hf_fair.results import results_markdown

    sev = run / name
    doc = read_results(sev) or {}
    md = (sev / "results.md").read_text() if (sev / "results.md").is_file() else results_markdown(doc, doc.get("group_names"))
    grid_file = sev / "grids" / "real_vs_synthetic.png"
    grid = Image.open(grid_file).convert("RGB") if grid_file.is_file() else None
    choices = model_choices(run, sev, doc)
    return table_md(md), grid, gr.update(choices=choices, value=choices[0][1] if choices else None)


@guarded(4, clear={1: "", 2: None, 3: NO_CHOICES})
def change_severity(run_text, name):
    run = resolve_run(run_text)
    if not name or not (run / name).is_dir():
        return gr.skip(), "", None, dict(NO_CHOICES)
    md, grid, models = severity_view(run, name)
    return gr.skip(), md, grid, models


def load_classifier(model_dir: str):
    """(model, eval transform, image size, class names) of a run's classifier folder."""
    from hf_fair.classify.predict import load_classifier as load

    return load(str(model_dir))


def predict(model_dir: str, image: Image.Image, doc: dict) -> dict[str, float]:
    from hf_fair.classify.predict import predict_proba

    probs = predict_proba(model_dir, image)
    if all(name.startswith("class ") for name in probs):  # a checkpoint without recorded names
        probs = dict(zip(label_names_of(doc, len(probs)), probs.values()))
    return probs


def severity_doc(run_text, name) -> dict:
    run = resolve_run(run_text)
    if not name:
        raise HfFairError(f"{NO_RUN}: there is no classifier to ask" if not run.is_dir()
                          else f"run `{run_text_of(run_text)}` has no results with classifiers")
    return read_results(run / name) or {}


def describe_prediction(probs: dict[str, float], notes: list[str], model_dir: str, truth: str | None = None) -> str:
    best = max(probs, key=probs.get)
    size = load_classifier(model_dir)[2]
    text = f"Prediction: **{best}** ({probs[best]:.1%}) from `{Path(model_dir).parent.name}`; input {', '.join(notes)}; resized to {size}x{size} for the model."
    if truth:
        text += f" True: {truth}."
    return text


@guarded(4, clear=(1, 2))  # the input shown and its probabilities
def classify_upload(run_text, name, model_dir, file, progress=gr.Progress()):
    doc = severity_doc(run_text, name)
    if not model_dir:
        raise HfFairError("pick a classifier first (the run's results list none)")
    model_dir = from_run(model_dir, resolve_run(run_text))
    image, notes = read_image(file)
    progress(0.5, desc="classifying")
    probs = predict(model_dir, image, doc)
    return describe_prediction(probs, notes, model_dir), upscaled(image, 128), probs, gr.skip()


@guarded(5, clear=(1, 2))
def classify_test_image(run_text, name, model_dir, index, progress=gr.Progress()):
    doc = severity_doc(run_text, name)
    if not model_dir:
        raise HfFairError("pick a classifier first (the run's results list none)")
    model_dir = from_run(model_dir, resolve_run(run_text))
    progress(0.1, desc=f"loading the test split of {doc.get('dataset')}")
    dsd, _ = load_data(doc.get("dataset") or OFFLINE_DATASET)
    test = dsd["test"]
    i = int(index) % len(test)
    row = test[i]
    spec = spec_of(dsd)
    image = row["image"].convert("RGB")
    probs = predict(model_dir, image, doc)
    truth = f"label `{spec.label_names[row['label']]}`, group `{spec.group_names[row['group']]}` (test image {i})"
    w, h = image.size
    return describe_prediction(probs, [f"{w}x{h}"], model_dir, truth), upscaled(image, 128), probs, gr.skip(), None
