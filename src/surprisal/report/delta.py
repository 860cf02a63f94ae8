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
    if s.above_null is not None:
        plots.append(
            histogram(
                np.asarray(s.above_null.null),
                xlabel=f"mean reduction under each control ({unit})",
                mean=s.above_null.observed,
                mean_label="the explanation",
                item_label="controls",
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
            '<p class="note">Bars: targets. Line: the mean; band: its CI '
            f"({esc(s.reduction.ci_method)}); dashed: 0 (no effect). Right of 0: the "
            "explanation helped."
            + (
                " Last plot: the controls' mean reductions (the explanation-level null), "
                "the explanation's own marked."
                if s.above_null is not None
                else ""
            )
            + "</p>",
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
    """The summary's numbers as one table (``s.unit``), with the interval method used, the
    Holm-adjusted p-values, the explanation-level null and the small-n warnings."""
    rows = [("explanation: S(t) \u2212 S(t|e)", s.reduction)]
    if s.control is not None:
        rows.append(("control: S(t) \u2212 S(t|c)", s.control))
    if s.vs_control is not None:
        rows.append(("explanation vs control: S(t|c) \u2212 S(t|e)", s.vs_control))
    lvl = f"{s.reduction.level:.0%} CI"
    heads = ("reduction", "mean", lvl, "median", "p", "Holm p", "n")
    head = "".join(f"<th>{h}</th>" for h in heads)

    def adj(x: Any) -> str:
        return "" if x.p_adjusted is None else f"{x.p_adjusted:.3g}"

    body = "".join(
        f"<tr><td>{html.escape(name)}</td><td>{x.mean:+.3f}</td>"
        f"<td>{ci(x.ci_low, x.ci_high, n=x.n)}</td><td>{x.median:+.3f}</td>"
        f"<td>{x.p_value:.3g}</td><td>{adj(x)}</td><td>{x.n}</td></tr>"
        for name, x in rows
    )
    null = ""
    a = s.above_null
    if a is not None:
        null = (
            f"<p>Against its {a.k} controls (the explanation-level null): "
            f"{a.estimate:+.3f} {s.unit} [{a.level:.0%} CI {a.ci_low:+.3f}, {a.ci_high:+.3f}], "
            f"rank p = {a.p_value:.3g} (one-sided; at least {1 / (a.k + 1):.3g} with {a.k} "
            f"controls). Interval: {html.escape(a.method)}.</p>"
        )
    else:
        null = (
            '<p class="note">No controls: a reduction, even a significant one, does not show '
            "that the explanation is informative (any prefix moves the targets); pass "
            "controls=K for the explanation-level null.</p>"
        )
    warns = []
    if s.reduction.small_n:
        warns.append(f"Only {s.reduction.n} targets: intervals are wide and approximate.")
    cw = s.reduction.coverage_warning
    if cw:
        warns.append(cw[0].upper() + cw[1:] + ".")
    warn = "".join(f'<p class="note warn">{html.escape(w)}</p>' for w in warns)
    return (
        f'<table class="nums"><tr>{head}</tr>{body}</table>'
        f"<p>Explanation cost S(e) = {s.explanation_cost:.3f} {s.unit}; two-part gain "
        f"(summed, explanation paid once) = {s.two_part_gain_total:+.3f} {s.unit}.</p>"
        + null
        + warn
        + '<p class="note">Positive reduction: the text made the targets less surprising. '
        f"CI: {html.escape(s.reduction.ci_method)} of the mean over targets; p: two-sided, "
        "from the same procedure (it is below 0.05 exactly when the 95% CI excludes 0); "
        "Holm p: adjusted across the p-values of this table.</p>"
    )
