"""hf-fair Space: the method, step by step, on the embedded Colored Digits default (CPU, offline).

Tabs: (1) a group-annotated dataset and its bias, (2) clusters inside each group, (3) images
from the vanilla base, a group LoRA or a cluster DreamBooth, (4) a run's worst-group accuracy
table and plot, and the trained classifier's prediction on an image.

Everything real lives in the ``hf_fair`` library; this module only wires it to Gradio. It is
started by ``Space/app.py`` in a checkout and by the ``app.py`` of a bundle that
``hf-fair space build`` writes (see :mod:`hf_fair.space.bundle`).

    python Space/app.py [--port 7860] [--run runs/demo-colored-mnist] [--host 127.0.0.1]

Environment: ``GRADIO_SERVER_PORT`` / ``GRADIO_SERVER_NAME`` (as Gradio reads them),
``HF_FAIR_RUN`` (run folder, default ``runs/demo-colored-mnist``, `make demo`'s; a bundle sets its own ``run/``),
``HF_FAIR_BASE`` (base for the vanilla source, default ``embedded``).
"""

from __future__ import annotations

import argparse
import logging
import os
import threading
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402

from hf_fair.data import DATASET_NAMES  # noqa: E402
from hf_fair.generate.sources import SOURCES  # noqa: E402
from hf_fair.space.common import (DEFAULT_RUN, OFFLINE_DATASET, SEVERITY_CHOICES, app_tmp, logger,  # noqa: E402
                                  remove_app_tmp, remove_app_tmp_on_exit, resolve_run)
from hf_fair.space.data_tab import compute_clusters, run_cluster_choices, show_data, show_run_clusters  # noqa: E402
from hf_fair.space.generate_tab import (ALL_UNITS, SOURCE_LABELS, generate, pick_adapters,  # noqa: E402
                                        refresh_units, run_adapters, warm_up)
from hf_fair.space.results_tab import change_severity, classify_test_image, classify_upload, load_run  # noqa: E402


# ------------------------------------------------------------------ the page
INTRO = """# hf-fair: fair classifiers from diffusion-generated data
A classifier trained on **biased** data (most of each class shares one attribute) learns the
attribute instead of the class. *hf-fair* learns a generator of each group (a LoRA or a DreamBooth
per group, or per cluster inside a group), draws a **group-balanced** synthetic set, pretrains the
classifier on it, finetunes on the real data, and compares **worst-group accuracy** with ERM and
Group-DRO. This Space runs the embedded default, **Colored Digits** (label: digit >= 5, spurious
attribute: stroke colour), on CPU. Paper: Bhat et al., *Harnessing Diffusion-Generated Synthetic
Images for Fair Image Classification* (AAAI 2026)."""


def build_app(run: str | None = None) -> gr.Blocks:
    run_default = str(run or os.environ.get("HF_FAIR_RUN") or DEFAULT_RUN)
    run_path = resolve_run(run_default)
    found_adapters = run_adapters(run_path)
    with gr.Blocks(title="hf-fair") as demo:
        gr.Markdown(INTRO)
        with gr.Row():
            run_box = gr.Textbox(value=run_default, label="run folder (made by `make demo` / `hf-fair run CONFIG`)", scale=4)
            run_reload = gr.Button("Reload run", scale=1)

        # ---- 1. data
        with gr.Tab("1. Data and bias", id="data"):
            gr.Markdown("Choose a group-annotated dataset and a **bias severity** b: the share of each class "
                        "kept in its majority group (train and validation; test stays balanced).")
            with gr.Row():
                ds_name = gr.Dropdown(list(DATASET_NAMES), value=OFFLINE_DATASET, label="dataset")
                ds_loc = gr.Textbox(label="local folder or Hub dataset id (all but colored-digits)", placeholder="/data/celeba or grodino/waterbirds")
                ds_sev = gr.Dropdown(SEVERITY_CHOICES, value="0.99", allow_custom_value=True, label="severity b")
                ds_btn = gr.Button("Show data", variant="primary")
            ds_msg = gr.Markdown(elem_id="data-status")
            ds_plot = gr.Plot(label="group counts")
            ds_gallery = gr.Gallery(label="training images per group (first 16)", columns=4, height=330, object_fit="contain",
                                    fit_columns=False, elem_id="data-gallery")
            ds_btn.click(show_data, [ds_name, ds_loc, ds_sev], [ds_msg, ds_plot, ds_gallery], show_progress_on=[ds_plot, ds_gallery])

        # ---- 2. clusters
        with gr.Tab("2. Clusters", id="clusters"):
            gr.Markdown("A group is not one thing: *large|red* holds five digit shapes. Clustered DreamBooth "
                        "clusters each group (image features + k-means, k by silhouette) and trains one "
                        "generator per cluster.")
            with gr.Row():
                cl_sev = gr.Dropdown(run_cluster_choices(run_default), label="run severity folder", scale=2)
                cl_show = gr.Button("Show the run's clusters")
            gr.Markdown("Or cluster the dataset chosen in tab 1 now:")
            with gr.Row():
                cl_k = gr.Textbox(value="auto", label="k per group (integer or auto)")
                cl_min = gr.Number(value=5, precision=0, label="min cluster size")
                cl_enc = gr.Textbox(value="pixels", label="encoder (pixels | timm:<name> | hf:<id>)")
                cl_btn = gr.Button("Compute clusters", variant="primary")
            cl_msg = gr.Markdown(elem_id="clusters-status")
            cl_table = gr.Markdown()
            cl_gallery = gr.Gallery(label="clusters per group (one row per cluster)", columns=4, height=420, object_fit="contain",
                                    fit_columns=False, elem_id="clusters-gallery")
            cl_show.click(show_run_clusters, [run_box, cl_sev], [cl_msg, cl_table, cl_gallery])
            cl_btn.click(compute_clusters, [ds_name, ds_loc, ds_sev, cl_k, cl_min, cl_enc], [cl_msg, cl_table, cl_gallery],
                         show_progress_on=[cl_gallery])

        # ---- 3. generate
        with gr.Tab("3. Generate", id="generate"):
            gr.Markdown("Draw images of one group from the **vanilla** base (group prompt only, as in FFR), a "
                        "**group LoRA**, or a **cluster DreamBooth**. Adapters come from the run, a folder, or a "
                        "Hub model repo with a `manifest.json`.")
            with gr.Row():
                gen_source = gr.Radio([(SOURCE_LABELS[s], s) for s in SOURCES], value="vanilla", label="source")
                gen_found = gr.Dropdown(found_adapters, value=None, label="adapters found in the run (pick one)", scale=2, elem_id="gen-found")
            gen_adapters = gr.Textbox(label="adapters: a folder (relative to the run folder, or any other) or a Hub repo id "
                                            "(not used by the vanilla source)",
                                      placeholder="severity-0.99/adapters/lora-... or user/hf-fair-lora", elem_id="gen-adapters")
            with gr.Row():
                gen_group = gr.Dropdown(["small|red", "small|green", "large|red", "large|green"], value="small|green", label="group")
                gen_unit = gr.Dropdown([ALL_UNITS], value=ALL_UNITS, label="unit (a prompt, or a cluster's adapter)")
                gen_seed = gr.Number(value=0, precision=0, label="seed (image i uses seed + i)")
                gen_n = gr.Slider(1, 16, value=4, step=1, label="images")
            with gr.Row():
                gen_steps = gr.Slider(5, 50, value=15, step=1, label="inference steps")
                gen_cfg = gr.Slider(1.0, 7.5, value=2.0, step=0.5, label="guidance scale (the tiny base's adapters like ~2)")
                gen_load = gr.Button("Load units")
                gen_btn = gr.Button("Generate", variant="primary", elem_id="generate-btn")
            gen_msg = gr.Markdown(elem_id="generate-status")
            gen_gallery = gr.Gallery(label="generated images", columns=8, height=240, object_fit="contain", fit_columns=False,
                                     elem_id="generate-gallery")
            unit_inputs = [run_box, gen_source, gen_adapters, gen_group]  # a run's adapters are named relative to it
            unit_outputs = [gen_msg, gen_group, gen_unit, gen_gallery]
            gen_found.input(pick_adapters, [run_box, gen_found, gen_source], [gen_adapters, gen_source]).then(
                refresh_units, unit_inputs, unit_outputs)
            for trigger in (gen_source.input, gen_adapters.submit, gen_load.click, gen_group.input):
                trigger(refresh_units, unit_inputs, unit_outputs)
            gen_btn.click(generate, [run_box, gen_source, gen_adapters, gen_group, gen_unit, gen_seed, gen_n, gen_steps, gen_cfg],
                          [gen_msg, gen_gallery, gen_unit], show_progress_on=[gen_gallery])

        # ---- 4. results
        with gr.Tab("4. Results", id="results"):
            res_msg = gr.Markdown(elem_id="results-status")
            # the figures' own titles say what they show: no label badge over them
            gr.Markdown("### Worst-group accuracy against severity (every severity of the run)")
            res_plot = gr.Image(show_label=False, type="pil", interactive=False, elem_id="results-plot")
            gr.Markdown("### One severity: its table, images and classifiers")
            res_sev = gr.Dropdown([], label="severity folder", elem_id="results-severity")
            res_table = gr.Markdown(elem_id="results-table")
            gr.Markdown("**Real vs synthetic images per group** (rows: groups; columns: real training images, then each source)")
            res_grid = gr.Image(show_label=False, type="pil", interactive=False, elem_id="results-grid")
            gr.Markdown("### Ask a trained classifier")
            with gr.Row():
                res_model = gr.Dropdown([], label="classifier (method, seed)", scale=2)
                res_index = gr.Number(value=0, precision=0, label="test image index", elem_id="results-index")
                res_pick = gr.Button("Classify a test image")
            with gr.Row():
                res_file = gr.File(label="or upload an image (PNG, JPEG, WebP; grayscale and large images are converted)", type="filepath", elem_id="results-upload")
                res_preview = gr.Image(label="input", type="pil", interactive=False)
                res_label = gr.Label(label="class probabilities", num_top_classes=5)
            res_pred = gr.Markdown(elem_id="prediction-status")

            overview_out = [res_msg, res_plot, res_sev, res_table, res_grid, res_model]
            res_sev.input(change_severity, [run_box, res_sev], [res_msg, res_table, res_grid, res_model])
            res_pick.click(classify_test_image, [run_box, res_sev, res_model, res_index], [res_pred, res_preview, res_label, res_msg, res_file],
                           show_progress_on=[res_label])
            res_file.upload(classify_upload, [run_box, res_sev, res_model, res_file], [res_pred, res_preview, res_label, res_msg],
                            show_progress_on=[res_label])

        for trigger in (run_reload.click, run_box.submit, demo.load):
            trigger(load_run, [run_box], overview_out)
        run_reload.click(lambda t: gr.update(choices=run_cluster_choices(t)), [run_box], [cl_sev])
        run_reload.click(lambda t: gr.update(choices=run_adapters(resolve_run(t))), [run_box], [gen_found])
    return demo


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="hf-fair Space (Gradio)", formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--port", type=int, default=None, help="port (default: env GRADIO_SERVER_PORT, else 7860)")
    p.add_argument("--host", default=None, help="address (default: env GRADIO_SERVER_NAME, else 127.0.0.1)")
    p.add_argument("--run", default=None, help=f"run folder (default: env HF_FAIR_RUN, else {DEFAULT_RUN})")
    return p.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    import hf_fair

    logger.info("hf_fair from %s; run folder %s", Path(hf_fair.__file__).parent, args.run or os.environ.get("HF_FAIR_RUN") or DEFAULT_RUN)
    # every temporary file of the app, Gradio's uploads and served images included, in one folder
    # that goes when the app stops (unless the user chose Gradio's own)
    os.environ.setdefault("GRADIO_TEMP_DIR", str(app_tmp() / "gradio"))
    remove_app_tmp_on_exit()
    logger.info("temporary files in %s (removed when the app stops)", app_tmp())
    demo = build_app(args.run)
    threading.Thread(target=warm_up, args=(os.environ.get("HF_FAIR_BASE", "embedded"),), daemon=True).start()
    port = args.port or int(os.environ.get("GRADIO_SERVER_PORT", 7860))
    try:
        demo.queue(default_concurrency_limit=2).launch(server_name=args.host, server_port=port, show_error=False, ssr_mode=False)
    finally:
        demo.close()
        remove_app_tmp()


if __name__ == "__main__":
    main()
