"""Is it knowledge of *this* grammar? The models x grammars matrix of gaps above chance.

Model ``i`` was trained on grammar ``i``. :func:`specificity` runs
:func:`~surprisal.grammar.membership` for every (model, grammar) cell and keeps one metric's
gap above its chance level (metric - chance, with its interval and p). Knowledge specific to
the training grammar shows on the diagonal; a model trained on any grammar also gains
generic preferences (symbol frequencies, lengths) that can lift it above a random-weight
chance level on grammars it never saw: the off-diagonal cells measure that, and trained
no-knowledge baselines (``baseline=``) remove it (Hewitt & Liang's selectivity, per grammar).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import SurprisalError
from ..lm import LM
from .base import Grammar
from .catalog import zoo
from .discriminate import membership

__all__ = ["Specificity", "specificity"]


@dataclass(frozen=True)
class Specificity:
    """Gaps above chance of one metric, models (rows) x grammars (columns).

    Attributes:
        models: row labels (model ``i`` was trained on grammar ``i``).
        grammars: column labels.
        metric: the membership metric ("auc", "pair_accuracy", ...).
        estimate, low, high, p: (R, C) arrays: metric - chance, its 95% interval, its
            two-sided p (see :meth:`surprisal.grammar.Membership.gaps`).
        baseline: the chance level's kind per grammar ("random" or "trained").
    """

    models: tuple[str, ...]
    grammars: tuple[str, ...]
    metric: str
    estimate: np.ndarray
    low: np.ndarray
    high: np.ndarray
    p: np.ndarray
    baseline: tuple[str, ...]

    @property
    def diagonal(self) -> np.ndarray:
        """(R,) each model's gap on its own training grammar."""
        return np.diag(self.estimate).copy()

    @property
    def off_diagonal(self) -> np.ndarray:
        """(R,) each model's mean gap on the other grammars."""
        R = len(self.models)
        mask = ~np.eye(R, len(self.grammars), dtype=bool)
        return np.array([self.estimate[i][mask[i]].mean() for i in range(R)])

    @property
    def selectivity(self) -> np.ndarray:
        """(R,) diagonal minus off-diagonal mean, per model: knowledge of its own grammar
        beyond what its training gives on any grammar."""
        return self.diagonal - self.off_diagonal

    def to_pandas(self) -> Any:
        """Long format: one row per (model, grammar) with estimate, low, high, p and
        whether the cell is on the diagonal."""
        import pandas as pd

        rows = [
            {
                "model": m,
                "grammar": g,
                "metric": self.metric,
                "estimate": float(self.estimate[i, j]),
                "low": float(self.low[i, j]),
                "high": float(self.high[i, j]),
                "p": float(self.p[i, j]),
                "diagonal": i == j,
            }
            for i, m in enumerate(self.models)
            for j, g in enumerate(self.grammars)
        ]
        return pd.DataFrame(rows)

    def __str__(self) -> str:
        w = max(12, *(len(m) for m in self.models))
        kinds = ", ".join(sorted(set(self.baseline)))
        lines = [
            f"specificity of {self.metric}: metric - chance (chance: {kinds} baselines); "
            "rows: models, each trained on the grammar of the same index; * = 95% CI above 0"
        ]
        lines.append(" " * (w + 2) + "".join(f"{g[:14]:>16}" for g in self.grammars))
        for i, m in enumerate(self.models):
            cells = []
            for j in range(len(self.grammars)):
                mark = "*" if self.low[i, j] > 0 else " "
                tag = "[" if i == j else " "
                end = "]" if i == j else " "
                cells.append(f"{tag}{self.estimate[i, j]:+.3f}{mark}{end}".rjust(16))
            lines.append(f"  {m:<{w}}" + "".join(cells))
        lines.append(
            "  diagonal [own grammar] mean "
            f"{self.diagonal.mean():+.3f}; off-diagonal mean {self.off_diagonal.mean():+.3f}; "
            f"selectivity per model: "
            + ", ".join(f"{m} {s:+.3f}" for m, s in zip(self.models, self.selectivity, strict=True))
        )
        return "\n".join(lines)


def specificity(
    models: Sequence[LM] | Mapping[str, LM],
    grammars: Sequence[Grammar | str],
    *,
    baseline: Any = "random",
    metric: str = "auc",
    n: int = 100,
    max_len: int = 12,
    seed: int = 0,
    **membership_kwargs: Any,
) -> Specificity:
    """The (models x grammars) matrix of ``metric``'s gap above chance.

    Args:
        models: model ``i`` trained on ``grammars[i]`` (a mapping's keys label the rows).
        grammars: Grammar objects or zoo names, as many as models or more (extra columns
            are grammars no model was trained on).
        baseline: the chance level of every cell: ``"random"`` (random-weight twins), a
            list of no-knowledge models shared by every grammar, or a mapping from grammar
            name to such a list (see :func:`surprisal.testing.no_knowledge_baselines`).
        metric: one of :data:`surprisal.grammar.membership_result.METRICS`.
        n, max_len, seed, **membership_kwargs: passed to
            :func:`~surprisal.grammar.membership`.
    """
    if isinstance(models, Mapping):
        labels, lms = list(models), list(models.values())
    else:
        lms = list(models)
        labels = [m.name for m in lms]
    gs = [zoo[g] if isinstance(g, str) else g for g in grammars]
    if not lms or len(gs) < len(lms):
        raise SurprisalError(
            f"need at least one model and a grammar per model (got {len(lms)} models, "
            f"{len(gs)} grammars): model i is the one trained on grammars[i]"
        )
    R, C = len(lms), len(gs)
    est, lo, hi, p = (np.full((R, C), np.nan) for _ in range(4))
    kinds = []
    for j, g in enumerate(gs):
        b = baseline[g.name] if isinstance(baseline, Mapping) else baseline
        for i, lm in enumerate(lms):
            m = membership(
                g, model=lm, baseline=b, n=n, max_len=max_len, seed=seed, **membership_kwargs
            )
            gap = m.gaps().get(metric)
            if gap is None:
                raise SurprisalError(
                    f"metric {metric!r} has no chance level here (baseline=None, or the "
                    "metric needs minimal pairs or a calibration split)"
                )
            est[i, j], lo[i, j], hi[i, j], p[i, j] = gap.estimate, gap.low, gap.high, gap.p
        kinds.append(m.baseline_kind)
    return Specificity(
        tuple(labels), tuple(g.name for g in gs), metric, est, lo, hi, p, tuple(kinds)
    )
