"""Inference that treats explanations as samples: crossed intervals, the explanation-level
null, p-values that agree with their intervals, and measured coverage."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats as sps

from surprisal.stats import (
    above_null,
    bootstrap_ci,
    crossed_ci,
    proportion_ci,
    rank_p,
    sign_flip_test,
    summarize,
)
from surprisal.stats.summary import COVERAGE

# ------------------------------------------------------------------ crossed_ci


def _hand_anova_t(x: np.ndarray, level: float) -> tuple[float, float]:
    """Mean squares by explicit loops; Satterthwaite df; the same floor as documented."""
    R, C = x.shape
    g = sum(x[i, j] for i in range(R) for j in range(C)) / (R * C)
    rm = [sum(x[i, j] for j in range(C)) / C for i in range(R)]
    cm = [sum(x[i, j] for i in range(R)) / R for j in range(C)]
    ms_a = C * sum((r - g) ** 2 for r in rm) / (R - 1)
    ms_b = R * sum((c - g) ** 2 for c in cm) / (C - 1)
    ss_e = sum((x[i, j] - rm[i] - cm[j] + g) ** 2 for i in range(R) for j in range(C))
    ms_e = ss_e / ((R - 1) * (C - 1))
    num = ms_a + ms_b - ms_e
    if num >= max(ms_a, ms_b):
        df = num**2 / (ms_a**2 / (R - 1) + ms_b**2 / (C - 1) + ms_e**2 / ((R - 1) * (C - 1)))
    elif ms_a >= ms_b:
        num, df = ms_a, R - 1
    else:
        num, df = ms_b, C - 1
    half = sps.t.ppf(0.5 + level / 2, df) * math.sqrt(num / (R * C))
    return g - half, g + half


def test_crossed_ci_t_is_the_variance_components_interval() -> None:
    rng = np.random.default_rng(0)
    for shape, sb in (((12, 4), 1.0), ((7, 3), 0.0), ((5, 9), 2.0)):
        x = rng.normal(size=(shape[0], 1)) + sb * rng.normal(size=(1, shape[1]))
        x = x + rng.normal(size=shape)
        est, lo, hi = crossed_ci(x)
        assert est == pytest.approx(x.mean())
        assert (lo, hi) == pytest.approx(_hand_anova_t(x, 0.95), rel=1e-10)
    with pytest.raises(ValueError, match="at least 2 rows and 2"):
        crossed_ci(np.ones((5, 1)))
    with pytest.raises(ValueError, match="method must be"):
        crossed_ci(np.ones((3, 3)), method="bca")  # type: ignore[arg-type]


def test_crossed_ci_pigeonhole_is_the_two_way_bootstrap() -> None:
    x = np.random.default_rng(1).normal(size=(6, 4))
    est, lo, hi = crossed_ci(x, method="pigeonhole", n_boot=300, seed=7)
    assert est == pytest.approx(x.mean())
    rng = np.random.default_rng(7)
    rows = rng.integers(0, 6, size=(300, 6))
    cols = rng.integers(0, 4, size=(300, 4))
    boot = [x[np.ix_(rows[b], cols[b])].mean() for b in range(300)]
    assert (lo, hi) == pytest.approx(tuple(np.quantile(boot, [0.025, 0.975])), rel=1e-10)


def _crossed_coverage(R: int, C: int, reps: int, seed: int) -> float:
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(reps, R, 1))
    b = rng.normal(size=(reps, 1, C))
    x = a + b + rng.normal(size=(reps, R, C))  # true mean 0, both effects sd 1
    hits = 0
    for r in range(reps):
        _, lo, hi = crossed_ci(x[r])
        hits += lo <= 0.0 <= hi
    return hits / reps


@pytest.mark.parametrize(("R", "C"), [(20, 5), (50, 20)])
def test_crossed_ci_coverage(R: int, C: int) -> None:
    """Simulated from a crossed random-effects model; a targets-only interval would cover
    far less (the column effect is ignored): checked too."""
    cov = _crossed_coverage(R, C, 1500, seed=R * 100 + C)
    assert cov >= 0.93, cov
    rng = np.random.default_rng(3)
    naive = 0
    for _ in range(300):
        x = rng.normal(size=(R, 1)) + rng.normal(size=(1, C)) + rng.normal(size=(R, C))
        lo, hi = bootstrap_ci(x.mean(axis=1), n_boot=500, method="t")
        naive += lo <= 0.0 <= hi
    assert naive / 300 < 0.85  # ignoring the explanations' effect under-covers


# ------------------------------------------------------------------ above_null


def test_rank_p_by_hand() -> None:
    assert rank_p(3.0, [0.0, 1.0, 2.0, 3.0]) == pytest.approx(2 / 5)
    assert rank_p(9.0, np.arange(19.0)) == pytest.approx(11 / 20)
    assert rank_p(99.0, np.arange(19.0)) == pytest.approx(1 / 20)  # the floor at K = 19


def test_above_null_is_the_documented_bootstrap() -> None:
    rng = np.random.default_rng(4)
    N, K, B = 9, 6, 400
    e = rng.normal(size=N) + 0.5
    c = rng.normal(size=(N, K)) + rng.normal(size=(1, K))
    r = above_null(e, c, n_boot=B, seed=11)
    assert r.observed == pytest.approx(e.mean())
    assert r.null == pytest.approx(tuple(c.mean(axis=0)))
    assert r.estimate == pytest.approx(e.mean() - c.mean())
    assert r.p_value == pytest.approx((1 + np.sum(c.mean(0) >= e.mean())) / (K + 1))
    # the bootstrap, by explicit loops over the same draws
    g = np.random.default_rng(11)
    items = g.integers(0, N, size=(B, N))
    ctrls = g.integers(0, K, size=(B, K))
    boot = [e[items[b]].mean() - c[np.ix_(items[b], ctrls[b])].mean() for b in range(B)]
    v_boot = np.var(boot, ddof=1)
    v_own = np.var(c.mean(0), ddof=1)
    v_ctrl = v_own * (1 + 1 / K)
    v_items = max(0.0, v_boot - v_own / K)
    df = (v_items + v_ctrl) ** 2 / (v_items**2 / (N - 1) + v_ctrl**2 / (K - 1))
    half = sps.t.ppf(0.975, df) * math.sqrt(v_items + v_ctrl)
    assert (r.ci_low, r.ci_high) == pytest.approx((r.estimate - half, r.estimate + half))
    assert "rank p=" in str(r) and r.to_dict()["k"] == K


def test_above_null_contrast_keeps_group_sizes() -> None:
    """A targets-minus-negatives contrast: estimate by hand; resamples stay within groups."""
    rng = np.random.default_rng(5)
    t, n, K = rng.normal(size=7) + 1.0, rng.normal(size=5), 8
    ct, cn = rng.normal(size=(7, K)), rng.normal(size=(5, K))
    w = np.r_[np.full(7, 1 / 7), np.full(5, -1 / 5)]
    r = above_null(np.r_[t, n], np.vstack([ct, cn]), contrast=w, n_boot=300)
    diffs = ct.mean(0) - cn.mean(0)
    assert r.observed == pytest.approx(t.mean() - n.mean())
    assert r.null == pytest.approx(tuple(diffs))
    assert r.estimate == pytest.approx(t.mean() - n.mean() - diffs.mean())


@pytest.mark.parametrize(("sb", "se"), [(1.0, 1.0), (2.0, 0.5)])
def test_above_null_calibrated_for_useless_explanations(sb: float, se: float) -> None:
    """Explanations drawn from the controls' own population (crossed model: target,
    prefix and residual effects): the interval excludes 0 and the rank p is <= 0.05 in
    about 5% of draws, not in the large share a reduction test would flag."""
    rng = np.random.default_rng(int(sb * 10))
    N, K, reps = 20, 19, 300
    ex = px = 0
    for r in range(reps):
        x = rng.normal(size=(N, 1)) + sb * rng.normal(size=(1, K + 1))
        x = x + se * rng.normal(size=(N, K + 1))
        res = above_null(x[:, 0], x[:, 1:], n_boot=500, seed=r)
        ex += not (res.ci_low <= 0.0 <= res.ci_high)
        px += res.p_value <= 0.05
    assert ex / reps <= 0.08, ex / reps
    assert px / reps <= 0.09, px / reps


# ------------------------------------------------------------------ p agrees with the CI


def _skewed_samples(count: int) -> list[np.ndarray]:
    rng = np.random.default_rng(8)
    out = []
    for k in range(count):
        n = int(rng.integers(3, 31))
        x = rng.lognormal(0.0, 1.0, size=n) - math.exp(0.5)  # mean 0, skewed
        out.append(x + (0.0 if k % 3 else rng.normal(0.0, 1.0)))  # some with an effect
    return out


def test_ci_and_p_agree_on_200_skewed_samples() -> None:
    rejected = 0
    for x in _skewed_samples(200):
        s = summarize(x, n_boot=1000, seed=1)
        excludes = not (s.ci_low <= 0.0 <= s.ci_high)
        assert excludes == (s.p_value < 0.05), (x.size, s)
        rejected += excludes
        if x.size < 5:  # Student t: the t-test's p
            assert s.p_value == pytest.approx(sps.ttest_1samp(x, 0.0).pvalue, rel=1e-9)
    assert 10 < rejected < 190  # both outcomes occur: the check can fail


def test_bootstrap_p_is_the_inverted_interval() -> None:
    """Independently: bisect on the level of bootstrap_ci until its interval touches 0."""
    rng = np.random.default_rng(9)
    for _ in range(4):
        x = rng.lognormal(size=12) - 1.2
        s = summarize(x, n_boot=2000, seed=3)
        lo_lv, hi_lv = 1e-6, 1 - 1e-6
        for _ in range(40):
            mid = 0.5 * (lo_lv + hi_lv)
            a, b = bootstrap_ci(x, n_boot=2000, seed=3, level=mid)
            if a <= 0.0 <= b:
                hi_lv = mid
            else:
                lo_lv = mid
        assert s.p_value == pytest.approx(1 - hi_lv, abs=2e-3)


def test_sign_flip_tests_symmetry_not_the_mean() -> None:
    """Centred lognormal data (mean 0, not symmetric): the sign-flip test rejects far more
    than 5%; the summary's p (the studentized bootstrap inverted) much less."""
    rng = np.random.default_rng(10)
    reps, n = 300, 15
    flip = boot = 0
    for r in range(reps):
        x = rng.lognormal(0.0, 1.0, size=n) - math.exp(0.5)
        flip += sign_flip_test(x, n_perm=2000, seed=r) < 0.05
        boot += summarize(x, n_boot=1000, seed=r).p_value < 0.05
    assert flip / reps >= 0.10, flip / reps
    assert boot / reps < flip / reps


# ------------------------------------------------------------------ coverage, Wilson


def test_coverage_table_spot_check() -> None:
    """One cell of the table in docs/concepts.md re-measured (lognormal, n = 8)."""
    rng = np.random.default_rng(12)
    mu, reps = math.exp(0.5), 600
    hits = sum(
        (lambda s: s.ci_low <= mu <= s.ci_high)(
            summarize(rng.lognormal(0.0, 1.0, size=8), n_boot=1000, seed=r)
        )
        for r in range(reps)
    )
    assert abs(hits / reps - COVERAGE["lognormal"][8]) < 0.035


def test_small_skewed_summary_says_it_under_covers() -> None:
    x = np.array([0.1, 0.2, 0.15, 0.3, 0.25, 0.2, 0.1, 4.0])  # n = 8, one far value
    s = summarize(x, n_boot=500)
    assert s.skewness == pytest.approx(sps.skew(x))
    assert s.coverage_warning is not None
    assert f"covered only {min(COVERAGE['lognormal'][8], COVERAGE['bimodal'][8]):.2f}" in str(s)
    assert summarize(np.linspace(-1, 1, 8), n_boot=200).coverage_warning is None
    assert summarize(np.r_[x, x, x, x], n_boot=200).coverage_warning is None  # n >= 30


def test_wilson_minimum_coverage_by_exact_sums() -> None:
    """Exact binomial coverage of the 95% Wilson interval at n = 5: its infimum is
    (1 - p)**5 just below where k = 1's interval starts (0.832), not 0.90."""
    n = 5
    cis = np.array([proportion_ci(k, n) for k in range(n + 1)])
    ps = np.linspace(1e-6, 1 - 1e-6, 200_001)
    pmf = sps.binom.pmf(np.arange(n + 1)[None, :], n, ps[:, None])
    inside = (cis[None, :, 0] <= ps[:, None]) & (ps[:, None] <= cis[None, :, 1])
    cov = (pmf * inside).sum(axis=1)
    start = cis[1, 0]
    assert cov.min() == pytest.approx((1 - start) ** 5, abs=1e-4)
    assert cov.min() == pytest.approx(0.832, abs=1e-3)
    grid = np.arange(1, 100) / 100  # the coarse grid that gives 0.859
    on_grid = [
        sum(sps.binom.pmf(k, n, p) for k in range(n + 1) if cis[k, 0] <= p <= cis[k, 1])
        for p in grid
    ]
    assert min(on_grid) == pytest.approx(0.859, abs=1e-3)
