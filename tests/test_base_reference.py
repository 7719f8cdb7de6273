"""The shipped reference classifier and the adherence measurement."""

import numpy as np
import pytest

from hf_fair.diffusion.embedded.corpus import render_batch
from hf_fair.diffusion.embedded.reference import REFERENCE_SEED_OFFSET, load_reference
from hf_fair.errors import HfFairError


def test_reference_classifier_reads_fresh_rendered_digits():
    ref = load_reference()
    rng = np.random.default_rng([REFERENCE_SEED_OFFSET, 4242])
    images, _, specs = render_batch(rng, 300, with_captions=False)
    digits, colors = ref.predict(images)
    assert np.mean(digits == np.array([s.digit for s in specs])) >= 0.95
    assert np.mean(np.array(colors) == np.array([s.color for s in specs])) >= 0.95


def test_missing_reference_is_a_clear_error(tmp_path):
    with pytest.raises(HfFairError, match="reference classifier"):
        load_reference(tmp_path)


def test_adherence_on_a_few_prompts():
    from hf_fair.diffusion import load_base
    from hf_fair.diffusion.embedded.adherence import measure_adherence

    res = measure_adherence(load_base("embedded"), load_reference(), colors=("red", "green"), digits=[1, 7],
                            per_prompt=2, num_inference_steps=10)
    assert res["n"] == 8 and len(res["rows"]) == 8
    assert 0.0 <= res["digit_acc"] <= 1.0
    assert res["color_acc"] >= 0.75
