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
