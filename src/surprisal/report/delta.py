"""The HTML report of a :class:`surprisal.Delta`: texts and costs, the summary table,
histograms of the per-target reductions, and the targets token by token."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import SurprisalError
from ..fields import Unit, convert
from ..formatting import ci, short
from .page import heatmap
from .plots import histogram


def delta_sections(
    d: Any,
    unit: Unit,
    labels: Sequence[object] | None,
    *,
    n_boot: int,
    seed: int = 0,
    max_rows: int | None = None,
) -> list[tuple[str, str]]:
    """A :class:`surprisal.Delta`'s report as ``(heading, html)`` sections (every number in
    ``unit``), shared by its page and its notebook view."""

    s = d.summary(unit=unit, n_boot=n_boot, seed=seed)
    names = labels_for(d.targets, labels)
    esc = html.escape
    n_e = len(d.explanation_scores)
    texts = (
        f"<p>Explanation: S(e) = {s.explanation_cost:.3f} {unit} over {n_e} tokens "
        f"(separator {d.separator!r} included)</p>"
        f'<pre class="text">{esc(d.explanation)}</pre>'
    )
    if d.control is not None and d.control_scores is not None:
        cost = float(convert(d.control_scores.total(), unit))
        texts += (
            f"<p>Control: S(c) = {cost:.3f} {unit} over {len(d.control_scores)} tokens</p>"
            f'<pre class="text">{esc(d.control)}</pre>'
        )
    else:
        texts += '<p class="note">No control text: pass control= for a baseline.</p>'
    plots = [
        histogram(
            convert(d.reduction, unit),
            xlabel=f"reduction S(t) \u2212 S(t|e) ({unit})",
            mean=s.reduction.mean,
            ci=(s.reduction.ci_low, s.reduction.ci_high),
            level=s.reduction.level,
        )
    ]
    if s.vs_control is not None and d.reduction_vs_control is not None:
        plots.append(
            histogram(
                convert(d.reduction_vs_control, unit),
                xlabel=f"S(t|c) \u2212 S(t|e) ({unit})",
                mean=s.vs_control.mean,
                ci=(s.vs_control.ci_low, s.vs_control.ci_high),
                level=s.vs_control.level,
            )
        )
    red = convert(d.reduction, unit)
    base = convert(d.base.total(), unit)
    cond = convert(d.conditioned.total(), unit)
    rows = [
        {
            "label": names[i],
            "pieces": d.base[i].pieces,
            "values": d.per_token(i, unit).tolist(),
            "extra": {
                "reduction": f"{red[i]:+.3f} {unit}",
                "S(t)": f"{base[i]:.3f}",
                "S(t|e)": f"{cond[i]:.3f}",
            },
        }
        for i in range(len(d))
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
        ("Summary", summary_table(s)),
        (
            "Per-target reductions",
            f'<div class="plots">{"".join(plots)}</div>'
            '<p class="note">Bars: targets. Line: the mean; band: its bootstrap CI; '
            "dashed: 0 (no effect). Right of 0: the explanation helped.</p>",
        ),
        ("Targets, token by token", heat),
    ]
    if d.divergences is not None:
        tot = convert(d.divergence_total, unit)
        kl_rows = [
            {
                "label": names[i],
                "pieces": d.base[i].pieces,
                "values": convert(d.divergence[i].astype(np.float64), unit).tolist(),
                "extra": {"divergence": f"{tot[i]:.3f} {unit}"},
            }
            for i in range(len(d))
        ]
        kl = heatmap(
            kl_rows,
            value_label="KL(p(. | e, t<j) || p(. | t<j)) at each position",
            unit=unit,
            max_rows=max_rows,
        )
        secs.append(("How far the explanation moved the next-token distribution", kl))
    return secs


def labels_for(targets: Sequence[str], labels: Sequence[object] | None) -> list[str]:
    """A row label per target: the caller's label (an id), else ``#k`` and its first words."""
    if labels is not None:
        if len(labels) != len(targets):
            raise SurprisalError(
                f"labels has {len(labels)} entries for {len(targets)} targets; give one per target"
            )
        return [str(x) for x in labels]
    return [f"#{i + 1} {short(' '.join(t.split()[:6]), 40)}" for i, t in enumerate(targets)]


def summary_table(s: Any) -> str:
    """The summary's numbers as one table (``s.unit``)."""
    rows = [("explanation: S(t) \u2212 S(t|e)", s.reduction)]
    if s.control is not None:
        rows.append(("control: S(t) \u2212 S(t|c)", s.control))
    if s.vs_control is not None:
        rows.append(("explanation vs control: S(t|c) \u2212 S(t|e)", s.vs_control))
    lvl = f"{s.reduction.level:.0%} CI"
    head = "".join(f"<th>{h}</th>" for h in ("reduction", "mean", lvl, "median", "p", "n"))
    body = "".join(
        f"<tr><td>{html.escape(name)}</td><td>{x.mean:+.3f}</td>"
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
