"""Crossed random effects: targets x explanations (or x seeds, x controls).

An explanation is a sample, not a constant: the reduction one explanation gives a set of
targets varies with the targets *and* with which explanation was drawn (Clark 1973; Barr
et al. 2013). Two tools:

* :func:`crossed_ci`: an interval for the grand mean of an ``(R, C)`` table (rows: targets,
  columns: explanations, seeds...), both random effects counted.
* :func:`above_null`: one explanation's mean reduction against the explanation-level null
  (matched controls), with an interval from a two-way bootstrap over targets x controls
  (Owen's pigeonhole bootstrap, Owen 2007) to which the explanation's own draw from the
  null population is added, and a p-value from the explanation's rank among the controls.

Values are in the caller's unit (the library passes nats).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike

from ..errors import SurprisalError
from .checks import check_level, check_nan, check_positive, chunk_rows

CrossedMethod = Literal["t", "pigeonhole"]


def _as_2d(x: ArrayLike, name: str = "x") -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 2:
        raise SurprisalError(f"{name} must be 2-D (targets x explanations), got shape {arr.shape}")
    if arr.shape[0] < 2 or arr.shape[1] < 2:
        raise SurprisalError(
            f"{name} has shape {arr.shape}; a crossed interval needs at least 2 rows and 2 "
            "columns (for one column use bootstrap_ci over the rows)"
        )
    check_nan(arr, name)
    return arr


def _variance_components_t(arr: np.ndarray, level: float) -> tuple[float, float]:
    """Grand mean +- t * se from the two-way ANOVA mean squares (Satterthwaite df)."""
    from scipy import stats as sps

    R, C = arr.shape
    m = float(arr.mean())
    rows, cols = arr.mean(axis=1), arr.mean(axis=0)
    ms_a = C * float(rows.var(ddof=1))  # E = C s_a^2 + s_e^2
    ms_b = R * float(cols.var(ddof=1))  # E = R s_b^2 + s_e^2
    resid = arr - rows[:, None] - cols[None, :] + m
    ms_e = float((resid**2).sum()) / ((R - 1) * (C - 1))  # E = s_e^2
    # Var(grand mean) = (C s_a^2 + R s_b^2 + s_e^2) / (R C), estimated without bias by
    # (MS_A + MS_B - MS_E) / (R C); floored at the larger single mean square (never negative)
    terms = [(ms_a, R - 1, 1.0), (ms_b, C - 1, 1.0), (ms_e, (R - 1) * (C - 1), -1.0)]
    num = ms_a + ms_b - ms_e
    if num < max(ms_a, ms_b):
        num = max(ms_a, ms_b)
        terms = [(ms_a, R - 1, 1.0)] if ms_a >= ms_b else [(ms_b, C - 1, 1.0)]
    den = sum((c * ms) ** 2 / df for ms, df, c in terms)
    df = num**2 / den if den > 0 else float(R * C - 1)
    se = math.sqrt(num / (R * C))
    q = float(sps.t.isf((1.0 - level) / 2.0, df))
    return m - q * se, m + q * se


def _pigeonhole_counts(
    rng: np.random.Generator, n: int, size: int, strata: np.ndarray | None = None
) -> np.ndarray:
    """(size, n) how often each index is drawn in each resample (within its stratum)."""
    if strata is None:
        draws = rng.integers(0, n, size=(size, n))
        out = np.zeros((size, n), dtype=np.float64)
        np.add.at(out, (np.arange(size)[:, None], draws), 1.0)
        return out
    out = np.zeros((size, n), dtype=np.float64)
    for g in np.unique(strata):
        idx = np.flatnonzero(strata == g)
        draws = idx[rng.integers(0, idx.size, size=(size, idx.size))]
        np.add.at(out, (np.arange(size)[:, None], draws), 1.0)
    return out


def _pigeonhole_means(arr: np.ndarray, n_boot: int, seed: int | None) -> np.ndarray:
    """(n_boot,) grand means of pigeonhole resamples: rows and columns drawn independently
    with replacement, every (row, column) pair of the draw kept."""
    R, C = arr.shape
    rng = np.random.default_rng(seed)
    out = np.empty(n_boot, dtype=np.float64)
    step = chunk_rows(R + C)
    for start in range(0, n_boot, step):
        b = min(n_boot, start + step) - start
        wr = _pigeonhole_counts(rng, R, b)  # (b, R)
        wc = _pigeonhole_counts(rng, C, b)  # (b, C)
        out[start : start + b] = np.einsum("br,rc,bc->b", wr, arr, wc) / (R * C)
    return out


def crossed_ci(
    x: ArrayLike,
    confidence: float = 0.95,
    *,
    method: CrossedMethod = "t",
    n_boot: int = 4000,
    seed: int | None = 0,
) -> tuple[float, float, float]:
    """Grand mean of a targets x explanations table with an interval that counts both
    random effects (which targets and which explanations were drawn).

    ``method="t"`` (default): the variance-components interval. With ``R`` rows, ``C``
    columns and the two-way mean squares ``MS_A`` (rows), ``MS_B`` (columns), ``MS_E``
    (residual), the variance of the grand mean is estimated by
    ``(MS_A + MS_B - MS_E) / (R C)`` (floored at ``max(MS_A, MS_B) / (R C)``) and the
    interval is ``mean +- t_df * se`` with Satterthwaite's ``df``. ``method="pigeonhole"``:
    the percentile interval of Owen's (2007) pigeonhole bootstrap (rows and columns
    resampled independently). Measured coverage of nominal 95% (``tests/test_stats_crossed.py``,
    normal crossed effects, 2,000 tables per cell): ``t`` 0.95 at 20 x 5 and 0.95 at 50 x 20;
    ``pigeonhole`` 0.91 at 20 x 5 (too few columns for a percentile interval) and 0.95 at
    50 x 20. So ``t`` is the default.

    A one-column table is not crossed: use :func:`bootstrap_ci` over its rows.

    >>> x = [[1.0, 2.0], [2.0, 3.0], [3.0, 4.0]]
    >>> est, lo, hi = crossed_ci(x)
    >>> est, bool(lo < est < hi)
    (2.5, True)

    Args:
        x: ``(R, C)`` values (any unit), rows and columns both random samples.
        confidence: level in ``(0, 1)``.
        method: ``"t"`` or ``"pigeonhole"``.
        n_boot: pigeonhole resamples (``method="pigeonhole"`` only).
        seed: seed of the pigeonhole bootstrap.

    Returns:
        ``(estimate, low, high)`` in the unit of ``x``.
    """
    arr = _as_2d(x)
    check_level(confidence)
    est = float(arr.mean())
    if method == "t":
        lo, hi = _variance_components_t(arr, float(confidence))
        return est, lo, hi
    if method == "pigeonhole":
        boot = _pigeonhole_means(arr, check_positive(n_boot, "n_boot"), seed)
        alpha = 1.0 - float(confidence)
        q = np.quantile(boot, [alpha / 2.0, 1.0 - alpha / 2.0])
        return est, float(q[0]), float(q[1])
    raise SurprisalError(f"method must be 't' or 'pigeonhole', got {method!r}")


# --------------------------------------------------------------------------------------
# one explanation against the explanation-level null
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NullComparison:
    """One explanation's statistic against the same statistic under ``K`` control prefixes.

    Attributes:
        estimate: the explanation's statistic minus the controls' mean, in ``unit``.
        ci_low, ci_high: the interval of ``estimate`` (see :func:`above_null`).
        p_value: the explanation's rank among the controls, one-sided (is it above them?):
            ``(1 + #{controls >= e}) / (K + 1)``; never below ``1 / (K + 1)``.
        observed: the explanation's own statistic; null: the ``K`` controls' statistics.
        level, unit: of the interval. method: how the interval was computed, in words.
    """

    estimate: float
    ci_low: float
    ci_high: float
    p_value: float
    observed: float
    null: tuple[float, ...]
    level: float = 0.95
    unit: str = "nats"
    method: str = (
        "t interval: two-way (pigeonhole) bootstrap over targets x controls, plus the "
        "explanation's own draw from the controls' spread"
    )

    @property
    def k(self) -> int:
        """How many controls."""
        return len(self.null)

    def __str__(self) -> str:
        return (
            f"{self.estimate:+.3f} {self.unit} [{self.level * 100:g}% CI {self.ci_low:+.3f}, "
            f"{self.ci_high:+.3f}], rank p={self.p_value:.3g} (one-sided, e among {self.k} "
            f"controls; smallest possible {1 / (self.k + 1):.3g})"
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain numbers, for JSON."""
        return {**asdict(self), "null": list(self.null), "k": self.k}


def rank_p(observed: float, null: ArrayLike) -> float:
    """``(1 + #{null >= observed}) / (K + 1)``: the one-sided rank p of ``observed`` among
    ``K`` exchangeable null draws (exact under exchangeability; at least ``1 / (K + 1)``,
    so ``p < 0.05`` needs ``K >= 20`` and ``p <= 0.05`` needs ``K >= 19``).

    >>> rank_p(3.0, [0.0, 1.0, 2.0, 3.0])
    0.4
    """
    z = np.asarray(null, dtype=np.float64).reshape(-1)
    return float((1 + int(np.count_nonzero(z >= observed))) / (z.size + 1))


def above_null(
    e: ArrayLike,
    controls: ArrayLike,
    *,
    contrast: ArrayLike | None = None,
    level: float = 0.95,
    n_boot: int = 4000,
    seed: int | None = 0,
    unit: str = "nats",
) -> NullComparison:
    """An explanation's mean (or contrast) over items against ``K`` control prefixes.

    With ``e`` the ``(N,)`` per-item values under the explanation and ``controls`` the
    ``(N, K)`` values under each control, the statistic is ``s(v) = sum_i w_i v_i`` with
    weights ``w`` (``contrast``; default ``1/N`` each: the mean). The estimate is
    ``s(e) - mean_k s(controls[:, k])``.

    The interval: a pigeonhole bootstrap (items and controls resampled independently, Owen
    2007; items within the strata ``sign(w)``, so a targets-minus-negatives contrast keeps
    its group sizes) gives the estimate's variance over items and over which controls were
    drawn. Under the null the explanation is itself one draw from the controls' population,
    so the controls' sample variance of ``s`` is added for that draw (times ``1 + 1/K``, a
    prediction for one more draw, the controls' own share of the bootstrap variance taken
    out once). The interval is ``estimate +- t_df * sqrt(variance)``, Satterthwaite's ``df``
    from ``K - 1`` (controls) and ``N - 1`` (items). So it excludes 0 only where ``e`` sits
    beyond the spread of the controls, not where it merely moves the targets. The p-value is
    :func:`rank_p` of ``s(e)`` among the controls' (a separate, exact procedure: the two can
    disagree near the edge).

    >>> rng = np.random.default_rng(0)
    >>> c = rng.normal(size=(20, 20))  # 20 items; column 0 the explanation, 19 controls
    >>> r = above_null(c[:, 0] + 5.0, c[:, 1:])
    >>> r.ci_low > 0, r.p_value
    (True, 0.05)

    Args:
        e: ``(N,)`` per-item values under the explanation.
        controls: ``(N, K)`` per-item values under each of ``K >= 2`` controls.
        contrast: ``(N,)`` item weights (default ``1/N``).
        level, n_boot, seed: of the interval.
        unit: label.

    Returns:
        :class:`NullComparison`.
    """
    from scipy import stats as sps

    ev = np.asarray(e, dtype=np.float64).reshape(-1)
    cm = np.asarray(controls, dtype=np.float64)
    if cm.ndim != 2 or cm.shape[0] != ev.size:
        raise SurprisalError(
            f"controls must be (N, K) with N = {ev.size} items, got shape {cm.shape}"
        )
    N, K = cm.shape
    if K < 2:
        raise SurprisalError(f"a null needs at least 2 controls, got {K}")
    check_nan(ev, "e")
    check_nan(cm.T, "controls")
    check_level(level)
    n_boot = check_positive(n_boot, "n_boot")
    w = np.full(N, 1.0 / N) if contrast is None else np.asarray(contrast, np.float64).reshape(-1)
    if w.size != N:
        raise SurprisalError(f"contrast has {w.size} weights for {N} items")
    strata = np.sign(w)
    obs = float(w @ ev)
    null = w @ cm  # (K,)
    est = obs - float(null.mean())
    rng = np.random.default_rng(seed)
    boot = np.empty(n_boot, dtype=np.float64)
    step = chunk_rows(N + K)
    for start in range(0, n_boot, step):
        b = min(n_boot, start + step) - start
        wi = _pigeonhole_counts(rng, N, b, strata) * w  # (b, N) item weights of the resample
        wc = _pigeonhole_counts(rng, K, b) / K  # (b, K)
        boot[start : start + b] = wi @ ev - np.einsum("bn,nk,bk->b", wi, cm, wc)
    v_boot = float(boot.var(ddof=1))  # items and which controls: the pigeonhole bootstrap
    v_own = float(null.var(ddof=1))  # e's own draw from the controls' population
    # Satterthwaite: the controls' share has K - 1 degrees of freedom, the items' N - 1
    v_ctrl = v_own * (1.0 + 1.0 / K)
    v_items = max(0.0, v_boot - v_own / K)
    total = v_items + v_ctrl
    den = v_items**2 / max(1, N - 1) + v_ctrl**2 / (K - 1)
    df = total**2 / den if den > 0 else float(K - 1)
    half = float(sps.t.isf((1.0 - float(level)) / 2.0, df)) * math.sqrt(total)
    return NullComparison(
        estimate=est,
        ci_low=est - half,
        ci_high=est + half,
        p_value=rank_p(obs, null),
        observed=obs,
        null=tuple(float(v) for v in null),
        level=float(level),
        unit=unit,
    )
