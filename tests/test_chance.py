"""Honest experiments: measured chance levels, length-matched negatives, knowledge vs priming.

Every number is checked against an independent computation: AUCs by a hand-written
Mann–Whitney double loop, log-probabilities by the float64 oracle of ``conftest.py``, the
differential by direct sums.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import surprisal
from conftest import ref_scores
from surprisal import LM, grammar, stats
from surprisal.baseline import null_model
from surprisal.testing import tiny_lm, tiny_model, tiny_tokenizer

USER_CFG = grammar.cfg('S -> "a" S "c" | "b" S | "b"', name="user_cfg")


def mann_whitney_auc(pos, neg) -> float:
    """P(a random positive outscores a random negative), ties 1/2, by a double loop."""
    wins = sum((p > q) + 0.5 * (p == q) for p, q in itertools.product(pos, neg))
    return wins / (len(pos) * len(neg))


@pytest.fixture(scope="module")
def untrained_lm():
    """A freshly initialised GPT-2 (the architecture's own initialiser, std 0.02): untrained."""
    tok = tiny_tokenizer("byte-bpe")
    return LM(tiny_model("gpt2", len(tok), max_positions=512, seed=3, initializer_range=0.02), tok)


@pytest.fixture(scope="module")
def demo_lm():
    from surprisal.demo import load_demo

    return load_demo(device="cpu")


# ---------------------------------------------------------------- done-when: chance is measured


@pytest.mark.slow
@pytest.mark.parametrize("g", [grammar.zoo["anbn"], USER_CFG], ids=["zoo-anbn", "user-cfg"])
def test_untrained_model_is_not_above_chance(untrained_lm, g):
    m = grammar.membership(g, model=untrained_lm, n=40, max_len=10, seed=0, n_boot=500)
    for metric in ("auc", "pair_accuracy"):
        est, lo, hi = m.above_chance[metric]
        assert lo <= 0.0 <= hi, (metric, est, lo, hi)
        assert lo <= est <= hi


@pytest.mark.slow
def test_demo_model_knows_dyck2_above_chance(demo_lm):
    m = grammar.membership(
        grammar.zoo["dyck2"], model=demo_lm, n=40, max_len=12, seed=0, n_boot=500
    )
    est, lo, hi = m.above_chance["auc"]
    assert lo > 0.0, (est, lo, hi)
    assert est == pytest.approx(m.auc["none"] - m.chance["auc"]["none"])


# ---------------------------------------------------------------- every number, independently


@pytest.fixture(scope="module")
def small():
    lm = tiny_lm("gpt2", max_positions=256)
    g = grammar.zoo["dyck1"]
    m = grammar.membership(
        g,
        model=lm,
        n=12,
        max_len=6,
        explanation=g.explanation,
        seed=1,
        n_boot=300,
        null_draws=2,
    )
    return lm, g, m


@pytest.mark.slow  # a membership run with random-weight twins
def test_null_models_and_chance_against_the_oracle(small):
    lm, _, m = small
    assert len(m.null_logprob) == 2 and "random-weight" in m.baseline
    lab = m.labels == 1
    hand_auc = []
    for k in range(2):
        null = null_model(lm, seed=1 + k)  # membership seeds its twins seed, seed + 1, ...
        for i, t in enumerate(m.texts):
            want = ref_scores(null, t + m.end).sum()
            assert m.null_logprob[k]["none"][i] == pytest.approx(want, abs=1e-3)
        x = m.null_logprob[k]["none"]
        hand_auc.append(mann_whitney_auc(x[lab], x[~lab]))
    assert m.chance["auc"]["none"] == pytest.approx(np.mean(hand_auc))
    assert m.auc["none"] == pytest.approx(
        mann_whitney_auc(m.logprob["none"][lab], m.logprob["none"][~lab])
    )
    est, lo, hi = m.above_chance["auc"]
    assert est == pytest.approx(m.auc["none"] - np.mean(hand_auc))
    assert lo <= est <= hi
    # the null weights are not the model's
    a = next(lm.model.parameters())
    assert not np.allclose(a.detach().numpy(), next(null.model.parameters()).detach().numpy())


@pytest.mark.slow  # a membership run with random-weight twins
def test_length_only_and_majority_by_hand(small):
    lm, _, m = small
    counts = [len(lm.tokenizer(t + m.end, add_special_tokens=False)["input_ids"]) for t in m.texts]
    counts = -np.array(counts, dtype=float)
    lab = m.labels == 1
    assert m.length_only_auc == pytest.approx(mann_whitney_auc(counts[lab], counts[~lab]))
    cal, test = m.labels[~m.test], m.labels[m.test]
    majority = 1 if cal.sum() * 2 > len(cal) else 0
    assert m.majority_accuracy == pytest.approx(float(np.mean(test == majority)))
    assert m.chance["length_only_auc"] == m.length_only_auc
    assert m.chance["majority_accuracy"] == m.majority_accuracy


@pytest.mark.slow  # a membership run with random-weight twins
def test_pair_accuracy_by_edit_kind(small):
    _, _, m = small
    assert len(m.pair_edits) == len(m.pairs)
    x = m.logprob["none"]
    by_hand: dict[str, list[float]] = {}
    for (gi, bi), edit in zip(m.pairs, m.pair_edits, strict=True):
        good, bad = m.texts[gi], m.texts[bi]
        assert {"insert": 1, "delete": -1}.get(edit, 0) == len(bad) - len(good)
        by_hand.setdefault(edit, []).append((x[gi] > x[bi]) + 0.5 * (x[gi] == x[bi]))
    got = m.pair_accuracy_by_edit("none")
    assert set(got) == set(by_hand)
    for k, v in by_hand.items():
        assert got[k] == pytest.approx(np.mean(v))
    t = m.table()
    for k in got:
        assert t.loc[0, f"pair_accuracy_{k}"] == pytest.approx(got[k])
    assert t.loc[0, "chance_auc"] == pytest.approx(m.chance["auc"]["none"])


@pytest.mark.slow  # a membership run with random-weight twins
def test_differential_is_a_difference_of_direct_sums(small):
    lm, g, m = small
    r = []
    for t in m.texts:
        alone = ref_scores(lm, t + m.end).sum()
        after = ref_scores(lm, t + m.end, context=g.explanation, separator="\n").sum()
        r.append(after - alone)
    r = np.array(r)
    lab = m.labels == 1
    want = r[lab].mean() - r[~lab].mean()
    d = m.differential["explanation"]
    assert d.estimate == pytest.approx(want, abs=1e-3)
    assert d.ci_low <= d.estimate <= d.ci_high and 0.0 <= d.p_value <= 1.0
    assert d.n_targets == lab.sum() and d.n_negatives == (~lab).sum()
    assert m.table().loc[1, "differential"] == pytest.approx(d.estimate)


@pytest.mark.slow  # a membership run with random-weight twins
def test_slor_unigram_is_fitted_on_all_calibration_strings(small):
    lm, _, m = small
    V = lm.vocab_size
    ids = [lm.tokenizer(t + m.end, add_special_tokens=False)["input_ids"] for t in m.texts]

    def unigram(fit):
        counts = np.zeros(V)
        for i in np.flatnonzero(fit):
            for t in ids[i]:
                counts[t] += 1
        logp = np.log((counts + 1) / (counts.sum() + V))
        return np.array([logp[x].sum() for x in ids])

    assert m.unigram_logprob == pytest.approx(unigram(~m.test))
    members_only = unigram((m.labels == 1) & ~m.test)
    assert not np.allclose(m.unigram_logprob, members_only)  # the labels play no part


@pytest.mark.slow  # a membership run with random-weight twins
def test_reports_carry_the_chance_levels(small):
    _, _, m = small
    text = str(m)
    assert "chance" in text and "token count alone" in text and "0.5 = chance" not in text
    assert "differential reduction explanation" in text and "Holm-adjusted" in text
    assert "two-sided" in text
    assert ("warning: only" in text) == (min(m.labels.sum(), (1 - m.labels).sum()) < 10)
    ct = m.chance_table()
    assert ct.metric.isin(list(grammar.membership_result.METRICS)).sum() == len(m.conditions) * 5
    extra = set(ct.metric) - set(grammar.membership_result.METRICS)
    assert extra == {
        "lift_auc:explanation-none",
        "lift_pair_accuracy:explanation-none",
        "differential:explanation",
    }
    assert "random-weight twins rule out tokenization" in text
    row = ct[(ct.condition == "none") & (ct.metric == "auc")].iloc[0]
    assert row["above_chance"] == pytest.approx(m.above_chance["auc"][0])
    html = m.to_html()
    assert "Chance levels" in html and "length_only_auc" in html and "<script" not in html


@pytest.mark.slow  # a membership run with random-weight twins
def test_baseline_options(small):
    lm, g, _ = small
    m = grammar.membership(g, model=lm, n=8, max_len=6, baseline=None)
    assert m.null_logprob == () and m.above_chance == {}
    assert set(m.chance) == {"length_only_auc", "majority_accuracy"}
    assert "no null model" in str(m)
    own = null_model(lm, seed=9)
    m2 = grammar.membership(g, model=lm, n=8, max_len=6, baseline=own, null_draws=3)
    assert len(m2.null_logprob) == 1 and m2.baseline == own.name
    assert set(m2.above_chance) >= {"auc", "pair_accuracy"}
    with pytest.raises(ValueError, match="baseline must be 'random'"):
        grammar.membership(g, model=lm, n=8, max_len=6, baseline="uniform")
    with pytest.raises(TypeError, match="baseline must be"):
        grammar.membership(g, model=lm, n=8, max_len=6, baseline=3)
    with pytest.raises(ValueError, match="different tokenizer"):
        grammar.membership(g, model=lm, n=8, max_len=6, baseline=tiny_lm("llama"))
    with pytest.raises(ValueError, match="null_draws"):
        grammar.membership(g, model=lm, n=8, max_len=6, null_draws=0)


# ---------------------------------------------------------------- negatives matched in tokens


@pytest.mark.slow  # a membership run with random-weight twins
def test_length_matched_negatives_hide_the_token_count(demo_lm):
    g = grammar.zoo["anbn"]
    common = dict(n=12, max_len=24, negative_kinds=("random",), baseline=None, seed=0)
    plain = grammar.membership(g, model=demo_lm, length_matched=False, **common)
    matched = grammar.membership(g, model=demo_lm, **common)
    assert matched.length_matched and not plain.length_matched
    for m in (plain, matched):
        assert all(g.accepts(t) == bool(lab) for t, lab in zip(m.texts, m.labels, strict=True))
    # members of a^n b^n tokenize short: with symbol-length-matched negatives length leaks
    assert plain.length_only_auc > 0.75
    assert abs(matched.length_only_auc - 0.5) < 0.1
    lab = matched.labels == 1
    n_tok = matched.n_tokens["none"]
    assert abs(n_tok[lab].mean() - n_tok[~lab].mean()) < 0.5


# ---------------------------------------------------------------- delta(negatives=)


def test_delta_differential_against_the_oracle(gpt2_lm):
    expl = "Strings of a and b alternate."
    targets = ["abab", "ab", "ababab", "abababab"]
    negatives = ["aabb", "ba", "bbaa", "abba", "baab"]
    d = surprisal.delta(targets, explanation=expl, negatives=negatives, model=gpt2_lm)
    assert d.negatives == tuple(negatives) and len(d.reduction) == 4
    neg = [
        ref_scores(gpt2_lm, t, context=expl).sum() - ref_scores(gpt2_lm, t).sum() for t in negatives
    ]
    assert d.negative_reduction == pytest.approx(neg, abs=1e-3)
    pos = [
        ref_scores(gpt2_lm, t, context=expl).sum() - ref_scores(gpt2_lm, t).sum() for t in targets
    ]
    assert d.differential.estimate == pytest.approx(np.mean(pos) - np.mean(neg), abs=1e-3)
    s = d.summary(n_boot=500)
    assert s.differential is not None
    assert s.differential.estimate == pytest.approx(d.differential.estimate)
    raw = [s.reduction.p_value, s.differential.p_value]
    assert [s.reduction.p_adjusted, s.differential.p_adjusted] == pytest.approx(stats.holm(raw))
    text = str(s)
    assert "differential (targets - negatives)" in text and "Holm-adjusted" in text
    assert "two-sided" in text and "warning: only 4 targets" in text
    assert s.to_dict()["differential"]["n_negatives"] == 5
    plain = surprisal.delta(targets, explanation=expl, model=gpt2_lm)
    assert plain.differential is None and plain.summary(n_boot=200).differential is None
    assert plain.reduction == pytest.approx(d.reduction, abs=1e-5)  # negatives change nothing else
    with pytest.raises(ValueError, match="negatives is empty"):
        surprisal.delta(targets, explanation=expl, negatives=[], model=gpt2_lm)


def test_delta_summary_holm_with_a_control(gpt2_lm):
    targets = ["abab", "ab", "ababab"]
    d = surprisal.delta(
        targets, explanation="Alternate a and b.", control="Dogs bark.", model=gpt2_lm
    )
    s = d.summary(n_boot=300)
    raw = [s.reduction.p_value, s.control.p_value, s.vs_control.p_value]
    got = [s.reduction.p_adjusted, s.control.p_adjusted, s.vs_control.p_adjusted]
    assert got == pytest.approx(stats.holm(raw))
    assert "Holm-adjusted across the 3 reduction p-values above" in str(s)


# ---------------------------------------------------------------- generation rates


def test_generation_rates_get_wilson_intervals():
    lm = tiny_lm("gpt2", max_positions=256)
    gen = grammar.generation(grammar.zoo["dyck1"], model=lm, n=12, max_len=6, seed=0)
    for c in gen.conditions:
        v = gen.valid[c]
        assert gen.ci("valid")[c] == pytest.approx(stats.proportion_ci(int(v.sum()), len(v)))
        lo, hi = gen.ci("valid")[c]
        assert lo < hi  # never a point, even at 0/n
