"""Several candidate explanations for the same targets, ranked (:func:`rank_explanations`)."""

from __future__ import annotations

import html
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch

from . import stats as _stats
from .conditions import check_prefix_text
from .controls import check_controls, control_prefixes
from .deltas import Delta, DeltaSummary, candidate_text, run_conditions
from .errors import SurprisalError
from .fields import Unit
from .flags import DEFAULT_SEPARATOR
from .formatting import ci, nan_to_none, short
from .lm import LM, resolve_model
from .options import RunOptions
from .report.page import notebook_html
from .tokenize import check_texts


@dataclass(frozen=True)
class Ranking:
    """Candidate explanations ranked by mean reduction, best first, with a selection-free
    estimate for the winner.

    Picking the best of several candidates and reporting its reduction on the same targets
    overstates it (the winner's luck is counted as its effect). So the targets are split,
    seeded, into ``K`` folds; for each fold the candidates are ranked on the other ``K - 1``
    and the winner's reduction is measured on the held-out fold; rotating, every target is
    held out once. ``winner_held_out`` summarises those ``n`` held-out reductions.

    What it estimates: the mean reduction, on new targets like these, of *the candidate
    this selection picks* (a property of the procedure, not of one fixed candidate; the
    fold winners can differ, see ``fold_winners``). It is not a test of information: a
    prefix that carries none still moves the targets (see ``above_null`` in each summary
    when ``controls`` were given).

    Attributes:
        deltas: one :class:`Delta` per candidate, best first (controls shared), over all
            targets.
        order: candidate indices (into the caller's list), best first, ranked on all
            targets.
        summaries: :class:`DeltaSummary` per ranked candidate, on all targets: unbiased for
            a candidate fixed in advance, biased upward for whichever comes first.
        selection: how the order and the figures were obtained, in words.
        winner_held_out: the cross-fitted :class:`~surprisal.stats.Summary` of the
            selected candidate's reduction (nats), or None without cross-fitting.
        fold_winners: per fold, the candidate index selected on the other folds.
        folds: per fold, the target indices held out.
    """

    deltas: tuple[Delta, ...]
    order: tuple[int, ...]
    summaries: tuple[DeltaSummary, ...]
    selection: str = "ranked and reported on the same targets"
    winner_held_out: _stats.Summary | None = None
    fold_winners: tuple[int, ...] = ()
    folds: tuple[tuple[int, ...], ...] = ()

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
            if s.above_null is not None:
                row["above_null"] = s.above_null.estimate
                row["above_null_low"] = s.above_null.ci_low
                row["above_null_high"] = s.above_null.ci_high
                row["p_above_null"] = s.above_null.p_value
            row["n_report"] = s.reduction.n
            row["selection"] = self.selection
            rows.append(row)
        df = pd.DataFrame(rows)
        df.attrs.update(unit=unit, selection=self.selection)
        return df

    def __str__(self) -> str:
        out = [self.selection]
        if self.winner_held_out is not None:
            out.append(f"selected candidate, held out (cross-fitted): {self.winner_held_out}")
        for rank, (i, d, s) in enumerate(zip(self.order, self.deltas, self.summaries, strict=True)):
            out.append(f"#{rank + 1} candidate {i}: {d.explanation[:60]!r}\n  {s.reduction}")
            if s.above_null is not None:
                out.append(f"  above its {s.above_null.k} controls: {s.above_null}")
        return "\n".join(out)

    def __repr__(self) -> str:
        s = self.summaries[0]
        return (
            f"Ranking({len(self.deltas)} candidates, best: candidate {self.order[0]} "
            f"{short(self.best.explanation)!r}, mean reduction {s.reduction.mean:.3f} nats "
            f"[{s.reduction.level:.0%} CI {s.reduction.ci_low:.3f}, {s.reduction.ci_high:.3f}])"
        )

    def to_dict(self) -> dict[str, Any]:
        """Candidates best first, each with its text and :class:`DeltaSummary` (nats)."""
        return nan_to_none(
            {
                "unit": "nats",
                "selection": self.selection,
                "winner_held_out": (
                    None if self.winner_held_out is None else self.winner_held_out.to_dict()
                ),
                "fold_winners": list(self.fold_winners),
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

        head = "".join(
            f"<th>{h}</th>"
            for h in ("rank", "candidate", "explanation", "mean reduction", "CI", "p", "cost")
        )
        rows = "".join(
            f"<tr><td>{r + 1}</td><td>{i}</td><td>{html.escape(short(d.explanation, 60))}</td>"
            f"<td>{s.reduction.mean:+.3f}</td>"
            f"<td>{ci(s.reduction.ci_low, s.reduction.ci_high, n=s.reduction.n)}</td>"
            f"<td>{s.reduction.p_value:.3g}</td>"
            f"<td>{s.explanation_cost:.3f}</td></tr>"
            for r, (i, d, s) in enumerate(zip(self.order, self.deltas, self.summaries, strict=True))
        )
        return notebook_html(
            f'<table class="nums"><tr>{head}</tr>{rows}</table>'
            '<p class="note">All values in nats, on all targets; p: two-sided, from the '
            "same procedure as the CI. " + html.escape(self.selection) + "</p>"
        )


def rank_explanations(
    targets: str | Sequence[str],
    *,
    candidates: Sequence[str],
    model: LM | str | Any,
    control: str | None = None,
    controls: int | Sequence[str] | None = None,
    separator: str = DEFAULT_SEPARATOR,
    by: Literal["reduction", "two_part_gain"] = "reduction",
    held_out: bool = True,
    folds: int = 5,
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

    All candidates (and the control, and every candidate's controls) are scored in one
    engine call; each prefix's cache is built once. ``by="two_part_gain"`` ranks by the
    summed two-part-code gain instead, which charges each candidate its own length. The
    run options (``add_bos`` ... ``dtype``) are those of :func:`surprisal.score`.

    ``held_out=True`` (default): cross-fitting over ``folds`` seeded folds of the targets
    (fewer when there are fewer targets): each fold's winner is chosen on the others and
    measured on it, so ``Ranking.winner_held_out`` uses every target and carries no
    selection bias; it estimates the reduction of the candidate this selection picks (see
    :class:`Ranking`). With one target, or ``held_out=False``, there is no held-out figure
    and ``Ranking.selection`` says the winner's figures are biased upward.

    ``controls``: as in :func:`surprisal.delta` (an int ``K``: each candidate gets its own
    ``K`` generated controls, seeded by ``seed``; a list: shared by all); each candidate's
    summary then carries ``above_null``, its reduction against its controls'.
    """
    items = check_texts(targets, "targets")
    if not items:
        raise SurprisalError("targets is empty; give at least one target text")
    cands = [
        candidate_text(c, f"candidates[{i}]")
        for i, c in enumerate(check_texts(candidates, "candidates"))
    ]
    if not cands:
        raise SurprisalError("candidates is empty; give at least one explanation")
    if by not in ("reduction", "two_part_gain"):
        raise SurprisalError(f"by must be 'reduction' or 'two_part_gain', got {by!r}")
    if isinstance(folds, bool) or not isinstance(folds, int) or folds < 2:
        raise SurprisalError(f"folds must be an int >= 2, got {folds!r}")
    opts = RunOptions.make(
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
    )
    lm = resolve_model(model, device=device, dtype=dtype)
    check_prefix_text("control", control)
    prefixes = list(dict.fromkeys(cands + ([control] if control else [])))
    own: dict[str, tuple[list[str], list[str]]] = {}  # candidate: (control texts, keys)
    given: dict[str, list[int]] = {}
    for c in dict.fromkeys(cands):
        ctrls = check_controls(controls, lm.tokenizer, c, seed, separator)
        # the engine appends the separator to text prefixes here; generated ids hold it
        keys, ids = control_prefixes(ctrls, "", [*prefixes, *given])
        own[c] = ([x.text for x in ctrls], keys)
        given.update(ids)
        prefixes += [k for k in keys if k not in prefixes]
    base, conds, costs, _ = run_conditions(lm, items, prefixes, opts, prefix_ids=given)
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
            controls=tuple(own[c][0]),
            controls_conditioned=tuple(conds[where[t]] for t in own[c][1]),
            controls_scores=tuple(costs[where[t]] for t in own[c][1]),
        )
        for c in cands
    ]

    def key(d: Delta, idx: list[int]) -> float:
        r = d.reduction[idx]
        return float(r.mean()) if by == "reduction" else float(r.sum() - d.explanation_cost)

    every = list(range(len(items)))
    order = sorted(range(len(cands)), key=lambda i: (-key(deltas[i], every), i))
    fold_sets = _folds(len(items), folds if held_out else 1, seed)
    winner = None
    winners: list[int] = []
    if len(fold_sets) > 1:
        held = np.empty(len(items), dtype=np.float64)
        for f in fold_sets:
            rest = [i for i in every if i not in set(f)]
            w = min(range(len(cands)), key=lambda i: (-key(deltas[i], rest), i))
            winners.append(w)
            held[list(f)] = deltas[w].reduction[list(f)]
        winner = _stats.summarize(held, seed=seed, n_boot=n_boot)
        selection = (
            f"cross-fitted over {len(fold_sets)} folds of {len(items)} targets (seed {seed}): "
            f"each fold's winner chosen on the other folds, its reduction measured on the "
            f"held-out fold; the per-candidate figures are on all targets (biased upward for "
            f"the first)"
        )
    else:
        why = "held_out=False" if not held_out else f"{len(items)} target: too few to split"
        selection = (
            f"ranked and reported on the same {len(items)} targets ({why}): the winner's "
            "figures are biased upward"
        )
    return Ranking(
        deltas=tuple(deltas[i] for i in order),
        order=tuple(order),
        summaries=tuple(deltas[i].summary(seed=seed, n_boot=n_boot) for i in order),
        selection=selection,
        winner_held_out=winner,
        fold_winners=tuple(winners),
        folds=tuple(tuple(f) for f in fold_sets) if len(fold_sets) > 1 else (),
    )


def _folds(n: int, k: int, seed: int) -> list[list[int]]:
    """``min(k, n)`` seeded folds of ``range(n)`` (sorted indices; sizes differ by at most
    one); one fold of everything when ``k`` or ``n`` is 1."""
    k = min(k, n)
    if k < 2:
        return [list(range(n))]
    perm = list(range(n))
    random.Random(seed).shuffle(perm)
    return [sorted(perm[j::k]) for j in range(k)]
