""":class:`DeltaSummary`: the item-level statistics of a :class:`surprisal.Delta` (its
reduction, the control's, the differential, the divergences and the explanation-level
null), printed together with one Holm family for the reductions."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from . import stats as _stats
from .formatting import nan_to_none
from .report.delta import summary_table
from .report.page import notebook_html
from .stats.crossed import NullComparison
from .stats.differentials import Differential

__all__ = ["DeltaSummary"]


@dataclass(frozen=True)
class DeltaSummary:
    """Item-level statistics of a :class:`Delta`, in ``unit``.

    Attributes:
        reduction: mean/median/CI/p-value of ``S(t) - S(t|e)`` over targets (the p-value
            comes from the same procedure as the CI: it is below ``1 - level`` exactly when
            the CI excludes 0).
        control: the same for the control text, or None.
        vs_control: the same for ``S(t|control) - S(t|e)`` (the explanation against the
            control, paired by target), or None.
        explanation_cost: ``S(e)``.
        two_part_gain_total: summed two-part-code gain, the explanation paid once.
        unit: "nats" or "bits".
        divergence: with ``divergence=True``, the same statistics of each target's summed
            ``KL(p(.|e) || p(.))`` over its positions, without a p-value (NaN): KL >= 0
            always, so a test against 0 says nothing; or None.
        control_divergence: the same for the control, or None.
        divergence_vs_control: the paired difference ``KL(e) - KL(c)`` per target with its
            CI and p: the divergence's test, in a Holm family of its own; or None.
        differential: reduction on the targets minus reduction on the negatives (see
            :class:`Differential`), or None without ``negatives``.
        above_null: with ``controls``, the explanation's mean reduction against its
            controls' (:class:`~surprisal.stats.NullComparison`: estimate, CI over targets x
            controls, one-sided rank p), or None. The primary test of "the explanation
            carries information"; its p is not Holm-adjusted with the others.
        differential_above_null: the differential against the controls' differentials, or
            None.

    The other p-values are two-sided and carry their Holm adjustment across the reduction
    p-values this summary prints (``p_adjusted``).
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
    divergence_vs_control: _stats.Summary | None = None
    above_null: NullComparison | None = None
    differential_above_null: NullComparison | None = None

    def __str__(self) -> str:
        lines = [f"reduction S(t) - S(t|e): {self.reduction}"]
        if self.above_null is not None:
            lines.append(f"explanation vs its {self.above_null.k} controls: {self.above_null}")
        if self.control is not None and self.vs_control is not None:
            lines.append(f"control reduction S(t) - S(t|c): {self.control}")
            lines.append(f"explanation vs control S(t|c) - S(t|e): {self.vs_control}")
        if self.differential is not None:
            lines.append(f"differential (targets - negatives): {self.differential}")
        if self.differential_above_null is not None:
            lines.append(
                f"differential vs the controls' differentials: {self.differential_above_null}"
            )
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
        if self.divergence_vs_control is not None:
            lines.append(f"divergence vs control KL(e) - KL(c): {self.divergence_vs_control}")
        k = sum(
            x is not None
            for x in (self.reduction, self.control, self.vs_control, self.differential)
        )
        lines.append(
            f"p-values are two-sided ({self.reduction.ci_method} for the means, the same "
            f"procedure as their CIs; permutation test for the differential), Holm-adjusted "
            f"across the {k} reduction p-values above"
            + ("; the divergence test is a family of its own" if self.divergence_vs_control else "")
            + (
                "; the rank p against controls is one-sided and not adjusted (the primary test)"
                if self.above_null is not None
                else ""
            )
        )
        if self.above_null is None:
            lines.append(
                "no controls: a reduction, even a significant one, does not show that the "
                "explanation is informative (any prefix moves the targets); pass controls=K"
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
            "divergence_vs_control": (
                None if self.divergence_vs_control is None else self.divergence_vs_control.to_dict()
            ),
            "above_null": None if self.above_null is None else self.above_null.to_dict(),
            "differential_above_null": (
                None
                if self.differential_above_null is None
                else self.differential_above_null.to_dict()
            ),
        }

    def to_json(self) -> str:
        """:meth:`to_dict` as a JSON string (NaN written as null)."""
        return json.dumps(nan_to_none(self.to_dict()))

    def _repr_html_(self) -> str:

        return notebook_html(summary_table(self))
