"""Building, saving, loading and sampling tiny Stable Diffusion pipelines; the embedded base."""

import json

import numpy as np
import pytest
import torch
from diffusers import StableDiffusionPipeline

from hf_fair.diffusion import EMBEDDED_PATH, load_base, resolve_base
from hf_fair.diffusion.embedded.tiny_base import TEST_CONFIG, assemble_pipeline, build_components, save_pipeline
from hf_fair.errors import HfFairError


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny") / "pipe"
    parts = build_components(TEST_CONFIG, seed=0)
    save_pipeline(assemble_pipeline(parts), folder)
    return folder, parts


def test_a_continued_base_names_its_origin_not_its_folder(tmp_path):
    """diffusers records where a component was loaded from; a saved base names the base it continues instead."""
    pipe = load_base("embedded")
    assert str(EMBEDDED_PATH) in pipe.unet.config._name_or_path  # what save_pretrained alone would write
    save_pipeline(pipe, tmp_path / "pipe", origin="embedded")
    for part in ("unet", "vae"):
        assert json.loads((tmp_path / "pipe" / part / "config.json").read_text())["_name_or_path"] == "embedded"
    shipped = [json.loads((EMBEDDED_PATH / part / "config.json").read_text())["_name_or_path"] for part in ("unet", "vae")]
    assert shipped == ["embedded", "embedded"]


@pytest.fixture(scope="module")
def embedded():
    return load_base("embedded")


def test_build_save_load_round_trip(tiny_folder):
    folder, parts = tiny_folder
    index = json.loads((folder / "model_index.json").read_text())
    assert index["_class_name"] == "StableDiffusionPipeline"
    assert index["requires_safety_checker"] is False
    assert all(f.suffix == ".safetensors" for f in folder.rglob("*.safetensors"))
    assert not list(folder.rglob("*.bin"))
    pipe = StableDiffusionPipeline.from_pretrained(str(folder), local_files_only=True)
    assert pipe.safety_checker is None
    for name in ("unet", "vae", "text_encoder"):
        ours, loaded = getattr(parts, name).state_dict(), getattr(pipe, name).state_dict()
        assert ours.keys() == loaded.keys()
        assert all(torch.equal(ours[k], loaded[k]) for k in ours)
    assert pipe.vae_scale_factor == 2
    assert pipe.unet.config.sample_size == 16 and pipe.unet.config.in_channels == 4
    # cross-attention only at the 8x8 level
    assert pipe.unet.config.down_block_types == ["DownBlock2D", "CrossAttnDownBlock2D"]
    assert pipe.unet.config.up_block_types == ["CrossAttnUpBlock2D", "UpBlock2D"]
    ours = load_base(folder)
    assert type(ours) is StableDiffusionPipeline
    out = ours("a red digit 7", num_inference_steps=2, generator=torch.Generator().manual_seed(0))
    assert out.images[0].size == (32, 32)


def test_embedded_base_samples_benchmark_sized_images(embedded):
    assert resolve_base("embedded") == str(EMBEDDED_PATH)
    assert type(embedded) is StableDiffusionPipeline
    assert embedded.scheduler.__class__.__name__ == "DPMSolverMultistepScheduler"
    image = embedded("a red digit 7", num_inference_steps=20, generator=torch.Generator().manual_seed(0)).images[0]
    assert image.size == (32, 32) and image.mode == "RGB"
    arr = np.asarray(image).astype(float)
    assert arr[..., 0].sum() > arr[..., 1].sum()  # red dominates


def test_sampling_is_deterministic_for_a_seed(embedded):
    def run(seed):
        out = embedded(["a green digit 3"] * 2, num_inference_steps=8,
                       generator=torch.Generator().manual_seed(seed), output_type="np")
        return out.images

    a, b, c = run(0), run(0), run(1)
    assert a.shape == (2, 32, 32, 3)
    assert np.array_equal(a, b)
    assert not np.allclose(a, c)


def test_unknown_base_gives_a_clear_error(tmp_path):
    with pytest.raises(HfFairError, match="neither 'embedded'"):
        load_base(str(tmp_path / "no-such-folder"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(HfFairError, match="model_index.json"):
        load_base(tmp_path / "empty")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(HfFairError, match="is a file"):
        load_base(tmp_path / "file.txt")
    # a Hub id that is not in the (offline) cache
    with pytest.raises(HfFairError, match="could not load base"):
        load_base("hf-fair-tests/does-not-exist")


def test_base_revision_follows_the_weights(tiny_folder, tmp_path):
    """Cache keys name a base by its weights: a copy is the same base, one changed byte is not."""
    import shutil

    from hf_fair.diffusion import base_revision

    folder, _ = tiny_folder
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    assert base_revision(str(copy)) == base_revision(str(folder)) != base_revision("embedded")
    weights = next(copy.glob("unet/*.safetensors"))
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    assert base_revision(str(copy)) != base_revision(str(folder))
    assert base_revision("stable-diffusion-v1-5/stable-diffusion-v1-5") == "stable-diffusion-v1-5/stable-diffusion-v1-5"


def test_a_dtype_loads_without_the_torch_dtype_deprecation_warning():
    """Every stage loads the base with a dtype; diffusers that deprecate ``torch_dtype`` get ``dtype``
    (no FutureWarning in every run's log), and the pipeline has that dtype either way."""
    import warnings

    import torch

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pipe = load_base("embedded", torch_dtype=torch.float32)
    assert pipe.unet.dtype == torch.float32
    assert not [w for w in caught if "torch_dtype" in str(w.message)], [str(w.message) for w in caught]
