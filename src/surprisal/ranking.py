"""Several candidate explanations for the same targets, ranked (:func:`rank_explanations`)."""

from __future__ import annotations

import html
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch

from .conditions import check_prefix_text
from .deltas import Delta, DeltaSummary, candidate_text, run_conditions
from .errors import SurprisalError
from .fields import Unit
from .formatting import ci, nan_to_none, short
from .lm import LM, resolve_model
from .options import DEFAULT_SEPARATOR, RunOptions
from .report.page import notebook_html
from .tokenize import check_texts


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
            f"{short(self.best.explanation)!r}, mean reduction {s.reduction.mean:.3f} nats "
            f"[{s.reduction.level:.0%} CI {s.reduction.ci_low:.3f}, {s.reduction.ci_high:.3f}])"
        )

    def to_dict(self) -> dict[str, Any]:
        """Candidates best first, each with its text and :class:`DeltaSummary` (nats)."""
        return nan_to_none(
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
        candidate_text(c, f"candidates[{i}]")
        for i, c in enumerate(check_texts(candidates, "candidates"))
    ]
    if not cands:
        raise SurprisalError("candidates is empty; give at least one explanation")
    if by not in ("reduction", "two_part_gain"):
        raise SurprisalError(f"by must be 'reduction' or 'two_part_gain', got {by!r}")
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
    base, conds, costs, _ = run_conditions(lm, items, prefixes, opts)
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
