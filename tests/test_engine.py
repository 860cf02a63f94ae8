"""The engine's vectorised batch assembly and deferred results, against a per-token loop."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import surprisal
from conftest import TEXTS, assert_close, ref_scores
from surprisal import engine
from surprisal.engine import Job, _Flat, _layout
from surprisal.schedule import next_batch

PAD = 99


def loop_layout(jobs, place, P, padding_side):
    """The assembly written the obvious way, one token at a time (the engine's old loop)."""
    T = max(j.fed for j in jobs)  # a target-only last id is not fed
    where = place if place is not None else [(b, 0) for b in range(len(jobs))]
    B = 1 + max(r for r, _ in where)
    ids = np.full((B, T), PAD)
    mask = np.zeros((B, T), int)
    pos = np.zeros((B, T), int)
    starts = []
    for (row, off), job in zip(where, jobs, strict=True):
        L = job.fed
        s = off + (T - L if padding_side == "left" and place is None else 0)
        for j in range(L):
            ids[row, s + j] = job.ids[j]
            mask[row, s + j] = 1
            pos[row, s + j] = (0 if place is not None else P) + j
        starts.append(row * T + s)
    if place is not None:
        for row in range(B):
            tail = int(mask[row].sum())
            pos[row, tail:] = np.arange(T - tail)
    src, tgt, counts = [], [], []
    for job, s in zip(jobs, starts, strict=True):
        n = 0
        for j in range(job.score_from, len(job.ids)):
            src.append(B * T if j == 0 else s + j - 1)
            tgt.append(job.ids[j])
            n += 1
        if job.tail:
            src.append(s + len(job.ids) - 1)
            tgt.append(0)
            n += 1
        counts.append(n)
    return ids, mask, pos, np.array(src, int), np.array(tgt, int), np.array(counts)


job_st = st.builds(
    lambda ids, sf, tail, unfed: Job(
        tuple(ids),
        min(sf, len(ids)),
        prefix=0,
        tail=tail and not unfed,
        # a window whose last id is a target only (issue 24 item 11)
        last_unfed=unfed and len(ids) >= 2 and 1 <= sf < len(ids),
    ),
    st.lists(st.integers(1, 500), min_size=1, max_size=12),
    st.integers(0, 13),
    st.booleans(),
    st.booleans(),
)


@settings(max_examples=80, deadline=None)
@given(jobs=st.lists(job_st, min_size=1, max_size=9), P=st.integers(1, 7), left=st.booleans())
def test_padded_layout_matches_the_per_token_loop(jobs, P, left):
    side = "left" if left else "right"
    flat = _Flat.of(jobs)
    lay = _layout(flat, np.arange(len(jobs)), None, P, PAD, side)
    want = loop_layout(jobs, None, P, side)
    for got, w, name in zip(
        (lay.ids, lay.mask, lay.pos, lay.src, lay.tgt, lay.counts),
        want,
        ["ids", "mask", "pos", "src", "tgt", "n"],
        strict=True,
    ):
        np.testing.assert_array_equal(got, w, err_msg=name)


@settings(max_examples=60, deadline=None)
@given(
    lengths=st.lists(st.integers(1, 30), min_size=1, max_size=40),
    budget=st.integers(1, 200),
    tails=st.lists(st.booleans(), min_size=40, max_size=40),
)
def test_packed_layout_matches_the_per_token_loop(lengths, budget, tails):
    unfed = [n >= 2 and i % 3 == 0 for i, n in enumerate(lengths)]  # a target-only last id
    jobs = [
        Job(tuple(range(3, 3 + n)), 1, tail=tails[i] and not unfed[i], last_unfed=unfed[i])
        for i, n in enumerate(lengths)
    ]
    live = sorted(range(len(jobs)), key=lambda i: -jobs[i].fed)
    taken = bytearray(len(live))
    flat = _Flat.of(jobs)
    pos = 0
    while pos < len(live):
        if taken[pos]:
            pos += 1
            continue
        sel, place = next_batch(live, pos, jobs, budget, [], True, taken)
        idx = np.array([live[q] for q in sel])
        lay = _layout(flat, idx, place, 0, PAD, "right")
        want = loop_layout([jobs[i] for i in idx], place, 0, "right")
        for got, w in zip(
            (lay.ids, lay.mask, lay.pos, lay.src, lay.tgt, lay.counts), want, strict=True
        ):
            np.testing.assert_array_equal(got, w)
        for q in sel:
            taken[q] = 1


def test_results_come_back_in_one_copy_per_field(llama_lm, monkeypatch):
    """Many batches, yet one device-to-host copy per field, at the end of the run."""
    calls = []
    real = torch.Tensor.cpu

    def counting(self, *a, **k):
        calls.append(tuple(self.shape))
        return real(self, *a, **k)

    texts = [f"text number {i} is a little longer each time" * (1 + i % 3) for i in range(20)]
    want = surprisal.score(texts, model=llama_lm, extras=["entropy", "rank"])
    monkeypatch.setattr(torch.Tensor, "cpu", counting)
    got = surprisal.score(texts, model=llama_lm, batch_tokens=40, extras=["entropy", "rank"])
    monkeypatch.undo()
    assert got.stats.forward_calls > 5
    assert len(calls) == 3  # logprobs, entropy, rank
    for a, b in zip(want, got, strict=True):
        assert_close(a.logprobs, b.logprobs, 1e-5)
        assert_close(a.entropy, b.entropy, 1e-5)
        np.testing.assert_array_equal(a.rank, b.rank)


@pytest.mark.parametrize("pack", [False, True])
def test_engine_against_float64_oracle_with_tails_and_windows(llama_lm, pack):
    s = surprisal.score(
        TEXTS, model=llama_lm, extras=["bow"], max_length=8, stride=3, pack=pack, batch_tokens=24
    )
    for text, ts in zip(TEXTS, s, strict=True):
        full = ref_scores(llama_lm, text)
        # windows: the first max_length tokens exact (8 inputs predict 8 tokens); the rest
        # with a shorter context, checked by the invariance to the budget instead
        assert_close(ts.logprobs[:8], full[:8], 1e-4, text)
        assert ts.bow.shape == (len(ts.logprobs) + 1,)
    again = surprisal.score(
        TEXTS, model=llama_lm, extras=["bow"], max_length=8, stride=3, pack=pack, batch_tokens=500
    )
    for a, b in zip(s, again, strict=True):
        assert_close(a.logprobs, b.logprobs, 1e-5)
        assert_close(a.bow, b.bow, 1e-5)


def test_run_jobs_keeps_its_keywords():
    import inspect

    params = inspect.signature(engine.run_jobs).parameters
    for name in (
        "prefixes",
        "extras",
        "batch_tokens",
        "padding_side",
        "plain",
        "progress",
        "chunk_bytes",
        "stats",
        "prefix_scores",
        "pack",
    ):
        assert name in params


def test_a_long_prefix_caps_the_rows_only_when_its_cache_is_expanded():
    """Through an expanded KV cache every row copies the prefix (B * P <= PREFIX_ROWS *
    budget); through shared-prefix attention there is one copy, so only tokens fed count."""
    from surprisal.schedule import PREFIX_ROWS

    jobs = [Job(tuple(range(3, 19)), 0, prefix=0) for _ in range(300)]  # 16 tokens each
    live, budget, P = list(range(300)), 4096, 2000
    expanded, _ = next_batch(live, 0, jobs, budget, [P], False, bytearray(300), True)
    shared, _ = next_batch(live, 0, jobs, budget, [P], False, bytearray(300), False)
    assert len(expanded) == PREFIX_ROWS * budget // P == 16
    assert len(shared) == budget // 16 == 256


def test_the_engine_cuts_batches_by_tokens_alone_with_shared_prefix_attention(monkeypatch):
    import surprisal
    from surprisal import prefix
    from surprisal.testing import tiny_lm

    lm = tiny_lm("llama", max_positions=512)
    context = " ".join(["word"] * 100)  # ~300 tokens
    targets = ["a b c d"] * 60
    got = {}
    assert prefix.shared_prefix_ok(lm)
    got[True] = surprisal.score(targets, context=context, model=lm, batch_tokens=512)
    monkeypatch.setattr(lm, "_surprisal_shared_prefix_ok", False)  # the expanded cache
    got[False] = surprisal.score(targets, context=context, model=lm, batch_tokens=512)
    assert got[True].stats.forward_calls < got[False].stats.forward_calls  # larger batches
    for a, b in zip(got[True], got[False], strict=True):
        np.testing.assert_allclose(a.logprobs, b.logprobs, atol=1e-5)


@pytest.mark.parametrize(
    ("width", "want"),
    [(64, 2048), (256, 2048), (512, 2048), (768, 1024), (896, 1024), (2048, 512), (8192, 512)],
)
def test_cpu_token_budget_keeps_a_hidden_state_near_4_mib(width, want):
    class Cfg:
        hidden_size = width

    class Fake:
        device = torch.device("cpu")
        model = type("M", (), {"config": Cfg()})()

    assert engine.default_batch_tokens(Fake()) == want  # type: ignore[arg-type]
    if want not in engine.CPU_BUDGET_RANGE:
        assert want * width * 4 <= engine.CPU_STATE_BYTES < 2 * want * width * 4


def test_cpu_token_budget_reads_gpt2_and_nested_text_configs(gpt2_lm):
    assert gpt2_lm.model.config.n_embd == 32 and engine.default_batch_tokens(gpt2_lm) == 2048

    class Text:
        hidden_size = 1536

    class Outer:
        def get_text_config(self):
            return Text()

    class Fake:
        device = torch.device("cpu")
        model = type("M", (), {"config": Outer()})()

    assert engine.default_batch_tokens(Fake()) == 512  # type: ignore[arg-type]
    Fake.model.config = type("C", (), {})()  # names no width: the cap
    assert engine.default_batch_tokens(Fake()) == 2048  # type: ignore[arg-type]
