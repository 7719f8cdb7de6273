"""Every folder and file a stage writes gets the user's umask (0755 / 0644 under 022), atomic
writes included (a temporary folder renamed into place keeps its mode). `space build` is checked
in test_space_bundle.py on its real run."""

import os

import datasets
import numpy as np
import pytest
from fixtures import first_per_group
import torch
from fixtures import wrong_modes

from hf_fair.cli import main
from hf_fair.data import DataArguments, load_group_dataset, spec_of
from hf_fair.data.groups import attach_spec

DATA = DataArguments(dataset="colored-digits", severity=0.99)


@pytest.fixture(autouse=True)
def umask_022():
    before = os.umask(0o022)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the tiny models gain nothing from threads on a shared machine
    yield
    torch.set_num_threads(threads)
    os.umask(before)


@pytest.fixture(scope="module")
def small():
    """colored-digits at severity 0.99, at most 8 images of each group per split."""
    dsd, _ = load_group_dataset(DATA)
    spec = spec_of(dsd)

    def take(ds, n):
        return first_per_group(ds, n, spec.n_groups)

    return attach_spec(datasets.DatasetDict({s: take(dsd[s], 8) for s in ("train", "validation", "test")}), spec)


def test_data_export(tmp_path):
    out = tmp_path / "export"
    assert main(["data", "export", "colored-digits", "--severity", "0.99", "--output_dir", str(out)]) == 0
    assert (out / "README.md").is_file() and wrong_modes(out) == []


def test_classify(tmp_path, small):
    from hf_fair.classify.config import ClassifierArguments
    from hf_fair.classify.trainer import train_classifier

    out = tmp_path / "classifier"
    train_classifier(ClassifierArguments(output_dir=str(out), model="resnet10_s1", epochs=1, max_steps=1, batch_size=16), DATA, dsd=small)
    assert {"model", "best", "state", "metrics.json", "train.log"} <= {p.name for p in out.iterdir()}
    assert wrong_modes(out) == []


def test_adapters_train_and_generate(tmp_path, small):
    from hf_fair.adapters.config import AdapterArguments
    from hf_fair.adapters.train import train_adapters
    from hf_fair.generate.config import GenerateArguments
    from hf_fair.generate.core import generate_dataset

    adapters = tmp_path / "adapters"
    train_adapters(AdapterArguments(output_dir=str(adapters), method="lora", max_train_steps=1, train_batch_size=2), DATA, dsd=small)
    assert (adapters / "manifest.json").is_file() and wrong_modes(adapters) == []
    synth = tmp_path / "synthetic"
    generate_dataset(GenerateArguments(output_dir=str(synth), source="lora", adapters=str(adapters), images_per_group=2,
                                       num_inference_steps=2, shard_size=2, fidelity=False), DATA, dsd=small)
    assert (synth / "dataset_dict.json").is_file() and (synth / "grid.png").is_file()
    assert wrong_modes(synth) == []
