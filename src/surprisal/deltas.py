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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from . import stats as _stats
from .conditions import Conditions, check_prefix_text
from .controls import check_controls, control_prefixes
from .core import run
from .delta_summary import DeltaSummary
from .divergence import Divergences, divergence_head, first_targets
from .errors import SurprisalError
from .fields import Unit, convert
from .flags import DEFAULT_SEPARATOR
from .formatting import nan_to_none, num, short
from .lm import LM, resolve_model
from .options import RunOptions
from .report.delta import delta_sections
from .report.page import notebook_html, page, write_html
from .results import Scores, TextScore
from .stats.crossed import NullComparison, above_null
from .stats.differentials import Differential, differential
from .stats.summary import with_holm
from .tokenize import check_texts


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
        controls: the control prefixes of the explanation-level null (``controls=K``), or ().
        controls_conditioned: :class:`Scores` of the targets after each control.
        controls_scores: each control's own tokens and scores (its cost).
        negative_controls_conditioned: the negatives after each control, or ().

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
    controls: tuple[str, ...] = ()
    controls_conditioned: tuple[Scores, ...] = ()
    controls_scores: tuple[TextScore, ...] = ()
    negative_controls_conditioned: tuple[Scores, ...] = ()

    @property
    def versions(self) -> dict[str, str]:
        """The versions of surprisal, torch and transformers that computed it."""
        return self.base.versions

    def __len__(self) -> int:
        return len(self.targets)

    @property
    def controls_reduction(self) -> np.ndarray | None:
        """(n, K) ``S(t) - S(t | control_k)`` per target and control, nats, or None without
        ``controls``."""
        if not self.controls_conditioned:
            return None
        return np.stack([_paired_difference(self.base, c) for c in self.controls_conditioned], 1)

    @property
    def null_reductions(self) -> np.ndarray | None:
        """(K,) each control's mean reduction over the targets, nats: the explanation-level
        null the explanation's own mean reduction is compared with; None without controls."""
        m = self.controls_reduction
        return None if m is None else m.mean(axis=0)

    def null_comparison(
        self, *, level: float = 0.95, n_boot: int = 4000, seed: int = 0, unit: Unit = "nats"
    ) -> NullComparison | None:
        """The explanation's mean reduction against its controls'
        (:func:`surprisal.stats.above_null`), in ``unit``; None without ``controls``."""
        m = self.controls_reduction
        if m is None:
            return None
        return above_null(
            convert(self.reduction, unit),
            convert(m, unit),
            level=level,
            n_boot=n_boot,
            seed=seed,
            unit=unit,
        )

    @property
    def above_null(self) -> tuple[float, float, float] | None:
        """``(estimate, low, high)``, nats: the explanation's mean reduction minus the
        controls' mean, with a 95% interval over targets x controls in which the explanation
        is itself one draw (:func:`surprisal.stats.above_null`, seed 0); None without
        ``controls``. Above 0: the explanation helps more than prefixes that carry no
        information; a reduction alone does not show that."""
        r = self.null_comparison()
        return None if r is None else (r.estimate, r.ci_low, r.ci_high)

    @property
    def p_above_null(self) -> float | None:
        """The explanation's rank among its ``K`` controls, one-sided:
        ``(1 + #{controls' mean reduction >= e's}) / (K + 1)``; at least ``1 / (K + 1)``,
        so it can go below 0.05 only from ``K = 20``. None without ``controls``."""
        nr = self.null_reductions
        if nr is None:
            return None
        return float((1 + int(np.count_nonzero(nr >= self.reduction.mean()))) / (nr.size + 1))

    def differential_null(
        self, *, level: float = 0.95, n_boot: int = 4000, seed: int = 0, unit: Unit = "nats"
    ) -> NullComparison | None:
        """The differential (targets minus negatives) against the same differential under
        each control prefix: its chance level from the explanation-level null, in ``unit``.
        None without both ``negatives`` and ``controls``."""
        neg = self.negative_reduction
        m = self.controls_reduction
        if neg is None or m is None or not self.negative_controls_conditioned:
            return None
        assert self.negative_base is not None
        nm = np.stack(
            [_paired_difference(self.negative_base, c) for c in self.negative_controls_conditioned],
            1,
        )
        n, k = len(self), neg.size
        w = np.concatenate([np.full(n, 1.0 / n), np.full(k, -1.0 / k)])
        return above_null(
            convert(np.concatenate([self.reduction, neg]), unit),
            convert(np.concatenate([m, nm]), unit),
            contrast=w,
            level=level,
            n_boot=n_boot,
            seed=seed,
            unit=unit,
        )

    @property
    def null_differentials(self) -> np.ndarray | None:
        """(K,) the differential (targets minus negatives, nats) under each control prefix;
        None without both ``negatives`` and ``controls``."""
        r = self.differential_null()
        return None if r is None else np.asarray(r.null)

    @property
    def differential_above_null(self) -> tuple[float, float, float] | None:
        """``(estimate, low, high)``, nats: :attr:`differential` minus the controls' mean
        differential, 95% interval as :attr:`above_null`'s; None without ``negatives`` and
        ``controls``."""
        r = self.differential_null()
        return None if r is None else (r.estimate, r.ci_low, r.ci_high)

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
        red, c, v, diff = with_holm(
            [
                summ(self.reduction),
                None if ctrl is None else summ(ctrl),
                None if vs is None else summ(vs),
                diff,
            ]
        )
        dv = cdv = dvs = None
        if self.divergences is not None:  # KL >= 0: no test against 0, only against a control
            dv = replace(summ(self.divergence_total), p_value=float("nan"), alternative="none")
            cdiv = self.control_divergence_total
            if cdiv is not None:
                cdv = replace(summ(cdiv), p_value=float("nan"), alternative="none")
                dvs = with_holm([summ(self.divergence_total - cdiv)])[0]
        nulls = None
        dnull = None
        if self.controls_conditioned:
            sub = self if items is None else self._subset(idx)
            nulls = sub.null_comparison(level=level, n_boot=n_boot, seed=seed, unit=unit)
            dnull = sub.differential_null(level=level, n_boot=n_boot, seed=seed, unit=unit)
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
            divergence_vs_control=dvs,
            above_null=nulls,
            differential_above_null=dnull,
        )

    def _subset(self, idx: np.ndarray) -> Delta:
        """This Delta on the targets ``idx`` only (negatives kept); divergences dropped."""

        def take(s: Scores) -> Scores:
            ctx = None if s.contexts is None else tuple(s.contexts[int(i)] for i in idx)
            return replace(s, items=tuple(s.items[int(i)] for i in idx), contexts=ctx)

        return replace(
            self,
            targets=tuple(self.targets[int(i)] for i in idx),
            base=take(self.base),
            conditioned=take(self.conditioned),
            controlled=None if self.controlled is None else take(self.controlled),
            controls_conditioned=tuple(take(c) for c in self.controls_conditioned),
            divergences=None,
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
                **{k: num(v[i]) for k, v in cols.items()},
            }
            for i, t in enumerate(self.targets)
        ]

    def to_dict(
        self, unit: Unit = "nats", *, ids: Sequence[object] | None = None
    ) -> dict[str, Any]:
        """The texts, the costs, the :meth:`summary` and :meth:`to_records`, in ``unit``."""
        return nan_to_none(
            {
                "model": self.base.model,
                "bos_policy": self.base.bos_policy,
                "versions": dict(self.versions),
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
        ctrl = "None" if self.control is None else repr(short(self.control))
        return (
            f"Delta({len(self)} targets, explanation={short(self.explanation)!r} "
            f"(cost {self.explanation_cost:.3f} nats), control={ctrl}, "
            f"mean reduction {float(np.mean(self.reduction)):.3f} nats, "
            f"two-part gain {self.two_part_gain_total:.3f} nats, model={self.base.model!r}, "
            f"bos_policy={self.base.bos_policy!r})"
        )

    def _repr_html_(self) -> str:

        secs = delta_sections(self, "nats", None, n_boot=2000, max_rows=NOTEBOOK_ROWS)
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

        title = f"Surprise reduction by an explanation \u2014 {self.base.model}"
        doc = page(
            title,
            delta_sections(self, unit, labels, n_boot=n_boot, seed=seed),
            unit,
            subtitle=f"{len(self)} targets \u00b7 boundary policy {self.base.bos_policy}",
        )
        if path is not None:
            write_html(doc, path)
        return doc


def candidate_text(x: object, what: str) -> str:
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


def run_conditions(
    lm: LM,
    targets: list[str],
    prefixes: Sequence[str],
    opts: RunOptions,
    *,
    divergence: bool = False,
    prefix_ids: Mapping[str, Sequence[int]] | None = None,
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
    s = run(lm, texts, contexts, opts, prefix_scores=True, hidden=hidden, prefix_ids=prefix_ids)
    assert s.prefix_scores is not None
    costs = [s.prefix_scores[p] for p in prefixes]
    groups = [s[j * n : (j + 1) * n] for j in range(1 + len(prefixes))]
    div = None
    if hidden is not None:
        hid = [hidden[j * n : (j + 1) * n] for j in range(1 + len(prefixes))]
        groups, div = divergence_head(lm, opts, groups, hid)
    return groups[0], groups[1:], costs, div


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
    controls: int | Sequence[str] | None = None,
    seed: int = 0,
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
        controls: the explanation-level null: an int ``K >= 2`` generates ``K`` control
            prefixes from the explanation, seeded by ``seed`` (half its tokens shuffled,
            half neutral passages of its token length: :func:`surprisal.controls.make_controls`),
            or give a list of control texts. Every control is scored in the same engine call
            (each prefix encoded once). Then ``d.null_reductions``, ``d.above_null`` and
            ``d.p_above_null`` say whether the explanation helps more than prefixes that
            carry no information; the rank p is at least ``1 / (K + 1)``, so ``p < 0.05``
            needs ``K >= 20`` (the CLI's default is 39).
        seed: seeds the generated controls.
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
    opts = replace(
        RunOptions.make(
            separator=separator,
            add_bos=add_bos,
            max_length=max_length,
            stride=stride,
            truncate_context=truncate_context,
            batch_tokens=batch_tokens,
            padding_side=padding_side,
            pack=pack,
            head=head,
            progress=progress,
        ),
        separator="",
    )  # the prefixes hold the separator
    lm = resolve_model(model, device=device, dtype=dtype)
    ctrls = check_controls(controls, lm.tokenizer, explanation, seed, separator)
    ctrl_texts = [c.text for c in ctrls]
    n, k0 = len(items), len(prefixes)
    keys, given = control_prefixes(ctrls, separator, prefixes)
    prefixes += keys
    base, conds, costs, div = run_conditions(
        lm, items + negs, prefixes, opts, divergence=divergence, prefix_ids=given
    )
    if div is not None and control is None and ctrl_texts:
        div = replace(div, control_kl=None, entropy_controlled=None)  # not a control's
    nulls = conds[k0:]
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
        divergences=None if div is None else first_targets(div, n),
        controls=tuple(ctrl_texts),
        controls_conditioned=tuple(c[:n] for c in nulls),
        controls_scores=tuple(costs[k0:]),
        negative_controls_conditioned=tuple(c[n:] for c in nulls) if negs else (),
    )


NOTEBOOK_ROWS = 20  # targets drawn by Delta._repr_html_: a notebook cell stays readable


def _ids(d: Delta, ids: Sequence[object] | None) -> list[str]:
    if ids is None:
        return [str(i) for i in range(len(d))]
    if len(ids) != len(d):
        raise SurprisalError(
            f"ids has {len(ids)} entries for {len(d)} targets; give one per target"
        )
    return [str(i) for i in ids]
