"""Tab 4 of the Space: a run's results and its classifiers' predictions on an image."""

from __future__ import annotations

from pathlib import Path

import gradio as gr
from PIL import Image

from hf_fair.data import spec_of
from hf_fair.errors import HfFairError
from hf_fair.run.folder import classifier_folders, read_results, severity_dirs
from hf_fair.space.common import NO_RUN, OFFLINE_DATASET, guarded, load_data, read_image, resolve_run, table_md, upscaled


# ------------------------------------------------------------------ tab 4: results
def model_choices(sev: Path, doc: dict) -> list[tuple[str, str]]:
    return classifier_folders(sev, doc)


def label_names_of(doc: dict, n_classes: int) -> list[str]:
    """Class names from the results' group names (group g = label * n_attributes + attribute)."""
    names = doc.get("group_names") or []
    if names and len(names) % n_classes == 0:
        k = len(names) // n_classes
        return [names[y * k].split("|")[0] for y in range(n_classes)]
    return [f"class {y}" for y in range(n_classes)]


@guarded(7)
def load_run(run_text, severity_dir=None):
    """Overview of a run; the severity dropdown; that severity's table, grid and models."""
    run = resolve_run(run_text)
    empty = ("", None, gr.update(choices=[], value=None), "", None, gr.update(choices=[], value=None))
    if not run.is_dir():
        return (f"**{NO_RUN}** (looked for `{run}`).",) + empty
    sevs = [d for d in severity_dirs(run) if (d / "results.json").is_file()]
    overall = run / "results.md"
    if not sevs and not overall.is_file():
        return (f"**run `{run}` has no results yet** (no results.md, no severity-*/results.json): the run may still be "
                "going or was stopped; finish it with `hf-fair run CONFIG` (it resumes), or `make demo`.",) + empty
    md = overall.read_text() if overall.is_file() else "\n".join((d / "results.md").read_text() for d in sevs if (d / "results.md").is_file())
    plot = Image.open(run / "wga_vs_severity.png").convert("RGB") if (run / "wga_vs_severity.png").is_file() else None
    names = [d.name for d in sevs]
    name = severity_dir if severity_dir in names else (names[-1] if names else None)
    status = f"Run `{run}`: {len(sevs)} severity folder(s) with results."
    if name is None:
        return (status, md, plot, gr.update(choices=[], value=None), "", None, gr.update(choices=[], value=None))
    sev_md, grid, models = severity_view(run, name)
    return (status, table_md(md), plot, gr.update(choices=names, value=name), sev_md, grid, models)


def _fmt(v) -> str:
    return "" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)


def severity_view(run: Path, name: str):
    sev = run / name
    doc = read_results(sev) or {}
    single = len([d for d in severity_dirs(run) if (d / "results.json").is_file()]) == 1 and (run / "results.md").is_file()
    # with one severity its table is the run's table above
    md = (sev / "results.md").read_text() if (sev / "results.md").is_file() and not single else ""
    if doc.get("selection"):
        md += f"\n\nModel selection: `{doc['selection']}`."
    fidelity = doc.get("fidelity") or {}
    if fidelity:  # how close each source's synthetic images are to the real ones
        # scalar columns only: the per-group figures are in the run's results.md above
        keys = list(dict.fromkeys(k for f in fidelity.values() for k, v in f.items() if not isinstance(v, (dict, list))))
        md += "\n\n**Synthetic data fidelity**\n\n| source | " + " | ".join(keys) + " |\n|---|" + "---:|" * len(keys) + "\n"
        md += "\n".join(f"| {src} | " + " | ".join(_fmt(f.get(k)) for k in keys) + " |" for src, f in fidelity.items())
    grid_file = sev / "grids" / "real_vs_synthetic.png"
    grid = Image.open(grid_file).convert("RGB") if grid_file.is_file() else None
    choices = model_choices(sev, doc)
    return table_md(md), grid, gr.update(choices=choices, value=choices[0][1] if choices else None)


@guarded(4)
def change_severity(run_text, name):
    run = resolve_run(run_text)
    if not name or not (run / name).is_dir():
        return gr.skip(), "", None, gr.update(choices=[], value=None)
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
        raise HfFairError(f"{NO_RUN}: there is no classifier to ask" if not run.is_dir() else f"run `{run}` has no results with classifiers")
    return read_results(run / name) or {}


def describe_prediction(probs: dict[str, float], notes: list[str], model_dir: str, truth: str | None = None) -> str:
    best = max(probs, key=probs.get)
    size = load_classifier(model_dir)[2]
    text = f"Prediction: **{best}** ({probs[best]:.1%}) from `{Path(model_dir).parent.name}`; input {', '.join(notes)}; resized to {size}x{size} for the model."
    if truth:
        text += f" True: {truth}."
    return text


@guarded(4)
def classify_upload(run_text, name, model_dir, file, progress=gr.Progress()):
    doc = severity_doc(run_text, name)
    if not model_dir:
        raise HfFairError("pick a classifier first (the run's results list none)")
    image, notes = read_image(file)
    progress(0.5, desc="classifying")
    probs = predict(model_dir, image, doc)
    return describe_prediction(probs, notes, model_dir), upscaled(image, 128), probs, gr.skip()


@guarded(5)
def classify_test_image(run_text, name, model_dir, index, progress=gr.Progress()):
    doc = severity_doc(run_text, name)
    if not model_dir:
        raise HfFairError("pick a classifier first (the run's results list none)")
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
