"""Dataset card of a generated dataset (``hf_fair/card_templates/generated_dataset.md``)."""

from __future__ import annotations

from huggingface_hub import DatasetCard, DatasetCardData

from hf_fair.data.cards import LICENSES, template_path

SOURCE_TEXT = {
    "vanilla": "the base pipeline prompted with each group's prompt (FFR)",
    "lora": "one LoRA per group, finetuned on that group's real images",
    "dreambooth": "one DreamBooth per group (rare identifier token), finetuned on that group's real images",
    "dreambooth_cluster": "one DreamBooth per cluster inside each group; a group's quota is split over its clusters",
}


def generated_dataset_card(synth, result: dict, data_args, fidelity: dict | None) -> DatasetCard:
    from hf_fair.generate.fidelity import fidelity_markdown

    cfg = result["config"]
    n = sum(len(d) for d in synth.values())
    license_id, license_text = LICENSES.get(data_args.dataset, ("other", "see the source dataset's licence"))
    rows = [
        {"name": name.replace("|", "\\|"), "count": result["counts"][name], "drawn": f["drawn"],
         "blank": f["rejected_blank"], "wrong": f["rejected_wrong_group"],
         "accepted": "-" if (result.get("acceptance") or {}).get(name) is None else f"{100 * result['acceptance'][name]:.1f}%"}
        for name, f in result["filter"].items()
    ]
    units = [{**u, "group_name": u["group_name"].replace("|", "\\|"), "cluster": "-" if u["cluster"] is None else u["cluster"]} for u in result["units"]]
    adapters = result.get("adapters")
    adapters_text = "none" if not adapters else f"`{adapters['id']}` (method {adapters['method']}, unit {adapters['unit']})"
    if not cfg["quality_filter"]:
        filter_text = "off"
    else:
        filter_text = f"pixel std >= {cfg['min_std']}" + ("" if cfg["filter_classifier"] == "none" else f", group checked by the {cfg['filter_classifier']} classifier")
        if result.get("clip"):
            clip = result["clip"]
            filter_text = (f"pixel std >= {cfg['min_std']}, group checked zero-shot by CLIP `{clip['model']}` (revision {clip['revision']}; "
                           f"kept when: {clip['rule']}); each image's CLIP probability of its own group is in `clip_score`")
    card_data = DatasetCardData(
        license=license_id,
        pretty_name=f"{data_args.dataset} synthetic ({result['source']})",
        task_categories=["image-classification", "text-to-image"],
        tags=["hf-fair", "synthetic", "group-balanced", "spurious-correlations", result["source"]],
        size_categories=["n<1K" if n < 1000 else "1K<n<10K" if n < 10000 else "10K<n<100K"],
    )
    return DatasetCard.from_template(
        card_data,
        template_path=str(template_path("generated_dataset.md")),
        pretty_name=card_data.pretty_name,
        dataset=data_args.dataset,
        images_per_group=result["images_per_group"],
        source=result["source"],
        source_text=SOURCE_TEXT.get(result["source"], ""),
        base=result["base"],
        adapters_text=adapters_text,
        steps=cfg["num_inference_steps"],
        guidance=cfg["guidance_scale"],
        scheduler=cfg["scheduler"] or "the base's own",
        seed=cfg["seed"],
        filter_text=filter_text,
        rows=rows,
        units=units,
        fidelity_md=fidelity_markdown(fidelity) if fidelity else "",
        command=result.get("command") or "(library call)",
        license_text=license_text,
    )
