"""The embedded tiny Stable Diffusion: offline tokenizer, rendered corpus (``corpus``,
``handwriting``), network sizes (``tiny_base``), the accelerate pretraining loop (``pretrain``),
its model card, the reference digit/colour classifier (``reference``), prompt adherence
(``adherence``) and the style probe."""
