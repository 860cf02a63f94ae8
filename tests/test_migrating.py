"""docs/howto/migrating.md, checked: each equivalence the page states between a minicons or
lm-eval call and ours, on a tiny model. "Their" number is computed here by a hand
implementation of their convention (float64 full log_softmax; neither package is needed),
"ours" with the call the page documents."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest

import surprisal
from conftest import ref_logits

TEXTS = ["The cat sat on the mat.", "Colorless green ideas sleep furiously."]


def _scored(model, ids, first):
    """Float64 log-probs of ids[first:], each given everything before it."""
    lp = ref_logits(model, ids)
    return np.array([float(lp[p - 1, ids[p]]) for p in range(first, len(ids))])


def minicons_token_logprobs(lm, text, bos_token=False):
    """minicons IncrementalLMScorer.compute_stats: tokenizer(text) with its own defaults
    (``bos_token=True`` puts the BOS string in front), the first token's score dropped."""
    tok = lm.tokenizer
    s = (tok.bos_token + text) if bos_token else text
    ids = tok(s)["input_ids"]
    return _scored(lm.model, ids, 1), ids


def minicons_conditional(lm, prefix, stimulus):
    """minicons conditional_score(prefix, stimulus, reduction=sum): prefix + " " + stimulus
    tokenized whole, the tokens after the prefix's scored."""
    tok = lm.tokenizer
    ids = tok(prefix + " " + stimulus)["input_ids"]
    n_prefix = len(tok(prefix)["input_ids"])
    return float(_scored(lm.model, ids, n_prefix).sum())


def lmeval_rolling(lm, text):
    """lm-eval loglikelihood_rolling for a text within the context: [BOS or EOS] +
    tok_encode(text), every text token scored."""
    tok = lm.tokenizer
    prefix = tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id
    ids = [prefix, *tok.encode(text)]
    return float(_scored(lm.model, ids, 1).sum())


@pytest.mark.parametrize("arch", ["gpt2", "qwen2"])
def test_minicons_sequence_score_mean_and_sum(lms, arch):
    lm = lms[arch]
    for text in TEXTS:
        theirs, _ = minicons_token_logprobs(lm, text)
        t = surprisal.score(text, model=lm, add_bos=False)[0]
        assert math.isnan(t.logprobs[0]) and t.n_unscored == 1
        assert abs(-t.mean() - theirs.mean()) <= 1e-5  # sequence_score default: the mean
        assert abs(-t.total() - theirs.sum()) <= 1e-4 * len(theirs)  # reduction=sum
        np.testing.assert_allclose(t.logprobs[1:], theirs, atol=1e-4)


def test_minicons_token_score_shape_and_bits(gpt2_lm):
    text = TEXTS[0]
    theirs, ids = minicons_token_logprobs(gpt2_lm, text)
    t = surprisal.score(text, model=gpt2_lm, add_bos=False)[0]
    their_pairs = list(
        zip(gpt2_lm.tokenizer.convert_ids_to_tokens(ids), [0.0, *theirs.tolist()], strict=True)
    )
    ours = [
        (tok, 0.0 if i == 0 else float(lp))
        for i, (tok, lp) in enumerate(zip(t.tokens, t.logprobs, strict=True))
    ]
    assert [p[0] for p in ours] == [p[0] for p in their_pairs]
    np.testing.assert_allclose([p[1] for p in ours], [p[1] for p in their_pairs], atol=1e-4)
    their_bits = -theirs / math.log(2)  # surprisal=True, base_two=True
    np.testing.assert_allclose(t.surprisal("bits")[1:], their_bits, atol=2e-4)


def test_default_bos_changes_every_token_not_only_the_first(gpt2_lm):
    """With the BOS, the first token is scored and every later token is conditioned on the
    BOS too: the totals differ by more than the first token's surprisal."""
    text = TEXTS[0]
    theirs, _ = minicons_token_logprobs(gpt2_lm, text)
    with_bos, _ = minicons_token_logprobs(gpt2_lm, text, bos_token=True)
    full = surprisal.score(text, model=gpt2_lm)[0]
    plain = surprisal.score(text, model=gpt2_lm, add_bos=False)[0]
    first = float(full.surprisal()[0])
    tok = gpt2_lm.tokenizer
    ids = [gpt2_lm.boundary_id, *tok.encode(text)]
    assert abs(first + _scored(gpt2_lm.model, ids, 1)[0]) <= 1e-4  # -log p(first | BOS)
    np.testing.assert_allclose(full.logprobs, with_bos, atol=1e-4)
    np.testing.assert_allclose(plain.logprobs[1:], theirs, atol=1e-4)
    later = (full.total() - first) - plain.total()  # the same tokens, with and without BOS
    assert abs(later) > 1e-3
    assert abs(later - (-(with_bos[1:].sum()) + theirs.sum())) <= 1e-3


def test_minicons_bos_token_true_is_our_default(gpt2_lm):
    for text in TEXTS:
        theirs, ids = minicons_token_logprobs(gpt2_lm, text, bos_token=True)
        assert ids[0] == gpt2_lm.boundary_id  # the BOS string was parsed as the BOS token
        ours = -surprisal.score(text, model=gpt2_lm).total()[0]
        assert abs(ours - theirs.sum()) <= 1e-4 * len(theirs)


def test_minicons_conditional_score_is_loglikelihood(gpt2_lm):
    prefix, stimulus = "The cat sat on the", "mat."
    theirs = minicons_conditional(gpt2_lm, prefix, stimulus)
    ((ours, _),) = surprisal.loglikelihood([(prefix + " ", stimulus)], model=gpt2_lm)
    assert abs(ours - theirs) <= 1e-4


@pytest.mark.parametrize("arch", ["gpt2", "gpt_neox"])
def test_lmeval_rolling_is_minus_our_total(lms, arch):
    lm = lms[arch]
    for text in TEXTS:
        assert abs(-surprisal.score(text, model=lm).total()[0] - lmeval_rolling(lm, text)) <= 1e-3


def test_separator_and_bos_make_score_differ_from_loglikelihood(gpt2_lm):
    ctx, cont = "The cat sat on the", " mat."
    ((ll, _),) = surprisal.loglikelihood([(ctx, cont)], model=gpt2_lm)
    default = -surprisal.score(cont, context=ctx, model=gpt2_lm).total()[0]
    aligned = surprisal.score(cont, context=ctx, separator="", add_bos=False, model=gpt2_lm)
    assert abs(ll - default) > 1e-3
    tok = gpt2_lm.tokenizer
    assert tok.encode(ctx + cont) == tok.encode(ctx) + tok.encode(cont)  # a clean split
    assert abs(ll + aligned.total()[0]) <= 1e-4


def test_sign_and_units(gpt2_lm):
    lm = gpt2_lm
    t = surprisal.score(TEXTS[0], model=lm)[0]
    assert (t.logprobs <= 0).all() and (t.surprisal() >= 0).all() and t.total() >= 0
    np.testing.assert_allclose(t.surprisal("bits"), -t.logprobs / math.log(2), rtol=1e-6)
    assert abs(t.perplexity() - math.exp(t.mean())) <= 1e-9 * t.perplexity()


def test_minicons_with_a_bos_adding_tokenizer_is_our_default(llama_lm):
    """Llama's tokenizer adds BOS in encode(): minicons' dropped first token is that BOS."""
    from tokenizers import processors

    from surprisal.lm import LM

    tok = copy.deepcopy(llama_lm.tokenizer)
    bos = tok.bos_token
    tok.backend_tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A", special_tokens=[(bos, tok.bos_token_id)]
    )
    lm = LM(llama_lm.model, tok)
    for text in TEXTS:
        theirs, ids = minicons_token_logprobs(lm, text)
        assert ids[0] == tok.bos_token_id == lm.boundary_id
        ours = surprisal.score(text, model=lm)[0]
        np.testing.assert_allclose(ours.logprobs, theirs, atol=1e-4)
