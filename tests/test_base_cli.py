"""``hf-fair base sample``."""

import json

from PIL import Image

from hf_fair.cli import main


def test_base_sample_writes_a_grid(tmp_path):
    out = tmp_path / "grid.png"
    rc = main(["base", "sample", "--base", "embedded", "--prompt", "a green digit 3", "--num-images", "6",
               "--seed", "0", "--num-inference-steps", "6", "--ncols", "3", "--output", str(out)])
    assert rc == 0
    grid = Image.open(out)
    assert grid.size == (3 * 32 * 4, 2 * 32 * 4)
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["seeds"] == list(range(6)) and meta["prompt"] == "a green digit 3"


def test_base_sample_bad_input(tmp_path, capsys):
    rc = main(["base", "sample", "--base", str(tmp_path / "nope"), "--prompt", "a red digit 1", "--output", str(tmp_path / "g.png")])
    assert rc == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "nope" in err and "Traceback" not in err
    assert not (tmp_path / "g.png").exists()
    rc = main(["base", "sample", "--prompt", "a red digit 1", "--output", str(tmp_path / "g.jpg")])
    assert rc == 2 and ".png" in capsys.readouterr().err
    rc = main(["base", "sample", "--prompt", "a red digit 1", "--output", str(tmp_path / "g.png"), "--num-images", "0"])
    assert rc == 2 and "--num-images" in capsys.readouterr().err
