"""Models whose forward returns no KV cache (RWKV, OpenAI-GPT, RecurrentGemma) score with
``context=`` and ``delta`` by recomputing the prefix in every row, like Mamba (issue 24,
item 6); RecurrentGemma's soft-capped head runs fused (item 9).

Checked against the float64 oracle of conftest, which runs the whole sequence unpadded.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
import transformers as tf

import surprisal
from conftest import assert_close, ref_scores
from surprisal.testing import tiny_tokenizer

TARGETS = ["the cat sat on the mat", "a b", "colourless green ideas sleep furiously"]
EXPL = "A short story about animals that sit on things."
TOL = 1e-4


def _rwkv(V):
    return tf.RwkvConfig(
        vocab_size=V,
        hidden_size=32,  # 2560 (RWKV-4 3B)
        attention_hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,  # 32
        context_length=128,  # 1024
    )


def _openai_gpt(V):
    return tf.OpenAIGPTConfig(vocab_size=V, n_embd=32, n_layer=2, n_head=4, n_positions=128)


def _recurrent_gemma(V, cap=3.0):
    return tf.RecurrentGemmaConfig(
        vocab_size=V,
        hidden_size=32,  # 2560
        intermediate_size=64,  # 15360
        num_hidden_layers=3,  # 26: recurrent, recurrent, attention
        num_attention_heads=4,  # 10
        num_key_value_heads=1,
        head_dim=8,  # 256
        lru_width=32,  # 2560
        attention_window_size=16,  # 2048
        logits_soft_cap=cap,  # 30.0: small here so a missed cap shows
    )


BUILDERS = {"rwkv": _rwkv, "openai-gpt": _openai_gpt, "recurrent_gemma": _recurrent_gemma}


def _lm(cfg):
    tok = tiny_tokenizer("byte-bpe")
    torch.manual_seed(0)
    cfg.initializer_range = 0.3
    model = tf.AutoModelForCausalLM.from_config(cfg).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # the head probe must not fall back
        return surprisal.LM(model, tok)


@pytest.fixture(scope="module", params=sorted(BUILDERS))
def nocache_lm(request):
    return _lm(BUILDERS[request.param](len(tiny_tokenizer("byte-bpe"))))


@pytest.mark.parametrize("context", [EXPL, None])
@pytest.mark.parametrize("side", ["right", "left"])
def test_scores_match_float64(nocache_lm, side, context):
    s = surprisal.score(TARGETS, model=nocache_lm, context=context, padding_side=side, pack=False)
    for t, ts in zip(TARGETS, s, strict=True):
        assert_close(ts.logprobs, ref_scores(nocache_lm, t, context=context), TOL, t)
    if context is not None:  # remembered: the prefix is recomputed in every row
        assert nocache_lm.shares_prefix_cache is False


def test_left_padding_is_probed(nocache_lm, gpt2_lm):
    from surprisal.engine import left_padding_ok

    assert left_padding_ok(gpt2_lm)  # the masked models keep the side asked for
    # RWKV ignores the attention mask: left padding would enter its recurrence.
    assert left_padding_ok(nocache_lm) is (type(nocache_lm.model).__name__ != "RwkvForCausalLM")


def test_delta_matches_float64(nocache_lm):
    d = surprisal.delta(TARGETS, explanation=EXPL, model=nocache_lm)
    want = [
        np.nansum(ref_scores(nocache_lm, t)) * -1 - np.nansum(ref_scores(nocache_lm, t, EXPL)) * -1
        for t in TARGETS
    ]
    np.testing.assert_allclose(np.asarray(d.reduction), want, atol=5e-4)


def test_recurrent_gemma_head_is_fused_with_its_soft_cap():
    V = len(tiny_tokenizer("byte-bpe"))
    lm = _lm(_recurrent_gemma(V, cap=3.0))  # no fallback warning (turned into an error)
    assert lm.fused and lm.head.softcap == 3.0
    assert lm.verify_error is not None and lm.verify_error < 1e-4
    s = surprisal.score(TARGETS, model=lm, head="fused")
    for t, ts in zip(TARGETS, s, strict=True):
        assert_close(ts.logprobs, ref_scores(lm, t), TOL, t)
