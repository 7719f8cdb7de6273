"""The generic rendered-digit corpus."""

import numpy as np

from hf_fair.diffusion.embedded.corpus import COLOR_NAMES, COLORS, corpus_dataset, prompt, render_batch
from hf_fair.diffusion.embedded.tokenizer import DIGIT_WORDS


def test_render_batch_is_deterministic_and_well_formed():
    a, caps_a, specs_a = render_batch(np.random.default_rng(3), 64)
    b, caps_b, _ = render_batch(np.random.default_rng(3), 64)
    assert a.shape == (64, 32, 32, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b) and caps_a == caps_b
    assert (a.reshape(64, -1).max(1) > 100).all()  # every image shows a stroke
    corners = a[:, :2, :2].reshape(64, -1)
    assert (corners < 40).mean() > 0.9  # black background
    for cap, spec in zip(caps_a, specs_a):
        if not cap:
            continue
        words = cap.split()
        assert "digit" in words
        assert spec.color in words or not any(c in words for c in COLOR_NAMES)
        assert str(spec.digit) in words or DIGIT_WORDS[spec.digit] in words or words[-1] == "digit"


def test_requested_digits_and_colours_and_hues():
    colors = ["red", "green"] * 10
    images, _, specs = render_batch(np.random.default_rng(0), 20, digits=list(range(10)) * 2, colors=colors)
    assert [s.digit for s in specs] == list(range(10)) * 2
    for im, c in zip(images, colors):
        mean = im.reshape(-1, 3).astype(float).sum(0)
        assert mean.argmax() == (0 if c == "red" else 1)
    assert abs(COLORS["green"][0] - 1 / 3) < 1e-9 and COLORS["red"][0] == 0.0
    assert prompt("red", 7) == "a red digit 7" and prompt("orange", 1) == "an orange digit 1"


def test_corpus_dataset_view():
    ds = corpus_dataset(12, seed=1)
    assert len(ds) == 12 and ds[0]["image"].size == (32, 32)
    assert set(ds.column_names) == {"image", "caption", "digit", "color"}


def test_styles_render_and_typeset_stays_the_shipped_corpus():
    """The typeset-only draws are the shipped base's corpus; bold and lowres are opt-in styles."""
    a, caps_a, specs_a = render_batch(np.random.default_rng(7), 32)
    b, caps_b, specs_b = render_batch(np.random.default_rng(7), 32, styles=("typeset",))
    assert np.array_equal(a, b) and caps_a == caps_b and {s.style for s in specs_a} == {"typeset"}
    images, _, specs = render_batch(np.random.default_rng(7), 300, styles=("typeset", "bold", "lowres"))
    assert {s.style for s in specs} == {"typeset", "bold", "lowres"}
    low = [im for im, s in zip(images, specs) if s.style == "lowres"]
    crisp = [im for im, s in zip(images, specs) if s.style == "typeset"]
    # a low-resolution render has soft edges: fewer near-black/near-full pixels inside the stroke area
    def soft(ims):
        x = np.stack(ims).max(-1).astype(float)
        stroke = x > 20
        return float(((x > 20) & (x < 0.6 * x.reshape(len(x), -1).max(1)[:, None, None])).sum() / stroke.sum())
    assert soft(low) > soft(crisp)
    scans, _, _ = render_batch(np.random.default_rng(7), 20, styles=("scan8",))
    rows = (scans.max(-1) > 40).any(2).sum(1)  # image rows the stroke covers
    assert rows.min() >= 20  # a scan fills its box, as the benchmark's digits do
    import pytest

    with pytest.raises(ValueError, match="styles"):
        render_batch(np.random.default_rng(0), 2, styles=("watercolour",))


def test_hand_style_is_written_digits_in_a_scan_and_captioned_handwritten():
    from hf_fair.diffusion.embedded.handwriting import pen_mask

    digits = np.repeat(np.arange(10), 6)
    images, caps, specs = render_batch(np.random.default_rng(3), 60, digits=digits, colors=["red"] * 60, styles=("hand",))
    assert images.shape == (60, 32, 32, 3) and {s.style for s in specs} == {"hand"}
    assert all(s.digit == d for s, d in zip(specs, digits))
    assert len({s.shape_seed for s in specs}) == 60  # every written digit is drawn anew
    rows = (images.max(-1) > 40).any(2).sum(1)
    assert rows.min() >= 20  # written digits fill their box, like a scan
    assert all(im[..., 1:].max() < im[..., 0].max() for im in images)  # red ink
    assert any("handwritten" in c for c in caps) and not any(w in c for c in caps for w in ("small", "large"))
    # a pure function of the seed; different digits are different shapes
    assert np.array_equal(pen_mask(7, 11), pen_mask(7, 11))
    assert pen_mask(1, 11).shape != pen_mask(8, 11).shape or not np.array_equal(pen_mask(1, 11), pen_mask(8, 11))
    import pytest

    with pytest.raises(ValueError, match="digit"):
        pen_mask(12, 0)
