"""The accelerate pretraining loop (tiny 'test' preset, a few dozen steps)."""

import json

import pytest
import torch
from diffusers import StableDiffusionPipeline

from hf_fair.diffusion.embedded.pretrain import PretrainArguments, pretrain
from hf_fair.errors import HfFairError

THREADS_AT_IMPORT = torch.get_num_threads()


@pytest.fixture(scope="module")
def short_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("pretrain") / "tiny-sd"
    cfg = PretrainArguments(output_dir=str(out), preset="test", vae_steps=60, unet_steps=80, batch_size=16,
                         log_every=10, checkpoint_every=1000, warmup_steps=10, vae_lr=2e-3, unet_lr=2e-3,
                         num_threads=1)
    return cfg, pretrain(cfg, command="pytest")


def test_short_training_run_lowers_the_loss(short_run):
    _, result = short_run
    assert len(result.vae_losses) == 6 and len(result.unet_losses) == 8
    assert result.vae_losses[-1] < 0.5 * result.vae_losses[0]
    assert min(result.unet_losses[-3:]) < result.unet_losses[0]


def test_output_folder_is_a_loadable_pipeline_with_a_card(short_run):
    cfg, result = short_run
    folder = result.folder
    pipe = StableDiffusionPipeline.from_pretrained(str(folder), local_files_only=True)
    assert pipe.vae.config.scaling_factor != 1.0  # set from the latent std
    card = (folder / "README.md").read_text()
    assert "library_name: diffusers" in card and "handwritten" in card and "pytest" in card
    log = json.loads((folder / "training_log.json").read_text())
    assert log["unet_losses"] == result.unet_losses
    assert not (folder.parent / f".{folder.name}.work").exists()
    img = pipe("a red digit 7", num_inference_steps=2, generator=torch.Generator().manual_seed(0)).images[0]
    assert img.size == (32, 32)


def test_thread_setting_is_restored(short_run):
    assert torch.get_num_threads() == THREADS_AT_IMPORT


def test_finished_output_is_not_overwritten(short_run):
    cfg, _ = short_run
    with pytest.raises(HfFairError, match="--overwrite"):
        pretrain(cfg)
    with pytest.raises(ValueError, match="preset"):
        PretrainArguments(output_dir="x", preset="huge")


def test_continue_from_a_finished_pipeline(short_run, tmp_path):
    cfg, result = short_run
    more = PretrainArguments(output_dir=str(tmp_path / "more"), preset="test", init_from=str(result.folder), unet_steps=10,
                          batch_size=8, log_every=5, warmup_steps=2, num_threads=1)
    res = pretrain(more, command="pytest continue")
    assert res.vae_losses == [] and len(res.unet_losses) == 2
    log = json.loads((res.folder / "training_log.json").read_text())
    assert log["previous"]["command"] == "pytest" and log["init_from"] == str(result.folder)
    old = StableDiffusionPipeline.from_pretrained(str(result.folder), local_files_only=True)
    new = StableDiffusionPipeline.from_pretrained(str(res.folder), local_files_only=True)
    assert torch.equal(old.vae.decoder.conv_out.weight, new.vae.decoder.conv_out.weight)  # VAE kept
    assert old.vae.config.scaling_factor == new.vae.config.scaling_factor
    assert not torch.equal(old.unet.conv_out.weight, new.unet.conv_out.weight)  # UNet trained on
    card = (res.folder / "README.md").read_text()
    assert "continued" in card and "pytest continue" in card


def test_decoder_stage_trains_the_decoder_only(short_run, tmp_path):
    """--vae_decoder_steps: the encoder (hence the latents the UNet learned) is unchanged."""
    _, result = short_run
    cfg = PretrainArguments(output_dir=str(tmp_path / "dec"), preset="test", init_from=str(result.folder), unet_steps=0,
                            vae_decoder_steps=6, batch_size=8, log_every=3, warmup_steps=2, num_threads=1,
                            corpus_styles="hand,typeset")
    res = pretrain(cfg, command="pytest decoder")
    assert res.unet_losses == [] and len(res.vae_decoder_losses) == 2
    old = StableDiffusionPipeline.from_pretrained(str(result.folder), local_files_only=True)
    new = StableDiffusionPipeline.from_pretrained(str(res.folder), local_files_only=True)
    for a, b in zip(old.vae.encoder.parameters(), new.vae.encoder.parameters()):
        assert torch.equal(a, b)
    assert torch.equal(old.unet.conv_out.weight, new.unet.conv_out.weight)
    assert not torch.equal(old.vae.decoder.conv_out.weight, new.vae.decoder.conv_out.weight)
    assert old.vae.config.scaling_factor == new.vae.config.scaling_factor
    log = json.loads((res.folder / "training_log.json").read_text())
    assert log["vae_decoder_losses"] == res.vae_decoder_losses
    with pytest.raises(HfFairError, match="vae_decoder_steps"):
        PretrainArguments(output_dir="x", vae_decoder_steps=-1)
