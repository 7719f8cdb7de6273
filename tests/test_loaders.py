import numpy as np
import pytest
from fixtures import make_celeba, make_celeba_hub, make_imagefolder, make_utkface, make_waterbirds

from hf_fair import HfFairError
from hf_fair.data import group_counts, load_group_dataset, spec_of

STD = ["image", "label", "attribute", "group"]


def _check_standard(dsd):
    assert list(dsd) == ["train", "validation", "test"]
    for split in dsd.values():
        assert split.column_names[:4] == STD
        assert type(split.features["group"]).__name__ == "ClassLabel"
        labels = np.asarray(split["label"])
        attrs = np.asarray(split["attribute"])
        assert (np.asarray(split["group"]) == labels * spec_of(dsd).n_attributes + attrs).all()


def test_celeba_local(tmp_path):
    root = make_celeba(tmp_path / "celeba")
    dsd, _ = load_group_dataset(dataset="celeba", data_dir=str(root))
    _check_standard(dsd)
    assert [len(dsd[s]) for s in dsd] == [36, 12, 12]
    assert dsd["train"].features["group"].names == ["not_blond|female", "not_blond|male", "blond|female", "blond|male"]
    ex = dsd["train"][5]
    assert ex["image"].size == (178, 218)
    assert ex["label"] == int(ex["Blond_Hair"]) and ex["attribute"] == int(ex["Male"])
    assert ex["image_id"] == "000006.jpg"


def test_celeba_other_attributes(tmp_path):
    root = make_celeba(tmp_path / "celeba")
    dsd, _ = load_group_dataset(dataset="celeba", data_dir=str(root), target="Smiling", attribute="Young")
    assert dsd["train"].features["attribute"].names == ["old", "young"]
    assert all(ex["label"] == int(ex["Smiling"]) for ex in dsd["validation"])


def test_celeba_hub_layout(tmp_path):
    root = make_celeba_hub(tmp_path / "hub")
    dsd, _ = load_group_dataset(dataset="celeba", hub_dataset=str(root))
    _check_standard(dsd)
    assert len(dsd["validation"]) == 24  # 'valid' is mapped to 'validation'
    assert "celeb_id" in dsd["train"].column_names
    assert group_counts(dsd["train"], 4) == [6, 6, 6, 6]


def test_celeba_bad_input(tmp_path):
    root = make_celeba(tmp_path / "celeba")
    with pytest.raises(HfFairError, match="Blond_Hiar.*Blond_Hair"):
        load_group_dataset(dataset="celeba", data_dir=str(root), target="Blond_Hiar")
    (root / "list_eval_partition.txt").unlink()
    with pytest.raises(HfFairError, match="list_eval_partition.txt"):
        load_group_dataset(dataset="celeba", data_dir=str(root))


def test_celeba_missing_and_unreadable_images(tmp_path):
    root = make_celeba(tmp_path / "celeba")
    (root / "img_align_celeba" / "000003.jpg").unlink()
    (root / "img_align_celeba" / "000007.jpg").write_text("not an image")
    with pytest.raises(HfFairError, match="000003.jpg' is missing"):
        load_group_dataset(dataset="celeba", data_dir=str(root))
    dsd, _ = load_group_dataset(dataset="celeba", data_dir=str(root), skip_bad_images=True)
    assert sum(len(d) for d in dsd.values()) == 58
    assert "000007.jpg" not in dsd["train"]["image_id"]


def test_unreadable_image_named(tmp_path):
    root = make_waterbirds(tmp_path / "wb")
    bad = root / "001.Bird_0" / "Bird_0001.jpg"
    bad.write_bytes(b"\x00\x01garbage")
    with pytest.raises(HfFairError, match="Bird_0001.jpg' is unreadable"):
        load_group_dataset(dataset="waterbirds", data_dir=str(root))


def test_waterbirds_group_dro_folder(tmp_path):
    root = make_waterbirds(tmp_path / "wb")
    dsd, _ = load_group_dataset(dataset="waterbirds", data_dir=str(root))
    _check_standard(dsd)
    assert [group_counts(dsd[s], 4) for s in dsd] == [[3, 3, 3, 3]] * 3
    assert dsd["test"].features["group"].names == ["landbird|land", "landbird|water", "waterbird|land", "waterbird|water"]
    ex = dsd["train"][0]
    assert ex["img_filename"].endswith(".jpg") and ex["image"].size == (24, 20)


def test_waterbirds_missing_metadata(tmp_path):
    (tmp_path / "wb").mkdir()
    with pytest.raises(HfFairError, match="metadata.csv"):
        load_group_dataset(dataset="waterbirds", data_dir=str(tmp_path / "wb"))


def test_waterbirds_hub_layout(tmp_path):
    import datasets
    from PIL import Image

    feats = datasets.Features({"image": datasets.Image(), "label": datasets.Value("int64"), "place": datasets.Value("int64")})
    (tmp_path / "hub" / "data").mkdir(parents=True)
    for split in ("train", "validation", "test"):
        rows = {"image": [Image.new("RGB", (8, 8))] * 8, "label": [0, 0, 1, 1] * 2, "place": [0, 1] * 4}
        datasets.Dataset.from_dict(rows, features=feats).to_parquet(str(tmp_path / "hub" / "data" / f"{split}-00000-of-00001.parquet"))
    dsd, _ = load_group_dataset(dataset="waterbirds", hub_dataset=str(tmp_path / "hub"))
    _check_standard(dsd)
    assert group_counts(dsd["train"], 4) == [2, 2, 2, 2]
    with pytest.raises(HfFairError, match="'bird_kind'.*columns are"):
        load_group_dataset(dataset="waterbirds", hub_dataset=str(tmp_path / "hub"), label_column="bird_kind")


def test_utkface(tmp_path):
    from hf_fair import skipped

    root = make_utkface(tmp_path / "utk")
    with skipped.collect() as items:
        dsd, _ = load_group_dataset(dataset="utkface", data_dir=str(root))
    _check_standard(dsd)
    assert dsd["train"].features["attribute"].names == ["young", "old"]
    total = sum(len(d) for d in dsd.values())
    assert total <= 2 * 4 * 6  # ages 70 and the malformed names are out
    # the race-missing name (age 39 would fall in 'old') is skipped and counted, not loaded with race -1
    names = [n for d in dsd.values() for n in d["file_name"]]
    assert "39_1_20170116174525125.jpg.chip.jpg" not in names and -1 not in [r for d in dsd.values() for r in d["race"]]
    assert sorted(items) == [("39_1_20170116174525125.jpg.chip.jpg", "name is not age_gender_race_date"),
                             ("not_a_face_name.jpg", "name is not age_gender_race_date")]
    assert skipped.summary(items).startswith("skipped 2 files: 39_1_20170116174525125.jpg.chip.jpg — name is not")
    ages = [a for d in dsd.values() for a in d["age"]]
    assert max(ages) <= 50 and 70 not in ages
    tc = group_counts(dsd["test"], 4)
    assert len(set(tc)) == 1  # balanced test
    for ex in dsd["train"]:
        assert ex["attribute"] == (0 if ex["age"] <= 5 else 1)
        assert ex["label"] == int(ex["file_name"].split("_")[1])
    custom, _ = load_group_dataset(dataset="utkface", data_dir=str(root), age_buckets="kid:0-10,adult:11-100")
    assert sum(len(d) for d in custom.values()) > total
    with pytest.raises(HfFairError, match="age bucket"):
        load_group_dataset(dataset="utkface", data_dir=str(root), age_buckets="young:0-5,old:3-50")


@pytest.mark.parametrize("with_split", [False, True])
def test_imagefolder(tmp_path, with_split):
    root = make_imagefolder(tmp_path / "f", with_split=with_split)
    dsd, _ = load_group_dataset(dataset="imagefolder", data_dir=str(root))
    _check_standard(dsd)
    assert dsd["train"].features["label"].names == ["cat", "dog"]
    assert "photographer" in dsd["train"].column_names
    assert sum(len(d) for d in dsd.values()) == 40
    if with_split:
        assert len(dsd["train"]) == 14  # rows 0, 3, 6, ...


def test_imagefolder_bad_column(tmp_path):
    root = make_imagefolder(tmp_path / "f")
    with pytest.raises(HfFairError, match="'species'.*--label-column"):
        load_group_dataset(dataset="imagefolder", data_dir=str(root), label_column="species")


def test_unknown_dataset():
    with pytest.raises(HfFairError, match="Valid names.*celeba"):
        load_group_dataset(dataset="celebA")


def test_hub_offline_message():
    with pytest.raises(HfFairError, match="could not load 'no-such-org/no-such-data'.*--data-dir"):
        load_group_dataset(dataset="celeba", hub_dataset="no-such-org/no-such-data")


def test_severity_on_real_layout(tmp_path):
    root = make_waterbirds(tmp_path / "wb", per_group_split=8)
    dsd, report = load_group_dataset(dataset="waterbirds", data_dir=str(root), severity=0.8)
    assert report.counts_after["train"] == [8, 2, 2, 8]
    assert group_counts(dsd["test"], 4) == [8, 8, 8, 8]
