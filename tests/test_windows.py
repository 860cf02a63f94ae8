"""Texts longer than the model's context: the window plan and its scores (issue 13, item 4).

The rule, read directly: the first window feeds ``seq[:M]`` and scores ``seq[1 .. M]``
(M inputs predict M tokens; the last is never fed, issue 24 item 11), each seeing
everything before it; the rest is cut into the fewest runs of at most ``stride`` tokens,
of near-equal length, each scored by the full M-token window that ends at the run's end.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import surprisal
from conftest import assert_close, ref_logits
from surprisal.tokenize import windows

TOL = 1e-4  # nats per token, float32 vs float64


def _ref_plan(n, first, M, stride):
    """Per sequence position p: the start of the window that scores it (-1: not scored)."""
    start = np.full(n, -1)
    if n <= M:
        start[first:] = 0
        return start
    start[first : M + 1] = 0  # fed seq[:M], which predicts seq[1 .. M]
    base = max(first, M + 1)
    rest = n - base
    if rest <= 0:
        return start
    k = -(-rest // stride)
    lengths = [rest // k + (1 if i < rest % k else 0) for i in range(k)]
    a = base
    for length in lengths:
        start[a : a + length] = a + length - M
        a += length
    return start


def _ref_windowed(lm, ids, M, stride):
    """Float64 log-probs of a long text's tokens, each from its window, and its context."""
    seq = [lm.boundary_id, *ids]
    start = _ref_plan(len(seq), 1, M, stride)
    out = np.full(len(ids), np.nan)
    for s in sorted(set(start[1:].tolist())):
        lp = ref_logits(lm.model, seq[s : s + M])
        for p in np.flatnonzero(start == s):
            out[p - 1] = float(lp[p - s - 1, seq[p]])
    return out, np.arange(len(seq))[1:] - start[1:]


@pytest.mark.parametrize("arch", ["gpt2", "llama"])
@pytest.mark.parametrize("stride", [8, 23])
def test_long_text_matches_float64_windows(lms, arch, stride):
    lm = lms[arch]
    text = " ".join(f"word{i % 17} is {i}" for i in range(60))
    ids = lm.tokenizer(text, add_special_tokens=False)["input_ids"]
    M = 24
    assert len(ids) > 3 * M
    res = surprisal.score(text, model=lm, max_length=M, stride=stride)
    want, ctx = _ref_windowed(lm, ids, M, stride)
    assert not np.isnan(res[0].logprobs).any()  # every token scored once
    assert (ctx[:M] == np.arange(1, M + 1)).all()  # the first M tokens: full context
    assert (ctx[M:] >= M - stride).all()
    assert_close(res[0].logprobs, want, TOL)
    assert res.stats.tokens_scored == len(ids)


@pytest.mark.parametrize("arch", ["gpt2", "llama"])
def test_text_one_token_over_the_context_is_scored_in_the_first_window(lms, arch):
    """Token index M-1 of an (M)-token text is scored in the first window, from its M
    inputs (boundary + M-1 tokens: all of its context), not by a second window."""
    lm = lms[arch]
    M = 16
    text = " ".join(f"w{i}" for i in range(40))
    ids = lm.tokenizer(text, add_special_tokens=False)["input_ids"][:M]
    text = lm.tokenizer.decode(ids)
    assert lm.tokenizer(text, add_special_tokens=False)["input_ids"] == ids
    s = surprisal.score(text, model=lm, max_length=M, stride=M // 2)[0]
    seq = [lm.boundary_id, *ids]
    last = float(ref_logits(lm.model, seq[:M])[-1, seq[M]])  # the M tokens before it
    assert_close(s.logprobs[-1:], [last], TOL)
    assert s.logprobs.shape == (M,) and not np.isnan(s.logprobs).any()
    want, _ = _ref_windowed(lm, ids, M, M // 2)
    assert_close(s.logprobs, want, TOL)


@settings(max_examples=300, deadline=None)
@given(
    n=st.integers(0, 80),
    M=st.integers(2, 20),
    data=st.data(),
)
def test_window_plan_properties(n, M, data):
    stride = data.draw(st.integers(1, M - 1), label="stride")
    first = data.draw(st.integers(1, max(1, n + 1)), label="first_scored")
    seq = list(range(100, 100 + n))
    ws = windows(seq, first, M, stride)
    scored = []
    for w in ws:
        fed = len(w.ids) - w.last_unfed
        assert 1 <= fed <= M or n == 0
        assert w.ids == seq[w.offset : w.offset + len(w.ids)]
        assert not w.last_unfed or (w.offset == 0 and len(w.ids) == M + 1)
        if n > M:
            assert fed == M  # never a short window when the text is long
        for j in range(max(w.score_from, 0), len(w.ids)):
            p = w.offset + j
            scored.append(p)
            ctx = j  # tokens of the window before p
            assert ctx == p or ctx >= M - stride  # all of them, or at least M - stride
            if p <= M:
                assert ctx == p  # the first M tokens after the boundary: full context
    assert sorted(scored) == list(range(first, n))  # every token from `first` once
    assert ws[-1].offset + len(ws[-1].ids) == n  # the last window ends at the end
    if n > M and first < n:
        # No more windows than the stride needs.
        assert len(ws) == (first <= M) + max(0, -(-(n - max(first, M + 1)) // stride))
        # Balanced runs: the least context of a later token is as large as it can be.
        runs = [len(w.ids) - w.score_from for w in ws if w.offset > 0]
        assert not runs or max(runs) - min(runs) <= 1
