"""surprisal.loglikelihood against an independent float64 computation of lm-eval's rule.

The reference here is written from lm-eval-harness's HFLM code, not from the package: the
pair is split at the token level (trailing context whitespace moved to the continuation,
``context + continuation`` tokenized whole, the continuation = the tokens after the
context's), an empty context is the BOS/EOS token, and the scores come from one full
float64 log_softmax over the concatenated ids; is_greedy is the float64 argmax.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch

import surprisal
from conftest import ref_logits
from surprisal.errors import SurprisalError

PAIRS = [
    ("The cat sat on the", " mat."),
    ("The cat sat on the ", "mat."),  # trailing space: moves to the continuation
    ("Question: what did the cat do? Answer:", " it sat"),
    ("", "The cat sat."),  # empty context: scored after BOS/EOS
    ("Colorless green", " ideas sleep furiously."),
    ("abc", "def"),  # no space: the boundary token may straddle
]


def lmeval_reference(tokenizer, model, context, continuation):
    """(logprob, is_greedy) by lm-eval's rule, float64, from scratch."""
    bos = tokenizer.bos_token_id
    prefix = bos if bos is not None else tokenizer.eos_token_id
    prefix_text = tokenizer.decode(prefix)

    def enc(s):
        if s.startswith(prefix_text):
            return tokenizer.encode(s, add_special_tokens=False)
        return tokenizer.encode(s)

    if context == "":
        cont = tokenizer.encode(continuation, add_special_tokens=False)
        ctx = [prefix]
        if cont[0] == prefix:
            ctx, cont = cont[:1], cont[1:]
    else:
        n = len(context) - len(context.rstrip())
        if n:
            continuation = context[-n:] + continuation
            context = context[:-n]
        whole = enc(context + continuation)
        ctx = enc(context)
        cont = whole[len(ctx) :]
    ids = ctx + cont
    lp = ref_logits(model, ids)  # (T, V) float64 log_softmax
    pos = range(len(ctx) - 1, len(ids) - 1)  # the positions that predict the continuation
    total = sum(float(lp[p, ids[p + 1]]) for p in pos)
    greedy = all(int(lp[p].argmax()) == ids[p + 1] for p in pos)
    return total, greedy, len(cont)


@pytest.mark.parametrize("arch", ["gpt2", "llama", "gemma2"])
def test_matches_lmeval_rule_in_float64(lms, arch):
    lm = lms[arch]
    got = surprisal.loglikelihood(PAIRS, model=lm)
    assert len(got) == len(PAIRS)
    for (c, x), (lp, greedy) in zip(PAIRS, got, strict=True):
        want, want_greedy, n = lmeval_reference(lm.tokenizer, lm.model, c, x)
        assert isinstance(lp, float) and isinstance(greedy, bool)
        assert abs(lp - want) <= 2e-4 * n, (arch, c, x, lp, want)
        assert greedy == want_greedy, (arch, c, x)
    plain = surprisal.loglikelihood(PAIRS, model=lm, head="plain")
    np.testing.assert_allclose([p[0] for p in plain], [g[0] for g in got], atol=1e-4)


def test_trailing_space_moves_to_the_continuation(gpt2_lm):
    a = surprisal.loglikelihood([("The cat sat on the ", "mat.")], model=gpt2_lm)
    b = surprisal.loglikelihood([("The cat sat on the", " mat.")], model=gpt2_lm)
    assert a == b
    _, cont = surprisal.likelihood.encode_pair(gpt2_lm.tokenizer, "The cat ", "sat")
    assert gpt2_lm.tokenizer.decode(cont) == " sat"


def test_differs_from_score_with_its_own_conventions(gpt2_lm):
    # score(context=) adds a boundary token and a "\n" separator; loglikelihood does not.
    ll = surprisal.loglikelihood([("The cat sat on the", " mat.")], model=gpt2_lm)[0][0]
    s = surprisal.score(" mat.", context="The cat sat on the", model=gpt2_lm)
    assert abs(ll + s.total()[0]) > 1e-3  # total() is surprisal: -log-probability
    # With no separator and no boundary, and a boundary token-aligned split, they agree.
    s2 = surprisal.score(
        " mat.", context="The cat sat on the", separator="", add_bos=False, model=gpt2_lm
    )
    tok = gpt2_lm.tokenizer
    whole = tok.encode("The cat sat on the mat.")
    assert whole == tok.encode("The cat sat on the") + tok.encode(" mat.")  # an aligned split
    assert abs(ll + float(s2.total()[0])) <= 1e-4


def test_is_greedy_true_and_false(gpt2_lm):
    tok, model = gpt2_lm.tokenizer, gpt2_lm.model
    ctx = "The cat sat on the"
    ids = tok.encode(ctx)
    lp = ref_logits(model, ids)
    best = int(lp[-1].argmax())
    worst = int(lp[-1].argmin())
    greedy_cont = tok.decode([best])
    other_cont = tok.decode([worst])
    for cont, want in ((greedy_cont, True), (other_cont, False)):
        c, x = surprisal.likelihood.encode_pair(tok, ctx, cont)
        if c != ids or len(x) != 1:
            pytest.skip("the argmax token does not round-trip through the tokenizer")
        ((lp_got, greedy),) = surprisal.loglikelihood([(ctx, cont)], model=gpt2_lm)
        assert greedy is want
        ref, ref_greedy, _ = lmeval_reference(tok, model, ctx, cont)
        assert ref_greedy is want
        assert abs(lp_got - ref) <= 1e-4


def test_tokenizer_that_adds_bos(llama_lm):
    """A tokenizer whose encode() prepends BOS (Llama's): lm-eval keeps it in the context."""
    from tokenizers import processors

    from surprisal.lm import LM

    tok = copy.deepcopy(llama_lm.tokenizer)
    bos = tok.bos_token
    tok.backend_tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A", special_tokens=[(bos, tok.bos_token_id)]
    )
    assert tok.encode("The cat")[0] == tok.bos_token_id
    lm = LM(llama_lm.model, tok)
    pairs = [("The cat sat on the", " mat."), ("", "The cat."), (bos + "The cat", " sat")]
    got = surprisal.loglikelihood(pairs, model=lm)
    for (c, x), (lp, greedy) in zip(pairs, got, strict=True):
        want, want_greedy, n = lmeval_reference(tok, llama_lm.model, c, x)
        assert abs(lp - want) <= 2e-4 * n and greedy == want_greedy, (c, x)
    ctx, _ = surprisal.likelihood.encode_pair(tok, bos + "The cat", " sat")
    assert ctx.count(tok.bos_token_id) == 1  # no second BOS before a text that has one


def test_errors(gpt2_lm):
    with pytest.raises(SurprisalError, match="no tokens"):
        surprisal.loglikelihood([("The cat", "")], model=gpt2_lm)
    with pytest.raises(TypeError, match="pair"):
        surprisal.loglikelihood(["The cat sat"], model=gpt2_lm)
    with pytest.raises(TypeError, match="list of"):
        surprisal.loglikelihood("The cat", model=gpt2_lm)
    with pytest.raises(SurprisalError, match="temperature"):
        surprisal.loglikelihood([("a", "b")], model=gpt2_lm, temperature=0)
    long_ctx = "the cat sat " * 200
    with pytest.raises(SurprisalError, match="truncate_context='left'"):
        surprisal.loglikelihood([(long_ctx, " mat")], model=gpt2_lm)
    assert surprisal.loglikelihood([], model=gpt2_lm) == []


def test_truncate_left_keeps_the_last_max_length_tokens(gpt2_lm):
    tok, M = gpt2_lm.tokenizer, gpt2_lm.max_length
    long_ctx = "the cat sat " * 200
    ((lp, _),) = surprisal.loglikelihood(
        [(long_ctx, " on the mat")], model=gpt2_lm, truncate_context="left"
    )
    ctx, cont = surprisal.likelihood.encode_pair(tok, long_ctx, " on the mat")
    ids = (ctx + cont)[-M:]
    ref = ref_logits(gpt2_lm.model, ids)
    want = sum(float(ref[p, ids[p + 1]]) for p in range(M - len(cont) - 1, M - 1))
    assert math.isfinite(lp) and abs(lp - want) <= 2e-4 * len(cont)


def test_model_not_changed(gpt2_lm):
    before = {k: v.clone() for k, v in gpt2_lm.model.state_dict().items()}
    surprisal.loglikelihood(PAIRS, model=gpt2_lm, temperature=2.0)
    after = gpt2_lm.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert gpt2_lm.head.temperature in (None, 1.0)
