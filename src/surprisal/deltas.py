"""Explanation-induced surprise reduction: ``surprisal.delta`` and ``surprisal.rank_explanations``.

For targets ``t_i`` and an explanation ``e`` (all surprisals in nats):

* ``S(t)``      = surprisal of ``[boundary] + tokens(t)``: every token of t, from the boundary.
* ``S(t | e)``  = surprisal of the same tokens of t after ``[boundary] + tokens(e + separator)``.
* reduction     = ``S(t) - S(t | e)``; positive: the explanation made the target less surprising.
* explanation cost ``S(e)`` = surprisal of ``tokens(e + separator)`` after the boundary: exactly
  the prefix tokens the conditional condition reads.
* two-part gain = ``S(t) - [S(e) + S(t | e)]`` per target, and summed over targets with the
  explanation paid once: ``sum S(t_i) - [S(e) + sum S(t_i | e)]``. Positive: describing the
  targets through the explanation is a shorter code than describing them alone (MDL).

Each distinct explanation or control is run through the model once and its KV cache is
shared by every target (see :mod:`surprisal.engine`).

With ``divergence=True``, at every target position j (all in nats):

* divergence    = ``KL(p(. | e, t<j) || p(. | t<j))``: what the explanation tells the model
  about the next token, whichever token comes (0: the distribution did not move).
* entropy change = ``H(p(. | e, t<j)) - H(p(. | t<j))``; negative: the explanation made the
  model more certain.

The hidden states the head read in both conditions are kept (``run_jobs(keep_hidden=True)``)
and paired by target and position in one :func:`surprisal.head.fused_divergence` call.
"""

from __future__ import annotations

import html as _html
import json
import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from . import stats as _stats
from ._format import ci
from .conditions import Conditions, check_prefix_text
from .core import DEFAULT_SEPARATOR, RunOptions, check_finite, run
from .errors import SurprisalError
from .head import (
    CPU_CHUNK_BYTES,
    DEFAULT_CHUNK_BYTES,
    fused_divergence,
    fused_head,
    plain_divergence,
    plain_head,
)
from .lm import LM, resolve_model
from .results import Scores, TextScore, Unit, convert
from .tokenize import check_texts

__all__ = [
    "Delta",
    "DeltaSummary",
    "Differential",
    "Divergences",
    "Ranking",
    "delta",
    "differential",
    "rank_explanations",
]


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
    lo, hi = _stats.paired_bootstrap_ci(
        diff, vals, lab, n_boot=n_boot, level=level, seed=seed, strata=lab
    )

    def stat(a: np.ndarray, b: np.ndarray, axis: int) -> np.ndarray:
        return np.asarray(a.mean(axis=axis) - b.mean(axis=axis))

    res = sps.permutation_test(
        (x, y),
        stat,
        vectorized=True,
        n_resamples=n_perm,
        alternative="two-sided",
        **{_stats._scipy_rng_kw(): np.random.default_rng(seed)},
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


def with_holm_all(items: Sequence[Any]) -> list[Any]:
    """Holm-adjust the p-values of every non-None item (a :class:`~surprisal.stats.Summary`
    or a :class:`Differential`) printed together; each comes back with ``p_adjusted``."""
    present = [(i, x) for i, x in enumerate(items) if x is not None]
    adj = _stats.holm([x.p_value for _, x in present])
    out = list(items)
    for (i, x), a in zip(present, adj, strict=True):
        out[i] = replace(x, p_adjusted=float(a))
    return out


@dataclass(frozen=True)
class DeltaSummary:
    """Item-level statistics of a :class:`Delta`, in ``unit``.

    Attributes:
        reduction: mean/median/CI/p-value of ``S(t) - S(t|e)`` over targets (p: sign-flip
            test against 0).
        control: the same for the control text, or None.
        vs_control: the same for ``S(t|control) - S(t|e)`` (the explanation against the
            control, paired by target), or None.
        explanation_cost: ``S(e)``.
        two_part_gain_total: summed two-part-code gain, the explanation paid once.
        unit: "nats" or "bits".
        divergence: with ``divergence=True``, the same statistics of each target's summed
            ``KL(p(.|e) || p(.))`` over its positions (the p-value is against 0), or None.
        control_divergence: the same for the control, or None.
        differential: reduction on the targets minus reduction on the negatives (see
            :class:`Differential`), or None without ``negatives``.

    Every p-value is two-sided and carries its Holm adjustment across the p-values this
    summary prints (``p_adjusted``).
    """

    reduction: _stats.Summary
    control: _stats.Summary | None
    vs_control: _stats.Summary | None
    explanation_cost: float
    two_part_gain_total: float
    unit: str
    divergence: _stats.Summary | None = None
    control_divergence: _stats.Summary | None = None
    differential: Differential | None = None

    def __str__(self) -> str:
        lines = [f"reduction S(t) - S(t|e): {self.reduction}"]
        if self.control is not None and self.vs_control is not None:
            lines.append(f"control reduction S(t) - S(t|c): {self.control}")
            lines.append(f"explanation vs control S(t|c) - S(t|e): {self.vs_control}")
        if self.differential is not None:
            lines.append(f"differential (targets - negatives): {self.differential}")
        lines += [
            f"explanation cost S(e): {self.explanation_cost:.3f} {self.unit}",
            f"two-part gain (summed, explanation paid once): "
            f"{self.two_part_gain_total:.3f} {self.unit}",
        ]
        if self.divergence is not None:
            lines.append(f"divergence KL(p(.|e) || p(.)) summed per target: {self.divergence}")
        if self.control_divergence is not None:
            lines.append(
                f"control divergence KL(p(.|c) || p(.)) summed per target: "
                f"{self.control_divergence}"
            )
        k = sum(
            x is not None
            for x in (
                self.reduction,
                self.control,
                self.vs_control,
                self.divergence,
                self.control_divergence,
                self.differential,
            )
        )
        lines.append(
            f"p-values are two-sided (sign-flip test of the mean; permutation test for the "
            f"differential), Holm-adjusted across the {k} above"
        )
        if self.reduction.small_n:
            lines.append(
                f"warning: only {self.reduction.n} targets (< {_stats.SMALL_N}): intervals are "
                "wide and approximate"
            )
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """Plain numbers (nested dicts), for JSON."""
        return {
            "reduction": self.reduction.to_dict(),
            "control": None if self.control is None else self.control.to_dict(),
            "vs_control": None if self.vs_control is None else self.vs_control.to_dict(),
            "explanation_cost": self.explanation_cost,
            "two_part_gain_total": self.two_part_gain_total,
            "unit": self.unit,
            "divergence": None if self.divergence is None else self.divergence.to_dict(),
            "control_divergence": (
                None if self.control_divergence is None else self.control_divergence.to_dict()
            ),
            "differential": None if self.differential is None else self.differential.to_dict(),
        }

    def to_json(self) -> str:
        """:meth:`to_dict` as a JSON string (NaN written as null)."""
        return json.dumps(_nan_to_none(self.to_dict()))

    def _repr_html_(self) -> str:
        from .viz import notebook_html

        return notebook_html(_summary_table(self))


@dataclass(frozen=True)
class Divergences:
    """How the explanation (and the control) moved the whole next-token distribution, per
    target position: one float32 array per target, aligned with ``Delta.per_token(i)``,
    nats, NaN where the target's token is not scored without the explanation (no boundary
    token before its first token).

    Attributes:
        kl: ``KL(p(. | e, t<j) || p(. | t<j))`` per position.
        entropy_base: ``H(p(. | t<j))``, the entropy without the explanation.
        entropy_conditioned: ``H(p(. | e, t<j))``.
        control_kl: ``KL(p(. | c, t<j) || p(. | t<j))``, or None without a control.
        entropy_controlled: ``H(p(. | c, t<j))``, or None.
    """

    kl: tuple[np.ndarray, ...]
    entropy_base: tuple[np.ndarray, ...]
    entropy_conditioned: tuple[np.ndarray, ...]
    control_kl: tuple[np.ndarray, ...] | None = None
    entropy_controlled: tuple[np.ndarray, ...] | None = None


@dataclass(frozen=True)
class Delta:
    """Targets scored without and with an explanation (and a control).

    Attributes:
        targets: the targets, in the caller's order.
        explanation, control: the prefix texts (control may be None).
        separator: what joins a prefix and a target.
        base: :class:`Scores` of the targets alone.
        conditioned: :class:`Scores` of the targets after the explanation.
        controlled: :class:`Scores` after the control, or None.
        explanation_scores: the explanation's own tokens (``explanation + separator``),
            scored after the boundary token: its cost.
        control_scores: the same for the control, or None.
        negatives: texts that should *not* benefit (non-members of the rule the explanation
            states), empty unless given.
        negative_base, negative_conditioned: their :class:`Scores` alone and after the
            explanation, or None.
        divergences: per-position KL and entropies (``delta(..., divergence=True)``), or None;
            read them through ``divergence``, ``entropy_change`` and friends.

    >>> import surprisal
    >>> from surprisal.testing import tiny_lm
    >>> d = surprisal.delta(["ab ab", "abba"], explanation="Repeat ab.", model=tiny_lm("gpt2"))
    >>> d.reduction.shape, d.per_token(0).shape == d.base[0].logprobs.shape
    ((2,), True)
    """

    targets: tuple[str, ...]
    explanation: str
    control: str | None
    separator: str
    base: Scores
    conditioned: Scores
    controlled: Scores | None
    explanation_scores: TextScore
    control_scores: TextScore | None
    negatives: tuple[str, ...] = ()
    negative_base: Scores | None = None
    negative_conditioned: Scores | None = None
    divergences: Divergences | None = None

    def __len__(self) -> int:
        return len(self.targets)

    @property
    def reduction(self) -> np.ndarray:
        """(n,) ``S(t) - S(t | e)`` per target, nats; positive = the explanation helped.

        Like is compared with like: both sums run over the target tokens scored in both
        conditions. Without a boundary token a target's first token cannot be scored alone
        (NaN) but can after the explanation; it is left out of both sides
        (:attr:`unpaired_tokens` counts such tokens).
        """
        return _paired_difference(self.base, self.conditioned)

    @property
    def negative_reduction(self) -> np.ndarray | None:
        """(m,) ``S(n) - S(n | e)`` per negative, nats, or None without ``negatives``."""
        if self.negative_base is None or self.negative_conditioned is None:
            return None
        return _paired_difference(self.negative_base, self.negative_conditioned)

    @property
    def differential(self) -> Differential | None:
        """Mean reduction on the targets minus mean reduction on the negatives (nats), with a
        BCa CI and a two-sided permutation p (seed 0, 2000 resamples), or None without
        ``negatives``. Positive: the explanation helps what it describes more than what it
        does not, so it taught more than the format (see ``docs/concepts.md``)."""
        neg = self.negative_reduction
        return None if neg is None else differential(self.reduction, neg)

    @property
    def unpaired_tokens(self) -> np.ndarray:
        """(n,) target tokens scored in one condition only, left out of every reduction."""
        out = np.zeros(len(self), dtype=np.int64)
        for other in (self.conditioned, self.controlled):
            if other is not None:
                for i, (a, b) in enumerate(zip(self.base, other, strict=True)):
                    out[i] = max(out[i], int((np.isnan(a.logprobs) ^ np.isnan(b.logprobs)).sum()))
        return out

    @property
    def control_reduction(self) -> np.ndarray | None:
        """(n,) ``S(t) - S(t | control)`` per target, nats, or None without a control."""
        if self.controlled is None:
            return None
        return _paired_difference(self.base, self.controlled)

    @property
    def reduction_vs_control(self) -> np.ndarray | None:
        """(n,) ``S(t | control) - S(t | e)``: how much more the explanation helps than the
        control, nats, or None without a control."""
        if self.controlled is None:
            return None
        return _paired_difference(self.controlled, self.conditioned)

    def per_token(self, i: int, unit: Unit = "nats") -> np.ndarray:
        """(n_i,) per-token reduction of target i, ``logp(tok | e, ...) - logp(tok | ...)``.

        The target's tokens are the same in both conditions, so the arrays line up with
        ``base[i].tokens`` and ``base[i].spans``.
        """
        a = self.conditioned[i].logprobs.astype(np.float64)
        b = self.base[i].logprobs.astype(np.float64)
        return convert(a - b, unit)  # type: ignore[no-any-return]

    def _div(self) -> Divergences:
        if self.divergences is None:
            raise SurprisalError(
                "this Delta has no divergences; compute them with "
                "surprisal.delta(..., divergence=True)"
            )
        return self.divergences

    @property
    def divergence(self) -> tuple[np.ndarray, ...]:
        """Per target, (n_i,) ``KL(p(. | e, t<j) || p(. | t<j))`` at each token, float32 nats,
        aligned with ``per_token(i)``; NaN where the token is unscored without ``e``."""
        return self._div().kl

    @property
    def divergence_total(self) -> np.ndarray:
        """(n,) each target's divergence summed over its scored positions, nats."""
        return np.array([np.nansum(k.astype(np.float64)) for k in self._div().kl])

    @property
    def entropy_change(self) -> tuple[np.ndarray, ...]:
        """Per target, (n_i,) ``H(p(. | e, t<j)) - H(p(. | t<j))``, float32 nats; negative:
        the explanation made the model more certain of the next token."""
        d = self._div()
        return tuple(c - b for c, b in zip(d.entropy_conditioned, d.entropy_base, strict=True))

    @property
    def control_divergence(self) -> tuple[np.ndarray, ...] | None:
        """As :attr:`divergence`, for the control; None without a control."""
        return self._div().control_kl

    @property
    def control_divergence_total(self) -> np.ndarray | None:
        """As :attr:`divergence_total`, for the control; None without a control."""
        ck = self._div().control_kl
        return None if ck is None else np.array([np.nansum(k.astype(np.float64)) for k in ck])

    @property
    def control_entropy_change(self) -> tuple[np.ndarray, ...] | None:
        """As :attr:`entropy_change`, for the control; None without a control."""
        d = self._div()
        if d.entropy_controlled is None:
            return None
        return tuple(c - b for c, b in zip(d.entropy_controlled, d.entropy_base, strict=True))

    @property
    def explanation_cost(self) -> float:
        """``S(e)``: surprisal of the explanation's tokens (separator included), nats."""
        return self.explanation_scores.total()

    @property
    def control_cost(self) -> float | None:
        """``S(control)``, nats, or None."""
        return None if self.control_scores is None else self.control_scores.total()

    @property
    def two_part_gain(self) -> np.ndarray:
        """(n,) ``S(t) - [S(e) + S(t | e)]`` per target, as if the explanation served it alone."""
        return self.reduction - self.explanation_cost

    @property
    def two_part_gain_total(self) -> float:
        """``sum S(t_i) - [S(e) + sum S(t_i | e)]``: the explanation paid once for all targets."""
        return float(self.reduction.sum() - self.explanation_cost)

    def summary(
        self,
        *,
        unit: Unit = "nats",
        n_boot: int = 10_000,
        level: float = 0.95,
        seed: int = 0,
        items: Sequence[int] | None = None,
    ) -> DeltaSummary:
        """Mean and median reduction with a seeded bootstrap CI and a sign-flip p-value, for
        the explanation, the control and the explanation against the control, and the
        differential when there are negatives. The p-values are two-sided and Holm-adjusted
        across the ones the summary holds. ``items``: summarise only these targets (indices;
        the two-part gain then sums over them), e.g. a held-out half."""
        idx = np.arange(len(self)) if items is None else np.asarray(items, dtype=np.int64)
        if idx.size == 0:
            raise SurprisalError("items is empty; give at least one target index")

        def summ(x: np.ndarray) -> _stats.Summary:
            return _stats.summarize(
                convert(x[idx], unit), seed=seed, n_boot=n_boot, level=level, unit=unit
            )

        ctrl = self.control_reduction
        vs = self.reduction_vs_control
        neg = self.negative_reduction
        diff = None
        if neg is not None:
            diff = differential(
                convert(self.reduction[idx], unit),
                convert(neg, unit),
                n_boot=n_boot,
                level=level,
                seed=seed,
                unit=unit,
            )
        has_div = self.divergences is not None
        cdiv = self.control_divergence_total if has_div else None
        red, c, v, dv, cdv, diff = with_holm_all(
            [
                summ(self.reduction),
                None if ctrl is None else summ(ctrl),
                None if vs is None else summ(vs),
                summ(self.divergence_total) if has_div else None,
                None if cdiv is None else summ(cdiv),
                diff,
            ]
        )
        gain = float(self.reduction[idx].sum() - self.explanation_cost)
        return DeltaSummary(
            reduction=red,
            control=c,
            vs_control=v,
            explanation_cost=float(convert(self.explanation_cost, unit)),
            two_part_gain_total=float(convert(gain, unit)),
            unit=unit,
            divergence=dv,
            control_divergence=cdv,
            differential=diff,
        )

    def to_pandas(self, unit: Unit = "nats") -> Any:
        """One row per target: surprisal alone, with the explanation (and control), the
        reduction and the per-target two-part gain, in ``unit``."""
        import pandas as pd

        data: dict[str, Any] = {
            "target": list(self.targets),
            "n_tokens": [len(t) for t in self.base],
            **self._columns(unit),
        }
        df = pd.DataFrame(data)
        df.attrs.update(unit=unit, explanation_cost=convert(self.explanation_cost, unit))
        return df

    def _columns(self, unit: Unit) -> dict[str, np.ndarray]:
        """(n,) per-target numbers in ``unit``, the columns of :meth:`to_pandas` and
        :meth:`to_records`: totals, reductions, two-part gain, the control's and, with
        divergences, the summed KL and mean entropy change."""
        cols: dict[str, np.ndarray] = {
            "surprisal": convert(self.base.total(), unit),
            "surprisal_given_explanation": convert(self.conditioned.total(), unit),
            "reduction": convert(self.reduction, unit),
            "two_part_gain": convert(self.two_part_gain, unit),
        }
        if self.controlled is not None:
            cols["surprisal_given_control"] = convert(self.controlled.total(), unit)
            cols["control_reduction"] = convert(self.control_reduction, unit)
            cols["reduction_vs_control"] = convert(self.reduction_vs_control, unit)
        if self.divergences is not None:
            cols["divergence"] = convert(self.divergence_total, unit)
            cols["mean_entropy_change"] = convert(_nanmeans(self.entropy_change), unit)
            cd, ce = self.control_divergence_total, self.control_entropy_change
            if cd is not None and ce is not None:
                cols["control_divergence"] = convert(cd, unit)
                cols["control_mean_entropy_change"] = convert(_nanmeans(ce), unit)
        return cols

    def to_records(
        self, unit: Unit = "nats", *, ids: Sequence[object] | None = None
    ) -> list[dict[str, Any]]:
        """One plain dict per target (what ``surprisal delta`` writes as JSONL): id, text,
        unit, ``n_tokens``, ``surprisal``, ``surprisal_given_explanation``, ``reduction``,
        ``two_part_gain`` (and the control's numbers; with divergences, ``divergence`` and
        ``mean_entropy_change``), all in ``unit``; ``ids`` default to the positions as
        strings."""
        names = _ids(self, ids)
        cols = self._columns(unit)
        return [
            {
                "id": names[i],
                "text": t,
                "unit": unit,
                "n_tokens": len(self.base[i]),
                **{k: _num(v[i]) for k, v in cols.items()},
            }
            for i, t in enumerate(self.targets)
        ]

    def to_dict(
        self, unit: Unit = "nats", *, ids: Sequence[object] | None = None
    ) -> dict[str, Any]:
        """The texts, the costs, the :meth:`summary` and :meth:`to_records`, in ``unit``."""
        return _nan_to_none(
            {
                "model": self.base.model,
                "bos_policy": self.base.bos_policy,
                "unit": unit,
                "explanation": self.explanation,
                "control": self.control,
                "separator": self.separator,
                "explanation_cost": float(convert(self.explanation_cost, unit)),
                "control_cost": None
                if self.control_cost is None
                else float(convert(self.control_cost, unit)),
                "two_part_gain_total": float(convert(self.two_part_gain_total, unit)),
                "summary": self.summary(unit=unit).to_dict(),
                "records": self.to_records(unit, ids=ids),
            }
        )

    def to_json(
        self,
        path: str | Path | None = None,
        unit: Unit = "nats",
        *,
        ids: Sequence[object] | None = None,
    ) -> str:
        """:meth:`to_dict` as a JSON string; also written to ``path`` (UTF-8) when given."""
        doc = json.dumps(self.to_dict(unit, ids=ids), ensure_ascii=False)
        if path is not None:
            Path(path).write_text(doc, encoding="utf-8")
        return doc

    def __repr__(self) -> str:
        ctrl = "None" if self.control is None else repr(_short(self.control))
        return (
            f"Delta({len(self)} targets, explanation={_short(self.explanation)!r} "
            f"(cost {self.explanation_cost:.3f} nats), control={ctrl}, "
            f"mean reduction {float(np.mean(self.reduction)):.3f} nats, "
            f"two-part gain {self.two_part_gain_total:.3f} nats, model={self.base.model!r}, "
            f"bos_policy={self.base.bos_policy!r})"
        )

    def _repr_html_(self) -> str:
        from .viz import notebook_html

        secs = self._sections("nats", None, n_boot=2000, max_rows=NOTEBOOK_ROWS)
        return notebook_html(
            f"<p>{_html.escape(repr(self))}</p>"
            + "".join(f"<h3>{_html.escape(h)}</h3>{b}" for h, b in secs)
        )

    def to_html(
        self,
        path: str | Path | None = None,
        *,
        unit: Unit = "nats",
        labels: Sequence[object] | None = None,
        n_boot: int = 2000,
        seed: int = 0,
    ) -> str:
        """A self-contained HTML report (inline SVG, no scripts), every number in ``unit``:
        the explanation and control texts with their costs, the summary table, a histogram
        of per-target reductions with the mean and its CI, and each target's tokens coloured
        by their reduction (blue: the explanation helped, orange: it hurt). Targets are
        labelled by ``labels`` (e.g. record ids) or their first words. Written to ``path``
        when given."""
        from .viz import page, write_html

        title = f"Surprise reduction by an explanation \u2014 {self.base.model}"
        doc = page(
            title,
            self._sections(unit, labels, n_boot=n_boot, seed=seed),
            unit,
            subtitle=f"{len(self)} targets \u00b7 boundary policy {self.base.bos_policy}",
        )
        if path is not None:
            write_html(doc, path)
        return doc

    def _sections(
        self,
        unit: Unit,
        labels: Sequence[object] | None,
        *,
        n_boot: int,
        seed: int = 0,
        max_rows: int | None = None,
    ) -> list[tuple[str, str]]:
        """The report's ``(heading, html)`` sections, shared by the page and the notebook."""
        from .plots import histogram
        from .viz import heatmap

        s = self.summary(unit=unit, n_boot=n_boot, seed=seed)
        names = _labels(self.targets, labels)
        esc = _html.escape
        n_e = len(self.explanation_scores)
        texts = (
            f"<p>Explanation: S(e) = {s.explanation_cost:.3f} {unit} over {n_e} tokens "
            f"(separator {self.separator!r} included)</p>"
            f'<pre class="text">{esc(self.explanation)}</pre>'
        )
        if self.control is not None and self.control_scores is not None:
            cost = float(convert(self.control_scores.total(), unit))
            texts += (
                f"<p>Control: S(c) = {cost:.3f} {unit} over {len(self.control_scores)} tokens</p>"
                f'<pre class="text">{esc(self.control)}</pre>'
            )
        else:
            texts += '<p class="note">No control text: pass control= for a baseline.</p>'
        plots = [
            histogram(
                convert(self.reduction, unit),
                xlabel=f"reduction S(t) \u2212 S(t|e) ({unit})",
                mean=s.reduction.mean,
                ci=(s.reduction.ci_low, s.reduction.ci_high),
                level=s.reduction.level,
            )
        ]
        if s.vs_control is not None and self.reduction_vs_control is not None:
            plots.append(
                histogram(
                    convert(self.reduction_vs_control, unit),
                    xlabel=f"S(t|c) \u2212 S(t|e) ({unit})",
                    mean=s.vs_control.mean,
                    ci=(s.vs_control.ci_low, s.vs_control.ci_high),
                    level=s.vs_control.level,
                )
            )
        red = convert(self.reduction, unit)
        base = convert(self.base.total(), unit)
        cond = convert(self.conditioned.total(), unit)
        rows = [
            {
                "label": names[i],
                "pieces": self.base[i].pieces,
                "values": self.per_token(i, unit).tolist(),
                "extra": {
                    "reduction": f"{red[i]:+.3f} {unit}",
                    "S(t)": f"{base[i]:.3f}",
                    "S(t|e)": f"{cond[i]:.3f}",
                },
            }
            for i in range(len(self))
        ]
        heat = heatmap(
            rows,
            value_label="per-token reduction log p(tok | e, \u2026) \u2212 log p(tok | \u2026)",
            unit=unit,
            diverging=True,
            max_rows=max_rows,
        )
        secs = [
            ("Explanation and control", texts),
            ("Summary", _summary_table(s)),
            (
                "Per-target reductions",
                f'<div class="plots">{"".join(plots)}</div>'
                '<p class="note">Bars: targets. Line: the mean; band: its bootstrap CI; '
                "dashed: 0 (no effect). Right of 0: the explanation helped.</p>",
            ),
            ("Targets, token by token", heat),
        ]
        if self.divergences is not None:
            tot = convert(self.divergence_total, unit)
            kl_rows = [
                {
                    "label": names[i],
                    "pieces": self.base[i].pieces,
                    "values": convert(self.divergence[i].astype(np.float64), unit).tolist(),
                    "extra": {"divergence": f"{tot[i]:.3f} {unit}"},
                }
                for i in range(len(self))
            ]
            kl = heatmap(
                kl_rows,
                value_label="KL(p(. | e, t<j) || p(. | t<j)) at each position",
                unit=unit,
                max_rows=max_rows,
            )
            secs.append(("How far the explanation moved the next-token distribution", kl))
        return secs


def _candidate(x: object, what: str) -> str:
    check_prefix_text(what, x, required=True)
    assert isinstance(x, str)
    return x


def _paired_difference(a: Scores, b: Scores) -> np.ndarray:
    """(n,) ``S_a - S_b`` per text, summed over the tokens scored in both (nats)."""
    out = np.empty(len(a), dtype=np.float64)
    for i, (x, y) in enumerate(zip(a, b, strict=True)):
        lx, ly = x.logprobs.astype(np.float64), y.logprobs.astype(np.float64)
        both = ~(np.isnan(lx) | np.isnan(ly))
        out[i] = float(ly[both].sum() - lx[both].sum())
    return out


def _nanmeans(xs: Sequence[np.ndarray]) -> np.ndarray:
    """(n,) the mean of each array over its non-NaN entries (NaN when there are none)."""
    out = []
    for x in xs:
        ok = x[~np.isnan(x)].astype(np.float64)
        out.append(ok.mean() if ok.size else np.nan)
    return np.asarray(out, dtype=np.float64)


def _run(
    lm: LM,
    targets: list[str],
    prefixes: Sequence[str],
    opts: RunOptions,
    *,
    divergence: bool = False,
) -> tuple[Scores, list[Scores], list[TextScore], Divergences | None]:
    """One engine call: targets alone and after each prefix; each prefix's own cost comes
    from the same forward that builds its cache (the prefix is encoded once). With
    ``divergence``, the engine keeps the head's inputs instead of running the head, and one
    divergence head scores every condition and compares each prefix's next-token
    distributions with the targets' alone, position by position (the first two prefixes:
    explanation, then control)."""
    n = len(targets)
    texts = list(targets) * (1 + len(prefixes))
    contexts: list[str | None] = [None] * n + [p for p in prefixes for _ in range(n)]
    hidden: list[torch.Tensor | None] | None = [] if divergence else None
    s = run(lm, texts, contexts, opts, prefix_scores=True, hidden=hidden)
    assert s.prefix_scores is not None
    costs = [s.prefix_scores[p] for p in prefixes]
    groups = [s[j * n : (j + 1) * n] for j in range(1 + len(prefixes))]
    div = None
    if hidden is not None:
        hid = [hidden[j * n : (j + 1) * n] for j in range(1 + len(prefixes))]
        groups, div = _divergence_head(lm, opts, groups, hid)
    return groups[0], groups[1:], costs, div


def _first_targets(div: Divergences, n: int) -> Divergences:
    """The divergences of the first ``n`` texts (the targets, before any negatives)."""
    return Divergences(
        *(None if f is None else f[:n] for f in _fields_of(div))  # type: ignore[arg-type]
    )


def _fields_of(div: Divergences) -> tuple[Any, ...]:
    """The fields of ``div`` in order, without copying the arrays."""
    return (
        div.kl,
        div.entropy_base,
        div.entropy_conditioned,
        div.control_kl,
        div.entropy_controlled,
    )


def _divergence_head(
    lm: LM,
    opts: RunOptions,
    scores: Sequence[Scores],  # base, then each prefix's; log-probs are placeholders
    hidden: Sequence[Sequence[torch.Tensor | None]],  # the same, per text (n_i, H) or (n_i, V)
) -> tuple[list[Scores], Divergences]:
    """Score every condition and compare each prefix's next-token distributions with the
    base ones in one divergence-head call over the positions scored in every condition
    (the few others, a first token without a boundary, go through the plain scoring head)."""
    K, n = len(scores), len(scores[0])
    G = K - 1
    scored = [[~np.isnan(sc[i].logprobs) for i in range(n)] for sc in scores]
    joint = [np.logical_and.reduce([sc[i] for sc in scored]) for i in range(n)]
    ids = [torch.from_numpy(ts.token_ids) for ts in scores[0]]
    use_plain = opts.head == "plain" or (opts.head == "auto" and not lm.fused)
    chunk = CPU_CHUNK_BYTES if lm.device.type == "cpu" else DEFAULT_CHUNK_BYTES

    def rows(k: int, masks: Sequence[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor] | None:
        """Condition k's kept rows and target ids at ``masks``, all texts concatenated."""
        hs, ts = [], []
        for h, m, t in zip(hidden[k], masks, ids, strict=True):
            if h is not None and m.any():
                hs.append(h[torch.from_numpy(m).to(h.device)])
                ts.append(t[torch.from_numpy(m)])
        return (torch.cat(hs), torch.cat(ts)) if hs else None

    def scatter(values: np.ndarray, masks: Sequence[np.ndarray], into: list[np.ndarray]) -> None:
        at = 0
        for a, m in zip(into, masks, strict=True):
            c = int(m.sum())
            a[m] = values[at : at + c]
            at += c

    def nan_arrays() -> list[np.ndarray]:
        return [np.full(len(ts), np.nan, dtype=np.float32) for ts in scores[0]]

    lps = [nan_arrays() for _ in range(K)]
    stats = {k: [nan_arrays() for _ in range(g)] for k, g in (("kl", G), ("entropy", G))}
    ent_ref = nan_arrays()
    ref = rows(0, joint)
    if ref is not None:
        others = [rows(k, joint) for k in range(1, K)]
        stacked = torch.stack([o[0] for o in others if o is not None])  # (G, M, H|V)
        if use_plain:
            out = plain_divergence(ref[0], stacked, ref[1])
        else:
            out = fused_divergence(ref[0], stacked, ref[1], lm.head, chunk_bytes=chunk)
        host = {k: v.cpu().numpy() for k, v in out.items()}
        scatter(host["logprobs_ref"], joint, lps[0])
        scatter(host["entropy_ref"], joint, ent_ref)
        for g in range(G):
            scatter(host["logprobs"][g], joint, lps[g + 1])
            scatter(host["kl"][g], joint, stats["kl"][g])
            scatter(host["entropy"][g], joint, stats["entropy"][g])
    for k in range(K):  # tokens scored in this condition only
        left = [sc & ~j for sc, j in zip(scored[k], joint, strict=True)]
        got = rows(k, left)
        if got is not None:
            if use_plain:
                lp = plain_head(got[0], got[1].to(got[0].device))["logprobs"]
            else:
                lp = fused_head(got[0], got[1], lm.head, chunk_bytes=chunk)["logprobs"]
            scatter(lp.cpu().numpy(), left, lps[k])
    check_finite(
        [a[m] for lp, sc in zip(lps, scored, strict=True) for a, m in zip(lp, sc, strict=True)], lm
    )
    new = [
        replace(sc, items=tuple(replace(ts, logprobs=a) for ts, a in zip(sc, lp, strict=True)))
        for sc, lp in zip(scores, lps, strict=True)
    ]
    kl, ent = stats["kl"], stats["entropy"]
    return new, Divergences(
        kl=tuple(kl[0]),
        entropy_base=tuple(ent_ref),
        entropy_conditioned=tuple(ent[0]),
        control_kl=tuple(kl[1]) if G > 1 else None,
        entropy_controlled=tuple(ent[1]) if G > 1 else None,
    )


def delta(
    targets: str | Sequence[str],
    *,
    explanation: str,
    model: LM | str | Any,
    control: str | None = None,
    negatives: str | Sequence[str] | None = None,
    separator: str = DEFAULT_SEPARATOR,
    add_bos: bool | None = None,
    max_length: int | None = None,
    stride: int | None = None,
    truncate_context: Literal["error", "left"] = "error",
    batch_tokens: int | None = None,
    padding_side: Literal["right", "left"] = "right",
    pack: bool | None = None,
    head: Literal["auto", "fused", "plain"] = "auto",
    progress: bool | None = None,
    divergence: bool = False,
    device: str | torch.device | None = None,
    dtype: str | torch.dtype | None = None,
) -> Delta:
    """Score targets without and with an explanation (and a control) in one pass.

    Args:
        targets: a string or list of strings; each is tokenized on its own.
        explanation: the text read before each target.
        model: an LM, a name/path, or a ``(model, tokenizer)`` pair.
        control: an unrelated text of similar length, for a baseline of "any prefix".
        negatives: texts the explanation should *not* help (non-members of the rule it
            states), scored the same way in the same pass; ``Delta.differential`` is then
            the reduction on the targets minus that on the negatives: knowledge vs priming.
        separator: between prefix and target (default ``"\\n"``); counted in ``S(e)``.
        truncate_context: ``"error"`` when the explanation does not fit the model's context
            (the message says how long it is and the limit), or ``"left"`` to keep its end.
        divergence: also compare the whole next-token distributions at every target
            position: ``KL(p(. | e, t<j) || p(. | t<j))`` and the entropies with and without
            the explanation (and the control), read as ``d.divergence[i]``,
            ``d.divergence_total``, ``d.entropy_change[i]``. Keeps each condition's hidden
            states of the target positions until one extra head pass compares them.
        add_bos: as in :func:`surprisal.score`; so are ``max_length``, ``stride``,
            ``batch_tokens``, ``padding_side``, ``pack``, ``head``, ``progress``,
            ``device`` and ``dtype``.

    Returns:
        :class:`Delta`; ``reduction`` and friends are in nats.
    """
    if not isinstance(divergence, bool):
        raise TypeError(f"divergence must be True or False, got {type(divergence).__name__}")
    items = check_texts(targets, "targets")
    if not items:
        raise SurprisalError("targets is empty; give at least one target text")
    check_prefix_text("explanation", explanation, required=True)
    conditions = Conditions(explanation=explanation, control=control, separator=separator)
    prefixes = [p for p in conditions.prefixes().values() if p is not None]
    negs = [] if negatives is None else check_texts(negatives, "negatives")
    if negatives is not None and not negs:
        raise SurprisalError("negatives is empty; give at least one text, or None")
    opts = replace(RunOptions.of(locals()), separator="")  # the prefixes hold the separator
    lm = resolve_model(model, device=device, dtype=dtype)
    n = len(items)
    base, conds, costs, div = _run(lm, items + negs, prefixes, opts, divergence=divergence)
    return Delta(
        targets=tuple(items),
        explanation=explanation,
        control=control,
        separator=separator,
        base=base[:n],
        conditioned=conds[0][:n],
        controlled=conds[1][:n] if control is not None else None,
        explanation_scores=costs[0],
        control_scores=costs[1] if control is not None else None,
        negatives=tuple(negs),
        negative_base=base[n:] if negs else None,
        negative_conditioned=conds[0][n:] if negs else None,
        divergences=None if div is None else _first_targets(div, n),
    )


@dataclass(frozen=True)
class Ranking:
    """Candidate explanations ranked by mean reduction, best first, without selection bias.

    Picking the best of several candidates and reporting its reduction on the same targets
    overstates it (the winner's luck is counted as its effect). So by default the targets
    are split, seeded, into a *selection* half that orders the candidates and a *report*
    half that every figure in ``summaries`` comes from.

    Attributes:
        deltas: one :class:`Delta` per candidate, best first (controls shared), over all
            targets.
        order: candidate indices (into the caller's list), best first.
        summaries: :class:`DeltaSummary` per ranked candidate, on the report targets.
        selection: how the order and the figures were obtained, in words.
        select_items, report_items: target indices used to rank and to report (the same
            targets when there are too few to split or ``held_out=False``).
    """

    deltas: tuple[Delta, ...]
    order: tuple[int, ...]
    summaries: tuple[DeltaSummary, ...]
    selection: str = "ranked and reported on the same targets"
    select_items: tuple[int, ...] = ()
    report_items: tuple[int, ...] = ()

    @property
    def best(self) -> Delta:
        """The :class:`Delta` of the best-ranked candidate."""
        return self.deltas[0]

    def to_pandas(self, unit: Unit = "nats") -> Any:
        """One row per candidate, best first: mean reduction, CI, p-value, cost, two-part gain."""
        import pandas as pd

        rows = []
        for rank, (i, d, s) in enumerate(zip(self.order, self.deltas, self.summaries, strict=True)):
            row = {
                "rank": rank + 1,
                "candidate": i,
                "explanation": d.explanation,
                "mean_reduction": s.reduction.mean,
                "ci_low": s.reduction.ci_low,
                "ci_high": s.reduction.ci_high,
                "p_value": s.reduction.p_value,
                "explanation_cost": s.explanation_cost,
                "two_part_gain_total": s.two_part_gain_total,
            }
            if s.vs_control is not None:
                row["mean_vs_control"] = s.vs_control.mean
                row["p_vs_control"] = s.vs_control.p_value
            row["n_report"] = s.reduction.n
            row["selection"] = self.selection
            rows.append(row)
        df = pd.DataFrame(rows)
        df.attrs.update(unit=unit, selection=self.selection)
        return df

    def __str__(self) -> str:
        out = [self.selection]
        for rank, (i, d, s) in enumerate(zip(self.order, self.deltas, self.summaries, strict=True)):
            out.append(f"#{rank + 1} candidate {i}: {d.explanation[:60]!r}\n  {s.reduction}")
        return "\n".join(out)

    def __repr__(self) -> str:
        s = self.summaries[0]
        return (
            f"Ranking({len(self.deltas)} candidates, best: candidate {self.order[0]} "
            f"{_short(self.best.explanation)!r}, mean reduction {s.reduction.mean:.3f} nats "
            f"[{s.reduction.level:.0%} CI {s.reduction.ci_low:.3f}, {s.reduction.ci_high:.3f}])"
        )

    def to_dict(self) -> dict[str, Any]:
        """Candidates best first, each with its text and :class:`DeltaSummary` (nats)."""
        return _nan_to_none(
            {
                "unit": "nats",
                "selection": self.selection,
                "candidates": [
                    {"rank": r + 1, "candidate": i, "explanation": d.explanation, **s.to_dict()}
                    for r, (i, d, s) in enumerate(
                        zip(self.order, self.deltas, self.summaries, strict=True)
                    )
                ],
            }
        )

    def to_json(self) -> str:
        """:meth:`to_dict` as a JSON string."""
        return json.dumps(self.to_dict(), ensure_ascii=False)

    def _repr_html_(self) -> str:
        from .viz import notebook_html

        head = "".join(
            f"<th>{h}</th>"
            for h in ("rank", "candidate", "explanation", "mean reduction", "CI", "p", "cost")
        )
        rows = "".join(
            f"<tr><td>{r + 1}</td><td>{i}</td><td>{_html.escape(_short(d.explanation, 60))}</td>"
            f"<td>{s.reduction.mean:+.3f}</td>"
            f"<td>{ci(s.reduction.ci_low, s.reduction.ci_high, n=s.reduction.n)}</td>"
            f"<td>{s.reduction.p_value:.3g}</td>"
            f"<td>{s.explanation_cost:.3f}</td></tr>"
            for r, (i, d, s) in enumerate(zip(self.order, self.deltas, self.summaries, strict=True))
        )
        return notebook_html(
            f'<table class="nums"><tr>{head}</tr>{rows}</table>'
            '<p class="note">All values in nats; p: sign-flip test, two-sided.</p>'
        )


def rank_explanations(
    targets: str | Sequence[str],
    *,
    candidates: Sequence[str],
    model: LM | str | Any,
    control: str | None = None,
    separator: str = DEFAULT_SEPARATOR,
    by: Literal["reduction", "two_part_gain"] = "reduction",
    held_out: bool = True,
    seed: int = 0,
    n_boot: int = 10_000,
    add_bos: bool | None = None,
    max_length: int | None = None,
    stride: int | None = None,
    truncate_context: Literal["error", "left"] = "error",
    batch_tokens: int | None = None,
    padding_side: Literal["right", "left"] = "right",
    pack: bool | None = None,
    head: Literal["auto", "fused", "plain"] = "auto",
    progress: bool | None = None,
    device: str | torch.device | None = None,
    dtype: str | torch.dtype | None = None,
) -> Ranking:
    """Rank candidate explanations by how much they reduce the targets' surprisal.

    All candidates (and the control) are scored in one engine call; each prefix's cache is
    built once. ``by="two_part_gain"`` ranks by the summed two-part-code gain instead,
    which charges each candidate its own length. The run options (``add_bos`` ...
    ``dtype``) are those of :func:`surprisal.score`.

    ``held_out=True`` (default): the targets are shuffled with ``seed`` and split in two;
    the candidates are ranked on the first half and every reported figure (mean, CI, p,
    two-part gain) comes from the other half, so the winner's figures carry no selection
    bias. With fewer than 2 targets, or ``held_out=False``, both use all targets and
    ``Ranking.selection`` says the figures are biased upward for the winner.
    """
    items = check_texts(targets, "targets")
    if not items:
        raise SurprisalError("targets is empty; give at least one target text")
    cands = [
        _candidate(c, f"candidates[{i}]")
        for i, c in enumerate(check_texts(candidates, "candidates"))
    ]
    if not cands:
        raise SurprisalError("candidates is empty; give at least one explanation")
    if by not in ("reduction", "two_part_gain"):
        raise SurprisalError(f"by must be 'reduction' or 'two_part_gain', got {by!r}")
    opts = RunOptions.of(locals())
    lm = resolve_model(model, device=device, dtype=dtype)
    check_prefix_text("control", control)
    prefixes = list(dict.fromkeys(cands + ([control] if control else [])))
    base, conds, costs, _ = _run(lm, items, prefixes, opts)
    where = {p: j for j, p in enumerate(prefixes)}
    cj = where[control] if control else None
    deltas = [
        Delta(
            targets=tuple(items),
            explanation=c,
            control=control,
            separator=separator,
            base=base,
            conditioned=conds[where[c]],
            controlled=None if cj is None else conds[cj],
            explanation_scores=costs[where[c]],
            control_scores=None if cj is None else costs[cj],
        )
        for c in cands
    ]
    sel, rep, selection = _split_targets(len(items), held_out=held_out, seed=seed)
    key = [
        float(d.reduction[sel].mean())
        if by == "reduction"
        else float(d.reduction[sel].sum() - d.explanation_cost)
        for d in deltas
    ]
    order = sorted(range(len(cands)), key=lambda i: (-key[i], i))
    return Ranking(
        deltas=tuple(deltas[i] for i in order),
        order=tuple(order),
        summaries=tuple(deltas[i].summary(seed=seed, n_boot=n_boot, items=rep) for i in order),
        selection=selection,
        select_items=tuple(sel),
        report_items=tuple(rep),
    )


def _split_targets(n: int, *, held_out: bool, seed: int) -> tuple[list[int], list[int], str]:
    """(selection indices, report indices, a sentence saying which): a seeded half split."""
    every = list(range(n))
    if not held_out or n < 2:
        why = "held_out=False" if not held_out else f"{n} target: too few to split"
        return (
            every,
            every,
            (
                f"ranked and reported on the same {n} targets ({why}): the winner's figures are "
                "biased upward"
            ),
        )
    perm = every[:]
    random.Random(seed).shuffle(perm)
    sel, rep = sorted(perm[: n // 2]), sorted(perm[n // 2 :])
    return (
        sel,
        rep,
        (
            f"held out: ranked on {len(sel)} of {n} targets, figures from the other {len(rep)} "
            f"(seeded split, seed {seed})"
        ),
    )


NOTEBOOK_ROWS = 20  # targets drawn by Delta._repr_html_: a notebook cell stays readable


def _short(text: str, n: int = 40) -> str:
    return text if len(text) <= n else text[: n - 1] + "\u2026"


def _num(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


def _nan_to_none(x: Any) -> Any:
    """NaN floats to None, recursively (JSON has no NaN)."""
    if isinstance(x, float):
        return x if np.isfinite(x) else None
    if isinstance(x, dict):
        return {k: _nan_to_none(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_nan_to_none(v) for v in x]
    return x


def _ids(d: Delta, ids: Sequence[object] | None) -> list[str]:
    if ids is None:
        return [str(i) for i in range(len(d))]
    if len(ids) != len(d):
        raise SurprisalError(
            f"ids has {len(ids)} entries for {len(d)} targets; give one per target"
        )
    return [str(i) for i in ids]


def _labels(targets: Sequence[str], labels: Sequence[object] | None) -> list[str]:
    """A row label per target: the caller's label (an id), else ``#k`` and its first words."""
    if labels is not None:
        if len(labels) != len(targets):
            raise SurprisalError(
                f"labels has {len(labels)} entries for {len(targets)} targets; give one per target"
            )
        return [str(x) for x in labels]
    return [f"#{i + 1} {_short(' '.join(t.split()[:6]), 40)}" for i, t in enumerate(targets)]


def _summary_table(s: DeltaSummary) -> str:
    """The summary's numbers as one table (``s.unit``)."""
    rows = [("explanation: S(t) \u2212 S(t|e)", s.reduction)]
    if s.control is not None:
        rows.append(("control: S(t) \u2212 S(t|c)", s.control))
    if s.vs_control is not None:
        rows.append(("explanation vs control: S(t|c) \u2212 S(t|e)", s.vs_control))
    lvl = f"{s.reduction.level:.0%} CI"
    head = "".join(f"<th>{h}</th>" for h in ("reduction", "mean", lvl, "median", "p", "n"))
    body = "".join(
        f"<tr><td>{_html.escape(name)}</td><td>{x.mean:+.3f}</td>"
        f"<td>{ci(x.ci_low, x.ci_high, n=x.n)}</td><td>{x.median:+.3f}</td>"
        f"<td>{x.p_value:.3g}</td><td>{x.n}</td></tr>"
        for name, x in rows
    )
    return (
        f'<table class="nums"><tr>{head}</tr>{body}</table>'
        f"<p>Explanation cost S(e) = {s.explanation_cost:.3f} {s.unit}; two-part gain "
        f"(summed, explanation paid once) = {s.two_part_gain_total:+.3f} {s.unit}.</p>"
        '<p class="note">Positive reduction: the text made the targets less surprising. '
        "CI: percentile bootstrap of the mean over targets; p: sign-flip test against 0, "
        "two-sided.</p>"
    )
