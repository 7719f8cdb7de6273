"""Classifier training: objectives, stages, outputs, resume, bad input."""

import json

import numpy as np
import pytest
import torch

from hf_fair import HfFairError
from hf_fair.classify.config import ClassifierArguments
from hf_fair.classify.objectives import ERM, JTT, GroupDRO, Resample, Reweight
from hf_fair.classify.trainer import train_classifier
from hf_fair.data import DataArguments, load_group_dataset

FAST = dict(model="resnet10t", epochs=2, batch_size=64, learning_rate=0.02, eval_batch_size=512)


@pytest.fixture(scope="module")
def small_digits():
    """colored-digits at severity 0.95, subsampled for speed (all four groups kept)."""
    dsd, _ = load_group_dataset(dataset="colored-digits", severity=0.95)
    return type(dsd)({s: d.shuffle(seed=0).select(range(min(len(d), 128))) for s, d in dsd.items()})


def data_args():
    return DataArguments(dataset="colored-digits", severity=0.95)


# ----------------------------------------------------------------- objectives
def test_reweight_weights_inverse_group_size():
    obj = Reweight()
    groups = np.array([0] * 90 + [1] * 10)
    obj.setup(np.zeros(100, dtype=int), groups, 2)
    w = obj.weights.numpy()
    assert w[1] / w[0] == pytest.approx(9.0)
    assert (w[groups].mean()) == pytest.approx(1.0)


def test_resample_balances_groups():
    obj = Resample()
    groups = np.array([0] * 90 + [1] * 10)
    obj.setup(np.zeros(100, dtype=int), groups, 2)
    w = obj.sample_weights()
    assert w[groups == 0].sum() == pytest.approx(w[groups == 1].sum())


def test_groupdro_upweights_worst_group():
    obj = GroupDRO(eta=0.5)
    groups = np.array([0, 0, 1, 1])
    obj.setup(np.zeros(4, dtype=int), groups, 2)
    logits = torch.tensor([[5.0, -5.0], [5.0, -5.0], [-1.0, 1.0], [-1.0, 1.0]])
    y = torch.zeros(4, dtype=torch.long)
    g = torch.tensor(groups)
    losses = torch.nn.functional.cross_entropy(logits, y, reduction="none")
    loss = obj.loss(logits, y, g)
    l0, l1 = losses[:2].mean(), losses[2:].mean()
    q = torch.softmax(torch.tensor([0.5 * l0, 0.5 * l1]), 0)
    assert obj.q[1] > obj.q[0]
    assert torch.allclose(obj.q, q, atol=1e-5)
    assert loss.item() == pytest.approx((q[0] * l0 + q[1] * l1).item(), rel=1e-5)


def test_groupdro_generalisation_adjustment_favors_small_groups():
    obj = GroupDRO(eta=1.0, c=2.0)
    obj.setup(np.zeros(104, dtype=int), np.array([0] * 100 + [1] * 4), 2)
    logits = torch.zeros(2, 2)
    obj.loss(logits, torch.zeros(2, dtype=torch.long), torch.tensor([0, 1]))
    assert obj.q[1] > obj.q[0]  # equal losses, but C/sqrt(4) > C/sqrt(100)


def test_jtt_upsamples_errors():
    obj = JTT(epochs=1, lam=5)
    obj.setup(np.zeros(4, dtype=int), None, 2)
    obj.set_error_set(np.array([True, False, False, True]))
    assert obj.sample_weights().tolist() == [5.0, 1.0, 1.0, 5.0]
    again = JTT()
    again.load_state_dict(obj.state_dict())
    assert again.errors.tolist() == obj.errors.tolist()


def test_group_objective_needs_groups():
    with pytest.raises(HfFairError, match="needs group annotations"):
        GroupDRO().setup(np.zeros(3, dtype=int), None, 2)
    ERM().setup(np.zeros(3, dtype=int), None, 2)  # fine


# ----------------------------------------------------------------- training runs
@pytest.mark.parametrize("objective", ["erm", "groupdro", "resample", "reweight", "jtt", "dfr"])
def test_objectives_train_and_write_outputs(tmp_path, small_digits, objective):
    args = ClassifierArguments(output_dir=str(tmp_path / objective), objective=objective, jtt_epochs=1, dfr_repeats=2, **FAST)
    m = train_classifier(args, data_args(), dsd=small_digits)
    out = tmp_path / objective
    assert m["finished"] and m["selection"] == "val_worst_group"
    assert set(m["splits"]) == {"train", "validation", "test"}
    for split, sm in m["splits"].items():
        assert sm["n"] == len(small_digits[split])
        assert set(sm["per_group_acc"]) == {"0", "1", "2", "3"}
    assert len(m["history"]) == 2
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["splits"]["test"]["worst_group_acc"] == m["splits"]["test"]["worst_group_acc"]
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["classifier"]["objective"] == objective and "torch" in cfg["versions"]
    assert (out / "train.log").read_text().count("epoch") >= 2
    import timm

    model = timm.create_model(f"local-dir:{out / 'model'}")
    assert model.num_classes == 2
    assert "worst_group_acc" in (out / "model" / "README.md").read_text()
    saved_cfg = json.loads((out / "model" / "config.json").read_text())  # a checkpoint alone names its classes and groups
    assert saved_cfg["label_names"] == ["small", "large"]
    assert saved_cfg["group_names"] == ["small|red", "small|green", "large|red", "large|green"]
    if objective == "dfr":
        assert m["dfr"]["C"] > 0


def test_model_checkpoint_reproduces_metrics(tmp_path, small_digits):
    """The saved model gives exactly the reported test metrics."""
    import timm

    from hf_fair.classify.data import build_transforms
    from hf_fair.metrics import group_metrics

    args = ClassifierArguments(output_dir=str(tmp_path / "r"), **FAST)
    m = train_classifier(args, data_args(), dsd=small_digits)
    model = timm.create_model(f"local-dir:{tmp_path / 'r' / 'model'}").eval()
    _, tf = build_transforms(model, 32, "none", 0.0)
    test = small_digits["test"]
    x = torch.stack([tf(ex["image"]) for ex in test])
    with torch.no_grad():
        pred = model(x).argmax(1).numpy()
    gm = group_metrics(pred, test["label"], test["group"], 4)
    assert gm["worst_group_acc"] == pytest.approx(m["splits"]["test"]["worst_group_acc"])


def test_pretrain_then_finetune_last_layer(tmp_path, small_digits):
    pre = ClassifierArguments(output_dir=str(tmp_path / "pre"), stage="pretrain", selection="last", **FAST)
    train_classifier(pre, data_args(), dsd=small_digits)
    ft = ClassifierArguments(
        output_dir=str(tmp_path / "ft"), stage="finetune", init=str(tmp_path / "pre" / "model"), finetune_scope="last_layer", **FAST
    )
    m = train_classifier(ft, data_args(), dsd=small_digits)
    assert m["finetune_scope"] == "last_layer"
    # the record names the start checkpoint relative to the run, not by this machine's path
    written = json.loads((tmp_path / "ft" / "metrics.json").read_text())
    assert written["model"] == "init:../pre/model" and str(tmp_path) not in (tmp_path / "ft" / "metrics.json").read_text()
    import timm
    from safetensors.torch import load_file

    a = load_file(str(tmp_path / "pre" / "model" / "model.safetensors"))
    b = load_file(str(tmp_path / "ft" / "model" / "model.safetensors"))
    head = {k for k in a if k.startswith("fc.")}
    assert head and all(torch.equal(a[k], b[k]) for k in a if k not in head and "num_batches" not in k)
    assert any(not torch.equal(a[k], b[k]) for k in head)
    assert timm.create_model(f"local-dir:{tmp_path / 'ft' / 'model'}").num_classes == 2


def test_dfr_on_frozen_features_refits_without_training(tmp_path, small_digits):
    """DFR from an ERM checkpoint (last layer) trains no epochs and gives exactly DFR from scratch:
    DFR's features are ERM's, and the refit sets the whole head."""
    from safetensors.torch import load_file

    scratch = train_classifier(ClassifierArguments(output_dir=str(tmp_path / "dfr"), objective="dfr", dfr_repeats=2, **FAST),
                               data_args(), dsd=small_digits)
    train_classifier(ClassifierArguments(output_dir=str(tmp_path / "erm"), **FAST), data_args(), dsd=small_digits)
    refit = train_classifier(ClassifierArguments(output_dir=str(tmp_path / "refit"), objective="dfr", dfr_repeats=2, stage="finetune",
                                                 init=str(tmp_path / "erm" / "model"), finetune_scope="last_layer", **FAST),
                             data_args(), dsd=small_digits)
    assert refit["history"] == [] and refit["selected_epoch"] is None and "no training epochs" in refit["selection_rule"]
    assert not (tmp_path / "refit" / "state").exists()
    assert refit["dfr"]["C"] == scratch["dfr"]["C"]
    for split in ("validation", "test"):
        assert refit["splits"][split]["per_group_acc"] == scratch["splits"][split]["per_group_acc"]
    erm = load_file(str(tmp_path / "erm" / "model" / "model.safetensors"))
    got = load_file(str(tmp_path / "refit" / "model" / "model.safetensors"))
    assert all(torch.equal(erm[k], got[k]) for k in erm if not k.startswith("fc."))
    assert not torch.equal(erm["fc.weight"], got["fc.weight"])
    assert "selected epoch" not in (tmp_path / "refit" / "model" / "README.md").read_text()


def test_finetune_class_mismatch(tmp_path, small_digits):
    import timm

    from hf_fair.classify.models import save_checkpoint

    save_checkpoint(timm.create_model("resnet10t", num_classes=5), tmp_path / "five")
    ft = ClassifierArguments(output_dir=str(tmp_path / "ft"), stage="finetune", init=str(tmp_path / "five"), **FAST)
    with pytest.raises(HfFairError, match="5 classes but the data has 2.*--reinit_head"):
        train_classifier(ft, data_args(), dsd=small_digits)
    ft.reinit_head, ft.output_dir = True, str(tmp_path / "ft2")
    assert train_classifier(ft, data_args(), dsd=small_digits)["finished"]


def test_resume_after_interruption_matches_uninterrupted(tmp_path, small_digits, monkeypatch):
    from hf_fair.classify import trainer

    full = train_classifier(ClassifierArguments(output_dir=str(tmp_path / "full"), **FAST), data_args(), dsd=small_digits)

    calls = {"n": 0}
    original = trainer.ClassifierRun._train_epoch

    def interrupted(self, *a, **k):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return original(self, *a, **k)

    monkeypatch.setattr(trainer.ClassifierRun, "_train_epoch", interrupted)
    args = ClassifierArguments(output_dir=str(tmp_path / "cut"), **FAST)
    with pytest.raises(KeyboardInterrupt):
        train_classifier(args, data_args(), dsd=small_digits)
    assert not (tmp_path / "cut" / "metrics.json").exists()
    monkeypatch.setattr(trainer.ClassifierRun, "_train_epoch", original)
    resumed = train_classifier(args, data_args(), dsd=small_digits)
    assert resumed["splits"]["test"] == full["splits"]["test"]
    assert [h["train_loss"] for h in resumed["history"]] == pytest.approx([h["train_loss"] for h in full["history"]])
    # finished: a re-run does nothing and returns the same metrics
    assert train_classifier(args, data_args(), dsd=small_digits) == resumed


def test_other_config_in_run_folder_refused(tmp_path, small_digits):
    train_classifier(ClassifierArguments(output_dir=str(tmp_path / "r"), **FAST), data_args(), dsd=small_digits)
    other = ClassifierArguments(output_dir=str(tmp_path / "r"), **{**FAST, "learning_rate": 0.1})
    with pytest.raises(HfFairError, match="holds classifier run made with a different configuration.*--overwrite"):
        train_classifier(other, data_args(), dsd=small_digits)


def test_nan_loss_stops_and_keeps_checkpoint(tmp_path, small_digits, monkeypatch):
    from hf_fair.classify import objectives

    args = ClassifierArguments(output_dir=str(tmp_path / "nan"), **{**FAST, "epochs": 3})
    real = objectives.ERM.loss
    count = {"n": 0}
    steps_per_epoch = -(-len(small_digits["train"]) // FAST["batch_size"])

    def poisoned(self, logits, y, group, weight=None):
        # finite for the whole first epoch, NaN from the second step of epoch 2 on
        count["n"] += 1
        loss = real(self, logits, y, group, weight)
        return loss * float("nan") if count["n"] > steps_per_epoch + 1 else loss

    monkeypatch.setattr(objectives.ERM, "loss", poisoned)
    with pytest.raises(HfFairError, match="loss became nan.*last good checkpoint"):
        train_classifier(args, data_args(), dsd=small_digits)
    # the kept state is accelerate's save_state of epoch 1 (finite weights) and our progress record
    from safetensors.torch import load_file

    state = tmp_path / "nan" / "state"
    assert json.loads((state / "progress.json").read_text())["epoch"] == 1
    weights = load_file(state / "model.safetensors")
    assert weights and all(torch.isfinite(v).all() for v in weights.values() if v.is_floating_point())


def test_group_objective_without_group_column(tmp_path, small_digits):
    plain = type(small_digits)({s: d.remove_columns(["group"]) for s, d in small_digits.items()})
    args = ClassifierArguments(output_dir=str(tmp_path / "g"), objective="groupdro", **FAST)
    with pytest.raises(HfFairError, match="groupdro' needs group annotations"):
        train_classifier(args, data_args(), dsd=plain)


def test_unknown_model_suggests_names(tmp_path, small_digits):
    args = ClassifierArguments(output_dir=str(tmp_path / "m"), **{**FAST, "model": "resnet51"})
    with pytest.raises(HfFairError, match="unknown timm model 'resnet51'.*resnet50"):
        train_classifier(args, data_args(), dsd=small_digits)


def test_pretrained_offline_is_clear(tmp_path, small_digits):
    args = ClassifierArguments(output_dir=str(tmp_path / "p"), pretrained=True, **FAST)
    with pytest.raises(HfFairError, match="--pretrained false"):
        train_classifier(args, data_args(), dsd=small_digits)


def test_bad_flags():
    with pytest.raises(ValueError, match="objective"):
        ClassifierArguments(output_dir="x", objective="dro")
    with pytest.raises(ValueError, match="--init"):
        ClassifierArguments(output_dir="x", stage="finetune")


def test_stride_one_resnets_are_timm_models_that_round_trip(tmp_path):
    import timm
    import torch

    from hf_fair.classify import models

    model = models.create_model("resnet10_s1", num_classes=2, pretrained=False)
    assert isinstance(model, timm.models.resnet.ResNet)
    # the stem keeps the resolution: 16 px in, 2x2 before pooling (three stride-2 stages)
    x = torch.randn(3, 3, 16, 16)
    assert model.forward_features(x).shape == (3, 256, 2, 2)
    assert model(x).shape == (3, 2)
    assert [f["reduction"] for f in model.feature_info] == [1, 1, 2, 4, 8]
    models.save_checkpoint(model, tmp_path / "m")
    loaded = timm.create_model(f"local-dir:{tmp_path / 'm'}", pretrained=True)
    model.eval(), loaded.eval()
    assert torch.allclose(model(x), loaded(x))
    with pytest.raises(HfFairError, match="pretrained"):
        models.create_model("resnet10_s1", num_classes=2, pretrained=True)


def test_augmentation_choices_and_colour_is_kept():
    import numpy as np
    import timm
    from PIL import Image

    from hf_fair.classify.data import build_transforms

    model = timm.create_model("resnet10_s1", num_classes=2)
    image = Image.fromarray(np.full((32, 32, 3), (200, 0, 0), dtype=np.uint8))
    for augment in ("crop", "shift", "none"):
        train, evaluation = build_transforms(model, 16, augment, 0.0, shift_px=1)
        x = train(image)
        assert x.shape == (3, 16, 16)
        # a uniformly red image stays uniformly red: no colour jitter in any augmentation
        assert torch.allclose(x, evaluation(image))
    with pytest.raises(ValueError, match="--augment 'jitter'"):
        build_transforms(model, 16, "jitter", 0.0)
    with pytest.raises(ValueError, match="--augment"):
        ClassifierArguments(output_dir="x", augment="colour")


@pytest.mark.parametrize("objective", ["erm", "reweight", "resample", "groupdro", "jtt", "dfr"])
def test_any_training_set_size_trains(objective, small_digits, tmp_path):
    """k x batch + 1 examples leave a last batch of one; resnet18 at 32 px ends in 1x1 feature maps,
    where batch norm cannot train on a single example. Every objective must still train."""
    from hf_fair.data import attach_spec, spec_of

    dsd = attach_spec(type(small_digits)({"train": small_digits["train"].select(range(2 * 8 + 1)),
                                          "validation": small_digits["validation"], "test": small_digits["test"]}),
                      spec_of(small_digits))
    args = ClassifierArguments(output_dir=str(tmp_path / objective), model="resnet18", objective=objective, epochs=1,
                               batch_size=8, jtt_epochs=1, learning_rate=0.01)
    metrics = train_classifier(args, data_args(), dsd)
    assert metrics["finished"] and metrics["history"][0]["train_steps"] == 2


def test_objective_registry_is_the_one_list_of_names(tmp_path):
    """A registered objective is accepted by the classifier config and the run config alike."""
    from hf_fair.classify.config import OBJECTIVES, ClassifierArguments
    from hf_fair.classify.objectives import ERM, OBJECTIVES as REGISTRY, make_objective, register
    from hf_fair.run.config import parse_method

    assert OBJECTIVES is REGISTRY and list(OBJECTIVES)[:2] == ["erm", "reweight"]

    @register
    class Focal(ERM):
        name = "focal_test"

    try:
        args = ClassifierArguments(output_dir=str(tmp_path), objective="focal_test")
        assert isinstance(make_objective(args), Focal)
        assert parse_method("dreambooth_cluster+focal_test").objective == "focal_test"
    finally:
        del REGISTRY["focal_test"]
    with pytest.raises(ValueError, match="focal_test"):  # HfArgumentParser's contract; the CLI shows one line
        ClassifierArguments(output_dir=str(tmp_path), objective="focal_test")


def test_saved_model_records_input_size_and_class_names(tmp_path):
    """A reader of a classifier folder needs no guess: timm's config holds both."""
    import json

    import timm
    from PIL import Image

    from hf_fair.classify.models import save_checkpoint
    from hf_fair.classify.predict import load_classifier, predict_proba

    save_checkpoint(timm.create_model("resnet10_s1", num_classes=2), tmp_path / "m", input_size=16, label_names=["small", "large"])
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    assert cfg["label_names"] == ["small", "large"] and cfg["pretrained_cfg"]["input_size"] == [3, 16, 16]
    _, _, size, names = load_classifier(str(tmp_path / "m"))
    assert size == 16 and names == ["small", "large"]
    probs = predict_proba(str(tmp_path / "m"), Image.new("RGB", (40, 30), (200, 0, 0)))
    assert set(probs) == {"small", "large"} and abs(sum(probs.values()) - 1) < 1e-5


def test_schedule_warms_up_linearly_then_decays_to_zero():
    from types import SimpleNamespace

    from hf_fair.classify.trainer import ClassifierRun

    args = ClassifierArguments(output_dir="unused", optimizer="adamw", learning_rate=0.01, warmup_epochs=1)
    model = torch.nn.Linear(3, 2)
    optimizer, scheduler = ClassifierRun._optimizer(SimpleNamespace(args=args), model, steps_per_epoch=4, epochs=3)
    lrs = []
    for _ in range(12):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert lrs[:5] == pytest.approx([0.0, 0.0025, 0.005, 0.0075, 0.01])  # 4 warm-up steps from 0
    assert all(a > b for a, b in zip(lrs[4:], lrs[5:]))  # cosine decay after the warm-up
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-12)
