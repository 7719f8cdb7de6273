"""Library warnings reach the terminal through the CLI, at the level chosen with --log_level,
and inputs a command left out are named in its closing summary."""

import os
import subprocess
import sys

from fixtures import make_utkface


def _cli(*args, cwd):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "hf_fair.cli", *args], cwd=cwd, env=env, capture_output=True, text=True)


def test_skipped_file_is_named_in_the_summary_on_stderr(tmp_path):
    root = make_utkface(tmp_path / "utk")
    r = _cli("data", "describe", "utkface", "--data-dir", str(root), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    lines = r.stderr.splitlines()
    assert any(" WARNING hf_fair.data.utkface: utkface: skipped 2 file(s)" in ln for ln in lines)
    assert any(ln.endswith("WARNING hf_fair: skipped 2 files: 39_1_20170116174525125.jpg.chip.jpg — name is not age_gender_race_date; "
                           "not_a_face_name.jpg — name is not age_gender_race_date") for ln in lines)
    assert "skipped" not in r.stdout  # the table stays clean on stdout


def test_log_level_filters_and_debug_shows_each_skip(tmp_path):
    root = make_utkface(tmp_path / "utk")
    quiet = _cli("--log_level", "error", "data", "describe", "utkface", "--data-dir", str(root), cwd=tmp_path)
    assert quiet.returncode == 0 and "WARNING" not in quiet.stderr
    loud = _cli("data", "describe", "utkface", "--data-dir", str(root), "--log_level=debug", cwd=tmp_path)
    assert loud.returncode == 0
    assert "DEBUG hf_fair.skipped: skipped " in loud.stderr and "not_a_face_name.jpg: name is not" in loud.stderr


def test_bad_log_level_is_one_error_line(tmp_path):
    r = _cli("--log_level", "loud", "data", "describe", "colored-digits", cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.strip() == "error: --log_level 'loud' is not one of ['debug', 'info', 'warning', 'error']"


def test_unreadable_image_is_counted_with_skip_bad_images(tmp_path):
    root = make_utkface(tmp_path / "utk")
    bad = root / "25_0_1_20170110000000001.jpg.chip.jpg"
    bad.write_bytes(b"not a jpeg")
    r = _cli("data", "describe", "utkface", "--data-dir", str(root), "--skip-bad-images", "true", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "skipped 3 files: " in r.stderr and "25_0_1_20170110000000001.jpg.chip.jpg — unreadable (UnidentifiedImageError)" in r.stderr


def test_help_into_a_closed_pipe_has_no_traceback():
    """`hf-fair --help | head -1`: the reader closes the pipe early; no BrokenPipeError traceback."""
    done = subprocess.run(f"'{sys.executable}' -m hf_fair.cli --help | head -1", shell=True, capture_output=True, text=True)
    assert done.stdout.startswith("usage: hf-fair")
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr
