"""The CLIP judge (``--filter_classifier clip``): loading, zero-shot pooling over phrases, keep
rules, the embedded CLIP on fresh corpus renders, the Hub cache, bad input, and a small
``hf-fair generate`` run that writes ``clip_score`` and per-group acceptance rates.

Mechanics run on a tiny random CLIPModel written to a temporary folder (a character-level
tokenizer, 32 px images: loads in well under a second); what a CLIP *sees* is checked with the
embedded CLIP shipped in hf_fair/assets/tiny-clip.
"""

import json
import shutil
import string

import datasets
import numpy as np
import pytest
from fixtures import first_per_group
import torch

from hf_fair.cli import main
from hf_fair.data import DataArguments, load_group_dataset, spec_of
from hf_fair.data.colored_digits import SPEC
from hf_fair.data.groups import attach_spec
from hf_fair.diffusion.base import EMBEDDED_PATH
from hf_fair.errors import HfFairError
from hf_fair.generate.config import GenerateArguments, fingerprint
from hf_fair.generate.core import generate_dataset
from hf_fair.judges.clip import ClipJudge, clip_name, clip_revision, load_clip
from hf_fair.judges.quality import check_images, make_judge, score_images

DATA = DataArguments(dataset="colored-digits", severity=0.99)
FAST = dict(num_inference_steps=2, shard_size=4, batch_size=8, fidelity=False, grid=False)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def write_tiny_clip(folder):
    """A random CLIPModel (1 layer per tower) with a character-level CLIP tokenizer and a 32 px
    image processor, saved like any Hub CLIP (config, safetensors, tokenizer and processor files)."""
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor, CLIPTokenizer

    folder.mkdir(parents=True)
    chars = string.ascii_lowercase + string.digits + ",.|-"
    vocab = {t: i for i, t in enumerate([*chars, *(c + "</w>" for c in chars), "<|startoftext|>", "<|endoftext|>"])}
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")  # no merges: one token per character
    tokenizer = CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"))
    eos = vocab["<|endoftext|>"]
    config = CLIPConfig(
        text_config=dict(vocab_size=len(vocab), hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                         max_position_embeddings=64, bos_token_id=vocab["<|startoftext|>"], eos_token_id=eos, pad_token_id=eos),
        vision_config=dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2, image_size=32, patch_size=8),
        projection_dim=8,
    )
    torch.manual_seed(0)
    CLIPModel(config).save_pretrained(folder)
    CLIPProcessor(image_processor=CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}),
                  tokenizer=tokenizer).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory):
    return write_tiny_clip(tmp_path_factory.mktemp("clip") / "tiny-clip")


@pytest.fixture(scope="module")
def small():
    """colored-digits at severity 0.99, at most 8 images of each group per split."""
    dsd, _ = load_group_dataset(DATA)
    spec = spec_of(dsd)

    def take(ds, n):
        return first_per_group(ds, n, spec.n_groups)

    return attach_spec(datasets.DatasetDict({"train": take(dsd["train"], 8), "test": take(dsd["test"], 8)}), spec)


def renders(digits, colors, seed=0):
    from hf_fair.diffusion.embedded.corpus import render_batch

    images, _, _ = render_batch(np.random.default_rng(seed), len(digits), digits=digits, colors=colors, with_captions=False)
    return images


# ------------------------------------------------------------------ scoring rule
def test_group_probability_is_the_sum_over_the_groups_phrases(tiny_clip):
    """One softmax over all 20 prompts ("a red digit 0" .. "a green digit 9"), summed per group:
    the same numbers as transformers' own logits_per_image."""
    model, processor = load_clip(str(tiny_clip))
    judge = ClipJudge(SPEC, model, processor, batch_size=3)  # batches of 3: the split must not matter
    assert len(judge.prompts) == 20 and judge.prompts[:2] == ["a red digit 0", "a red digit 1"]
    assert judge.owner.tolist() == [0] * 5 + [1] * 5 + [2] * 5 + [3] * 5
    images = renders(list(range(10)), ["red", "green"] * 5)
    probs = judge.group_probabilities(images)
    assert probs.shape == (10, 4) and probs.dtype == np.float32
    with torch.no_grad():
        inputs = processor(text=judge.prompts, images=list(images), return_tensors="pt", padding=True)
        direct = model(**inputs).logits_per_image.softmax(-1).numpy()
    expected = np.stack([direct[:, judge.owner == g].sum(1) for g in range(4)], axis=1)
    np.testing.assert_allclose(probs, expected, atol=1e-5)
    labels, attrs = judge.predict_groups(images)
    assert (labels * 2 + attrs).tolist() == expected.argmax(1).tolist()


def test_keep_rules(tiny_clip):
    images = renders([1, 7, 3, 8], ["red", "green", "green", "red"])
    argmax = ClipJudge(SPEC, str(tiny_clip))
    probs = argmax.group_probabilities(images)
    for g in range(4):
        wrong, own = argmax.verdict(images, g)
        assert wrong.tolist() == (probs.argmax(1) != g).tolist()
        np.testing.assert_allclose(own, probs[:, g])
    threshold = float(np.median(probs[:, 0]))
    wrong, _ = ClipJudge(SPEC, str(tiny_clip), min_prob=threshold).verdict(images, 0)
    assert wrong.tolist() == (probs[:, 0] < threshold).tolist() and 0 < wrong.sum() < 4
    assert not ClipJudge(SPEC, str(tiny_clip), min_prob=0.0).verdict(images, 0)[0].any()  # 0: score only
    # through the quality filter: blank images stay "blank", not "wrong"; scores come back
    blank_images = np.concatenate([images, np.zeros((1, 32, 32, 3), np.uint8)])
    blank, wrong, score = score_images(blank_images, 0, SPEC, 0.02, argmax)
    assert blank.tolist() == [False] * 4 + [True] and not wrong[-1] and score.shape == (5,)
    assert [m.tolist() for m in check_images(blank_images, 0, SPEC, 0.02, argmax)] == [blank.tolist(), wrong.tolist()]
    with pytest.raises(HfFairError, match="--clip_min_prob must be in"):
        ClipJudge(SPEC, str(tiny_clip), min_prob=1.5)


def test_embedded_clip_drops_wrong_colour_and_class_keeps_right():
    """Fresh corpus renders of known (digit, colour): judged for their own group they are kept,
    judged for the group of the other colour or the other class they are dropped."""
    judge = make_judge("clip", SPEC, base="embedded")
    kept, dropped_colour, dropped_class = [], [], []
    for g in range(SPEC.n_groups):
        label, attr = SPEC.split_group(g)
        digits = [d for d in range(10) if (d >= 5) == label] * 2  # every digit of the class, twice
        images = renders(digits, [SPEC.attribute_names[attr]] * len(digits), seed=100 + g)
        kept.append(~judge.verdict(images, g)[0])
        dropped_colour.append(judge.verdict(images, SPEC.group_id(label, 1 - attr))[0])
        dropped_class.append(judge.verdict(images, SPEC.group_id(1 - label, attr))[0])
    kept, dropped_colour, dropped_class = (np.concatenate(x).mean() for x in (kept, dropped_colour, dropped_class))
    assert kept >= 0.85 and dropped_colour >= 0.95 and dropped_class >= 0.85, (kept, dropped_colour, dropped_class)


# ------------------------------------------------------------------ loading
def test_loads_by_repo_id_from_the_offline_hub_cache(tiny_clip, tmp_path, monkeypatch):
    from fixtures import populate_hub_cache

    populate_hub_cache(tiny_clip, tmp_path / "hub", "org/tiny-clip", "0123456789abcdef0123456789abcdef01234567", monkeypatch)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    images = renders([2, 6], ["red", "green"])
    from_hub = ClipJudge(SPEC, "org/tiny-clip").group_probabilities(images)
    np.testing.assert_array_equal(from_hub, ClipJudge(SPEC, str(tiny_clip)).group_probabilities(images))
    assert clip_revision("org/tiny-clip") == "org/tiny-clip" and clip_name("org/tiny-clip") == "org/tiny-clip"
    with pytest.raises(HfFairError, match=r"could not load --clip_model 'org/not-cached'.*huggingface-cli download org/not-cached"):
        load_clip("org/not-cached")


def test_bad_clip_models_are_named(tiny_clip, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(HfFairError, match="--clip_model folder .* has no config.json"):
        load_clip(str(tmp_path / "empty"))
    (tmp_path / "f.bin").write_bytes(b"x")
    with pytest.raises(HfFairError, match="--clip_model .* is a file"):
        load_clip(str(tmp_path / "f.bin"))
    with pytest.raises(HfFairError, match="neither 'embedded', an existing folder, nor a Hub model id"):
        load_clip("no such clip")
    broken = tmp_path / "broken"
    shutil.copytree(tiny_clip, broken)
    (broken / "model.safetensors").unlink()
    with pytest.raises(HfFairError, match="could not load --clip_model 'broken'"):  # the folder's name, not its path
        load_clip(str(broken))
    with pytest.raises(HfFairError, match="with --base org/some-sd needs --clip_model"):
        make_judge("clip", SPEC, base="org/some-sd")


def test_fingerprint_names_the_clip_by_its_weights(tiny_clip, tmp_path):
    def fp(**kw):
        return fingerprint(GenerateArguments(images_per_group=4, filter_classifier="clip", **kw), DATA, None, "embedded")

    copy = tmp_path / "elsewhere" / "same-clip"
    shutil.copytree(tiny_clip, copy)
    assert fp(clip_model=str(tiny_clip)) == fp(clip_model=str(copy))  # where it lies does not matter
    assert fp(clip_model=str(tiny_clip)) != fp(clip_model=str(tiny_clip), clip_min_prob=0.5)
    assert fp(clip_model=str(tiny_clip)) != fp(clip_model="org/tiny-clip")
    # the default with the embedded base is the embedded CLIP, named by its weights like any folder
    from hf_fair.diffusion.embedded.clip import embedded_clip_path

    assert fp() == fp(clip_model="embedded") == fp(clip_model=str(embedded_clip_path())) != fp(clip_model=str(tiny_clip))
    other = write_tiny_clip(tmp_path / "other")
    (other / "model.safetensors").write_bytes((other / "model.safetensors").read_bytes()[:-4] + b"\0\0\0\0")
    assert fp(clip_model=str(tiny_clip)) != fp(clip_model=str(other))
    # without the CLIP filter the key is what it was before the CLIP settings existed
    plain = GenerateArguments(images_per_group=4, filter_classifier="reference")
    from hf_fair import runfolder

    assert fingerprint(plain, DATA, None) == runfolder.fingerprint(plain, DATA, {"adapters": None})


# ------------------------------------------------------------------ hf-fair generate
def test_cli_unknown_clip_model_is_one_line_and_no_folder(tmp_path, capsys):
    out = tmp_path / "out"
    base = ["generate", "--dataset", "colored-digits", "--severity", "0.99", "--images_per_group", "2",
            "--num_inference_steps", "2", "--filter_classifier", "clip", "--output_dir", str(out)]
    for extra, needle in [(["--clip_model", "org/not-cached"], "could not load --clip_model 'org/not-cached'"),
                          (["--clip_model", str(tmp_path / "nowhere")], "--clip_model"),
                          (["--base", str(EMBEDDED_PATH)], "needs --clip_model"),  # a base folder other than 'embedded'
                          (["--clip_min_prob", "2"], "--clip_min_prob must be in [0, 1]")]:
        assert main(base + extra) == 2, extra
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error:") and needle in err[0], (extra, err)
        assert "Traceback" not in err[0] and not out.exists() and list(tmp_path.iterdir()) == []


def test_generate_with_the_clip_filter_writes_clip_score_and_acceptance(tiny_clip, small, tmp_path, capsys):
    """Rejected draws are redrawn (2 attempts, then kept and counted), every kept image carries
    CLIP's probability of its own group, and generation.json / the card give each group's
    acceptance rate. (The tiny random CLIP reads almost every image as one group: the other
    groups exercise the redraws.)"""
    out = tmp_path / "synth"
    assert main(["generate", "--dataset", "colored-digits", "--severity", "0.99", "--images_per_group", "3", "--num_inference_steps", "2",
                 "--shard_size", "4", "--batch_size", "8", "--fidelity", "false", "--grid", "false", "--filter_classifier", "clip",
                 "--clip_model", str(tiny_clip), "--max_attempts", "2", "--output_dir", str(out)]) == 0
    printed = capsys.readouterr().out
    result = json.loads((out / "generation.json").read_text())
    for name in SPEC.group_names:  # the CLI prints each group's acceptance rate
        assert f"accepted {100 * result['acceptance'][name]:.1f}%" in next(line for line in printed.splitlines() if line.startswith(name))
    ds = datasets.load_from_disk(str(out))["train"]
    assert ds.features["clip_score"] == datasets.Value("float32")
    groups = np.asarray(ds["group"])
    assert np.bincount(groups, minlength=4).tolist() == [3] * 4
    # the stored score is CLIP's probability of the stored image's own group
    probs = ClipJudge(SPEC, str(tiny_clip)).group_probabilities(ds["image"])
    np.testing.assert_allclose(ds["clip_score"], probs[np.arange(len(ds)), groups], atol=1e-5)
    for g, name in enumerate(SPEC.group_names):
        f = result["filter"][name]
        assert f["drawn"] == 3 + f["rejected_wrong_group"] + f["rejected_blank"]
        assert f["kept_wrong_group"] == int((probs[groups == g].argmax(1) != g).sum())  # kept only after the last attempt
        assert result["acceptance"][name] == round((f["drawn"] - f["rejected_wrong_group"] - f["rejected_blank"] - f["kept_wrong_group"]) / f["drawn"], 4)
    assert sum(f["rejected_wrong_group"] for f in result["filter"].values()) > 0
    assert result["clip"]["model"] == "tiny-clip" and result["clip"]["revision"] == clip_revision(str(tiny_clip))
    assert result["clip"]["rule"] == "most likely group" and result["config"]["clip_model"] == "tiny-clip"
    card = (out / "README.md").read_text()
    # the CLIP by its name, not this machine's path (the command line is recorded as typed)
    assert str(tiny_clip) not in json.dumps([result["clip"], result["config"], card.split("## How it was made")[0]])
    f = result["filter"]["small|red"]
    assert f"| small\\|red | 3 | {f['drawn']} | {f['rejected_blank']} | {f['rejected_wrong_group']} | {100 * result['acceptance']['small|red']:.1f}% |" in card
    assert "clip_score" in card and "CLIP `tiny-clip`" in card
    # without the CLIP filter: no clip_score column, every draw accepted
    plain = generate_dataset(GenerateArguments(output_dir=str(tmp_path / "plain"), images_per_group=1, **FAST), DATA, dsd=small)
    assert "clip_score" not in datasets.load_from_disk(str(tmp_path / "plain"))["train"].column_names
    assert "clip" not in plain and all(r == 1.0 for r in plain["acceptance"].values())


# ------------------------------------------------------------------ hf-fair run's offline preflight
def test_offline_preflight_names_a_hub_clip_missing_from_the_cache(tiny_clip, tmp_path, monkeypatch):
    from fixtures import populate_hub_cache

    from hf_fair.run.config import RunArguments
    from hf_fair.run.preflight import check_offline, hub_references

    populate_hub_cache(tiny_clip, tmp_path / "hub", "org/cached-clip", "fedcba9876543210fedcba9876543210fedcba98", monkeypatch)

    def cfg(**generate):
        return RunArguments(methods=["erm", "vanilla"], sections={"generate": {"images_per_group": 2, **generate}})

    with pytest.raises(HfFairError, match=r"generate.clip_model = org/missing-clip \(model not in the local cache\)"):
        check_offline(cfg(filter_classifier="clip", clip_model="org/missing-clip"))
    check_offline(cfg(filter_classifier="clip", clip_model="org/cached-clip"))  # in the cache: no error
    for quiet in (cfg(filter_classifier="clip"), cfg(filter_classifier="clip", clip_model=str(tiny_clip)),
                  cfg(filter_classifier="reference"), cfg(filter_classifier="clip", clip_model="org/x", quality_filter=False)):
        assert not [r for r in hub_references(quiet) if "clip" in r[0]]  # embedded, a folder, or no CLIP filter
    # the runner's recipe section sets the filter for every source
    with pytest.raises(HfFairError, match=r"recipe.clip_model = org/missing-clip"):
        check_offline(RunArguments(methods=["erm", "vanilla"], sections={"generate": {"images_per_group": 2},
                                                                       "recipe": {"filter": "clip", "clip_model": "org/missing-clip"}}))


def test_adapters_class_filter_accepts_clip_on_the_embedded_base():
    from hf_fair.adapters.config import AdapterArguments
    from hf_fair.adapters.train import _class_judge

    def judge(base):
        return _class_judge(AdapterArguments(method="dreambooth_lora", base=base, with_prior_preservation=True,
                                             class_filter_classifier="clip"), SPEC)

    with pytest.raises(HfFairError, match="--class_filter_classifier clip judges with the embedded CLIP.*--base org/some-sd"):
        judge("org/some-sd")
    clip_judge = judge("embedded")
    assert isinstance(clip_judge, ClipJudge) and clip_judge.prompts[0] == "a red digit 0"
