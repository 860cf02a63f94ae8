"""The result of a grammar-membership experiment: :class:`Membership` and its metrics.

Scores are total log-probabilities in nats of each candidate string (plus the end marker)
under each condition; metrics (ROC-AUC, minimal-pair accuracy, held-out accuracy; the same
for the length-normalised mean and SLOR), lifts between conditions, chance levels from
null models, and the differential reduction are computed here from those scores.
"""

from __future__ import annotations

import html as _html
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from .. import stats as _stats
from .._versions import versions
from ..errors import SurprisalError
from ..formatting import ci
from ..report.grammar import membership_html, membership_sections
from ..report.page import notebook_html
from ..stats.differentials import Differential, differential
from ..stats.summary import with_holm
from .base import EDIT_KINDS
from .chance import Gap, auc_gap, baseline_note, differential_gap, items_gap, pair_gap

ScoreKind = Literal["logprob", "mean", "slor"]

#: The metrics computed per condition, and the score kind each ranks strings by.
METRICS: dict[str, ScoreKind] = {
    "auc": "logprob",
    "auc_mean": "mean",
    "auc_slor": "slor",
    "pair_accuracy": "logprob",
    "accuracy": "logprob",
}


@dataclass(frozen=True)
class Membership:
    """Scores of members and non-members under each condition, and what they tell.

    Attributes:
        grammar: the grammar's name (or "given" for user strings).
        conditions: the condition names, "none" first.
        prefixes: the prefix text of each condition ("" for none).
        texts: the candidate strings (rendered, without the end marker).
        labels: (n,) 1 for members, 0 for non-members.
        kinds: "member", "edit" (one edit from a member), "random" or "given".
        lengths: (n,) length in grammar symbols (characters for user strings).
        test: (n,) True for strings in the test split (thresholds come from the others).
        pairs: (m, 2) indices (member, its one-edit non-member) of minimal pairs.
        logprob: condition -> (n,) total log-probability of string + end marker, nats.
        n_tokens: condition -> (n,) tokens scored (end marker included).
        unigram_logprob: (n,) log-probability under a unigram model of the tokens of every
            calibration string, members and non-members alike (add-one smoothed; never
            fitted on labels), nats; the SLOR baseline.
        end: the end marker text.
        seed, n_boot: for the bootstrap CIs.
        pair_edits: the edit of each minimal pair ("substitute", "insert", "delete", "swap").
        null_logprob: one dict per null model (random draw): condition -> (n,) total
            log-probability under it, nats; empty when ``baseline=None`` (same tokenizer, so
            ``n_tokens`` is shared).
        baseline: the null model's name ("" without one).
        baseline_kind: "random" (random-weight twins: rule out tokenization and length),
            "trained" (no-knowledge models trained the same way: rule out the generic
            preferences of training too), or "" without one.
        versions: the versions of surprisal, torch and transformers that computed it.
        length_matched: the random non-members were drawn to match the members' token
            counts.
    """

    grammar: str
    conditions: tuple[str, ...]
    prefixes: dict[str, str]
    texts: tuple[str, ...]
    labels: np.ndarray
    kinds: tuple[str, ...]
    lengths: np.ndarray
    test: np.ndarray
    pairs: np.ndarray
    logprob: dict[str, np.ndarray]
    n_tokens: dict[str, np.ndarray]
    unigram_logprob: np.ndarray
    end: str
    seed: int = 0
    n_boot: int = 2000
    pair_edits: tuple[str, ...] = ()
    null_logprob: tuple[dict[str, np.ndarray], ...] = ()
    baseline: str = ""
    length_matched: bool = False
    baseline_kind: str = ""
    versions: dict[str, str] = field(default_factory=versions, compare=False, repr=False)
    # bootstrap results, computed once (the dataclass is frozen; its dict is not)
    _cache: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)

    def scores(
        self, condition: str, kind: ScoreKind = "logprob", *, null: int | None = None
    ) -> np.ndarray:
        """(n,) membership scores: total log-prob, per-token mean, or SLOR, in nats; under
        null model number ``null`` (0, 1, ...) when given."""
        if null is not None and not 0 <= null < len(self.null_logprob):
            raise SurprisalError(
                f"null must be in [0, {len(self.null_logprob)}) (the null models this "
                f"Membership holds), got {null}; baseline=None keeps none"
            )
        lp = (self.logprob if null is None else self.null_logprob[null])[condition]
        if kind == "logprob":
            return lp
        if kind == "mean":
            return lp / self.n_tokens[condition]
        if kind == "slor":
            return (lp - self.unigram_logprob) / self.n_tokens[condition]
        raise SurprisalError(f"kind must be 'logprob', 'mean' or 'slor', got {kind!r}")

    def _auc(self, x: np.ndarray, sel: np.ndarray | None = None) -> float:
        lab = self.labels if sel is None else self.labels[sel]
        x = x if sel is None else x[sel]
        if lab.min(initial=1) == 1 or lab.max(initial=0) == 0:
            return float("nan")
        return _stats.roc_auc(x[lab == 1], x[lab == 0])

    def _pair_acc(self, x: np.ndarray, pairs: np.ndarray | None = None) -> float:
        p = self.pairs if pairs is None else pairs
        if len(p) == 0:
            return float("nan")
        return _stats.pair_accuracy(x[p[:, 0]], x[p[:, 1]])

    def _correct(self, x: np.ndarray) -> np.ndarray | None:
        """(n_test,) 1.0 where a test string is classified right at the threshold chosen on
        the calibration split, or None when there is no such split."""
        cal = ~self.test
        if (
            self.labels[cal].min(initial=1) == self.labels[cal].max(initial=0)
            or not self.test.any()
        ):
            return None
        thr = _stats.best_threshold(x[cal], self.labels[cal])
        return ((x[self.test] >= thr) == (self.labels[self.test] == 1)).astype(np.float64)

    def _accuracy(self, x: np.ndarray) -> float:
        c = self._correct(x)
        return float("nan") if c is None else float(c.mean())

    def _metric(self, metric: str, condition: str, *, null: int | None = None) -> float:
        x = self.scores(condition, METRICS[metric], null=null)
        if metric == "pair_accuracy":
            return self._pair_acc(x)
        if metric == "accuracy":
            return self._accuracy(x)
        return self._auc(x)

    # ---- chance levels ----------------------------------------------------------------

    @property
    def length_only_auc(self) -> float:
        """ROC-AUC of ``-n_tokens`` alone (fewer tokens = "member"): how much of any AUC the
        token count gives away. Computed on the "none" condition's token counts."""
        return self._auc(-self.n_tokens["none"])

    @property
    def majority_accuracy(self) -> float:
        """Test-split accuracy of always answering the calibration split's majority class
        (the chance level of ``accuracy`` for a classifier that ignores the strings)."""
        cal, test = self.labels[~self.test], self.labels[self.test]
        if not len(cal) or not len(test):
            return float("nan")
        majority = 1 if 2 * int(cal.sum()) > len(cal) else 0
        return float(np.mean(test == majority))

    @property
    def chance(self) -> dict[str, Any]:
        """Chance levels: ``{metric: {condition: value}}`` under the null model for every
        metric in :data:`METRICS` (absent with ``baseline=None``), plus
        ``"length_only_auc"`` and ``"majority_accuracy"`` (floats). Not 0.5: a model that
        knows nothing still prefers strings with fewer tokens."""
        out: dict[str, Any] = {}
        if self.null_logprob:
            for metric in METRICS:
                out[metric] = {c: self._chance(metric, c) for c in self.conditions}
        out["length_only_auc"] = self.length_only_auc
        out["majority_accuracy"] = self.majority_accuracy
        return out

    def _chance(self, metric: str, condition: str) -> float:
        """The metric's mean over the null models."""
        draws = range(len(self.null_logprob))
        return float(np.mean([self._metric(metric, condition, null=k) for k in draws]))

    @property
    def above_chance(self) -> dict[str, tuple[float, float, float]]:
        """``{metric: (metric - chance, ci_low, ci_high)}`` for the "none" condition; see
        :meth:`above_chance_in`."""
        return self.above_chance_in("none")

    def above_chance_in(self, condition: str) -> dict[str, tuple[float, float, float]]:
        """``{metric: (estimate, ci_low, ci_high)}``: the metric minus its chance level (its
        mean over the null models) on the same strings, with a 95% interval.

        The model under test is, under the null hypothesis, one more draw from the null
        models' population (random-weight twins, or no-knowledge models trained the same
        way), so the interval is the wider of the prediction interval over the K draws
        (``t_{K-1} * sd_K * sqrt(1 + 1/K)``) and the item-level interval (DeLong for AUCs,
        per-pair and per-item differences otherwise), clipped to the metric's range
        ``[-chance, 1 - chance]``; see :mod:`surprisal.stats.chance` for why and its measured
        false-positive rates. For "none" it also holds the lifts and the differential
        reduction against their own chance levels (see :meth:`gaps`, which adds p-values).
        Empty with ``baseline=None``. A CI that contains 0: no evidence of more than
        chance."""
        return {k: g.triple() for k, g in self.gaps(condition).items()}

    def gaps(self, condition: str = "none") -> dict[str, Gap]:
        """``{name: Gap}``: each metric's gap above its chance level in ``condition`` (see
        :meth:`above_chance_in`), with its chance level, p-value and per-draw values; for
        "none" also the lifts ``lift_auc:explanation-<base>`` /
        ``lift_pair_accuracy:explanation-<base>`` and ``differential:<prefix condition>``,
        each against the same quantity under the null models."""
        if not self.null_logprob:
            return {}
        if condition not in self.conditions:
            raise SurprisalError(
                f"condition must be one of {list(self.conditions)}, got {condition!r}"
            )
        key = ("gaps", condition)
        if key not in self._cache:
            self._cache[key] = self._gaps(condition)
        return dict(self._cache[key])

    def _gaps(self, condition: str) -> dict[str, Gap]:
        K = len(self.null_logprob)
        out: dict[str, Gap] = {}
        both = 0 < int(self.labels.sum()) < len(self.labels)
        for metric, kind in METRICS.items():
            real = self.scores(condition, kind)
            nulls = [self.scores(condition, kind, null=k) for k in range(K)]
            if metric.startswith("auc") and both:
                out[metric] = auc_gap(self.labels, [real], [[x] for x in nulls])
            elif metric == "pair_accuracy" and len(self.pairs):
                out[metric] = pair_gap(self.pairs, [real], [[x] for x in nulls])
            elif metric == "accuracy":
                cs = [self._correct(x) for x in (real, *nulls)]
                if all(c is not None for c in cs):
                    out[metric] = items_gap(cs[0], cs[1:])  # type: ignore[arg-type]
        if condition != "none" or not both:
            return out
        if "explanation" in self.conditions:
            for base in ("none", "control"):
                if base not in self.conditions:
                    continue
                two = [self.scores(base), self.scores("explanation")]
                two_null = [
                    [self.scores(base, null=k), self.scores("explanation", null=k)]
                    for k in range(K)
                ]
                out[f"lift_auc:explanation-{base}"] = auc_gap(self.labels, two, two_null)
                if len(self.pairs):
                    out[f"lift_pair_accuracy:explanation-{base}"] = pair_gap(
                        self.pairs, two, two_null
                    )
        for c in self.conditions[1:]:
            r = self.logprob[c] - self.logprob["none"]
            rn = [n[c] - n["none"] for n in self.null_logprob]
            out[f"differential:{c}"] = differential_gap(self.labels, r, rn)
        return out

    def _pair_lift(self, a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
        """Pair accuracy under scores ``b`` minus under ``a`` on the same pairs, paired BCa CI."""
        p = self.pairs

        def pa(ga: np.ndarray, ba: np.ndarray, gb: np.ndarray, bb: np.ndarray) -> float:
            return _stats.pair_accuracy(gb, bb) - _stats.pair_accuracy(ga, ba)

        arrays = (a[p[:, 0]], a[p[:, 1]], b[p[:, 0]], b[p[:, 1]])
        lo, hi = _stats.paired_bootstrap_ci(pa, *arrays, n_boot=self.n_boot, seed=self.seed)
        return pa(*arrays), lo, hi

    def pair_accuracy_by_edit(self, condition: str = "none") -> dict[str, float]:
        """Pair accuracy per edit kind ("insert", "delete", "substitute", "swap"), for the
        kinds present: random models prefer some edits (a swap that breaks a run of one
        symbol) whatever the grammar."""
        if not len(self.pairs) or len(self.pair_edits) != len(self.pairs):
            return {}
        edits = np.array(self.pair_edits)
        x = self.scores(condition)
        return {
            k: self._pair_acc(x, self.pairs[edits == k]) for k in EDIT_KINDS if (edits == k).any()
        }

    @property
    def differential(self) -> dict[str, Differential]:
        """Knowledge vs priming, per prefix condition: the prefix's mean reduction on members
        minus that on non-members, ``mean(r | member) - mean(r | non-member)`` with
        ``r = log p(s | prefix) - log p(s)`` (nats), a BCa CI and a two-sided permutation p."""
        out: dict[str, Differential] = {}
        if self.labels.min(initial=1) == self.labels.max(initial=0):
            return out
        for c in self.conditions[1:]:
            if ("differential", c) not in self._cache:
                r = self.logprob[c] - self.logprob["none"]
                self._cache["differential", c] = differential(
                    r[self.labels == 1], r[self.labels == 0], n_boot=self.n_boot, seed=self.seed
                )
            out[c] = self._cache["differential", c]
        return out

    def auc_of(self, kind: ScoreKind = "logprob") -> dict[str, float]:
        """ROC-AUC per condition for a score kind."""
        return {c: self._auc(self.scores(c, kind)) for c in self.conditions}

    @property
    def auc(self) -> dict[str, float]:
        """ROC-AUC of the total log-probability, per condition (chance: :attr:`chance`)."""
        return self.auc_of("logprob")

    @property
    def pair_accuracy(self) -> dict[str, float]:
        """Fraction of minimal pairs where the member scores higher, per condition."""
        return {c: self._pair_acc(self.scores(c)) for c in self.conditions}

    @property
    def accuracy(self) -> dict[str, float]:
        """Test-split accuracy at the threshold chosen on the calibration split, per condition."""
        return {c: self._accuracy(self.scores(c)) for c in self.conditions}

    @property
    def lift(self) -> dict[str, dict[str, float]]:
        """AUC and pair-accuracy lifts of the explanation over "none" and over "control",
        each ``{"auc": .., "auc_ci_low": .., "auc_ci_high": .., "pair_accuracy": .., ...}``."""
        out: dict[str, dict[str, float]] = {}
        if "explanation" not in self.conditions:
            return out
        for base in ("none", "control"):
            if base not in self.conditions:
                continue
            a, b = self.scores(base), self.scores("explanation")
            lift, lo, hi = _stats.auc_lift_ci(a, b, self.labels, n_boot=self.n_boot, seed=self.seed)
            row = {"auc": lift, "auc_ci_low": lo, "auc_ci_high": hi}
            if len(self.pairs):
                pa, lo2, hi2 = self._pair_lift(a, b)
                row["pair_accuracy"] = pa
                row["pair_accuracy_ci_low"], row["pair_accuracy_ci_high"] = lo2, hi2
            out[f"explanation-{base}"] = row
        return out

    def by_length(self) -> Any:
        """AUC and pair accuracy per string length and condition (a pandas DataFrame)."""
        import pandas as pd

        rows = []
        good_len = self.lengths[self.pairs[:, 0]] if len(self.pairs) else np.zeros(0)
        for L in sorted(set(self.lengths.tolist())):
            sel = self.lengths == L
            psel = self.pairs[good_len == L] if len(self.pairs) else self.pairs
            for c in self.conditions:
                x = self.scores(c)
                rows.append(
                    {
                        "length": L,
                        "condition": c,
                        "n_members": int((self.labels[sel] == 1).sum()),
                        "n_nonmembers": int((self.labels[sel] == 0).sum()),
                        "auc": self._auc(x, sel),
                        "n_pairs": len(psel),
                        "pair_accuracy": self._pair_acc(x, psel),
                    }
                )
        return pd.DataFrame(rows)

    def table(self) -> Any:
        """One row per condition: AUC (log-prob, mean, SLOR), pair accuracy, accuracy, pair
        accuracy per edit kind (``pair_accuracy_<edit>``), each metric's chance level under
        the null model (``chance_<metric>``), the length-only AUC and majority accuracy, and
        the differential reduction (nats; NaN for "none")."""
        import pandas as pd

        chance = self.chance
        diff = self.differential
        rows = []
        for c in self.conditions:
            row: dict[str, Any] = {"condition": c}
            for metric in METRICS:
                row[metric] = self._metric(metric, c)
            for k, v in self.pair_accuracy_by_edit(c).items():
                row[f"pair_accuracy_{k}"] = v
            for metric in METRICS:
                if isinstance(chance.get(metric), dict) and c in chance[metric]:
                    row[f"chance_{metric}"] = chance[metric][c]
            row["length_only_auc"] = self.length_only_auc
            row["majority_accuracy"] = self.majority_accuracy
            d = diff.get(c)
            row["differential"] = float("nan") if d is None else d.estimate
            rows.append(row)
        return pd.DataFrame(rows)

    def chance_table(self) -> Any:
        """One row per (condition, metric), then one per lift and differential: the value,
        its chance level under the null models, metric − chance with its 95% interval and
        two-sided p (see :meth:`gaps`; a pandas DataFrame, empty with ``baseline=None``)."""
        import pandas as pd

        rows = []
        for c in self.conditions if self.null_logprob else ():
            for name, g in self.gaps(c).items():
                rows.append(
                    {
                        "condition": c,
                        "metric": name,
                        "value": g.value,
                        "chance": g.chance,
                        "above_chance": g.estimate,
                        "ci_low": g.low,
                        "ci_high": g.high,
                        "p": g.p,
                    }
                )
        cols = ["condition", "metric", "value", "chance", "above_chance", "ci_low", "ci_high"]
        return pd.DataFrame(rows, columns=[*cols, "p"])

    def to_pandas(self) -> Any:
        """Long format: one row per (string, condition) with label, kind, length, split,
        log-probability (nats), tokens, mean and SLOR."""
        import pandas as pd

        frames = []
        for c in self.conditions:
            frames.append(
                pd.DataFrame(
                    {
                        "text": list(self.texts),
                        "label": self.labels,
                        "kind": list(self.kinds),
                        "length": self.lengths,
                        "test": self.test,
                        "condition": c,
                        "logprob": self.logprob[c],
                        "n_tokens": self.n_tokens[c],
                        "mean": self.scores(c, "mean"),
                        "slor": self.scores(c, "slor"),
                    }
                )
            )
        return pd.concat(frames, ignore_index=True)

    def __str__(self) -> str:
        n1 = int(self.labels.sum())
        n0 = len(self.labels) - n1
        lines = [
            f"grammar {self.grammar}: {n1} members, {n0} non-members, "
            f"{len(self.pairs)} minimal pairs"
            + (
                " (random non-members matched to the members' token counts)"
                if self.length_matched
                else ""
            )
        ]
        if self.null_logprob:
            lines.append(
                f"  chance = the same metric under {self.baseline} on the same strings; "
                "+x [CI]: metric - chance, 95% CI over items and null draws"
            )
            lines.append(f"  ({baseline_note(self.baseline_kind)})")
        else:
            lines.append(
                "  no null model (baseline=None): chance levels of AUC and pairs unmeasured"
            )
        lines.append(
            f"  token count alone: AUC {_fmt(self.length_only_auc)}; majority class: accuracy "
            f"{_fmt(self.majority_accuracy)}"
        )
        names = {"auc": "AUC", "pair_accuracy": "pair accuracy", "accuracy": "accuracy"}
        for c in self.conditions:
            above_g = self.gaps(c)
            above = {k: g.triple() for k, g in above_g.items()}
            parts = []
            for metric, label in names.items():
                value = self._metric(metric, c)
                part = f"{label} {_fmt(value)}"
                if metric in above:
                    est, lo, hi = above[metric]
                    chance = above_g[metric].chance
                    part += f" (chance {_fmt(chance)}; {est:+.3f} {ci(lo, hi)})"
                parts.append(part)
            lines.append(f"  {c:<12} " + "   ".join(parts))
            by_edit = self.pair_accuracy_by_edit(c)
            if by_edit:
                lines.append(
                    "  "
                    + " " * 13
                    + "pairs by edit: "
                    + ", ".join(f"{e} {a:.3f}" for e, a in by_edit.items())
                )
        for k, v in self.lift.items():
            s = f"  lift {k}: AUC {v['auc']:+.3f} {ci(v['auc_ci_low'], v['auc_ci_high'])}"
            if "pair_accuracy" in v:
                s += (
                    f", pair accuracy {v['pair_accuracy']:+.3f} "
                    f"{ci(v['pair_accuracy_ci_low'], v['pair_accuracy_ci_high'])}"
                )
            for name in ("auc", "pair_accuracy"):
                g = self.gaps().get(f"lift_{name}:{k}")
                if g is not None:
                    s += (
                        f"; {name.replace('_', ' ')} lift above chance ({g.chance:+.3f}) "
                        f"{g.estimate:+.3f} [{g.low:+.3f}, {g.high:+.3f}]"
                    )
            lines.append(s)
        diffs = self.differential
        if diffs:
            adjusted = with_holm(list(diffs.values()))
            for c, d in zip(diffs, adjusted, strict=True):
                lines.append(f"  differential reduction {c} (members - non-members): {d}")
                g = self.gaps().get(f"differential:{c}")
                if g is not None:
                    lines.append(
                        f"    under the null models {g.chance:+.3f} nats; above them "
                        f"{g.estimate:+.3f} [{g.low:+.3f}, {g.high:+.3f}], p {g.p:.3g}"
                    )
            lines.append(
                "  (knowledge vs priming: > 0 when the prefix helps members more than "
                f"non-members; p-values two-sided, Holm-adjusted across the {len(diffs)} above)"
            )
        if min(n1, n0) < _stats.SMALL_N:
            lines.append(
                f"  warning: only {min(n1, n0)} strings in the smaller class (< {_stats.SMALL_N}): "
                "intervals are wide and approximate"
            )
        return "\n".join(lines)

    def to_html(self, path: str | Path | None = None) -> str:
        """A self-contained HTML report (inline SVG, no scripts): the strings per cell and the
        prefix texts, the metrics table and lifts, ROC curves, member vs non-member score
        distributions and AUC by length (see :mod:`surprisal.grammar.reports`); written to
        ``path`` when given."""

        return membership_html(self, path)

    def __repr__(self) -> str:
        n1 = int(self.labels.sum())
        auc = ", ".join(f"{c} {self.auc[c]:.3f}" for c in self.conditions)
        null = f", baseline={self.baseline!r}" if self.baseline else ""
        return (
            f"Membership({self.grammar!r}, {n1} members + {len(self.labels) - n1} non-members, "
            f"{len(self.pairs)} minimal pairs, AUC {auc}{null})"
        )

    def to_dict(self) -> dict[str, Any]:
        """The headline numbers as plain JSON-ready values: n per class, AUC, pair accuracy,
        held-out accuracy and lifts per condition, and the chance levels when measured."""
        n1 = int(self.labels.sum())
        out: dict[str, Any] = {
            "grammar": self.grammar,
            "conditions": list(self.conditions),
            "n_members": n1,
            "n_nonmembers": len(self.labels) - n1,
            "n_pairs": len(self.pairs),
            "auc": self.auc,
            "pair_accuracy": self.pair_accuracy,
            "accuracy": self.accuracy,
            "lift": self.lift,
            "length_only_auc": self.length_only_auc,
            "majority_accuracy": self.majority_accuracy,
            "versions": dict(self.versions),
        }
        if self.null_logprob:
            out["chance"] = self.chance
            out["above_chance"] = {k: list(v) for k, v in self.above_chance.items()}
        return _jsonable(out)

    def to_json(self) -> str:
        """:meth:`to_dict` as a JSON string (NaN as null)."""
        import json

        return json.dumps(self.to_dict())

    def _repr_html_(self) -> str:

        secs = membership_sections(self)
        return notebook_html(
            f"<p>{_html.escape(repr(self))}</p>"
            + "".join(f"<h3>{_html.escape(h)}</h3>{b}" for h, b in secs)
        )


def _jsonable(x: Any) -> Any:
    """Numpy scalars and arrays to Python values, NaN to None, recursively."""
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and x != x:
        return None
    return x


def _fmt(v: float) -> str:
    return "n/a" if v != v else f"{v:.3f}"
