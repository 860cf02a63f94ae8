"""Conditional scoring and explanation deltas: exact, aligned, encoded once, and meaningful."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

import surprisal
from conftest import assert_close, ref_scores
from surprisal.testing import tiny_lm, train_tiny

TOL = 1e-4
TARGETS = ["The cat sat on the mat.", "a", "Colorless green ideas sleep furiously.", "ab ab ab"]
EXPL = "A proof by contradiction assumes the opposite and derives an absurdity."
CTRL = "The quick brown fox jumps over the lazy dog; she sells sea shells today."


def test_conditional_scores_equal_concatenation_from_scratch(arch_lm):
    s = surprisal.score(TARGETS, context=EXPL, model=arch_lm)
    for t, ts in zip(TARGETS, s, strict=True):
        assert_close(ts.logprobs, ref_scores(arch_lm, t, context=EXPL), TOL, t)
    assert s.contexts == (EXPL,) * len(TARGETS)


def test_one_context_per_text_and_none(llama_lm):
    ctx = [EXPL, None, CTRL, EXPL]
    s = surprisal.score(TARGETS, context=ctx, model=llama_lm, separator=" ")
    for t, c, ts in zip(TARGETS, ctx, s, strict=True):
        assert_close(ts.logprobs, ref_scores(llama_lm, t, context=c, separator=" "), TOL, t)
    with pytest.raises(ValueError, match="context has 2 items but there are 4 texts"):
        surprisal.score(TARGETS, context=ctx[:2], model=llama_lm)


def test_delta_definitions(arch_lm):
    d = surprisal.delta(TARGETS, explanation=EXPL, control=CTRL, model=arch_lm)
    for i, t in enumerate(TARGETS):
        base = ref_scores(arch_lm, t)
        cond = ref_scores(arch_lm, t, context=EXPL)
        ctrl = ref_scores(arch_lm, t, context=CTRL)
        assert np.array_equal(d.base[i].token_ids, d.conditioned[i].token_ids)  # aligned
        assert_close(d.per_token(i), cond - base, 2 * TOL)
        n = len(base)
        assert d.reduction[i] == pytest.approx(cond.sum() - base.sum(), abs=2 * TOL * n)
        assert d.control_reduction[i] == pytest.approx(ctrl.sum() - base.sum(), abs=2 * TOL * n)
        assert d.reduction_vs_control[i] == pytest.approx(cond.sum() - ctrl.sum(), abs=2 * TOL * n)
    # the explanation's cost: its own tokens (separator included) after the boundary token
    cost = ref_scores(arch_lm, EXPL + "\n")
    assert d.explanation_cost == pytest.approx(-cost.sum(), abs=1e-3)
    assert d.explanation_scores.text == EXPL + "\n"
    assert d.two_part_gain == pytest.approx(d.reduction - d.explanation_cost)
    assert d.two_part_gain_total == pytest.approx(d.reduction.sum() - d.explanation_cost)
    assert d.per_token(0, unit="bits") == pytest.approx(d.per_token(0) / np.log(2))


def test_prefix_is_encoded_once(llama_lm):
    """Count what the embedding layer actually receives."""
    seen: list[torch.Tensor] = []
    emb = llama_lm.model.get_input_embeddings()
    handle = emb.register_forward_hook(lambda m, inp, out: seen.append(inp[0].detach().clone()))
    targets = [f"target number {i} is short" for i in range(40)]
    try:
        d = surprisal.delta(
            targets, explanation=EXPL, control=CTRL, model=llama_lm, batch_tokens=512
        )
    finally:
        handle.remove()
    tok = llama_lm.tokenizer
    expl_ids = [llama_lm.boundary_id, *tok(EXPL + "\n", add_special_tokens=False)["input_ids"]]
    fed = sum(x.numel() for x in seen)
    with_expl = [
        x
        for x in seen
        if x.shape[1] >= len(expl_ids) and x[0, : len(expl_ids)].tolist() == expl_ids
    ]
    assert len(with_expl) == 1  # one forward carries the explanation: it is encoded once
    target_tokens = sum(len(t) for t in d.base)
    P = len(expl_ids) + len(tok(CTRL + "\n", add_special_tokens=False)["input_ids"]) + 1
    assert fed <= P + 3 * target_tokens * 1.5  # prefixes once + three conditions of targets
    assert d.base.stats.prefix_tokens == P
    assert d.base.stats.tokens_fed == fed


def test_explanation_longer_than_context(gpt2_lm):
    long = " ".join(["word"] * 300)
    M = gpt2_lm.max_length
    with pytest.raises(ValueError, match=rf"context is \d+ tokens long .* model's context is {M}"):
        surprisal.delta(["a b"], explanation=long, model=gpt2_lm)
    d = surprisal.delta(["a b"], explanation=long, model=gpt2_lm, truncate_context="left")
    assert np.isfinite(d.reduction).all()
    kept = d.explanation_scores
    assert len(kept) == M - M // 2 - 1  # max_length - stride, minus the boundary token
    # the truncated condition is the concatenation of the kept tokens, scored from scratch
    ids = [gpt2_lm.boundary_id, *kept.token_ids.tolist()]
    tgt = gpt2_lm.tokenizer("a b", add_special_tokens=False)["input_ids"]
    from conftest import ref_logits

    lp = ref_logits(gpt2_lm.model, ids + tgt)
    want = [float(lp[len(ids) - 1 + j, tgt[j]]) for j in range(len(tgt))]
    assert_close(d.conditioned[0].logprobs, want, TOL)


def test_bad_delta_inputs(gpt2_lm):
    with pytest.raises(ValueError, match="explanation is empty"):
        surprisal.delta(["a"], explanation="  ", model=gpt2_lm)
    with pytest.raises(TypeError, match="explanation must be a str"):
        surprisal.delta(["a"], explanation=None, model=gpt2_lm)
    with pytest.raises(ValueError, match="targets is empty"):
        surprisal.delta([], explanation="x", model=gpt2_lm)
    with pytest.raises(TypeError, match=r"targets\[1\] is int"):
        surprisal.delta(["a", 1], explanation="x", model=gpt2_lm)


def test_html_and_pandas(gpt2_lm, tmp_path):
    d = surprisal.delta(TARGETS, explanation=EXPL, control=CTRL, model=gpt2_lm)
    html = d.to_html(tmp_path / "delta.html")
    assert (tmp_path / "delta.html").read_text(encoding="utf-8") == html
    assert "<script" not in html and "http" not in html
    assert html.count("<span") == sum(len(t) for t in d.base)
    df = d.to_pandas()
    assert list(df["reduction"]) == pytest.approx(list(d.reduction))
    assert "reduction_vs_control" in df


# ---------------------------------------------------------------- a model where we know the answer

RULES = {"Rule A.": "a", "Rule B.": "b", "Rule C.": "c"}


def _rule_corpus(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        rule = rng.choice(list(RULES))
        body = " ".join(RULES[rule] * rng.randint(2, 4) for _ in range(rng.randint(2, 4)))
        # half the time the rule is stated first: a rule determines its continuation
        out.append(f"{rule}\n{body}" if rng.random() < 0.5 else body)
    return out


@pytest.fixture(scope="module")
def rule_lm():
    lm = tiny_lm("gpt2", seed=1)
    return train_tiny(lm, _rule_corpus(800, 0), steps=200, seed=0)


@pytest.mark.slow
def test_matching_explanation_reduces_surprise(rule_lm):
    targets = ["aaa aa aaaa", "aa aaa", "aaaa aaaa aa", "aa aa aa", "aaa aaa"]
    good = surprisal.delta(targets, explanation="Rule A.", control="Rule B.", model=rule_lm)
    s = good.summary(n_boot=2000)
    assert s.reduction.ci_low > 0.5  # clearly positive, every target
    assert (good.reduction > 0).all()
    assert s.vs_control is not None and s.vs_control.ci_low > 1.0
    bad = surprisal.delta(targets, explanation="Rule C.", model=rule_lm)
    assert (bad.reduction < 0).all()  # a mismatched explanation makes the targets worse
    r = surprisal.rank_explanations(
        targets, candidates=["Rule C.", "Rule A.", "Rule B."], model=rule_lm
    )
    assert r.order[0] == 1 and r.best.explanation == "Rule A."
    assert r.deltas[0].explanation == "Rule A."
    assert r.summaries[0].reduction.mean > r.summaries[1].reduction.mean


@pytest.mark.slow
def test_rank_explanations_cross_fits_the_winner(rule_lm):
    targets = ["aaa aa aaaa", "aa aaa", "aaaa aaaa aa", "aa aa aa", "aaa aaa", "aa aaaa"]
    cands = ["Rule C.", "Rule A.", "Rule B."]
    r = surprisal.rank_explanations(
        targets, candidates=cands, model=rule_lm, n_boot=500, seed=3, folds=3
    )
    # the folds partition the targets: every target is held out once
    held = [i for f in r.folds for i in f]
    assert len(r.folds) == 3 and sorted(held) == list(range(len(targets)))
    assert r.selection.startswith("cross-fitted") and r.selection in str(r)
    # each fold's winner is chosen on the other folds, measured on its own: by hand
    by_cand = {d.explanation: d.reduction for d in r.deltas}
    want = np.empty(len(targets))
    for f, w in zip(r.folds, r.fold_winners, strict=True):
        rest = [i for i in range(len(targets)) if i not in f]
        means = [float(np.mean(by_cand[c][rest])) for c in cands]
        assert w == int(np.argmax(means))
        want[list(f)] = by_cand[cands[w]][list(f)]
    assert r.winner_held_out is not None and r.winner_held_out.n == len(targets)
    assert r.winner_held_out.mean == pytest.approx(want.mean())
    # the order and the per-candidate figures are on all targets
    keys = [float(np.mean(d.reduction)) for d in r.deltas]
    assert keys == sorted(keys, reverse=True)
    for d, s in zip(r.deltas, r.summaries, strict=True):
        assert s.reduction.n == len(targets)
        assert s.reduction.mean == pytest.approx(d.reduction.mean())
        assert s.two_part_gain_total == pytest.approx(d.reduction.sum() - d.explanation_cost)
    df = r.to_pandas()
    assert set(df["selection"]) == {r.selection} and set(df["n_report"]) == {len(targets)}
    same = surprisal.rank_explanations(
        targets, candidates=cands, model=rule_lm, n_boot=500, held_out=False
    )
    assert same.winner_held_out is None and "biased upward" in same.selection
    one = surprisal.rank_explanations(targets[:1], candidates=cands, model=rule_lm, n_boot=200)
    assert "too few to split" in one.selection
