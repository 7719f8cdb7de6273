"""Last-layer finetuning on cached frozen features (hf_fair.classify.frozen_features)."""

import json

import pytest
import torch
from safetensors.torch import load_file
from torchvision import tv_tensors

from hf_fair import HfFairError
from hf_fair.classify.config import ClassifierArguments
from hf_fair.classify.data import build_transforms
from hf_fair.classify.frozen_features import ViewDrawer, index_maps
from hf_fair.classify.models import create_model
from hf_fair.classify.trainer import train_classifier
from hf_fair.data import DataArguments, load_group_dataset

FAST = dict(model="resnet10t", epochs=2, batch_size=64, learning_rate=0.02, eval_batch_size=512, augment="shift", shift_px=1)


@pytest.fixture(scope="module")
def small_digits():
    dsd, _ = load_group_dataset(dataset="colored-digits", severity=0.95)
    return type(dsd)({s: d.shuffle(seed=1).select(range(min(len(d), 150))) for s, d in dsd.items()})


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory, small_digits):
    out = tmp_path_factory.mktemp("pre")
    train_classifier(ClassifierArguments(output_dir=str(out), stage="pretrain", selection="last", **FAST), data_args(), dsd=small_digits)
    return out / "model"


def data_args():
    return DataArguments(dataset="colored-digits", severity=0.95)


@pytest.mark.parametrize("shift_px,hflip", [(1, 0.0), (2, 0.5)])
def test_the_drawn_view_is_the_image_the_transform_makes(shift_px, hflip):
    """Same random state: the transform's own output equals the image gathered by the map of
    the view the drawer reads off the probe, for every draw."""
    train_tf, _ = build_transforms(create_model("resnet10t", 2, False), 12, "shift", hflip, shift_px)
    maps = index_maps(12, shift_px, hflip > 0)
    assert len(maps) == (2 * shift_px + 1) ** 2 * (2 if hflip else 1)
    drawer = ViewDrawer(train_tf)
    image = tv_tensors.Image(torch.randint(0, 256, (3, 12, 12), dtype=torch.uint8))
    seen = set()
    for seed in range(60):
        torch.manual_seed(seed)
        expected = torch.nn.Sequential(*train_tf.geometric)(image) if train_tf.geometric else image
        torch.manual_seed(seed)
        view = drawer()
        rows, cols = maps[view]
        assert torch.equal(image[:, rows, cols], expected)
        seen.add(view)
    assert len(seen) > len(maps) // 2  # the draws do vary


@pytest.mark.parametrize("objective", ["groupdro", "resample"])
def test_cached_features_train_the_same_head_as_the_images(tmp_path, small_digits, pretrained, objective):
    runs = {}
    for cache in (True, False):
        args = ClassifierArguments(output_dir=str(tmp_path / str(cache)), stage="finetune", init=str(pretrained), objective=objective,
                                   cache_features=cache, hflip=0.5, **FAST)
        runs[cache] = train_classifier(args, data_args(), dsd=small_digits)
    fast, slow = runs[True], runs[False]
    assert [h["train_loss"] for h in fast["history"]] == pytest.approx([h["train_loss"] for h in slow["history"]], rel=1e-4)
    for split in ("train", "validation", "test"):
        assert fast["splits"][split]["per_group_acc"] == slow["splits"][split]["per_group_acc"]
    a, b = (load_file(str(tmp_path / str(c) / "model" / "model.safetensors")) for c in (True, False))
    assert all(torch.allclose(a[k], b[k], atol=1e-5) for k in a)
    pre = load_file(str(pretrained / "model.safetensors"))
    assert all(torch.equal(pre[k], a[k]) for k in pre if not k.startswith("fc.") and "num_batches" not in k)
    log = (tmp_path / "True" / "train.log").read_text()
    assert "frozen features cached: 18 training views of 150 images" in log
    assert "frozen features" not in (tmp_path / "False" / "train.log").read_text()
    assert json.loads((tmp_path / "True" / "state" / "progress.json").read_text())["trains_on"] == "features"


def test_random_resized_crops_train_through_the_images(tmp_path, small_digits, pretrained):
    args = ClassifierArguments(output_dir=str(tmp_path / "crop"), stage="finetune", init=str(pretrained), **{**FAST, "augment": "crop"})
    train_classifier(args, data_args(), dsd=small_digits)
    assert "frozen features" not in (tmp_path / "crop" / "train.log").read_text()
    assert json.loads((tmp_path / "crop" / "state" / "progress.json").read_text())["trains_on"] == "images"


def test_resuming_on_the_other_path_is_refused(tmp_path, small_digits, pretrained):
    out = tmp_path / "ft"
    base = dict(output_dir=str(out), stage="finetune", init=str(pretrained), **{**FAST, "epochs": 3})
    train_classifier(ClassifierArguments(cache_features=False, max_steps=3, **base), data_args(), dsd=small_digits)
    metrics = out / "metrics.json"
    metrics.write_text(json.dumps({**json.loads(metrics.read_text()), "finished": False}))  # stopped mid-run
    with pytest.raises(HfFairError, match="--cache_features false"):
        train_classifier(ClassifierArguments(cache_features=True, max_steps=3, **base), data_args(), dsd=small_digits)
