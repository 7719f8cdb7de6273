"""The offline CLIP tokenizer of the embedded base."""

import numpy as np
import pytest
from transformers import AutoTokenizer, CLIPTokenizer

from hf_fair.diffusion.embedded.corpus import COLOR_NAMES, render_batch
from hf_fair.diffusion.embedded.tokenizer import CAPTION_WORDS, RARE_TOKENS, VOCAB_WORDS, build_tokenizer, save_tokenizer


@pytest.fixture(scope="module")
def tok():
    return build_tokenizer()


def test_every_vocabulary_word_and_numeral_is_one_token(tok):
    for word in list(VOCAB_WORDS) + [str(d) for d in range(10)] + ["handwritten", "small", "large", "photo", "of"]:
        ids = tok(word, add_special_tokens=False).input_ids
        assert len(ids) == 1, (word, tok.convert_ids_to_tokens(ids))
    for color in COLOR_NAMES:
        assert color in CAPTION_WORDS


def test_rare_tokens_are_single_unused_tokens(tok):
    assert len(RARE_TOKENS) >= 64 and len(set(RARE_TOKENS)) == len(RARE_TOKENS)
    ids = {tok(w, add_special_tokens=False).input_ids[0] for w in RARE_TOKENS}
    assert len(ids) == len(RARE_TOKENS)
    assert RARE_TOKENS[0] == "sks"
    # never produced by the pretraining captions
    _, caps, _ = render_batch(np.random.default_rng(0), 2000)
    caption_ids = {i for c in caps for i in tok(c, add_special_tokens=False).input_ids}
    assert not ids & caption_ids
    assert not set(RARE_TOKENS) & set(CAPTION_WORDS)


def test_unknown_words_still_encode_and_decode(tok):
    text = "A photo of sks zebra digit 7 quite large"  # "zebra", "quite": unknown, split into pieces
    ids = tok(text).input_ids
    assert ids[0] == tok.bos_token_id and ids[-1] == tok.eos_token_id
    assert tok.decode(ids, skip_special_tokens=True) == text.lower()
    assert len(tok("zebra", add_special_tokens=False).input_ids) > 1
    # punctuation is its own word, as in CLIP
    assert tok.tokenize("digit, large!") == ["digit</w>", ",</w>", "large</w>", "!</w>"]
    padded = tok(["a red digit 7"], padding="max_length", max_length=tok.model_max_length, return_tensors="pt").input_ids
    assert padded.shape == (1, tok.model_max_length)
    assert tok.pad_token_id == tok.eos_token_id


def test_save_load_round_trip(tok, tmp_path):
    save_tokenizer(tok, tmp_path / "tokenizer")
    assert (tmp_path / "tokenizer" / "vocab.json").is_file() and (tmp_path / "tokenizer" / "merges.txt").is_file()
    texts = ["a red digit 7", "a photo of a small blue digit seven", "sks handwritten digit, large", ""]
    a = CLIPTokenizer.from_pretrained(str(tmp_path), subfolder="tokenizer")
    b = AutoTokenizer.from_pretrained(str(tmp_path), subfolder="tokenizer")
    # only vocab.json + merges.txt (what older transformers versions read)
    (tmp_path / "tokenizer" / "tokenizer.json").unlink()
    c = CLIPTokenizer.from_pretrained(str(tmp_path), subfolder="tokenizer")
    for t in texts:
        assert a(t).input_ids == b(t).input_ids == c(t).input_ids == tok(t).input_ids
    assert len(a) == len(tok) and a.model_max_length == tok.model_max_length
