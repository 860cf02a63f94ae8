"""Power of a paired (one-sample) t-test, its minimum detectable effect, and the n it needs.

An experiment that compares two arms on the same seeds tests the mean of the per-seed
differences against 0 with Student's t. Before running it, a pilot gives the differences'
standard deviation ``sd``; these functions say what the run can detect:

* :func:`power`: the probability that the test rejects at ``alpha`` when the true mean
  difference is ``effect`` (exact, from the noncentral t distribution);
* :func:`mde`: the smallest ``effect`` detected with probability ``power`` at ``n``;
* :func:`n_needed`: the smallest ``n`` that detects ``effect`` with that probability.

Values are in the unit of ``sd`` and ``effect`` (AUC, nats, ...). With ``tests`` > 1 the
level is Bonferroni's ``alpha / tests`` (what Holm needs for the smallest p).

>>> round(power(0.5, 1.0, 34), 3)
0.808
>>> round(mde(1.0, 34), 3)
0.495
>>> n_needed(0.5, 1.0)
34
"""

from __future__ import annotations

import math

from ..errors import SurprisalError

__all__ = ["mde", "n_needed", "power"]


def _check(sd: float, n: int, alpha: float, tests: int) -> None:
    if not sd > 0 or not math.isfinite(sd):
        raise SurprisalError(f"sd must be a positive finite number, got {sd}")
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise SurprisalError(f"n must be an int >= 2 (a t-test needs two values), got {n!r}")
    if not 0 < alpha < 1:
        raise SurprisalError(f"alpha must be in (0, 1), got {alpha}")
    if isinstance(tests, bool) or not isinstance(tests, int) or tests < 1:
        raise SurprisalError(f"tests must be a positive int, got {tests!r}")


def power(
    effect: float,
    sd: float,
    n: int,
    *,
    alpha: float = 0.05,
    tests: int = 1,
    two_sided: bool = True,
) -> float:
    """Probability that a one-sample t-test of ``n`` per-seed differences (standard
    deviation ``sd``) rejects "mean = 0" at ``alpha / tests`` when the true mean is
    ``effect``. Two-sided by default (both rejection tails counted)."""
    from scipy import stats as sps

    _check(sd, n, alpha, tests)
    a = alpha / tests
    df = n - 1
    ncp = effect / (sd / math.sqrt(n))
    crit = float(sps.t.ppf(1 - a / 2 if two_sided else 1 - a, df))
    out = float(sps.nct.sf(crit, df, ncp))
    if two_sided:
        out += float(sps.nct.cdf(-crit, df, ncp))
    if math.isfinite(out):
        return min(1.0, max(0.0, out))
    # scipy's noncentral t gives NaN far in the tail (ncp in the tens): power is ~1 there,
    # and the normal approximation is exact to many digits
    out = float(sps.norm.sf(crit - ncp))
    return out + (float(sps.norm.cdf(-crit - ncp)) if two_sided else 0.0)


def mde(
    sd: float,
    n: int,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    tests: int = 1,
    two_sided: bool = True,
) -> float:
    """Minimum detectable effect: the smallest true mean difference that a t-test of ``n``
    differences with standard deviation ``sd`` detects with probability ``power``."""
    from scipy.optimize import brentq

    _check(sd, n, alpha, tests)
    if not 0 < power < 1:
        raise SurprisalError(f"power must be in (0, 1), got {power}")
    target = power

    def gap(effect: float) -> float:
        return _power(effect, sd, n, alpha=alpha, tests=tests, two_sided=two_sided) - target

    hi = sd
    while gap(hi) < 0:
        hi *= 2
    return float(brentq(gap, 0.0, hi, xtol=1e-10 * sd))


_power = power


def n_needed(
    effect: float,
    sd: float,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    tests: int = 1,
    two_sided: bool = True,
    max_n: int = 100_000,
) -> int:
    """The smallest ``n >= 2`` whose t-test detects a true mean difference ``effect`` with
    probability ``power`` (the number of seeds to run)."""
    if not effect > 0:
        raise SurprisalError(f"effect must be > 0, got {effect}")
    if not 0 < power < 1:
        raise SurprisalError(f"power must be in (0, 1), got {power}")
    lo, hi = 2, 2
    while _power(effect, sd, hi, alpha=alpha, tests=tests, two_sided=two_sided) < power:
        lo, hi = hi, hi * 2
        if hi > max_n:
            raise SurprisalError(f"more than {max_n} needed to detect {effect} with sd {sd}")
    while lo < hi:
        mid = (lo + hi) // 2
        if _power(effect, sd, mid, alpha=alpha, tests=tests, two_sided=two_sided) >= power:
            hi = mid
        else:
            lo = mid + 1
    return lo
