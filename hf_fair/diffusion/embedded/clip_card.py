"""The model card (README.md) of an embedded CLIP folder, rendered offline from its training log
and, once measured (``scripts/clip_accuracy.py``), its zero-shot accuracies on colored-digits."""

from __future__ import annotations

import json
from pathlib import Path

BODY = """
# hf-fair embedded CLIP

A small `transformers.CLIPModel` (ViT vision tower + text transformer) for 32x32 images, the
offline stand-in for OpenAI's CLIP in hf-fair: it judges whether a generated image shows its
group ("a red digit 3") without any download. It was trained **only on the embedded base's
rendered, captioned corpus** (`hf_fair.diffusion.embedded.corpus`); it **never saw a benchmark
image** (no scikit-learn digits, no MNIST, no train, validation or test image of any benchmark),
so it stands where the web-trained CLIP stands for Stable Diffusion users.

```python
from transformers import CLIPModel, CLIPProcessor
from hf_fair.diffusion.embedded.clip import embedded_clip_path

path = embedded_clip_path()                 # this folder, shipped in the hf-fair wheel
model = CLIPModel.from_pretrained(path)
processor = CLIPProcessor.from_pretrained(path)
inputs = processor(text=["a red digit 3", "a green digit 3"], images=images, return_tensors="pt", padding=True)
probs = model(**inputs).logits_per_image.softmax(dim=1)
```

## How it was made

* **Data**: {pool_size:,} corpus images rendered once (styles {styles}: typeset font glyphs, bold,
  low-resolution, 8x8 scans and procedurally handwritten pen strokes; nine colours with
  hue / saturation / brightness jitter, on black, 32x32 RGB), re-captioned at every draw with the
  corpus's captions ("a red digit 7", "a photo of a small blue digit seven", "a green handwritten
  digit 4", "a digit 3", "a red digit"; no empty captions), augmented with mild blur, noise, gain
  and shifts. Every colored-digits group prompt ({n_prompts} phrases such as "a red digit 3") is a
  caption the corpus writes, so zero-shot prompts are in distribution.
* **Tokenizer**: the embedded base's offline byte-level BPE `CLIPTokenizer`
  (`hf_fair.diffusion.embedded.tokenizer`, {vocab_size} tokens, the same vocabulary as
  `hf_fair/assets/tiny-sd/tokenizer`). **Image processor**: `CLIPImageProcessor` for 32x32
  (resize / centre-crop to 32, pixels scaled to [-1, 1]).
* **Towers** (parameters): vision ViT {p_vision:,} (patch {patch}, {v_layers} layers, width
  {v_hidden}, {v_heads} heads); text {p_text:,} ({t_layers} layers, width {t_hidden}); shared
  projection {proj}; {p_total:,} in all.
* **Loss**: CLIP's symmetric InfoNCE with {positives_text}. Captions repeat a lot in this corpus and
  identical captions have identical embeddings, so CLIP's diagonal-only target would ask each image
  to score its own copy of a caption high and the other copies of the same vector low, and would
  push away images that match a caption exactly (docs/CLIP.md).
* **Training**: {steps} steps of {batch} pairs x {procs} process(es), AdamW lr {lr} (warm-up
  {warmup}, cosine to 10%), weight decay {wd}, logit scale capped at 100 (final {scale}), seed
  {seed}; {minutes:.0f} min wall-clock{cpu}; final loss {last_loss}.

Command (from the repository root; re-running it resumes an interrupted run):

```bash
{command}
```

## Zero-shot accuracy

Rule: softmax over every phrase of every colored-digits group prompt ("a red digit 0" ...
"a green digit 9"); a group's probability is the sum over its phrases; label = small (0-4) /
large (5-9), attribute = red / green.

{accuracy}

Versions: {versions}.
"""


def _corpus_table(check: dict) -> str:
    if not check:
        return ""
    rows = ["| fresh corpus renders (red / green) | label | attribute |", "|---|---|---|"]
    rows += [f"| {style} | {v['label_acc']:.3f} | {v['attribute_acc']:.3f} |" for style, v in check.items()]
    return "\n".join(rows)


def accuracy_table(accuracy: dict) -> str:
    """Markdown rows of ``scripts/clip_accuracy.py``'s JSON: the CLIP beside the reference classifier."""
    rows = ["| images | n | CLIP label | CLIP attribute | CLIP group | reference label | reference attribute | reference group |",
            "|---|---|---|---|---|---|---|---|"]
    for name, block in accuracy["sets"].items():
        c, r = block["clip"], block["reference"]
        rows.append(f"| {block['description']} | {block['n']} | {c['label_acc']:.3f} | {c['attribute_acc']:.3f} | {c['group_acc']:.3f} "
                    f"| {r['label_acc']:.3f} | {r['attribute_acc']:.3f} | {r['group_acc']:.3f} |")
    return "\n".join(rows)


def write_clip_card(folder: str | Path, info: dict, accuracy: dict | None = None) -> Path:
    """Render README.md for the CLIP in ``folder`` from its training ``info`` (and accuracies)."""
    from huggingface_hub import ModelCard, ModelCardData

    folder = Path(folder)
    cfg, sizes, p = info["config"], info["sizes"], info["parameters"]
    vocab = json.loads((folder / "vocab.json").read_text())
    metadata = ModelCardData(
        library_name="transformers",
        license="apache-2.0",
        pipeline_tag="zero-shot-image-classification",
        tags=["clip", "zero-shot-image-classification", "tiny", "hf-fair", "offline"],
    ).to_yaml()
    parts = []
    if accuracy:
        parts.append(f"Measured by `{accuracy['command']}` ({accuracy['judge']}):\n\n" + accuracy_table(accuracy)
                     + "\n\nThe reference classifier (`hf_fair/assets/reference-classifier`) was trained on the benchmark's own "
                     "train and validation handwriting, recoloured; this CLIP never saw a benchmark image. On the vanilla "
                     "draws the truth is the prompted group, so a draw the base got wrong counts against both judges.")
    corpus = _corpus_table(info.get("corpus_check") or {})
    if corpus:
        parts.append("At the end of training, on fresh corpus renders (seeds no training batch used):\n\n" + corpus)
    losses = info.get("losses") or []
    body = BODY.format(
        pool_size=cfg["pool_size"], styles=cfg["corpus_styles"].replace(",", ", "), n_prompts=len(info.get("group_prompts", [])),
        vocab_size=len(vocab), p_vision=p["vision"], p_text=p["text"], p_total=p["total"], patch=sizes["patch_size"],
        v_layers=sizes["vision_layers"], v_hidden=sizes["vision_hidden"], v_heads=sizes["vision_heads"],
        t_layers=sizes["text_layers"], t_hidden=sizes["text_hidden"], proj=sizes["projection_dim"],
        positives_text=("identical captions as positives (a soft target spread over every pair whose caption is the same)"
                        if cfg["positives"] == "caption" else "the diagonal as the only positive (CLIP's plain loss)"),
        steps=cfg["steps"], batch=cfg["batch_size"], procs=info.get("num_processes", 1), lr=cfg["lr"], warmup=cfg["warmup_steps"],
        wd=cfg["weight_decay"], scale=info.get("logit_scale"), seed=cfg["seed"], minutes=info.get("train_seconds", 0) / 60,
        cpu=(f" ({info['cpu_seconds'] / 60:.0f} min of CPU time)" if info.get("cpu_seconds") else " on a shared 2-core CPU"),
        last_loss=f"{losses[-1]:.4f}" if losses else "n/a",
        command=info.get("command") or "hf-fair base pretrain-clip --output_dir hf_fair/assets/tiny-clip",
        accuracy="\n\n".join(parts) or "Not measured yet: `python scripts/clip_accuracy.py`.",
        versions=", ".join(f"{k} {v}" for k, v in info.get("versions", {}).items()),
    )
    card = ModelCard(f"---\n{metadata}\n---\n{body}")
    path = folder / "README.md"
    card.save(str(path))
    return path
