"""A :class:`Summary` of per-item values (mean, median, interval, p) and Holm across
summaries."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, is_dataclass, replace
from typing import Any, overload

import numpy as np
from numpy.typing import ArrayLike

from ..formatting import ci
from .checks import as_1d, check_level, check_positive
from .intervals import METHOD_NAMES, CIMethod, mean_ci_p
from .pvalues import holm


def _fmt(v: float) -> str:
    return f"{v:.3f}" if math.isfinite(v) else str(v)


#: Below this many items a :class:`Summary` warns that its intervals are wide and approximate.
SMALL_N = 10

#: Measured coverage of the mean's default 95% interval (Student t below 5 items, the
#: studentized bootstrap from 5), by distribution and n: ``scripts/coverage_table.py``,
#: 2,000 seeded samples per cell (standard error about 0.005). Bimodal: 80% around 0, 20%
#: around 6 (sd 1 each); lognormal: sigma 1.
COVERAGE: dict[str, dict[int, float]] = {
    "normal": {3: 0.949, 5: 0.950, 8: 0.944, 15: 0.955, 30: 0.954},
    "t3": {3: 0.962, 5: 0.939, 8: 0.933, 15: 0.914, 30: 0.924},
    "lognormal": {3: 0.812, 5: 0.904, 8: 0.898, 15: 0.921, 30: 0.935},
    "bimodal": {3: 0.875, 5: 0.856, 8: 0.873, 15: 0.952, 30: 0.964},
}

#: A summary of fewer than this many values with sample skewness above ``SKEWED`` says
#: that its interval under-covers.
SKEWED_N, SKEWED = 30, 1.0


def sample_skewness(x: np.ndarray) -> float:
    """The sample skewness ``m3 / m2**1.5`` (0 when all values are equal or n < 3)."""
    if x.shape[0] < 3:
        return 0.0
    d = x - x.mean()
    m2 = float(np.mean(d**2))
    return 0.0 if m2 == 0.0 else float(np.mean(d**3)) / m2**1.5


def skew_warning(n: int, skewness: float, level: float) -> str | None:
    """The under-coverage sentence of a :class:`Summary` (None when it does not apply)."""
    if n >= SKEWED_N or abs(skewness) <= SKEWED or n < 3:
        return None
    near = min(COVERAGE["lognormal"], key=lambda k: (abs(k - n), k))
    worst = min(COVERAGE["lognormal"][near], COVERAGE["bimodal"][near])
    lvl = "95%" if level == 0.95 else f"{level:.0%} (measured at 95%)"
    return (
        f"skewed data (skewness {skewness:.1f}) at n={n}: a {lvl} interval covered only "
        f"{worst:.2f} on skewed data at n={near} (lognormal, bimodal; docs/concepts.md)"
    )


@dataclass(frozen=True)
class Summary:
    """Descriptive statistics and uncertainty for per-item values.

    Attributes:
        n: Number of items.
        mean: Mean over items (unit of the input).
        median: Median over items.
        std: Sample standard deviation (``ddof=1``); ``nan`` when ``n == 1``.
        ci_low: Lower end of the CI of the mean.
        ci_high: Upper end of the CI of the mean.
        p_value: p-value of ``mean == 0`` from the same procedure as the CI (the CI
            inverted: the smallest ``1 - level`` whose interval excludes 0), so "the CI
            excludes 0" and "p < 1 - level" always agree; NaN where no test applies (a
            divergence, which is never below 0).
        level: Confidence level of the CI, e.g. ``0.95``.
        unit: Unit label used by ``__str__`` (the library passes ``"nats"``).
        ci_method: How the CI was computed (see :func:`bootstrap_ci`).
        alternative: Sidedness of ``p_value``: ``"two-sided"`` (mean != 0), or ``"none"``
            (no test).
        p_adjusted: Holm-adjusted p-value across the summaries printed together (see
            :func:`with_holm`), or None when not adjusted.
    """

    n: int
    mean: float
    median: float
    std: float
    ci_low: float
    ci_high: float
    p_value: float
    level: float
    unit: str = "nats"
    ci_method: str = METHOD_NAMES["studentized"]
    alternative: str = "two-sided"
    p_adjusted: float | None = None
    skewness: float = 0.0

    @property
    def small_n(self) -> bool:
        """True when ``n < 10``: intervals are wide and only approximately at ``level``."""
        return self.n < SMALL_N

    def to_dict(self) -> dict[str, Any]:
        """Return the fields (and ``small_n``) as a plain ``dict`` (JSON-friendly apart from
        ``nan``).

        >>> Summary(2, 1.0, 1.0, 0.0, 1.0, 1.0, 0.5, 0.95).to_dict()["p_value"]
        0.5
        """
        return {**asdict(self), "small_n": self.small_n}

    @property
    def coverage_warning(self) -> str | None:
        """A sentence when the data are few and skewed, so that the interval under-covers
        (the measured coverage of :data:`COVERAGE` for skewed data at the nearest ``n``),
        else None."""
        return skew_warning(self.n, self.skewness, self.level)

    def __str__(self) -> str:
        unit = f" {self.unit}" if self.unit else ""
        p = (
            f"p={self.p_value:.3g} ({self.alternative})"
            if math.isfinite(self.p_value)
            else "no p-value (compare with a control)"
        )
        if self.p_adjusted is not None:
            p += f", Holm-adjusted p={self.p_adjusted:.3g}"
        out = (
            f"mean {_fmt(self.mean)}{unit} "
            f"{ci(self.ci_low, self.ci_high, n=self.n, spec='.3f', level=self.level)}, "
            f"median {_fmt(self.median)}, sd {_fmt(self.std)}, "
            f"{p} (n={self.n})"
        )
        if self.small_n:
            out += f"; n={self.n} < {SMALL_N}: intervals are wide and approximate"
        warn = self.coverage_warning
        if warn:
            out += f"; {warn}"
        return out


def summarize(
    x: ArrayLike,
    *,
    seed: int | None = 0,
    n_boot: int = 10_000,
    n_perm: int = 10_000,
    level: float = 0.95,
    unit: str = "nats",
    method: CIMethod = "auto",
) -> Summary:
    """Summarise per-item values: mean, median, sd, CI of the mean, two-sided p-value.

    With few skewed values (``n < 30``, sample skewness above 1) the summary says that its
    interval under-covers, with the coverage measured for such data (:data:`COVERAGE`).

    The CI is :func:`bootstrap_ci` of the mean (``method="auto"``: Student t below 5 items,
    the studentized bootstrap from 5); the two-sided p-value comes from the same procedure
    (the t-test, or the studentized bootstrap inverted), so the CI excludes 0 exactly when
    ``p < 1 - level``. :func:`sign_flip_test` tests something else (that the values are
    symmetric around 0) and is no longer the default.

    >>> s = summarize([1.0, 2.0, 3.0])
    >>> print(s)  # doctest: +NORMALIZE_WHITESPACE
    mean 2.000 nats [95% CI -0.484, 4.484], median 2.000, sd 1.000, p=0.0742 (two-sided)
    (n=3); n=3 < 10: intervals are wide and approximate
    >>> s.n, round(s.p_value, 4), s.ci_method, s.small_n
    (3, 0.0742, 'Student t', True)

    Args:
        x: Per-item values (the library passes nats), shape ``(n,)``.
        seed: Seed for the bootstrap (the CI and its p).
        n_boot: Bootstrap resamples for the CI of the mean (and its p).
        n_perm: Unused (the p-value comes from the CI's procedure); kept so that calls
            written for the sign-flip default still run.
        level: Confidence level in ``(0, 1)``.
        unit: Unit label stored in the summary (display only).
        method: CI method, see :func:`bootstrap_ci`.

    Returns:
        A frozen :class:`Summary`.
    """
    arr = as_1d(x)
    n_boot = check_positive(n_boot, "n_boot")
    check_level(level)
    lo, hi, how, p = mean_ci_p(arr, n_boot=n_boot, level=level, seed=seed, method=method)
    n = int(arr.shape[0])
    std = float(arr.std(ddof=1)) if n > 1 else float("nan")
    return Summary(
        n=n,
        mean=float(arr.mean()),
        median=float(np.median(arr)),
        std=std,
        ci_low=lo,
        ci_high=hi,
        p_value=p,
        level=float(level),
        unit=unit,
        ci_method=how,
        alternative="two-sided",
        skewness=sample_skewness(arr),
    )


@overload
def with_holm(summaries: Mapping[str, Summary | None]) -> dict[str, Summary | None]: ...
@overload
def with_holm(summaries: Sequence[Any]) -> list[Any]: ...
def with_holm(
    summaries: Mapping[str, Summary | None] | Sequence[Any],
) -> dict[str, Summary | None] | list[Any]:
    """Attach Holm-adjusted p-values (:func:`holm`) across a set of summaries.

    Pass every summary that is printed together (a dict or a list; ``None`` entries pass
    through and do not count); any result with ``p_value`` and ``p_adjusted`` fields (a
    :class:`~surprisal.stats.Differential`, say) is adjusted in the same family. Each comes
    back with ``p_adjusted`` set, so its ``str`` shows the raw and the adjusted p.

    >>> a, b = summarize([1.0, 2.0, 3.0]), summarize([-1.0, 2.0, 0.5])
    >>> [None if s is None else round(s.p_adjusted, 3) for s in with_holm([a, None, b])]
    [0.148, None, 0.622]

    Args:
        summaries: :class:`Summary` objects (or None), as a mapping or a sequence.

    Returns:
        The same shape (dict or list) with new, adjusted summaries.
    """
    items = list(summaries.values()) if isinstance(summaries, Mapping) else list(summaries)
    present: list[tuple[int, Any]] = []
    for i, s in enumerate(items):
        if is_dataclass(s) and hasattr(s, "p_value") and hasattr(s, "p_adjusted"):
            present.append((i, s))
        elif s is not None:
            raise TypeError(
                f"with_holm takes Summary (or Differential) objects or None, got {type(s).__name__}"
            )
    adj = holm([s.p_value for _, s in present])
    out = list(items)
    for (i, s), a in zip(present, adj, strict=True):
        out[i] = replace(s, p_adjusted=float(a))
    if isinstance(summaries, Mapping):
        return dict(zip(summaries.keys(), out, strict=True))
    return out
