"""Per-group and per-cluster adapters (LoRA, DreamBooth, DreamBooth-LoRA): settings (``config``),
units of training (``units``), the trainer (``trainer``; several LoRA units at once:
``concurrent``), the resumable run over a dataset (``train``), the manifest and cards, and the
``hf-fair adapters`` CLI (``cli``)."""
