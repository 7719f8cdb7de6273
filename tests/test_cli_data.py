import subprocess
import sys

import datasets
import pytest
from fixtures import make_waterbirds

from hf_fair import HfFairError
from hf_fair.cli import main
from hf_fair.hub import publish_dataset


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "hf_fair.cli", *args], capture_output=True, text=True)


def test_describe_colored_digits(capsys):
    assert main(["data", "describe", "colored-digits", "--severity", "0.99", "--seed", "0"]) == 0
    first = capsys.readouterr().out
    assert main(["data", "describe", "colored-digits", "--severity", "0.99", "--seed", "0"]) == 0
    assert capsys.readouterr().out == first
    rows = {line.split()[0]: [int(x) for x in line.split()[1:]] for line in first.splitlines() if "|" in line}
    assert set(rows) == {"small|red", "small|green", "large|red", "large|green"}
    for split in (0, 1):  # train, validation: minority far smaller
        assert rows["small|green"][split] * 20 < rows["small|red"][split]
        assert rows["large|red"][split] * 20 < rows["large|green"][split]
    assert len({rows[g][2] for g in rows}) == 1  # balanced test


def test_cli_errors_are_one_line():
    r = run_cli("data", "describe", "nope")
    assert r.returncode == 2 and "Traceback" not in r.stderr and "unknown dataset 'nope'" in r.stderr
    r = run_cli("data", "describe", "colored-digits", "--severity", "1.5")
    assert r.returncode == 2 and "between 0.5 and 1" in r.stderr
    r = run_cli("data", "describe", "colored-digits", "--bogus", "1")
    assert r.returncode == 2 and "--bogus" in r.stderr


def test_yaml_config(tmp_path, capsys):
    cfg = tmp_path / "d.yaml"
    cfg.write_text("dataset: colored-digits\nseverity: 0.95\n")
    assert main(["data", "describe", str(cfg)]) == 0
    assert "severity b = 0.95" in capsys.readouterr().out


def test_export_roundtrip_and_overwrite(tmp_path, capsys):
    src = make_waterbirds(tmp_path / "wb", per_group_split=6)
    out = tmp_path / "export"
    assert main(["data", "export", "waterbirds", "--data-dir", str(src), "--severity", "0.8", "--output_dir", str(out)]) == 0
    assert (out / "README.md").read_text().startswith("---\n")
    assert "b = 0.8" in (out / "README.md").read_text()
    assert (out / "severity_report.json").is_file() and (out / "group_spec.json").is_file()
    # images are embedded: the export survives deleting the source folder
    import shutil

    shutil.rmtree(src)
    loaded = datasets.load_from_disk(str(out))
    assert loaded["train"][0]["image"].size == (24, 20)
    assert len(loaded["test"]) == 24
    # the exported folder loads back as a dataset name
    from hf_fair.data import load_group_dataset

    again, _ = load_group_dataset(dataset=str(out))
    assert len(again["train"]) == len(loaded["train"])
    # non-empty output without --overwrite: clear error, folder untouched
    before = sorted(p.name for p in out.iterdir())
    assert main(["data", "export", "colored-digits", "--output_dir", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == before
    assert main(["data", "export", "colored-digits", "--severity", "0.9", "--output_dir", str(out), "--overwrite"]) == 0
    assert len(datasets.load_from_disk(str(out))["train"]) == 898
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".export.tmp")]


def test_push_offline_keeps_local_output(tmp_path, capsys):
    out = tmp_path / "export"
    code = main(["data", "export", "colored-digits", "--severity", "0.99", "--output_dir", str(out), "--push-to-hub", "me/digits"])
    err = capsys.readouterr().err
    assert code == 2
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in err
    assert "could not publish" in errors[0] and f"'{out}' is intact" in errors[0]
    assert datasets.load_from_disk(str(out))["train"].num_rows == 816


class RecordingApi:
    def __init__(self):
        self.calls = []

    def create_repo(self, repo_id, **kw):
        self.calls.append(("create_repo", repo_id, kw))
        return f"https://huggingface.co/datasets/{repo_id}"

    def upload_folder(self, folder_path, repo_id, repo_type, commit_message):
        from pathlib import Path

        files = sorted(str(p.relative_to(folder_path)) for p in Path(folder_path).rglob("*") if p.is_file())
        self.calls.append(("upload_folder", repo_id, repo_type, files))
        # the staged parquet shards load back as the same dataset
        self.loaded = datasets.load_dataset(folder_path)


def test_publish_dataset_uploads_loadable_layout(digits):
    api = RecordingApi()
    publish_dataset(digits, "---\nlicense: cc-by-4.0\n---\n# card", "me/digits", api=api)
    assert api.calls[0][0] == "create_repo" and api.calls[0][2]["repo_type"] == "dataset"
    name, repo, repo_type, files = api.calls[1]
    assert repo == "me/digits" and repo_type == "dataset"
    assert files == ["README.md", "data/test-00000-of-00001.parquet", "data/train-00000-of-00001.parquet", "data/validation-00000-of-00001.parquet"]
    assert api.loaded["train"].num_rows == len(digits["train"])
    assert api.loaded["test"].features["group"].names == digits["test"].features["group"].names


def test_publish_bad_repo_id(tmp_path):
    with pytest.raises(HfFairError, match="namespace/name"):
        from hf_fair.hub import publish_folder

        publish_folder(tmp_path, "justname", api=RecordingApi())
