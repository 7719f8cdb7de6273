"""A saved classifier loads in a fresh Python with exactly the lines its model card shows."""

import json
import os
import re
import subprocess
import sys

import pytest

from hf_fair.classify.config import ClassifierArguments
from hf_fair.classify.trainer import train_classifier
from hf_fair.data import DataArguments, load_group_dataset

DATA = DataArguments(dataset="colored-digits", severity=0.95)
# the trained model's own output on this input, checked again in the fresh process
CHECK = """
import torch
from safetensors.torch import load_file
saved = load_file(r"{folder}/model.safetensors")
state = model.state_dict()
assert all(torch.equal(state[k], v) for k, v in saved.items()), "weights differ from the folder's"
print(json.dumps({{"architecture": model.pretrained_cfg.get("architecture"), "num_classes": model.num_classes,
                   "logits": list(model(torch.zeros(1, 3, 32, 32)).shape)}}))
"""


@pytest.fixture(scope="module")
def small_digits():
    dsd, _ = load_group_dataset(DATA)
    return type(dsd)({s: d.shuffle(seed=0).select(range(min(len(d), 64))) for s, d in dsd.items()})


def card_code(folder) -> str:
    card = (folder / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", card, re.S)
    assert len(blocks) == 1, card
    return blocks[0].replace("<this folder>", str(folder))


@pytest.mark.parametrize("arch, needs_hf_fair", [("resnet10_s1", True), ("resnet18", False)])
def test_card_lines_load_the_model_in_a_fresh_python(small_digits, tmp_path, arch, needs_hf_fair):
    args = ClassifierArguments(output_dir=str(tmp_path / arch), model=arch, epochs=1, batch_size=64, image_size=32)
    train_classifier(args, DATA, dsd=small_digits)
    folder = tmp_path / arch / "model"
    code = card_code(folder)
    assert ("import hf_fair" in code) == needs_hf_fair  # a stock architecture: timm's one-liner alone
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["HF_HUB_OFFLINE"] = "1"
    r = subprocess.run([sys.executable, "-c", "import json\n" + code + CHECK.format(folder=folder)], cwd=tmp_path,
                       env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out == {"architecture": arch, "num_classes": 2, "logits": [1, 2]}


def test_without_import_hf_fair_the_small_resnets_are_unknown(tmp_path):
    """Why the card says `import hf_fair`: timm alone does not know hf-fair's architectures."""
    r = subprocess.run([sys.executable, "-c", "import timm; print(timm.is_model('resnet10_s1'))\n"
                        "import hf_fair; print(timm.is_model('resnet10_s1'))"], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.split() == ["False", "True"]
