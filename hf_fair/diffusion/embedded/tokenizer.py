"""An offline CLIP tokenizer for the embedded tiny base.

The tokenizer is a genuine byte-level BPE ``CLIPTokenizer`` (same normaliser, pre-tokeniser,
``</w>`` end-of-word suffix and special tokens as OpenAI's CLIP), but its vocabulary is built here
instead of downloaded:

* the 256 byte-level characters, alone and with ``</w>`` (so *any* text still encodes, falling
  back to characters for unknown words, exactly like CLIP does for rare words);
* every word the corpus captions use (articles, "photo", "of", "digit", colour names, digit words;
  numerals 0-9 are single characters and hence already whole tokens), plus words that prompts of
  the benchmark and of DreamBooth use ("handwritten", "small", "large", ...): each one token;
* ``RARE_TOKENS``: spare nonsense words (``sks`` and friends) that are one token each and never
  appear in pretraining captions, for DreamBooth identifiers.

Merges are built greedily so that each listed word collapses to a single token; adding a word
never changes how an earlier word is split (new merges always get the lowest priority).
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

BOS = "<|startoftext|>"
EOS = "<|endoftext|>"
SUFFIX = "</w>"

# Words the pretraining captions use (see hf_fair.diffusion.embedded.corpus).
COLOR_WORDS = ("red", "orange", "yellow", "green", "cyan", "blue", "purple", "magenta", "white")
DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
CAPTION_WORDS = (
    ("a", "an", "the", "photo", "picture", "of", "digit", "number", "small", "large")
    + COLOR_WORDS
    + DIGIT_WORDS
)
# Words that later prompts use (benchmark group prompts, DreamBooth class prompts, cards) but the
# typeset corpus never shows: in the vocabulary so they stay one token each.
EXTRA_WORDS = (
    "handwritten", "written", "typed", "printed", "font", "image", "style", "in", "on", "with",
    "and", "black", "background", "gray", "grey", "pink", "brown", "dark", "light", "bright",
    "color", "colour", "stroke", "thin", "thick", "bold", "rotated", "centered", "medium", "tiny",
    "big", "person", "man", "woman", "male", "female", "bird", "blond", "hair", "young", "old",
    "face", "not", "group", "cluster",
)


def _make_rare_tokens() -> tuple[str, ...]:
    """``sks`` (DreamBooth's customary identifier) plus 3-letter consonant strings, none an
    English word and none used in captions."""
    out = ["sks"]
    for first in "zqxv":
        for mid in "kwjxzqvb":
            if mid == first:
                continue
            for last in "zkx":
                word = first + mid + last
                if word not in out:
                    out.append(word)
    return tuple(out)


RARE_TOKENS: tuple[str, ...] = _make_rare_tokens()

VOCAB_WORDS: tuple[str, ...] = tuple(dict.fromkeys(CAPTION_WORDS + EXTRA_WORDS + RARE_TOKENS))


@lru_cache(maxsize=1)
def _bytes_to_unicode() -> dict[int, str]:
    """The reversible byte -> printable character table of GPT-2/CLIP byte-level BPE."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs)))


def _symbols(word: str) -> list[str]:
    chars = [_bytes_to_unicode()[b] for b in word.encode("utf-8")]
    return chars[:-1] + [chars[-1] + SUFFIX]


def _bpe(symbols: list[str], ranks: dict[tuple[str, str], int]) -> list[str]:
    """Plain BPE: repeatedly merge the adjacent pair with the best (lowest) rank."""
    symbols = list(symbols)
    while len(symbols) > 1:
        pairs = [(ranks.get((a, b), None), i) for i, (a, b) in enumerate(zip(symbols, symbols[1:]))]
        pairs = [(r, i) for r, i in pairs if r is not None]
        if not pairs:
            break
        best = min(r for r, _ in pairs)
        pair = next((symbols[i], symbols[i + 1]) for r, i in pairs if r == best)
        merged, i = [], 0
        while i < len(symbols):
            if i < len(symbols) - 1 and (symbols[i], symbols[i + 1]) == pair:
                merged.append(symbols[i] + symbols[i + 1])
                i += 2
            else:
                merged.append(symbols[i])
                i += 1
        symbols = merged
    return symbols


def build_vocab_and_merges(words=VOCAB_WORDS) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Vocabulary (token -> id) and ordered merges making each of ``words`` a single token."""
    alphabet = list(_bytes_to_unicode().values())
    tokens: list[str] = alphabet + [c + SUFFIX for c in alphabet]
    merges: list[tuple[str, str]] = []
    ranks: dict[tuple[str, str], int] = {}
    for word in words:
        if word != word.lower() or not word.isalpha():
            raise ValueError(f"vocabulary word {word!r} must be lowercase letters")
        while True:
            parts = _bpe(_symbols(word), ranks)
            if len(parts) == 1:
                break
            pair = (parts[0], parts[1])
            ranks[pair] = len(merges)
            merges.append(pair)
            if pair[0] + pair[1] not in tokens:
                tokens.append(pair[0] + pair[1])
    tokens += [BOS, EOS]
    return {t: i for i, t in enumerate(tokens)}, merges


def build_tokenizer(model_max_length: int = 32):
    """A ``CLIPTokenizer`` over the offline vocabulary (pad = eos, as in Stable Diffusion 1.x)."""
    from transformers import CLIPTokenizer

    vocab, merges = build_vocab_and_merges()
    return CLIPTokenizer(
        vocab=vocab,
        merges=merges,
        unk_token=EOS,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=EOS,
        model_max_length=model_max_length,
    )


def save_tokenizer(tokenizer, folder: str | Path) -> Path:
    """``save_pretrained`` plus the classic ``vocab.json`` / ``merges.txt`` pair (older
    transformers and the slow tokenizer read those)."""
    folder = Path(folder)
    tokenizer.save_pretrained(str(folder))
    vocab, merges = build_vocab_and_merges()
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False) + "\n", encoding="utf-8")
    (folder / "merges.txt").write_text(
        "#version: 0.2 (hf-fair offline vocabulary)\n" + "".join(f"{a} {b}\n" for a, b in merges), encoding="utf-8"
    )
    return folder
