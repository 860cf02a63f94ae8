"""Statistics for paired measurements over items, honest at the sample sizes people use.

The library measures, for every item ``i`` (for example a target text), a paired
difference ``x_i`` such as the surprisal reduction ``S(target) - S(target | explanation)``.
The library always passes values in **nats**; the functions here are unit-agnostic and
return results in whatever unit the caller's inputs are in.

Everything is deterministic given ``seed`` (a :class:`numpy.random.Generator` is created
from it with :func:`numpy.random.default_rng`). ``NaN`` anywhere in a numeric input raises
:class:`ValueError` naming the index of the first ``NaN``; infinities are passed through.

Contents
--------
* Item-level uncertainty: :func:`bootstrap_ci`, :func:`summarize` / :class:`Summary` (its
  p-value comes from the same procedure as its CI); :func:`sign_flip_test` and
  :func:`paired_test` test symmetry around 0 (not the mean: on skewed data with mean 0 they
  reject too often).
* Proportions and multiple comparisons: :func:`proportion_ci`, :func:`holm`,
  :func:`with_holm`.
* Discrimination: :func:`roc_auc`, :func:`bootstrap_auc_ci`, :func:`best_threshold`,
  :func:`accuracy_at`, :func:`pair_accuracy`.
* Lift between conditions on the same items: :func:`paired_bootstrap_ci`,
  :func:`auc_lift_ci`.
* Crossed random effects (targets x explanations): :func:`crossed_ci`; one explanation
  against its controls (the explanation-level null): :func:`above_null`,
  :class:`NullComparison`, :func:`rank_p`.
* Planning a paired experiment: :func:`power`, :func:`mde` (minimum detectable effect),
  :func:`n_needed` (:mod:`.planning`); a metric's gap above K measured null draws:
  :func:`surprisal.stats.chance.gap_interval`.

Small n
-------
Coverage of nominal 95% intervals for a mean, on seeded simulated samples (3000 per cell
for the studentized row, 400 for the others; ``tests/test_stats.py`` re-checks the
studentized bootstrap at n = 5, 10, 30 on normal, exponential and lognormal data, with
2000 samples at n = 5). Heavier skew is harder: lognormal with sigma = 1 at n = 5 gets 0.89
from the studentized bootstrap, 0.83 from t and 0.74 from BCa.

=======================  ==============  ==============  ==============
normal / exponential     n = 5           n = 10          n = 30
=======================  ==============  ==============  ==============
BCa (scipy)              0.86 / 0.78     0.88 / 0.90     0.92 / 0.92
Student t                0.95 / 0.88     0.93 / 0.92     0.94 / 0.95
studentized bootstrap    0.947 / 0.926   0.943 / 0.941   0.945 / 0.947
=======================  ==============  ==============  ==============

So the mean's CI is the studentized bootstrap (Student t below 5 items, where no bootstrap
has enough distinct resamples); BCa is used for medians, AUCs and other statistics without
a simple standard error. Proportions get Wilson or Clopper–Pearson intervals, which never
collapse to a point at ``0/n`` or ``n/n``. A :class:`Summary` of fewer than
:data:`SMALL_N` items says its intervals are wide and approximate. p-values are two-sided
unless asked otherwise, and :func:`with_holm` adds Holm-adjusted p-values across the
summaries a report prints together.

What comes from scipy and what is written here
----------------------------------------------
* From scipy: BCa and percentile bootstrap (:func:`scipy.stats.bootstrap`), Wilson and
  Clopper–Pearson intervals (:func:`scipy.stats.binomtest`), t quantiles.
* Written here, and why:

  - the studentized bootstrap of a mean: scipy's ``bootstrap`` has no bootstrap-t, and it
    is the method that holds coverage at n = 5 to 10 (table above);
  - the sign-flip test: exact enumeration of all ``2**n`` sign patterns in a few vectorised
    lines; :func:`scipy.stats.permutation_test` (``permutation_type="samples"``) gives the
    same exact p-value for a one-sample test but is far slower in the Monte Carlo regime
    and counts ties without our summation-order tolerance;
  - :func:`roc_auc`: the Mann–Whitney count with ties as 1/2 in ``O(n log n)``; scipy's
    ``mannwhitneyu`` also computes a p-value and normal approximations we do not need;
  - :func:`holm`: four lines; scipy has Benjamini–Hochberg
    (:func:`scipy.stats.false_discovery_control`) but not Holm;
  - thresholds and pair accuracy: a few lines each, with tie rules stated here.
"""

from __future__ import annotations

from .crossed import NullComparison, above_null, crossed_ci, rank_p
from .differentials import Differential, differential
from .discrimination import (
    accuracy_at,
    auc_lift_ci,
    best_threshold,
    bootstrap_auc_ci,
    pair_accuracy,
    paired_bootstrap_ci,
    roc_auc,
)
from .intervals import bootstrap_ci, proportion_ci
from .planning import mde, n_needed, power
from .pvalues import holm, paired_test, sign_flip_test
from .summary import SMALL_N, Summary, summarize, with_holm

__all__ = [
    "SMALL_N",
    "Differential",
    "NullComparison",
    "Summary",
    "above_null",
    "accuracy_at",
    "auc_lift_ci",
    "best_threshold",
    "bootstrap_auc_ci",
    "bootstrap_ci",
    "crossed_ci",
    "differential",
    "holm",
    "mde",
    "n_needed",
    "pair_accuracy",
    "paired_bootstrap_ci",
    "paired_test",
    "power",
    "proportion_ci",
    "rank_p",
    "roc_auc",
    "sign_flip_test",
    "summarize",
    "with_holm",
]
