"""Shared-prefix attention: one copy of the prefix's keys, exact on every architecture."""

from __future__ import annotations

import pytest
import torch

import surprisal
from conftest import assert_close, ref_scores
from surprisal import prefix
from surprisal.testing import tiny_lm, tiny_model, tiny_tokenizer

TOL = 1e-4
INV = 1e-5
TARGETS = ["The cat sat on the mat.", "a", "Colorless green ideas sleep furiously.", "ab ab ab"]
EXPL = "A proof by contradiction assumes the opposite and derives an absurdity."


def test_every_test_architecture_passes_the_probe(arch_lm):
    assert prefix.shared_prefix_ok(arch_lm)
    assert arch_lm._surprisal_shared_prefix_ok is True  # cached on the LM


@pytest.mark.parametrize("side", ["right", "left"])
def test_shared_prefix_scores_match_float64(arch_lm, side):
    assert prefix.shared_prefix_ok(arch_lm)
    s = surprisal.score(TARGETS, context=EXPL, model=arch_lm, padding_side=side)
    for t, ts in zip(TARGETS, s, strict=True):
        assert_close(ts.logprobs, ref_scores(arch_lm, t, context=EXPL), TOL, t)


def test_shared_prefix_equals_expanded_cache(arch_lm, monkeypatch):
    extras = ["entropy", "rank", "topk", "bow"]
    got = surprisal.score(TARGETS, context=EXPL, model=arch_lm, extras=extras)
    monkeypatch.setattr(arch_lm, "_surprisal_shared_prefix_ok", False)  # the KV-cache path
    want = surprisal.score(TARGETS, context=EXPL, model=arch_lm, extras=extras)
    for a, b in zip(got, want, strict=True):
        assert_close(a.logprobs, b.logprobs, INV)
        assert_close(a.entropy, b.entropy, INV)
        assert_close(a.bow, b.bow, INV)


def test_plain_head_uses_it_too(llama_lm):
    s = surprisal.score(TARGETS, context=EXPL, model=llama_lm, head="plain")
    for t, ts in zip(TARGETS, s, strict=True):
        assert_close(ts.logprobs, ref_scores(llama_lm, t, context=EXPL), TOL, t)


@pytest.mark.parametrize("window", [3, 6])
def test_sliding_window_layers_drop_far_prefix_keys(window):
    # Gemma-2 alternates sliding-window and global layers; a window far shorter than the
    # prefix makes the sliding layers' cache keep only its last window - 1 keys.
    tok = tiny_tokenizer("sentencepiece")
    lm = surprisal.LM(tiny_model("gemma2", len(tok), sliding_window=window), tok)
    assert prefix.shared_prefix_ok(lm)
    s = surprisal.score(TARGETS, context=EXPL, model=lm, batch_tokens=16)
    for t, ts in zip(TARGETS, s, strict=True):
        assert_close(ts.logprobs, ref_scores(lm, t, context=EXPL), TOL, t)


def test_prefix_scores_in_small_blocks(llama_lm, monkeypatch):
    want = surprisal.score(TARGETS, context=EXPL, model=llama_lm)
    monkeypatch.setattr(prefix, "SCORE_ELEMENTS", 7)  # one query row per block
    got = surprisal.score(TARGETS, context=EXPL, model=llama_lm)
    for a, b in zip(want, got, strict=True):
        assert_close(a.logprobs, b.logprobs, INV)


def test_a_model_that_fails_the_probe_falls_back(monkeypatch):
    lm = tiny_lm("qwen2")

    def broken(lm):
        raise RuntimeError("this model rejects the layout")

    monkeypatch.setattr(prefix, "_probe", broken)
    assert not prefix.shared_prefix_ok(lm)
    s = surprisal.score(TARGETS, context=EXPL, model=lm)
    for t, ts in zip(TARGETS, s, strict=True):
        assert_close(ts.logprobs, ref_scores(lm, t, context=EXPL), TOL, t)


def test_the_attention_function_outside_its_context_is_an_error(llama_lm):
    q = torch.zeros(1, 4, 2, 8)
    k = torch.zeros(1, 2, 2, 8)
    with pytest.raises(RuntimeError, match=r"only inside surprisal\.prefix"):
        prefix.shared_prefix_attention(llama_lm.model, q, k, k, None)


def test_the_model_config_is_restored(llama_lm):
    before = llama_lm.model.config._attn_implementation
    surprisal.score(TARGETS, context=EXPL, model=llama_lm)
    assert llama_lm.model.config._attn_implementation == before
