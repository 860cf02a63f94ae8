"""stats.power / mde / n_needed against the closed form (normal approximation, large n)
and against simulated t-tests."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from surprisal import stats


def test_power_matches_closed_form_at_large_n():
    # large n: t -> normal, power = Phi(d sqrt(n) - z) + Phi(-d sqrt(n) - z)
    d, n = 0.1, 2000
    z = sps.norm.ppf(0.975)
    want = sps.norm.cdf(d * math.sqrt(n) - z) + sps.norm.cdf(-d * math.sqrt(n) - z)
    assert stats.power(d, 1.0, n) == pytest.approx(want, abs=2e-3)
    # mde: (z_{1-a/2} + z_{power}) sd / sqrt(n)
    want = (z + sps.norm.ppf(0.8)) * 2.0 / math.sqrt(n)
    assert stats.mde(2.0, n) == pytest.approx(want, rel=5e-3)


def test_power_matches_simulated_t_tests():
    rng = np.random.default_rng(0)
    for effect, sd, n in ((0.5, 1.0, 8), (0.02, 0.015, 5), (1.0, 1.0, 4)):
        x = rng.normal(effect, sd, (20000, n))
        p = sps.ttest_1samp(x, 0.0, axis=1).pvalue
        assert stats.power(effect, sd, n) == pytest.approx(np.mean(p < 0.05), abs=0.012)
        # Bonferroni over 3 tests
        assert stats.power(effect, sd, n, tests=3) == pytest.approx(
            np.mean(p < 0.05 / 3), abs=0.012
        )
    assert stats.power(0.0, 1.0, 10) == pytest.approx(0.05)


def test_mde_and_n_needed_invert_power():
    m = stats.mde(0.3, 8)
    assert stats.power(m, 0.3, 8) == pytest.approx(0.8, abs=1e-6)
    n = stats.n_needed(0.01, 0.015)
    assert stats.power(0.01, 0.015, n) >= 0.8 > stats.power(0.01, 0.015, n - 1)
    with pytest.raises(ValueError, match="n must be"):
        stats.power(0.1, 1.0, 1)
    with pytest.raises(ValueError, match="sd must be"):
        stats.mde(0.0, 5)
