"""Discrimination metrics (ROC-AUC, thresholds, pair accuracy) and their intervals, and
the lift of a metric between two conditions on the same items (paired bootstrap)."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike

from .checks import as_1d, as_labels, check_level, check_nan, check_positive
from .intervals import scipy_bootstrap


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
    pos = as_1d(scores_pos, "scores_pos")
    neg = np.sort(as_1d(scores_neg, "scores_neg"))
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
    """Stratified BCa bootstrap CI of :func:`roc_auc`.

    Positives and negatives are resampled separately (keeping both group sizes), so every
    resample has a defined AUC; the interval is BCa from :func:`scipy.stats.bootstrap`
    (jackknife acceleration over both groups). Where BCa is undefined (every resample gives
    the same AUC, e.g. perfect separation, or a group of one item) it is the percentile
    interval of the same resamples, which is then a point: no information, not certainty.

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
    pos = as_1d(scores_pos, "scores_pos")
    neg = as_1d(scores_neg, "scores_neg")
    n_boot = check_positive(n_boot, "n_boot")
    check_level(level)
    lo, hi, _ = scipy_bootstrap(
        (pos, neg), roc_auc, n_boot=n_boot, level=level, seed=seed, method="bca"
    )
    return lo, hi


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
    s = as_1d(scores, "scores")
    y = as_labels(labels, s.shape[0])
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
    s = as_1d(scores, "scores")
    y = as_labels(labels, s.shape[0])
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
    g = as_1d(good_scores, "good_scores")
    b = as_1d(bad_scores, "bad_scores")
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
    """BCa bootstrap CI of ``metric(*arrays)`` with items resampled jointly.

    The same resampled item indices are applied (along axis 0) to every array, so
    paired structure between conditions is preserved, e.g. for the lift of a metric
    between two conditions measured on the same items. With ``strata`` (an int label
    per item) items are resampled within each stratum, keeping stratum sizes fixed;
    pass the class labels to keep both classes present when the metric is an AUC.
    The interval is BCa from :func:`scipy.stats.bootstrap` (each stratum one sample,
    resampled independently, jackknifed for the acceleration); where BCa is undefined
    (a degenerate bootstrap distribution, or a stratum of one item) it is the percentile
    interval of the same resamples.

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
    n_boot = check_positive(n_boot, "n_boot")
    check_level(level)
    arrs: list[np.ndarray] = []
    for j, a in enumerate(arrays):
        arr = np.asarray(a)
        if arr.ndim == 0:
            raise ValueError(f"arrays[{j}] must have at least one dimension")
        check_nan(arr, f"arrays[{j}]")
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
        check_nan(st, "strata")
        groups = [np.flatnonzero(st == u) for u in np.unique(st)]

    def on_items(*idx: np.ndarray) -> float:
        # scipy resamples each stratum's item indices; the metric sees the items' rows
        rows = np.concatenate(idx).astype(np.int64)
        return float(metric(*(arr[rows] for arr in arrs)))

    lo, hi, _ = scipy_bootstrap(
        tuple(groups), on_items, n_boot=n_boot, level=level, seed=seed, method="bca"
    )
    return lo, hi


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
    (positives and negatives separately), via :func:`paired_bootstrap_ci` (BCa).

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
        ``(lift, low, high)``: point estimate and BCa CI, in AUC units.
    """
    sa = as_1d(scores_a, "scores_a")
    sb = as_1d(scores_b, "scores_b")
    if sa.shape != sb.shape:
        raise ValueError(f"length mismatch: scores_a has {sa.shape[0]}, scores_b has {sb.shape[0]}")
    y = as_labels(labels, sa.shape[0])
    if y.all() or not y.any():
        raise ValueError("labels must contain both positives and negatives")

    def lift(a: np.ndarray, b: np.ndarray, lab: np.ndarray) -> float:
        return roc_auc(b[lab], b[~lab]) - roc_auc(a[lab], a[~lab])

    point = lift(sa, sb, y)
    lo, hi = paired_bootstrap_ci(
        lift, sa, sb, y, n_boot=n_boot, level=level, seed=seed, strata=y.astype(np.int64)
    )
    return point, lo, hi
