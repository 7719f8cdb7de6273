"""A failed command: one `error:` line that shows the underlying message whole, and no folder left behind."""

import os
import subprocess
import sys

import pytest

from hf_fair.errors import first_line


def _cli(*args, cwd):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "hf_fair.cli", *args], cwd=cwd, env=env, capture_output=True, text=True)


def test_first_line_keeps_the_line_whole():
    long = "Cannot find it. " * 30 + "set 'HF_HUB_OFFLINE=0' as environment variable."
    assert first_line(OSError(long + "\nsecond line")) == f"OSError: {long}"
    assert first_line(ValueError("\n\n  late first line  \nmore")) == "ValueError: late first line"
    assert first_line(KeyError()) == "KeyError"


def test_hub_error_of_unknown_adapters_is_shown_whole(tmp_path):
    from huggingface_hub import snapshot_download

    with pytest.raises(Exception) as hub:  # the message the Hub client gives offline, whatever its version
        snapshot_download("nosuchorg/nosuchrepo", repo_type="model")
    underlying = next(s.strip() for s in str(hub.value).splitlines() if s.strip())
    assert len(underlying) > 200  # long enough that a cut at 200 characters would show

    r = _cli("generate", "--dataset", "colored-digits", "--severity", "0.99", "--source", "lora", "--adapters",
             "nosuchorg/nosuchrepo", "--images_per_group", "2", "--output_dir", str(tmp_path / "g"), cwd=tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1
    assert f"{type(hub.value).__name__}: {underlying}" in errors[0]
    assert errors[0].count("'") % 2 == 0  # no quote left open
    assert not (tmp_path / "g").exists()


TINY_RUN = """dataset: colored-digits
severities: [0.99]
methods: [erm, vanilla]
generate: {images_per_group: 2, num_inference_steps: 2, fidelity: false}
classifier: {model: no_such_model, epochs: 1, max_steps: 1}
"""
DIGITS = ["--dataset", "colored-digits", "--severity", "0.99"]
BAD = {  # one bad argument per stage command; each made (or left) a folder before it was checked
    "data export": ["data", "export", *DIGITS, "--push_to_hub", "noslash"],
    "cluster": ["cluster", *DIGITS, "--encoder", "timm:no_such_model"],
    "adapters train": ["adapters", "train", *DIGITS, "--method", "lora", "--base", "no-such-org/no-such-base", "--max_train_steps", "1"],
    "generate": ["generate", *DIGITS, "--base", "no-such-org/no-such-base", "--images_per_group", "2"],
    "classify": ["classify", *DIGITS, "--model", "no_such_model", "--epochs", "1"],
    "run": ["run", "RUN_YAML"],
}


@pytest.mark.parametrize("command", list(BAD))
def test_a_bad_argument_leaves_no_folder(command, tmp_path, capsys):
    from hf_fair.cli import main

    (tmp_path / "run.yaml").write_text(TINY_RUN)
    out = tmp_path / "new" / "out"  # a parent the command would make, too
    argv = [str(tmp_path / "run.yaml") if a == "RUN_YAML" else a for a in BAD[command]] + ["--output_dir", str(out)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    errors = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in err, err
    assert not (tmp_path / "new").exists(), sorted(p.relative_to(tmp_path).as_posix() for p in (tmp_path / "new").rglob("*"))


def test_a_classifier_run_failing_before_its_first_epoch_is_saved_leaves_no_folder(tmp_path, monkeypatch):
    from hf_fair.classify import trainer
    from hf_fair.classify.config import ClassifierArguments
    from hf_fair.data import DataArguments
    from hf_fair.errors import HfFairError

    def diverge(*args, **kwargs):
        raise HfFairError("loss became nan at epoch 1, step 0; stopped")

    monkeypatch.setattr(trainer.ClassifierRun, "_train_epoch", diverge)
    out = tmp_path / "c"
    args = ClassifierArguments(output_dir=str(out), model="resnet10_s1", epochs=1, max_steps=1)
    with pytest.raises(HfFairError, match="loss became nan"):
        trainer.train_classifier(args, DataArguments(dataset="colored-digits", severity=0.99))
    assert not out.exists()
    out.mkdir()  # a folder the user made stays, emptied of what the run wrote
    with pytest.raises(HfFairError, match="loss became nan"):
        trainer.train_classifier(args, DataArguments(dataset="colored-digits", severity=0.99))
    assert out.is_dir() and not any(out.iterdir())
