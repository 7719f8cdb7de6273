"""The embedded CLIP: the shipped folder, its trainer and its soft-target loss."""

import json
import math

import numpy as np
import pytest
import torch
from transformers import CLIPModel, CLIPProcessor, CLIPTokenizer

from hf_fair.cli import main as cli_main
from hf_fair.diffusion.embedded.clip import (
    PRESETS,
    ClipPretrainArguments,
    build_model,
    build_processor,
    caption_targets,
    embedded_clip_path,
    pixel_values,
    pretrain_clip,
    prompt_coverage,
    soft_clip_loss,
    train_clip,
    zero_shot_groups,
)
from hf_fair.diffusion.embedded.corpus import render_batch
from hf_fair.errors import HfFairError

MACHINE_PATHS = ("/tmp", "/work", "/home", "/root", "/Users", "C:\\")


@pytest.fixture(scope="module")
def shipped():
    path = embedded_clip_path()
    return path, CLIPModel.from_pretrained(path), CLIPProcessor.from_pretrained(path)


def test_shipped_clip_loads_with_the_stock_calls(shipped):
    path, model, processor = shipped
    vision, text = model.config.vision_config, model.config.text_config
    assert (vision.image_size, vision.patch_size) == (32, PRESETS["shipped"].patch_size)
    assert model.vision_model.embeddings.num_patches == (32 // vision.patch_size) ** 2
    n = sum(p.numel() for p in model.parameters())
    assert 2e5 < n < 2.5e6
    assert (path / "model.safetensors").stat().st_size < 10 * 2**20
    # the text tower speaks the base's vocabulary: same ids as the base's tokenizer
    base_tok = CLIPTokenizer.from_pretrained(path.parent / "tiny-sd" / "tokenizer")
    assert text.vocab_size == len(base_tok) == len(processor.tokenizer)
    assert processor.tokenizer("a red digit 3").input_ids == base_tok("a red digit 3").input_ids
    assert text.eos_token_id == base_tok.eos_token_id
    # the processor gives the trainer's pixels for 32x32 images
    images, _, _ = render_batch(np.random.default_rng(0), 3, with_captions=False)
    px = processor(images=list(images), return_tensors="pt")["pixel_values"]
    assert px.shape == (3, 3, 32, 32)
    assert torch.allclose(px, pixel_values(images), atol=1e-5)
    log = json.loads((path / "training_log.json").read_text())
    assert log["config"]["positives"] == "caption" and "hand" in log["config"]["corpus_styles"]
    card = (path / "README.md").read_text()
    assert "library_name: transformers" in card and "never saw a benchmark" in card
    assert "hf-fair base pretrain-clip" in card and "CLIPModel.from_pretrained" in card


def test_shipped_clip_reads_colour_and_digit_zero_shot(shipped):
    _, model, processor = shipped
    rng = np.random.default_rng([99, 1])
    digits, colors = rng.integers(10, size=60), [("red", "green")[i] for i in rng.integers(2, size=60)]
    images, _, _ = render_batch(rng, 60, digits=digits, colors=colors, with_captions=False, styles=("typeset", "hand"))
    label, attr = np.divmod(zero_shot_groups(model, processor.tokenizer, pixel_values(images)).argmax(1), 2)
    assert np.mean(attr == np.array([c == "green" for c in colors])) > 0.9
    assert np.mean(label == (digits >= 5)) > 0.8


def test_shipped_files_carry_no_machine_path(shipped):
    path = shipped[0]
    texts = [f for f in path.iterdir() if f.suffix in (".json", ".md", ".txt")]
    assert {"config.json", "tokenizer_config.json", "README.md", "training_log.json"} <= {f.name for f in texts}
    for f in texts:
        content = f.read_text()
        assert not any(p in content for p in MACHINE_PATHS), f.name
    for name in ("config.json", "tokenizer_config.json"):
        assert "_name_or_path" not in json.loads((path / name).read_text())


def test_group_prompts_are_corpus_captions():
    coverage = prompt_coverage()
    assert len(coverage["prompts"]) == 20 and "a red digit 3" in coverage["prompts"]
    assert coverage["missing"] == []


def direct_loss(logits: list[list[float]], captions: list[str]) -> float:
    """The soft-target loss written out: each row's target is uniform over equal captions."""
    n = len(captions)
    total = 0.0
    for direction in ("image", "text"):
        for i in range(n):
            row = [logits[i][j] if direction == "image" else logits[j][i] for j in range(n)]
            log_z = math.log(sum(math.exp(v) for v in row))
            same = [j for j in range(n) if captions[j] == captions[i]]
            total += sum(-(row[j] - log_z) / len(same) for j in same) / n
    return total / 2


def test_soft_target_loss_treats_identical_captions_as_positives():
    captions = ["a red digit 3", "a green digit 7", "a red digit 3", "a digit 1"]
    logits = torch.tensor([[2.0, -1.0, 0.5, 0.0], [0.3, 1.5, -0.2, 0.1], [1.0, 0.0, 2.5, -1.0], [0.0, 0.2, 0.1, 1.0]])
    targets = caption_targets(captions)
    assert torch.allclose(targets[0], torch.tensor([0.5, 0.0, 0.5, 0.0]))
    assert torch.allclose(targets, targets.t())
    loss = soft_clip_loss(logits, targets)
    assert loss.item() == pytest.approx(direct_loss(logits.tolist(), captions), rel=1e-6)
    # the two copies of "a red digit 3" are interchangeable: swapping their columns changes nothing
    swapped = logits[:, [2, 1, 0, 3]]
    assert soft_clip_loss(swapped, targets).item() == pytest.approx(loss.item(), rel=1e-6)
    # CLIP's diagonal-only loss is not: it punishes image 0 for matching the other copy
    eye = torch.eye(4)
    assert soft_clip_loss(swapped, eye).item() != pytest.approx(soft_clip_loss(logits, eye).item(), rel=1e-3)
    # unique captions: exactly CLIP's loss (cross-entropy against the diagonal, both directions)
    arange = torch.arange(4)
    clip = (torch.nn.functional.cross_entropy(logits, arange) + torch.nn.functional.cross_entropy(logits.t(), arange)) / 2
    assert soft_clip_loss(logits, caption_targets(["a", "b", "c", "d"])).item() == pytest.approx(clip.item(), rel=1e-6)


def tiny_cfg(tmp_path, **kw):
    args = dict(output_dir=str(tmp_path / "clip"), preset="test", steps=2, batch_size=8, pool_size=16, warmup_steps=0,
                eval_size=8, log_every=1, checkpoint_every=1000, num_threads=1, lr=1e-2)
    return ClipPretrainArguments(**{**args, **kw})


def test_two_training_steps_change_the_weights(tmp_path):
    from hf_fair.accel import make_accelerator

    cfg = tiny_cfg(tmp_path)
    before = build_model(cfg.sizes, build_processor().tokenizer, seed=cfg.seed).state_dict()
    model, _, losses = train_clip(cfg, make_accelerator("no"), tmp_path / "work")
    after = model.state_dict()
    assert len(losses) == 2 and all(np.isfinite(losses))
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert any("vision_model" in k for k in changed) and any("text_model" in k for k in changed)


def test_a_short_run_writes_a_loadable_folder(tmp_path):
    cfg = tiny_cfg(tmp_path)
    out = pretrain_clip(cfg, command="pytest")
    model = CLIPModel.from_pretrained(out)
    CLIPProcessor.from_pretrained(out)
    assert model.config.vision_config.patch_size == PRESETS["test"].patch_size
    log = json.loads((out / "training_log.json").read_text())
    assert len(log["losses"]) == 2 and set(log["corpus_check"]) == {"typeset", "scan8", "hand"}
    assert "pytest" in (out / "README.md").read_text()
    assert not (out.parent / f".{out.name}.work").exists()
    with pytest.raises(HfFairError, match="--overwrite"):
        pretrain_clip(cfg)


def test_bad_options_give_one_line_and_no_folder(tmp_path, capsys):
    out = tmp_path / "clip"
    assert cli_main(["base", "pretrain-clip", "--output_dir", str(out), "--positives", "all"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--positives" in err[0]
    assert cli_main(["base", "pretrain-clip", "--output_dir", str(out), "--patch_size", "5"]) == 2
    assert not out.exists() and not (tmp_path / ".clip.work").exists()


def test_help_lists_the_training_options(capsys):
    with pytest.raises(SystemExit) as done:
        cli_main(["base", "pretrain-clip", "--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    assert "--positives" in text and "--corpus_styles" in text and "--pool_size" in text
