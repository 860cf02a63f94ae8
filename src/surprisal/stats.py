"""Numpy-only statistics for paired measurements over items.

The library measures, for every item ``i`` (for example a target text), a paired
difference ``x_i`` such as the surprisal reduction ``S(target) - S(target | explanation)``.
The library always passes values in **nats**; the functions here are unit-agnostic and
return results in whatever unit the caller's inputs are in.

Everything is deterministic given ``seed`` (a :class:`numpy.random.Generator` is created
from it with :func:`numpy.random.default_rng`). ``NaN`` anywhere in a numeric input raises
:class:`ValueError` naming the index of the first ``NaN``; infinities are passed through.

Contents
--------
* Item-level uncertainty: :func:`bootstrap_ci`, :func:`sign_flip_test`, :func:`paired_test`,
  :func:`summarize` / :class:`Summary`.
* Discrimination: :func:`roc_auc`, :func:`bootstrap_auc_ci`, :func:`best_threshold`,
  :func:`accuracy_at`, :func:`pair_accuracy`.
* Lift between conditions on the same items: :func:`paired_bootstrap_ci`,
  :func:`auc_lift_ci`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "Summary",
    "accuracy_at",
    "auc_lift_ci",
    "best_threshold",
    "bootstrap_auc_ci",
    "bootstrap_ci",
    "pair_accuracy",
    "paired_bootstrap_ci",
    "paired_test",
    "roc_auc",
    "sign_flip_test",
    "summarize",
]

Alternative = Literal["two-sided", "greater", "less"]

#: Upper bound on the number of float64 cells materialised at once by the vectorised
#: resampling loops (8 MiB per array).
_CHUNK_CELLS = 1 << 20


# --------------------------------------------------------------------------------------
# validation helpers
# --------------------------------------------------------------------------------------


def _check_nan(arr: np.ndarray, name: str) -> None:
    if arr.dtype.kind in "fc" and arr.size:
        bad = np.flatnonzero(np.isnan(arr.reshape(arr.shape[0], -1)).any(axis=1))
        if bad.size:
            raise ValueError(f"{name} contains NaN at index {int(bad[0])}")


def _as_1d(x: ArrayLike, name: str = "x", *, allow_empty: bool = False) -> np.ndarray:
    """Convert to a 1-D float64 array, rejecting NaN (and emptiness unless allowed)."""
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.size == 0 and not allow_empty:
        raise ValueError(f"{name} is empty")
    _check_nan(arr, name)
    return arr


def _as_labels(labels: ArrayLike, n: int) -> np.ndarray:
    """Convert 0/1 or boolean labels to a bool array of length ``n``."""
    lab = np.asarray(labels)
    if lab.ndim != 1:
        raise ValueError(f"labels must be 1-D, got shape {lab.shape}")
    if lab.shape[0] != n:
        raise ValueError(f"length mismatch: {n} scores but {lab.shape[0]} labels")
    if lab.dtype == bool:
        return lab
    if lab.dtype.kind == "f":
        _check_nan(lab, "labels")
    if lab.size and not np.all((lab == 0) | (lab == 1)):
        raise ValueError("labels must be boolean or 0/1")
    return lab.astype(bool)


def _check_level(level: float) -> None:
    if not (0.0 < float(level) < 1.0):
        raise ValueError(f"level must be in (0, 1), got {level!r}")


def _check_positive(value: int, name: str) -> int:
    if int(value) != value or int(value) < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _percentile_interval(boot: np.ndarray, level: float) -> tuple[float, float]:
    alpha = 1.0 - float(level)
    lo, hi = np.quantile(boot, [alpha / 2.0, 1.0 - alpha / 2.0])
    return float(lo), float(hi)


def _chunk_rows(width: int) -> int:
    return max(1, _CHUNK_CELLS // max(1, width))


# --------------------------------------------------------------------------------------
# bootstrap CI and sign-flip test
# --------------------------------------------------------------------------------------


def bootstrap_ci(
    x: ArrayLike,
    *,
    stat: Literal["mean", "median"] | Callable[[np.ndarray], float] = "mean",
    n_boot: int = 10_000,
    level: float = 0.95,
    seed: int | None = 0,
) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of a statistic over items.

    Items are resampled with replacement ``n_boot`` times; the interval is the
    ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles of the resampled statistic.
    ``"mean"`` and ``"median"`` are fully vectorised (the index matrix is drawn in
    chunks to bound memory); a callable is applied to each resample in turn.

    With a single item every resample equals the data, so the degenerate interval
    ``(stat(x), stat(x))`` is returned (never ``NaN``). Treat it as "no information".

    >>> lo, hi = bootstrap_ci([1.0, 2.0, 3.0, 4.0, 5.0], n_boot=2000, seed=0)
    >>> bool(1.0 < lo < 3.0 < hi < 5.0)
    True
    >>> bootstrap_ci([2.5])
    (2.5, 2.5)

    Args:
        x: Per-item values (any unit; the library passes nats), shape ``(n,)``.
        stat: ``"mean"``, ``"median"`` or a callable mapping a 1-D array to a float.
        n_boot: Number of bootstrap resamples.
        level: Confidence level in ``(0, 1)``.
        seed: Seed for :func:`numpy.random.default_rng`.

    Returns:
        ``(low, high)`` in the unit of ``x``.
    """
    arr = _as_1d(x)
    n_boot = _check_positive(n_boot, "n_boot")
    _check_level(level)
    vectorised = isinstance(stat, str)
    if vectorised:
        if stat not in ("mean", "median"):
            raise ValueError(f"stat must be 'mean', 'median' or a callable, got {stat!r}")
        fn: Callable[[np.ndarray], Any] = np.mean if stat == "mean" else np.median
    elif callable(stat):
        fn = stat
    else:
        raise TypeError(f"stat must be 'mean', 'median' or a callable, got {stat!r}")

    n = arr.shape[0]
    if n == 1:
        v = float(fn(arr))
        return v, v

    rng = np.random.default_rng(seed)
    boot = np.empty(n_boot, dtype=np.float64)
    step = _chunk_rows(n)
    for start in range(0, n_boot, step):
        stop = min(n_boot, start + step)
        idx = rng.integers(0, n, size=(stop - start, n))
        sample = arr[idx]
        if vectorised:
            boot[start:stop] = fn(sample, axis=1)  # type: ignore[call-arg]
        else:
            boot[start:stop] = [float(fn(row)) for row in sample]
    return _percentile_interval(boot, level)


def _signed_sums_exact(x: np.ndarray) -> np.ndarray:
    """Sums ``sum_i s_i x_i`` for all ``2**n`` sign vectors (chunked enumeration)."""
    n = x.shape[0]
    total = 1 << n
    out = np.empty(total, dtype=np.float64)
    bits = np.arange(n, dtype=np.int64)
    step = _chunk_rows(n)
    for start in range(0, total, step):
        stop = min(total, start + step)
        codes = np.arange(start, stop, dtype=np.int64)
        signs = 1.0 - 2.0 * ((codes[:, None] >> bits) & 1)
        out[start:stop] = signs @ x
    return out


def _count_extreme(sums: np.ndarray, observed: float, tol: float, alternative: str) -> int:
    if alternative == "two-sided":
        return int(np.count_nonzero(np.abs(sums) >= abs(observed) - tol))
    if alternative == "greater":
        return int(np.count_nonzero(sums >= observed - tol))
    return int(np.count_nonzero(sums <= observed + tol))


def sign_flip_test(
    x: ArrayLike,
    *,
    n_perm: int = 10_000,
    seed: int | None = 0,
    alternative: Alternative = "two-sided",
) -> float:
    """Paired permutation (random sign-flip) test of ``mean(x) == 0``.

    Under the null hypothesis each ``x_i`` is symmetric around 0, so flipping signs
    leaves the distribution of ``mean(x)`` unchanged. When ``2**n <= n_perm`` all sign
    patterns are enumerated and the exact p-value ``count / 2**n`` is returned
    (the identity pattern is one of them). Otherwise ``n_perm`` random patterns are
    drawn and ``(count + 1) / (n_perm + 1)`` is returned, which is never 0 and is a
    valid (slightly conservative) p-value.

    >>> sign_flip_test([1.0, 2.0, 3.0])  # exact: only +++ and --- reach |mean| >= 2
    0.25
    >>> sign_flip_test([1.0, 2.0, 3.0], alternative="greater")
    0.125

    Args:
        x: Per-item paired differences (any unit), shape ``(n,)``.
        n_perm: Number of random sign patterns (also the exact-enumeration budget).
        seed: Seed for :func:`numpy.random.default_rng` (unused in the exact case).
        alternative: ``"two-sided"`` (mean != 0), ``"greater"`` (mean > 0) or
            ``"less"`` (mean < 0).

    Returns:
        The p-value in ``(0, 1]``.
    """
    arr = _as_1d(x)
    n_perm = _check_positive(n_perm, "n_perm")
    if alternative not in ("two-sided", "greater", "less"):
        raise ValueError(
            f"alternative must be 'two-sided', 'greater' or 'less', got {alternative!r}"
        )
    n = arr.shape[0]
    observed = float(arr.sum())
    # Tolerance for summation-order rounding when comparing resampled to observed sums.
    tol = 1e-10 * float(np.abs(arr).sum())
    if n < 63 and (1 << n) <= n_perm:
        sums = _signed_sums_exact(arr)
        return _count_extreme(sums, observed, tol, alternative) / float(sums.shape[0])

    rng = np.random.default_rng(seed)
    count = 0
    step = _chunk_rows(n)
    for start in range(0, n_perm, step):
        rows = min(n_perm, start + step) - start
        signs = 1.0 - 2.0 * rng.integers(0, 2, size=(rows, n))
        count += _count_extreme(signs @ arr, observed, tol, alternative)
    return (count + 1) / (n_perm + 1)


def paired_test(
    a: ArrayLike,
    b: ArrayLike,
    *,
    n_perm: int = 10_000,
    seed: int | None = 0,
    alternative: Alternative = "two-sided",
) -> float:
    """Sign-flip test that paired measurements ``a`` and ``b`` have equal means.

    Equivalent to ``sign_flip_test(a - b, ...)`` after checking the lengths match;
    ``alternative="greater"`` tests ``mean(a - b) > 0``.

    >>> paired_test([3.0, 4.0, 5.0], [2.0, 2.0, 2.0])
    0.25

    Args:
        a: Measurements under condition A, one per item (any unit), shape ``(n,)``.
        b: Measurements under condition B for the same items, shape ``(n,)``.
        n_perm: See :func:`sign_flip_test`.
        seed: See :func:`sign_flip_test`.
        alternative: See :func:`sign_flip_test`.

    Returns:
        The p-value in ``(0, 1]``.
    """
    arr_a = _as_1d(a, "a")
    arr_b = _as_1d(b, "b")
    if arr_a.shape != arr_b.shape:
        raise ValueError(f"length mismatch: a has {arr_a.shape[0]}, b has {arr_b.shape[0]}")
    return sign_flip_test(arr_a - arr_b, n_perm=n_perm, seed=seed, alternative=alternative)


# --------------------------------------------------------------------------------------
# summary
# --------------------------------------------------------------------------------------


def _fmt(v: float) -> str:
    return f"{v:.3f}" if math.isfinite(v) else str(v)


@dataclass(frozen=True)
class Summary:
    """Descriptive statistics and uncertainty for per-item values.

    Attributes:
        n: Number of items.
        mean: Mean over items (unit of the input).
        median: Median over items.
        std: Sample standard deviation (``ddof=1``); ``nan`` when ``n == 1``.
        ci_low: Lower end of the percentile-bootstrap CI of the mean.
        ci_high: Upper end of the percentile-bootstrap CI of the mean.
        p_value: Two-sided sign-flip p-value for ``mean == 0``.
        level: Confidence level of the CI, e.g. ``0.95``.
        unit: Unit label used by ``__str__`` (the library passes ``"nats"``).
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

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as a plain ``dict`` (JSON-friendly apart from ``nan``).

        >>> Summary(2, 1.0, 1.0, 0.0, 1.0, 1.0, 0.5, 0.95).to_dict()["p_value"]
        0.5
        """
        return asdict(self)

    def __str__(self) -> str:
        unit = f" {self.unit}" if self.unit else ""
        return (
            f"mean {_fmt(self.mean)}{unit} [{self.level * 100:g}% CI {_fmt(self.ci_low)}, "
            f"{_fmt(self.ci_high)}], median {_fmt(self.median)}, sd {_fmt(self.std)}, "
            f"p={self.p_value:.3g} (n={self.n})"
        )


def summarize(
    x: ArrayLike,
    *,
    seed: int | None = 0,
    n_boot: int = 10_000,
    n_perm: int = 10_000,
    level: float = 0.95,
    unit: str = "nats",
) -> Summary:
    """Summarise per-item values: mean, median, sd, bootstrap CI of the mean, p-value.

    >>> s = summarize([1.0, 2.0, 3.0])
    >>> print(s)
    mean 2.000 nats [95% CI 1.000, 3.000], median 2.000, sd 1.000, p=0.25 (n=3)
    >>> s.n, s.p_value
    (3, 0.25)

    Args:
        x: Per-item values (the library passes nats), shape ``(n,)``.
        seed: Seed for both the bootstrap and the sign-flip test.
        n_boot: Bootstrap resamples for the CI of the mean.
        n_perm: Sign patterns for the two-sided test of ``mean == 0``.
        level: Confidence level in ``(0, 1)``.
        unit: Unit label stored in the summary (display only).

    Returns:
        A frozen :class:`Summary`.
    """
    arr = _as_1d(x)
    lo, hi = bootstrap_ci(arr, stat="mean", n_boot=n_boot, level=level, seed=seed)
    n = int(arr.shape[0])
    std = float(arr.std(ddof=1)) if n > 1 else float("nan")
    return Summary(
        n=n,
        mean=float(arr.mean()),
        median=float(np.median(arr)),
        std=std,
        ci_low=lo,
        ci_high=hi,
        p_value=sign_flip_test(arr, n_perm=n_perm, seed=seed),
        level=float(level),
        unit=unit,
    )


# --------------------------------------------------------------------------------------
# discrimination metrics
# --------------------------------------------------------------------------------------


def roc_auc(scores_pos: ArrayLike, scores_neg: ArrayLike) -> float:
    """Exact ROC AUC (Mann-Whitney U / (n_pos * n_neg)), ties counted 1/2.

    A higher score means "more likely positive". Runs in ``O((p + q) log q)``.

    >>> roc_auc([3.0, 2.0], [1.0, 2.0])
    0.875

    Args:
        scores_pos: Scores of positive items, shape ``(p,)``, ``p >= 1``.
        scores_neg: Scores of negative items, shape ``(q,)``, ``q >= 1``.

    Returns:
        The probability that a random positive outscores a random negative, in ``[0, 1]``.
    """
    pos = _as_1d(scores_pos, "scores_pos")
    neg = np.sort(_as_1d(scores_neg, "scores_neg"))
    below = np.searchsorted(neg, pos, side="left").sum(dtype=np.int64)
    at_or_below = np.searchsorted(neg, pos, side="right").sum(dtype=np.int64)
    return float(below + at_or_below) / (2.0 * pos.shape[0] * neg.shape[0])


def bootstrap_auc_ci(
    scores_pos: ArrayLike,
    scores_neg: ArrayLike,
    *,
    n_boot: int = 2000,
    level: float = 0.95,
    seed: int | None = 0,
) -> tuple[float, float]:
    """Stratified percentile-bootstrap CI of :func:`roc_auc`.

    Positives and negatives are resampled separately (keeping both group sizes), so
    every resample has a defined AUC. Vectorised via multinomial resample counts.

    >>> lo, hi = bootstrap_auc_ci([2.0, 3.0, 4.0, 0.5], [0.0, 1.0, 1.5, 2.5], seed=0)
    >>> bool(0.0 <= lo < roc_auc([2.0, 3.0, 4.0, 0.5], [0.0, 1.0, 1.5, 2.5]) < hi <= 1.0)
    True

    Args:
        scores_pos: Scores of positive items, shape ``(p,)``.
        scores_neg: Scores of negative items, shape ``(q,)``.
        n_boot: Number of bootstrap resamples.
        level: Confidence level in ``(0, 1)``.
        seed: Seed for :func:`numpy.random.default_rng`.

    Returns:
        ``(low, high)`` AUC bounds in ``[0, 1]``.
    """
    pos = _as_1d(scores_pos, "scores_pos")
    neg = np.sort(_as_1d(scores_neg, "scores_neg"))
    n_boot = _check_positive(n_boot, "n_boot")
    _check_level(level)
    p, q = pos.shape[0], neg.shape[0]
    left = np.searchsorted(neg, pos, side="left")
    right = np.searchsorted(neg, pos, side="right")
    rng = np.random.default_rng(seed)
    boot = np.empty(n_boot, dtype=np.float64)
    step = _chunk_rows(p + q)
    for start in range(0, n_boot, step):
        rows = min(n_boot, start + step) - start
        w = rng.multinomial(p, np.full(p, 1.0 / p), size=rows).astype(np.float64)
        v = rng.multinomial(q, np.full(q, 1.0 / q), size=rows).astype(np.float64)
        cum = np.zeros((rows, q + 1), dtype=np.float64)
        np.cumsum(v, axis=1, out=cum[:, 1:])
        wins = cum[:, left] + cum[:, right]  # 2 * (#neg below + 1/2 #neg tied), weighted
        boot[start : start + rows] = (w * wins).sum(axis=1) / (2.0 * p * q)
    return _percentile_interval(boot, level)


def best_threshold(scores: ArrayLike, labels: ArrayLike) -> float:
    """Threshold maximising accuracy of the rule "positive iff ``score >= threshold``".

    Candidates are the minimum score (everything positive), the midpoints between
    consecutive sorted distinct scores, and ``+inf`` (everything negative). Ties in
    accuracy are broken deterministically by taking the **lowest** candidate.

    >>> best_threshold([0.0, 1.0, 2.0, 3.0], [0, 0, 1, 1])
    1.5
    >>> best_threshold([1.0, 2.0], [1, 1])
    1.0

    Args:
        scores: One score per item, higher = more likely positive, shape ``(n,)``.
        labels: Boolean or 0/1 labels (1 = positive), shape ``(n,)``.

    Returns:
        The threshold (in the unit of ``scores``); ``inf`` if predicting everything
        negative is strictly best.
    """
    s = _as_1d(scores, "scores")
    y = _as_labels(labels, s.shape[0])
    order = np.argsort(s, kind="stable")
    s_sorted = s[order]
    y_sorted = y[order]
    n = s.shape[0]
    # correct(k): first k sorted items predicted negative, the rest positive.
    neg_below = np.concatenate(([0], np.cumsum(~y_sorted)))
    pos_total = int(y_sorted.sum())
    pos_below = np.concatenate(([0], np.cumsum(y_sorted)))
    correct = neg_below + (pos_total - pos_below)
    valid = np.zeros(n + 1, dtype=bool)
    valid[0] = valid[n] = True
    valid[1:n] = s_sorted[1:] > s_sorted[:-1]
    ks = np.flatnonzero(valid)
    k = int(ks[np.argmax(correct[ks])])  # argmax returns the first (lowest) maximum
    if k == 0:
        return float(s_sorted[0])
    if k == n:
        return float("inf")
    lo, hi = float(s_sorted[k - 1]), float(s_sorted[k])
    mid = lo / 2.0 + hi / 2.0
    return mid if lo < mid <= hi else hi


def accuracy_at(scores: ArrayLike, labels: ArrayLike, threshold: float) -> float:
    """Accuracy of predicting positive iff ``score >= threshold``.

    >>> accuracy_at([0.0, 1.0, 2.0, 3.0], [0, 1, 1, 1], 1.5)
    0.75

    Args:
        scores: One score per item, shape ``(n,)``.
        labels: Boolean or 0/1 labels (1 = positive), shape ``(n,)``.
        threshold: Decision threshold in the unit of ``scores``.

    Returns:
        Fraction of items classified correctly, in ``[0, 1]``.
    """
    s = _as_1d(scores, "scores")
    y = _as_labels(labels, s.shape[0])
    if math.isnan(threshold):
        raise ValueError("threshold is NaN")
    return float(np.mean((s >= threshold) == y))


def pair_accuracy(good_scores: ArrayLike, bad_scores: ArrayLike) -> float:
    """Fraction of item pairs ``i`` with ``good_scores[i] > bad_scores[i]``, ties = 1/2.

    Pairs are matched by index (minimal pairs), not all-against-all; for the latter
    use :func:`roc_auc`.

    >>> pair_accuracy([2.0, 1.0, 3.0, 0.0], [1.0, 1.0, 4.0, -1.0])
    0.625

    Args:
        good_scores: Score of the "good" member of each pair, shape ``(n,)``.
        bad_scores: Score of the "bad" member of the same pair, shape ``(n,)``.

    Returns:
        The pairwise accuracy in ``[0, 1]``.
    """
    g = _as_1d(good_scores, "good_scores")
    b = _as_1d(bad_scores, "bad_scores")
    if g.shape != b.shape:
        raise ValueError(
            f"length mismatch: good_scores has {g.shape[0]}, bad_scores has {b.shape[0]}"
        )
    return float(np.mean((g > b) + 0.5 * (g == b)))


# --------------------------------------------------------------------------------------
# paired bootstrap (lift between conditions on the same items)
# --------------------------------------------------------------------------------------


def paired_bootstrap_ci(
    metric: Callable[..., float],
    *arrays: ArrayLike,
    n_boot: int = 2000,
    level: float = 0.95,
    seed: int | None = 0,
    strata: ArrayLike | None = None,
) -> tuple[float, float]:
    """Percentile-bootstrap CI of ``metric(*arrays)`` with items resampled jointly.

    The same resampled item indices are applied (along axis 0) to every array, so
    paired structure between conditions is preserved, e.g. for the lift of a metric
    between two conditions measured on the same items. With ``strata`` (an int label
    per item) items are resampled within each stratum, keeping stratum sizes fixed;
    pass the class labels to keep both classes present when the metric is an AUC.

    >>> a = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    >>> b = [1.5, 2.4, 3.6, 4.3, 5.9, 6.2]
    >>> lo, hi = paired_bootstrap_ci(lambda a, b: float(np.mean(b - a)), a, b, n_boot=500)
    >>> bool(0.0 < lo < hi < 1.0)
    True

    Args:
        metric: Callable taking the resampled arrays (as numpy arrays, in the given
            order) and returning a float. Must not return ``NaN``.
        *arrays: One or more arrays with the same length ``n`` along axis 0.
        n_boot: Number of bootstrap resamples.
        level: Confidence level in ``(0, 1)``.
        seed: Seed for :func:`numpy.random.default_rng`.
        strata: Optional integer stratum label per item, shape ``(n,)``.

    Returns:
        ``(low, high)`` in the unit of ``metric``.
    """
    if not arrays:
        raise ValueError("at least one array is required")
    n_boot = _check_positive(n_boot, "n_boot")
    _check_level(level)
    arrs: list[np.ndarray] = []
    for j, a in enumerate(arrays):
        arr = np.asarray(a)
        if arr.ndim == 0:
            raise ValueError(f"arrays[{j}] must have at least one dimension")
        _check_nan(arr, f"arrays[{j}]")
        arrs.append(arr)
    n = arrs[0].shape[0]
    if n == 0:
        raise ValueError("arrays are empty")
    for j, arr in enumerate(arrs):
        if arr.shape[0] != n:
            raise ValueError(f"length mismatch: arrays[0] has {n}, arrays[{j}] has {arr.shape[0]}")

    if strata is None:
        groups = [np.arange(n)]
    else:
        st = np.asarray(strata)
        if st.shape != (n,):
            raise ValueError(f"strata must have shape ({n},), got {st.shape}")
        _check_nan(st, "strata")
        groups = [np.flatnonzero(st == u) for u in np.unique(st)]

    rng = np.random.default_rng(seed)
    boot = np.empty(n_boot, dtype=np.float64)
    for r in range(n_boot):
        idx = np.concatenate([g[rng.integers(0, g.shape[0], size=g.shape[0])] for g in groups])
        boot[r] = float(metric(*(arr[idx] for arr in arrs)))
    n_nan = int(np.isnan(boot).sum())
    if n_nan:
        raise ValueError(
            f"metric returned NaN in {n_nan} of {n_boot} resamples "
            "(for class-dependent metrics such as AUC pass strata=labels)"
        )
    return _percentile_interval(boot, level)


def auc_lift_ci(
    scores_a: ArrayLike,
    scores_b: ArrayLike,
    labels: ArrayLike,
    *,
    n_boot: int = 2000,
    level: float = 0.95,
    seed: int | None = 0,
) -> tuple[float, float, float]:
    """AUC lift ``AUC(scores_b) - AUC(scores_a)`` on the same items, with a bootstrap CI.

    Items are resampled jointly for both conditions (paired) and stratified by label
    (positives and negatives separately), via :func:`paired_bootstrap_ci`.

    >>> y = [1, 1, 1, 0, 0, 0]
    >>> lift, lo, hi = auc_lift_ci([1, 0, 2, 1, 3, 0], [3, 2, 4, 1, 0, 2], y, n_boot=500)
    >>> round(lift, 3), bool(lo <= lift <= hi)
    (0.5, True)

    Args:
        scores_a: Scores of every item under condition A (baseline), shape ``(n,)``.
        scores_b: Scores of the same items under condition B, shape ``(n,)``.
        labels: Boolean or 0/1 labels (1 = positive), shape ``(n,)``; both classes needed.
        n_boot: Number of bootstrap resamples.
        level: Confidence level in ``(0, 1)``.
        seed: Seed for :func:`numpy.random.default_rng`.

    Returns:
        ``(lift, low, high)``: point estimate and percentile CI, in AUC units.
    """
    sa = _as_1d(scores_a, "scores_a")
    sb = _as_1d(scores_b, "scores_b")
    if sa.shape != sb.shape:
        raise ValueError(f"length mismatch: scores_a has {sa.shape[0]}, scores_b has {sb.shape[0]}")
    y = _as_labels(labels, sa.shape[0])
    if y.all() or not y.any():
        raise ValueError("labels must contain both positives and negatives")

    def lift(a: np.ndarray, b: np.ndarray, lab: np.ndarray) -> float:
        return roc_auc(b[lab], b[~lab]) - roc_auc(a[lab], a[~lab])

    point = lift(sa, sb, y)
    lo, hi = paired_bootstrap_ci(
        lift, sa, sb, y, n_boot=n_boot, level=level, seed=seed, strata=y.astype(np.int64)
    )
    return point, lo, hi
