"""Padding-free packing: several texts in one row, told apart by position ids.

Packed scores must equal the float64 oracle on every architecture, with every extra, at
any budget; the scheduler must place every job exactly once, inside its row; and a model
that fails the packing probe must never be packed.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import surprisal
from conftest import TEXTS, assert_close, ref_logits, ref_scores
from surprisal import engine, schedule
from surprisal.engine import Job
from surprisal.testing import tiny_lm, tiny_model, tiny_tokenizer

TOL = 1e-4
MIXED = [*TEXTS, "", "b", "the cat " * 12, "a b c", "x" * 30]


def _packed_batches(monkeypatch):
    """Record, per batch laid out, whether it was packed (a placement was given)."""
    seen: list[bool] = []
    real = engine._layout

    def spy(flat, idx, place, *a, **k):
        seen.append(place is not None)
        return real(flat, idx, place, *a, **k)

    monkeypatch.setattr(engine, "_layout", spy)
    return seen


def test_every_architecture_can_pack_and_packs_by_default(arch_lm, monkeypatch):
    assert arch_lm.can_pack
    assert arch_lm.pack  # on CPU too: measured faster at the CPU token budget
    seen = _packed_batches(monkeypatch)
    surprisal.score(TEXTS, model=arch_lm)
    assert seen and all(seen)


def test_pack_can_be_turned_off_on_the_lm(monkeypatch):
    lm = tiny_lm("llama")
    lm.pack = False
    seen = _packed_batches(monkeypatch)
    s = surprisal.score(MIXED, model=lm, batch_tokens=48)
    assert seen and not any(seen)
    for text, ts in zip(MIXED, s, strict=True):
        assert_close(ts.logprobs, ref_scores(lm, text), TOL, text)


# The default budget in the fast set; small budgets (many batches) in the slow set.
SLOW = pytest.mark.slow


@pytest.mark.parametrize("pack", [True, False])
@pytest.mark.parametrize(
    "budget", [None, pytest.param(48, marks=SLOW), pytest.param(200, marks=SLOW)]
)
def test_packed_and_padded_scores_match_reference(arch_lm, budget, pack):
    s = surprisal.score(MIXED, model=arch_lm, pack=pack, batch_tokens=budget)
    for text, ts in zip(MIXED, s, strict=True):
        assert_close(ts.logprobs, ref_scores(arch_lm, text), TOL, text)
    assert s.stats.tokens_scored == sum(len(t) for t in s)


def test_packed_extras_match_reference(llama_lm):
    lm = llama_lm
    s = surprisal.score(MIXED, model=lm, pack=True, extras=["entropy", "rank", "topk", "bow"])
    for ts in s:
        if len(ts) == 0:
            continue
        seq = [lm.boundary_id, *ts.token_ids.tolist()]
        lp = ref_logits(lm.model, seq)
        pred = lp[:-1]
        assert_close(ts.entropy, -(pred.exp() * pred).sum(-1).numpy(), TOL, "entropy")
        tgt = torch.tensor(ts.token_ids)
        assert np.array_equal(ts.rank, (pred > pred.gather(1, tgt[:, None])).sum(-1) + 1)
        assert_close(ts.topk_logprobs, pred.topk(5, dim=-1).values.numpy(), TOL, "topk")
        mask = lm.bow_mask.cpu()[: lp.shape[1]]
        bow = torch.logsumexp(lp.masked_fill(~mask, -math.inf), -1).numpy()
        assert_close(ts.bow, bow, TOL, "bow")  # includes the distribution after the text


def test_packing_feeds_less_padding(gpt2_lm):
    texts = [("word " * n).strip() for n in range(1, 40, 2)]
    padded = surprisal.score(texts, model=gpt2_lm, pack=False, batch_tokens=512)
    packed = surprisal.score(texts, model=gpt2_lm, pack=True, batch_tokens=512)
    needed = packed.stats.tokens_scored + len(texts)  # every token plus one boundary each
    assert needed <= packed.stats.tokens_fed <= 1.1 * needed < padded.stats.tokens_fed
    assert packed.stats.forward_calls < padded.stats.forward_calls
    for a, b in zip(padded, packed, strict=True):
        assert_close(b.logprobs, a.logprobs, 1e-5)


def test_packing_with_context_and_windows(gpt2_lm):
    """A shared context uses the cached-prefix path; long texts are windows: both mix
    with packed rows in one call."""
    ctx = "Read this first."
    s = surprisal.score(TEXTS[:3], model=gpt2_lm, context=ctx, pack=True)
    for text, ts in zip(TEXTS[:3], s, strict=True):
        assert_close(ts.logprobs, ref_scores(gpt2_lm, text, context=ctx), TOL, text)
    long = " ".join(f"w{i}" for i in range(80))
    mixed = surprisal.score([long, "a b", long[:50]], model=gpt2_lm, pack=True, max_length=32)
    plain = surprisal.score([long, "a b", long[:50]], model=gpt2_lm, pack=False, max_length=32)
    for a, b in zip(plain, mixed, strict=True):
        assert_close(b.logprobs, a.logprobs, 1e-5)


def test_a_model_that_fails_the_probe_is_never_packed(monkeypatch):
    from transformers import masking_utils

    monkeypatch.setattr(masking_utils, "find_packed_sequence_indices", lambda pos: None)
    tok = tiny_tokenizer("byte-bpe")
    lm = surprisal.LM(tiny_model("llama", len(tok)), tok)
    assert not lm.can_pack and not lm.pack
    with pytest.raises(surprisal.SurprisalError, match="packing probe"):
        surprisal.score(["a b", "c"], model=lm, pack=True)
    s = surprisal.score(["a b", "c"], model=lm)  # the padded path is unaffected
    assert np.isfinite(s[0].logprobs).all()


@settings(max_examples=60, deadline=None)
@given(
    lengths=st.lists(st.integers(1, 40), min_size=1, max_size=60),
    budget=st.integers(1, 300),
)
def test_packed_schedule_places_every_job_once_inside_its_row(lengths, budget):
    jobs = [Job(ids=tuple(range(n)), score_from=1) for n in lengths]
    live = sorted(range(len(jobs)), key=lambda i: -lengths[i])
    taken = bytearray(len(live))
    seen: list[int] = []
    pos = 0
    index = schedule.PackIndex(live, jobs)  # one per run, its skip list kept across batches
    while pos < len(live):
        if taken[pos]:
            pos += 1
            continue
        # a batch cut at twice the budget and dropped, as after an out-of-memory error
        schedule.next_batch(live, pos, jobs, 2 * budget, [], True, taken, True, index)
        sel, place = schedule.next_batch(live, pos, jobs, budget, [], True, taken, True, index)
        assert (sel, place) == schedule.next_batch(live, pos, jobs, budget, [], True, taken)
        assert sel[0] == pos and place is not None and len(place) == len(sel)
        T = lengths[live[pos]]
        rows = 1 + max(r for r, _ in place)
        assert rows <= max(1, budget // T)
        cover = np.zeros((rows, T), int)
        for q, (r, off) in zip(sel, place, strict=True):
            assert not taken[q]
            cover[r, off : off + lengths[live[q]]] += 1
            taken[q] = 1
            seen.append(live[q])
        assert cover.max() == 1  # no overlap, nothing past the row's end
    assert sorted(seen) == list(range(len(jobs)))
