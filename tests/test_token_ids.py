"""Pre-tokenized input (``score(token_ids=...)``) against the float64 oracle, and the
temperature fit's interval over texts and held-out check against independent scoring."""

from __future__ import annotations

import numpy as np
import pytest

import surprisal
from conftest import assert_close, ref_logits
from surprisal.errors import SurprisalError


def _oracle(lm, ids):
    seq = [lm.boundary_id, *ids]
    lp = ref_logits(lm.model, seq)
    return np.array([float(lp[j, seq[j + 1]]) for j in range(len(ids))])


def test_score_token_ids_scores_the_ids_as_given(arch_lm):
    tok = arch_lm.tokenizer
    # tokens a tokenizer would never produce for their text: one id per character
    ids = [tok.convert_tokens_to_ids(c) for c in "cat"]
    ids = [i for i in ids if i is not None and i != tok.unk_token_id] or [5, 6, 7]
    whole = tok("The cat sat.", add_special_tokens=False)["input_ids"]
    s = surprisal.score(token_ids=[ids, whole, []], model=arch_lm)
    for ts, want in zip(s, (ids, whole), strict=False):
        assert ts.token_ids.tolist() == list(want)
        assert_close(ts.logprobs, _oracle(arch_lm, want), 1e-4, "token_ids")
        assert "".join(ts.pieces) == ts.text  # pieces: each id decoded alone
        assert ts.pieces == [tok.decode([i]) for i in want]
    assert len(s[2]) == 0
    # the same numbers as scoring the text, where the text round-trips to these ids
    by_text = surprisal.score("The cat sat.", model=arch_lm)
    assert_close(s[1].logprobs, by_text[0].logprobs, 1e-5, "text vs ids")


def test_token_ids_errors(gpt2_lm):
    with pytest.raises(TypeError, match="texts must be"):
        surprisal.score(model=gpt2_lm)  # neither texts nor token_ids
    with pytest.raises(SurprisalError, match="not both"):
        surprisal.score(["a"], token_ids=[[1]], model=gpt2_lm)
    with pytest.raises(SurprisalError, match="not in the tokenizer's vocabulary"):
        surprisal.score(token_ids=[[1, 10**9]], model=gpt2_lm)
    with pytest.raises(TypeError, match=r"token_ids\[0\] must be a list of ints"):
        surprisal.score(token_ids=["abc"], model=gpt2_lm)
    with pytest.raises(TypeError, match="ids are ints"):
        surprisal.score(token_ids=[[1.5]], model=gpt2_lm)
    with pytest.raises(SurprisalError, match="context= is not supported"):
        surprisal.score(token_ids=[[1]], context="x", model=gpt2_lm)


def _mean_surprisal(lm, ids, T):
    s = surprisal.score(token_ids=ids, model=lm, temperature=T)
    return float(np.concatenate([-t.logprobs for t in s]).mean())


def test_calibration_interval_and_held_out_fit():
    from surprisal.demo import load_demo

    lm = load_demo()  # trained: an interior optimum (a random model's is at the bound)
    tok = lm.tokenizer
    texts = [
        "The cat sat on the mat.",
        "Colorless green ideas sleep furiously.",
        "ab ab ab ab",
        "Numbers: 0 1 2 3 4 5",
        "She sells sea shells.",
        "The quick brown fox.",
    ]
    ids = [tok(t, add_special_tokens=False)["input_ids"] for t in texts]
    c = surprisal.calibrate_temperature(token_ids=ids, model=lm, n_boot=300, seed=2)
    same = surprisal.calibrate_temperature(texts, model=lm, n_boot=300, seed=2)
    assert c.temperature == pytest.approx(same.temperature, rel=1e-6)
    assert c.n_texts == 6 and c.ci_low < c.temperature < c.ci_high
    assert "CI" in repr(c) and "held out" in repr(c)
    # the held-out half, scored independently through score(temperature=...)
    perm = np.random.default_rng(2).permutation(6)
    fit = [ids[i] for i in perm[:3]]
    other = [ids[i] for i in perm[3:]]
    Th = c.held_out_temperature
    assert c.held_out_before == pytest.approx(_mean_surprisal(lm, other, 1.0), rel=1e-5)
    assert c.held_out_after == pytest.approx(_mean_surprisal(lm, other, Th), rel=1e-5)
    f = _mean_surprisal(lm, fit, Th)  # the fit half's minimum is at Th
    assert f <= _mean_surprisal(lm, fit, Th * 1.05) + 1e-6
    assert f <= _mean_surprisal(lm, fit, Th / 1.05) + 1e-6
    one = surprisal.calibrate_temperature(texts[:1], model=lm)
    assert np.isnan(one.ci_low) and one.held_out_temperature is None
