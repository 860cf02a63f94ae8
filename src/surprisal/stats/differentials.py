"""The differential reduction (knowledge vs priming): the mean reduction on members minus
the mean reduction on non-members, with a BCa interval and a permutation p-value."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ..errors import SurprisalError
from ..formatting import ci
from .discrimination import paired_bootstrap_ci
from .intervals import scipy_rng_kw


@dataclass(frozen=True)
class Differential:
    """Knowledge vs priming: mean reduction on targets (members) minus mean reduction on
    negatives (non-members), with a CI and a p-value.

    An explanation that teaches a rule lowers surprisal on members more than on
    non-members; one that only primes the format lowers both alike (difference ~ 0).

    Attributes:
        estimate: ``mean(reduction | targets) - mean(reduction | negatives)``, in ``unit``.
        ci_low, ci_high: BCa bootstrap CI, targets and negatives resampled separately (each
            item keeps its own paired reduction, with minus without the prefix).
        p_value: permutation test of ``estimate == 0`` (labels shuffled; exact when the
            number of relabellings is small), sided as ``alternative``.
        n_targets, n_negatives: group sizes. level, unit: of the CI.
        p_adjusted: Holm-adjusted p across the p-values printed with it, or None.
    """

    estimate: float
    ci_low: float
    ci_high: float
    p_value: float
    n_targets: int
    n_negatives: int
    level: float = 0.95
    unit: str = "nats"
    alternative: str = "two-sided"
    p_adjusted: float | None = None

    def __str__(self) -> str:
        p = f"p={self.p_value:.3g} ({self.alternative}, permutation)"
        if self.p_adjusted is not None:
            p += f", Holm-adjusted p={self.p_adjusted:.3g}"
        n = min(self.n_targets, self.n_negatives)
        interval = ci(self.ci_low, self.ci_high, n=n, level=self.level)
        return (
            f"{self.estimate:+.3f} {self.unit} {interval}"
            f", {p} (n={self.n_targets} targets, {self.n_negatives} negatives)"
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain numbers, for JSON."""
        return asdict(self)


def differential(
    reduction_targets: Any,
    reduction_negatives: Any,
    *,
    n_boot: int = 2000,
    n_perm: int = 9999,
    level: float = 0.95,
    seed: int = 0,
    unit: str = "nats",
) -> Differential:
    """:class:`Differential` of per-item reductions (any unit; the library passes nats).

    >>> d = differential([3.0, 2.5, 4.0, 3.5], [1.0, 0.5, 1.5, 1.0], n_boot=500)
    >>> d.estimate, bool(d.ci_low > 0)
    (2.25, True)
    """
    from scipy import stats as sps

    x = np.asarray(reduction_targets, dtype=np.float64).reshape(-1)
    y = np.asarray(reduction_negatives, dtype=np.float64).reshape(-1)
    if x.size == 0 or y.size == 0:
        raise SurprisalError(
            f"a differential needs targets and negatives, got {x.size} and {y.size}"
        )
    vals = np.concatenate([x, y])
    lab = np.concatenate([np.ones(x.size, np.int64), np.zeros(y.size, np.int64)])

    def diff(v: np.ndarray, g: np.ndarray) -> float:
        return float(v[g == 1].mean() - v[g == 0].mean())

    est = diff(vals, lab)
    lo, hi = paired_bootstrap_ci(diff, vals, lab, n_boot=n_boot, level=level, seed=seed, strata=lab)

    def stat(a: np.ndarray, b: np.ndarray, axis: int) -> np.ndarray:
        return np.asarray(a.mean(axis=axis) - b.mean(axis=axis))

    res = sps.permutation_test(
        (x, y),
        stat,
        vectorized=True,
        n_resamples=n_perm,
        alternative="two-sided",
        **{scipy_rng_kw(): np.random.default_rng(seed)},
    )
    return Differential(
        estimate=est,
        ci_low=lo,
        ci_high=hi,
        p_value=float(min(1.0, res.pvalue)),
        n_targets=int(x.size),
        n_negatives=int(y.size),
        level=float(level),
        unit=unit,
    )
