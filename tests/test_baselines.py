"""Chance levels a trained model must beat: trained no-knowledge baselines, calibrated gap
intervals, chance levels of lifts and of the differential, and specificity.

Every number is recomputed independently: AUCs and DeLong placements by double loops, the
intervals from their formulas with scipy's quantiles, the false-positive rate by counting.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import replace

import numpy as np
import pytest
from scipy import stats as sps

from surprisal import LM, grammar
from surprisal.grammar.chance import auc_gap, differential_gap, pair_gap
from surprisal.stats.chance import auc_placements, gap_interval
from surprisal.testing import (
    no_knowledge_baselines,
    random_strings,
    tiny_lm,
    tiny_model,
    tiny_tokenizer,
    train_tiny,
)

AB = grammar.zoo["anbn"]
AB_GRAMMARS = [
    AB,
    grammar.regex("(ab|abb)+", name="ab_abb"),
    grammar.predicate(
        lambda s: s.count("a") % 2 == 0, alphabet="ab", name="even_a", explanation="even a's"
    ),
]

KNOWN = AB_GRAMMARS[1]


def mann_whitney(pos, neg) -> float:
    return sum((p > q) + 0.5 * (p == q) for p, q in itertools.product(pos, neg)) / (
        len(pos) * len(neg)
    )


# ---------------------------------------------------------------- the interval, by hand


def test_auc_placements_by_double_loop():
    rng = np.random.default_rng(0)
    pos, neg = rng.integers(0, 5, 9).astype(float), rng.integers(0, 5, 7).astype(float)
    v10, v01 = auc_placements(pos, neg)
    assert v10 == pytest.approx([np.mean((p > neg) + 0.5 * (p == neg)) for p in pos])
    assert v01 == pytest.approx([np.mean((pos > q) + 0.5 * (pos == q)) for q in neg])
    assert v10.mean() == pytest.approx(mann_whitney(pos, neg))
    assert v01.mean() == pytest.approx(mann_whitney(pos, neg))


def test_gap_interval_by_hand():
    draws = np.array([0.5, 0.6, 0.4, 0.55, 0.45])
    K = len(draws)
    pred = sps.t.ppf(0.975, K - 1) * draws.std(ddof=1) * math.sqrt(1 + 1 / K)
    lo, hi, p = gap_interval(0.2, draws, 0.0)
    assert (lo, hi) == pytest.approx((0.2 - pred, 0.2 + pred))
    t = 0.2 / (draws.std(ddof=1) * math.sqrt(1 + 1 / K))
    assert p == pytest.approx(2 * sps.t.sf(t, K - 1))
    # a large item-level variance wins, with the normal quantile
    lo, hi, p = gap_interval(0.2, draws, 0.04)
    assert hi - 0.2 == pytest.approx(max(pred, 1.959964 * 0.2), rel=1e-5)
    assert p == pytest.approx(max(2 * sps.t.sf(t, K - 1), 2 * sps.norm.sf(1.0)))
    # one draw: the item-level interval only
    lo, hi, p = gap_interval(0.1, [0.5], 0.0025)
    assert (lo, hi) == pytest.approx((0.1 - 1.959964 * 0.05, 0.1 + 1.959964 * 0.05), rel=1e-5)
    # clipped to the range; p agrees with the interval
    lo, hi, _ = gap_interval(0.4, draws, 0.0, bounds=(-0.5, 0.5))
    assert hi == 0.5 and lo == pytest.approx(0.4 - pred)
    for est in np.linspace(-0.3, 0.3, 13):
        lo, hi, p = gap_interval(float(est), draws, 0.001)
        assert (p < 0.05) == (lo > 0 or hi < 0)


def test_gap_interval_calibrated_by_simulation():
    """Normal draws, exchangeable model: false positives <= 5% whatever the split between
    draw-level and item-level variation, and never wider than the old construction. The
    vectorised half-width is checked against gap_interval on the first replicates."""
    rng = np.random.default_rng(1)
    R, n = 20000, 40
    for K in (4, 16):
        for ratio in (0.0, 1.0, 16.0):
            sd = math.sqrt(1.0 + ratio)
            m0, mk = rng.normal(0, sd, R), rng.normal(0, sd, (R, K))
            dfw = (K - 1) * (n - 1)
            item_var = rng.chisquare(dfw, R) / dfw * (1 + 1 / K)  # sigma_b^2 (1 + 1/K)
            gap = m0 - mk.mean(axis=1)
            pred = sps.t.ppf(0.975, K - 1) * mk.std(axis=1, ddof=1) * math.sqrt(1 + 1 / K)
            half = np.maximum(sps.norm.ppf(0.975) * np.sqrt(item_var), pred)
            for r in range(50):
                lo, hi, _ = gap_interval(float(gap[r]), mk[r], float(item_var[r]))
                assert (hi - lo) / 2 == pytest.approx(half[r])
            fpr = np.mean(np.abs(gap) > half)
            assert fpr <= 0.055, (K, ratio, fpr)
            old = np.hypot(1.96 * np.sqrt(item_var), pred)
            assert np.all(half <= old + 1e-12)


# ---------------------------------------------------------------- gaps of a Membership


@pytest.fixture(scope="module")
def small():
    lm = tiny_lm("gpt2", max_positions=256)
    g = grammar.zoo["dyck1"]
    return grammar.membership(
        g, model=lm, n=16, max_len=8, explanation=g.explanation, seed=2, null_draws=3
    )


def test_membership_gaps_against_hand(small):
    m = small
    lab = m.labels == 1
    K = len(m.null_logprob)
    # AUC: estimate, chance, DeLong item variance and interval from scratch
    x, xs = m.logprob["none"], [n["none"] for n in m.null_logprob]
    aucs = [mann_whitney(y[lab], y[~lab]) for y in xs]
    est = mann_whitney(x[lab], x[~lab]) - np.mean(aucs)
    g10 = [
        np.mean((p > x[~lab]) + 0.5 * (p == x[~lab]))
        - np.mean([np.mean((y[lab][i] > y[~lab]) + 0.5 * (y[lab][i] == y[~lab])) for y in xs])
        for i, p in enumerate(x[lab])
    ]
    g01 = [
        np.mean((x[lab] > q) + 0.5 * (x[lab] == q))
        - np.mean([np.mean((y[lab] > y[~lab][j]) + 0.5 * (y[lab] == y[~lab][j])) for y in xs])
        for j, q in enumerate(x[~lab])
    ]
    item_var = np.var(g10, ddof=1) / len(g10) + np.var(g01, ddof=1) / len(g01)
    half = max(
        sps.norm.ppf(0.975) * math.sqrt(item_var),
        sps.t.ppf(0.975, K - 1) * np.std(aucs, ddof=1) * math.sqrt(1 + 1 / K),
    )
    chance = np.mean(aucs)
    gap = m.gaps()["auc"]
    assert gap.chance == pytest.approx(chance) and gap.estimate == pytest.approx(est)
    assert gap.low == pytest.approx(max(-chance, est - half))
    assert gap.high == pytest.approx(min(1 - chance, est + half))
    assert m.above_chance["auc"] == pytest.approx((est, gap.low, gap.high))
    # pair accuracy by counting
    pa = [np.mean([(y[a] > y[b]) + 0.5 * (y[a] == y[b]) for a, b in m.pairs]) for y in xs]
    assert m.gaps()["pair_accuracy"].chance == pytest.approx(np.mean(pa))
    # the lift's chance: the same lift under each null model
    e, en = m.logprob["explanation"], [n["explanation"] for n in m.null_logprob]
    lifts = [
        mann_whitney(b[lab], b[~lab]) - mann_whitney(a[lab], a[~lab])
        for a, b in zip(xs, en, strict=True)
    ]
    lg = m.gaps()["lift_auc:explanation-none"]
    assert lg.chance == pytest.approx(np.mean(lifts))
    assert lg.value == pytest.approx(mann_whitney(e[lab], e[~lab]) - mann_whitney(x[lab], x[~lab]))
    # the differential's chance: members' mean reduction - non-members', per null model
    diffs = [(b - a)[lab].mean() - (b - a)[~lab].mean() for a, b in zip(xs, en, strict=True)]
    dg = m.gaps()["differential:explanation"]
    assert dg.chance == pytest.approx(np.mean(diffs))
    assert dg.value == pytest.approx(m.differential["explanation"].estimate)
    assert dg.low <= dg.estimate <= dg.high and 0 <= dg.p <= 1
    assert "lift above chance" in str(m) and "under the null models" in str(m)


def test_gap_functions_on_constructed_scores():
    """Perfect separation by the model, none by the nulls: the gap is 1 - chance."""
    labels = np.array([1] * 10 + [0] * 10)
    real = labels.astype(float)
    rng = np.random.default_rng(0)
    nulls = [rng.normal(size=20) for _ in range(8)]
    g = auc_gap(labels, [real], [[x] for x in nulls])
    assert g.value == 1.0
    assert g.chance == pytest.approx(np.mean([mann_whitney(x[:10], x[10:]) for x in nulls]))
    assert g.high <= 1 - g.chance + 1e-12
    pairs = np.array([[i, 10 + i] for i in range(10)])
    pg = pair_gap(pairs, [real], [[x] for x in nulls])
    assert pg.value == 1.0
    dg = differential_gap(labels, real, nulls)
    assert dg.value == pytest.approx(1.0)


def test_perfect_pair_accuracy_detected_where_chance_is_at_most_0_9():
    """A model that ranks every member of a minimal pair first, against 8 random-weight
    twins whose pair accuracy averages <= 0.9, is detected."""
    lm = tiny_lm("gpt2", max_positions=256, seed=5)
    m = grammar.membership(AB_GRAMMARS[1], model=lm, n=60, max_len=10, seed=0, null_draws=8)
    perfect = dict(m.logprob)
    perfect["none"] = m.labels * 100.0 - m.lengths  # members first
    p = replace(m, logprob=perfect, _cache={})
    gap = p.gaps()["pair_accuracy"]
    assert gap.value == 1.0 and gap.chance <= 0.9
    assert gap.low > 0, gap


def test_baseline_list_and_errors():
    lm = tiny_lm("gpt2", max_positions=256, seed=1)
    twins = [tiny_lm("gpt2", max_positions=256, seed=s, name=f"b{s}") for s in (2, 3)]
    m = grammar.membership(AB, model=lm, n=10, max_len=8, baseline=twins)
    assert len(m.null_logprob) == 2 and m.baseline_kind == "trained"
    assert "2 no-knowledge baseline models (mean): b2, b3" in m.baseline
    assert "no-knowledge models trained the same way" in str(m)
    with pytest.raises(ValueError, match="holds no model"):
        grammar.membership(AB, model=lm, n=10, max_len=8, baseline=[])
    with pytest.raises(ValueError, match="its own baseline"):
        grammar.membership(AB, model=lm, n=10, max_len=8, baseline=[lm])


def test_random_strings_match_member_lengths():
    g = AB_GRAMMARS[1]
    xs = random_strings(g, 20, min_len=1, max_len=10, seed=3)
    members = g.sample(20, min_len=1, max_len=10, seed=3)
    assert sorted(map(len, xs)) == sorted(map(len, members))
    assert set("".join(xs)) <= set(g.alphabet)
    assert sum(g.accepts(x) for x in xs) < 5  # random strings are rarely members
    few = random_strings(AB, 20, min_len=1, max_len=10, seed=3)  # a^n b^n: 5 members <= 10
    assert len(few) == 20 and set(map(len, few)) <= {2, 4, 6, 8, 10}


# ---------------------------------------------------------------- untrained: false positives


@pytest.mark.slow
def test_untrained_false_positives_at_most_5_percent():
    """24 untrained models (GPT-2's own initialiser, std 0.02); run r takes model r as the
    model under test and the next 8 as its null draws (exchangeable: the same initialiser).
    Over 2 grammars x 24 runs, the share of intervals that exclude 0 is <= 5% for AUC and
    for pair accuracy."""
    tok = tiny_tokenizer("byte-bpe")
    pool = [
        LM(tiny_model("gpt2", len(tok), max_positions=256, seed=s, initializer_range=0.02), tok)
        for s in range(100, 124)
    ]
    fp = {"auc": 0, "pair_accuracy": 0}
    runs = 0
    for g in (AB_GRAMMARS[1], grammar.zoo["dyck1"]):
        ms = [grammar.membership(g, model=x, n=30, max_len=10, seed=0, baseline=None) for x in pool]
        assert all(x.texts == ms[0].texts for x in ms)  # the same items for every model
        for r in range(len(pool)):
            nulls = tuple(ms[(r + 1 + k) % len(pool)].logprob for k in range(8))
            m = replace(ms[r], null_logprob=nulls, baseline="pool", baseline_kind="random")
            for metric in fp:
                _, lo, hi = m.above_chance[metric]
                fp[metric] += lo > 0 or hi < 0
            runs += 1
    assert runs >= 20
    assert all(v / runs <= 0.05 for v in fp.values()), (fp, runs)


# ---------------------------------------------------------------- trained no-knowledge baselines


@pytest.fixture(scope="module")
def ab_models():
    """No-knowledge baselines (uniform a/b strings with (ab|abb)+'s member lengths), one
    more such model to test, and a model trained on (ab|abb)+ members, trained the same way."""
    kw = dict(steps=150, n_train=300, max_len=10)
    base = no_knowledge_baselines("gpt2", KNOWN, n_models=4, seed=10, **kw)
    rand = no_knowledge_baselines("gpt2", KNOWN, n_models=1, seed=50, **kw)[0]
    know = tiny_lm("gpt2", max_positions=512, seed=60, name="ab_abb-trained")
    members = KNOWN.sample(sum(KNOWN.count(k) for k in range(11)), 1, 10, seed=60)
    train_tiny(know, [s + "\n" for s in members], steps=150, seed=60)
    return base, rand, know


@pytest.mark.slow
def test_random_string_model_is_not_above_trained_baselines(ab_models):
    base, rand, _ = ab_models
    for g in AB_GRAMMARS:
        m = grammar.membership(g, model=rand, n=30, max_len=10, seed=1, baseline=base)
        assert m.baseline_kind == "trained"
        for metric in ("auc", "pair_accuracy"):
            est, lo, hi = m.above_chance[metric]
            assert lo <= 0.0 <= hi, (g.name, metric, est, lo, hi)


@pytest.mark.slow
def test_grammar_trained_model_detected_against_trained_baselines(ab_models):
    base, _, know = ab_models
    m = grammar.membership(KNOWN, model=know, n=30, max_len=10, seed=1, baseline=base)
    est, lo, hi = m.above_chance["auc"]
    assert lo > 0, (est, lo, hi)


@pytest.mark.slow
def test_specificity_matrix(ab_models):
    base, rand, know = ab_models
    s = grammar.specificity(
        {"ab_abb": know, "uniform": rand}, [KNOWN, AB], baseline=base, n=30, max_len=10
    )
    assert s.estimate.shape == (2, 2)
    m = grammar.membership(AB, model=know, n=30, max_len=10, seed=0, baseline=base)
    assert s.estimate[0, 1] == pytest.approx(m.above_chance["auc"][0])
    assert s.diagonal[0] == pytest.approx(s.estimate[0, 0])
    assert s.off_diagonal[0] == pytest.approx(s.estimate[0, 1])
    assert s.selectivity[0] == pytest.approx(s.estimate[0, 0] - s.estimate[0, 1])
    df = s.to_pandas()
    assert len(df) == 4 and df.diagonal.sum() == 2
    assert "specificity of auc" in str(s) and "trained baselines" in str(s)
