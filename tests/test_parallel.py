"""Data-parallel scoring on torch.distributed (gloo, 2 processes), streaming, numerical safety."""

from __future__ import annotations

import os
import pickle
import resource
import socket

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

import surprisal
from surprisal import engine
from surprisal.parallel import balance

TEXTS = [f"text {i} " + "word " * (i % 13) for i in range(23)]  # uneven lengths, odd count


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _worker(rank: int, world: int, port: int, model_dir: str, out_dir: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), HF_HUB_OFFLINE="1")
    torch.set_num_threads(1)
    torch.distributed.init_process_group("gloo", rank=rank, world_size=world)
    try:
        lm = surprisal.load(model_dir, device="cpu")
        s = surprisal.score(TEXTS, model=lm, context=[None, "A context."] * 11 + [None])
        with open(os.path.join(out_dir, f"rank{rank}.pkl"), "wb") as fh:
            pickle.dump(([t.logprobs for t in s], [t.text for t in s], s.stats), fh)
        torch.distributed.barrier()  # nobody tears down while the other still talks
    finally:
        torch.distributed.destroy_process_group()
    os._exit(0)  # skip interpreter teardown: gloo's threads can abort there (not our code)


def test_two_process_gloo_run_equals_single_process(tmp_path, gpt2_lm):
    model_dir = tmp_path / "m"
    gpt2_lm.model.save_pretrained(model_dir)
    gpt2_lm.tokenizer.save_pretrained(model_dir)
    ctx = [None, "A context."] * 11 + [None]
    want = surprisal.score(TEXTS, model=surprisal.load(model_dir, device="cpu"), context=ctx)
    mp.spawn(_worker, args=(2, _free_port(), str(model_dir), str(tmp_path)), nprocs=2, join=True)
    for rank in (0, 1):
        with open(tmp_path / f"rank{rank}.pkl", "rb") as fh:
            lps, texts, stats = pickle.load(fh)
        assert texts == TEXTS  # complete and in input order on every rank
        for a, b in zip(lps, want, strict=True):
            np.testing.assert_allclose(a, b.logprobs, atol=1e-5)
        assert stats.tokens_scored == want.stats.tokens_scored  # each token scored once


def test_balance_by_tokens():
    costs = [100, 1, 1, 1, 50, 50, 3]
    shards = balance(costs, 2)
    assert sorted(i for s in shards for i in s) == list(range(len(costs)))
    loads = [sum(costs[i] for i in s) for s in shards]
    assert max(loads) - min(loads) <= 3
    assert balance([1], 3) == [[0], [], []]


def test_distributed_true_without_process_group_is_an_error(gpt2_lm):
    with pytest.raises(ValueError, match=r"torch\.distributed is not initialized"):
        surprisal.score(["a"], model=gpt2_lm, distributed=True)


def test_score_iter_is_lazy_ordered_and_flat(gpt2_lm):
    from surprisal.testing import tiny_model

    tok = gpt2_lm.tokenizer
    small = surprisal.LM(tiny_model("gpt2", len(tok), n_layer=1, n_embd=16, n_inner=16), tok)
    texts = [f"{i % 10}" for i in range(100_000)]
    consumed = 0

    def gen():
        nonlocal consumed
        for t in texts:
            consumed += 1
            yield t

    it = surprisal.score_iter(gen(), model=small, chunk_size=4096, batch_tokens=16384)
    first = next(it)
    # lazy: the chunk scored, at most one being tokenized ahead and one queued (3 chunks)
    assert 4096 <= consumed <= 3 * 4096 and first.text == "0"
    rss = []
    n = 1
    for ts in it:
        if n % 20_000 == 0:
            rss.append(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
        assert ts.text == texts[n] and len(ts) == 1
        n += 1
    assert n == len(texts)
    growth_mb = (rss[-1] - rss[0]) / 1024  # ru_maxrss is in KiB on Linux
    assert growth_mb < 150, f"peak RSS grew by {growth_mb:.0f} MiB over 80k texts"
    want = surprisal.score(texts[:5], model=gpt2_lm)
    got = list(surprisal.score_iter(iter(texts[:5]), model=gpt2_lm, chunk_size=2))
    for a, b in zip(got, want, strict=True):
        np.testing.assert_allclose(a.logprobs, b.logprobs, atol=1e-5)
    with pytest.raises(TypeError, match=r"texts\[3\] is int"):
        list(surprisal.score_iter(iter(["a", "b", "c", 4]), model=gpt2_lm, chunk_size=2))


def test_non_finite_log_probabilities_are_reported(gpt2_lm, monkeypatch):
    real = engine.fused_head

    def broken(hidden, targets, head, **kw):
        out = real(hidden, targets, head, **kw)
        out["logprobs"][-1] = float("nan")  # as a float16 overflow would
        return out

    monkeypatch.setattr(engine, "fused_head", broken)
    with pytest.raises(surprisal.SurprisalError, match=r"non-finite log-probabilities in 1 text"):
        surprisal.score(["The cat sat.", "A dog."], model=gpt2_lm)


def test_non_finite_positions_are_the_calls_when_score_runs_in_chunks(gpt2_lm, monkeypatch):
    """On the chunked path (an accelerator's, forced here) a NaN in a later chunk is
    reported at its position in the call's input, not in its chunk."""
    from surprisal import core, pipeline

    texts = [f"text number {k} is here" for k in range(60)]
    bad_text = 47
    real = engine.fused_head
    want_tok = gpt2_lm.tokenizer(texts[bad_text], add_special_tokens=False)["input_ids"]

    def broken(hidden, targets, head, **kw):
        out = real(hidden, targets, head, **kw)
        t = targets.tolist()
        for i in range(len(t) - len(want_tok) + 1):  # the bad text's tokens, as targets
            if t[i : i + len(want_tok)] == want_tok:
                out["logprobs"][i + len(want_tok) - 1] = float("nan")
        return out

    monkeypatch.setattr(engine, "fused_head", broken)
    monkeypatch.setattr(pipeline, "MIN_CHUNK_TOKENS", 40)
    monkeypatch.setattr(core, "PIPELINE_MIN_CHUNKS", 3)
    monkeypatch.setattr(core, "PIPELINE_ON_CPU", True)
    with pytest.raises(surprisal.SurprisalError, match=r"in 1 text\(s\), indices \[47\]") as e:
        surprisal.score(texts, model=gpt2_lm, batch_tokens=8)
    assert e.value.indices == [bad_text]
