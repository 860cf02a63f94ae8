"""Gaps above chance for membership metrics, their lifts and the differential reduction.

Each function takes the model's scores and the K null models' scores on the same items and
returns :class:`Gap`: the metric under the model, its chance level (mean over the null
models), the gap with its interval and p-value from :func:`surprisal.stats.chance.gap_interval`
(the wider of the prediction interval over the null draws and the item-level interval),
and the metric under each null draw. Item-level variances: DeLong placements for AUCs,
per-pair differences for pair accuracy, per-item differences for accuracy and for the
differential reduction.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..stats.chance import auc_placements, gap_interval

__all__ = ["Gap", "auc_gap", "differential_gap", "items_gap", "pair_gap"]


@dataclass(frozen=True)
class Gap:
    """A metric minus its chance level, with a ``level`` interval and a two-sided p.

    Attributes: ``value`` (the model's metric), ``chance`` (its mean over the null models),
    ``estimate`` (value - chance), ``low``, ``high``, ``p``, ``draws`` (the metric under
    each null model)."""

    value: float
    chance: float
    estimate: float
    low: float
    high: float
    p: float
    draws: tuple[float, ...]

    def triple(self) -> tuple[float, float, float]:
        """``(estimate, low, high)``."""
        return (self.estimate, self.low, self.high)


def _gap(value: float, draws: list[float], item_var: float, bounds: tuple[float, float]) -> Gap:
    chance = float(np.mean(draws))
    est = value - chance
    lo, hi, p = gap_interval(est, draws, item_var, bounds=(bounds[0] - chance, bounds[1] - chance))
    return Gap(float(value), chance, float(est), lo, hi, p, tuple(float(d) for d in draws))


def _var_mean(x: np.ndarray) -> float:
    """Variance of the mean of ``x`` (ddof 1), 0 for fewer than 2 values."""
    return float(np.var(x, ddof=1) / x.size) if x.size >= 2 else 0.0


def auc_gap(
    labels: np.ndarray,
    real: Sequence[np.ndarray],
    nulls: Sequence[Sequence[np.ndarray]],
) -> Gap:
    """ROC-AUC gap. ``real`` holds one (n,) score array per condition and each null model
    the same; with one condition the metric is the AUC, with two it is the lift
    ``AUC(second) - AUC(first)`` (range [-1, 1])."""
    pos = labels == 1

    def parts(scores: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        pl = [auc_placements(x[pos], x[~pos]) for x in scores]
        if len(pl) == 1:
            return pl[0]
        return pl[1][0] - pl[0][0], pl[1][1] - pl[0][1]

    r10, r01 = parts(real)
    n10, n01 = zip(*(parts(n) for n in nulls), strict=True)
    g10 = r10 - np.mean(n10, axis=0)
    g01 = r01 - np.mean(n01, axis=0)
    bounds = (0.0, 1.0) if len(real) == 1 else (-1.0, 1.0)
    return _gap(
        float(r10.mean()), [float(x.mean()) for x in n10], _var_mean(g10) + _var_mean(g01), bounds
    )


def pair_gap(
    pairs: np.ndarray, real: Sequence[np.ndarray], nulls: Sequence[Sequence[np.ndarray]]
) -> Gap:
    """Minimal-pair accuracy gap (ties 1/2); with two conditions per model, the lift."""
    g, b = pairs[:, 0], pairs[:, 1]

    def wins(scores: Sequence[np.ndarray]) -> np.ndarray:
        w = [(x[g] > x[b]) + 0.5 * (x[g] == x[b]) for x in scores]
        return w[0].astype(np.float64) if len(w) == 1 else (w[1] - w[0]).astype(np.float64)

    r = wins(real)
    ns = [wins(n) for n in nulls]
    bounds = (0.0, 1.0) if len(real) == 1 else (-1.0, 1.0)
    return _gap(
        float(r.mean()), [float(x.mean()) for x in ns], _var_mean(r - np.mean(ns, axis=0)), bounds
    )


def items_gap(
    real: np.ndarray,
    nulls: Sequence[np.ndarray],
    bounds: tuple[float, float] = (0.0, 1.0),
) -> Gap:
    """Gap of a mean over items (e.g. held-out correctness, 1.0/0.0 per test string)."""
    return _gap(
        float(real.mean()),
        [float(x.mean()) for x in nulls],
        _var_mean(real - np.mean(nulls, axis=0)),
        bounds,
    )


def differential_gap(labels: np.ndarray, real: np.ndarray, nulls: Sequence[np.ndarray]) -> Gap:
    """Gap of the differential reduction ``mean(r | member) - mean(r | non-member)``, nats,
    where ``real`` and each null hold the per-item reduction ``r`` (unbounded)."""
    pos = labels == 1

    def diff(r: np.ndarray) -> float:
        return float(r[pos].mean() - r[~pos].mean())

    d = real - np.mean(nulls, axis=0)
    return _gap(
        diff(real),
        [diff(x) for x in nulls],
        _var_mean(d[pos]) + _var_mean(d[~pos]),
        (-math.inf, math.inf),
    )


def baseline_name(null_lms: Sequence[object], kind: str) -> str:
    """How reports name the null models (``LM`` objects with a ``name``)."""
    names = [str(getattr(x, "name", x)) for x in null_lms if x is not None]
    if not names:
        return ""
    if len(names) == 1:
        return names[0]
    if kind == "random":
        return f"{len(names)} random-weight twins of {names[0].split(' (random weights')[0]} (mean)"
    return f"{len(names)} no-knowledge baseline models (mean): {', '.join(names)}"


def baseline_note(kind: str) -> str:
    """What a chance level of this kind rules out (and what it does not)."""
    if kind == "random":
        return (
            "random-weight twins rule out tokenization and length artifacts, not the generic "
            "preferences any trained model has; for a knowledge claim pass baseline=[models "
            "trained the same way on non-grammar strings]"
        )
    if kind == "trained":
        return (
            "no-knowledge models trained the same way on matched non-grammar strings rule "
            "out tokenization, length and the generic preferences of training (symbol "
            "frequencies, lengths): above them is knowledge of this grammar"
        )
    return (
        "a baseline model of your own: it rules out what that model shares with this one; "
        "one draw, so the interval covers item sampling only"
    )
