"""HTML reports of the grammar analyses: :class:`Membership` and :class:`Generation`.

Each builder returns the report's ``(heading, html)`` sections for :func:`surprisal.viz.page`,
so a page can hold one analysis (``Membership.to_html``), several (the ``surprisal grammar``
command: membership then generation) or a whole tour (``surprisal demo``) under one template.

Membership sections: the conditions (each prefix text and the number of strings per cell),
the metrics (``m.table()`` as it stands, so new columns appear without edits here, and the
lifts), ROC curves per condition with the AUC 0.5 diagonal and the measured chance levels
(the length-only AUC with its CI in the legend; the null model's AUC in each curve's label
when the Membership measured one), member vs non-member score distributions per condition,
and AUC by string length with stratified bootstrap CIs. Scores are log-probabilities in
``unit``; AUCs and accuracies are unitless.

Generation sections: the valid / distinct / novel / empty rates per condition with Wilson or
bootstrap CIs (as ``Generation.ci`` gives them) and what each rate means, then samples.
"""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Any, Literal

import numpy as np

from .. import stats as _stats
from ..formatting import ci
from .page import page, write_html
from .plots import distributions, errorbar_lines, roc_curve, roc_points

Section = tuple[str, str]
Unit = Literal["nats", "bits"]

SAMPLES_SHOWN = 20  # samples listed per condition: enough to see what the model writes


def _esc(s: object) -> str:
    return html.escape(str(s), quote=True)


def _fmt(v: Any) -> str:
    """A table cell: floats to 3 decimals (NaN as n/a), everything else as text."""
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        return "n/a" if math.isnan(v) else f"{float(v):.3f}"
    return _esc(v)


def frame_table(df: Any) -> str:
    """A pandas DataFrame as a ``table.nums`` (column names as headers, no index)."""
    head = "".join(f"<th>{_esc(c)}</th>" for c in df.columns)
    rows = "".join(
        "<tr>" + "".join(f"<td>{_fmt(v)}</td>" for v in rec) + "</tr>"
        for rec in df.itertuples(index=False, name=None)
    )
    return f'<table class="nums"><tr>{head}</tr>{rows}</table>'


def _chance_auc(m: Any) -> dict[str, float]:
    """The null model's AUC per condition, when the Membership measured one (else empty)."""
    chance = getattr(m, "chance", None)
    if not isinstance(chance, dict):
        return {}
    auc = chance.get("auc")
    if not isinstance(auc, dict):
        return {}
    return {c: float(v) for c, v in auc.items()}


def _to_unit(x: np.ndarray, unit: Unit) -> np.ndarray:
    return x / math.log(2.0) if unit == "bits" else x


def membership_sections(m: Any, *, unit: Unit = "nats") -> list[Section]:
    """The membership report's sections, in order: conditions, metrics, ROC curves, score
    distributions, AUC by length.

    Args:
        m: the :class:`~surprisal.grammar.Membership`.
        unit: the unit of the log-probabilities drawn (``"nats"`` or ``"bits"``), so the
            report can sit on a page whose other values are in bits.
    """

    if unit not in ("nats", "bits"):
        raise ValueError(f"unit must be 'nats' or 'bits', got {unit!r}")
    lab = m.labels == 1
    n1, n0 = int(lab.sum()), int((~lab).sum())
    test = np.asarray(m.test, dtype=bool)
    kinds = ", ".join(f"{k} {m.kinds.count(k)}" for k in dict.fromkeys(m.kinds))
    cells = (
        '<table class="nums"><tr><th>strings</th><th>members</th><th>non-members</th>'
        "<th>all</th></tr>"
        f"<tr><td>calibration (threshold)</td><td>{int((lab & ~test).sum())}</td>"
        f"<td>{int((~lab & ~test).sum())}</td><td>{int((~test).sum())}</td></tr>"
        f"<tr><td>test (accuracy)</td><td>{int((lab & test).sum())}</td>"
        f"<td>{int((~lab & test).sum())}</td><td>{int(test.sum())}</td></tr>"
        f"<tr><td>all</td><td>{n1}</td><td>{n0}</td><td>{n1 + n0}</td></tr></table>"
        f'<p class="note">Kinds: {_esc(kinds)}; {len(m.pairs)} minimal pairs (a member and '
        f"its one-edit non-member). Every string is scored under every condition, followed "
        f"by the end marker {_esc(repr(m.end))}.</p>"
    )
    prefixes = "".join(
        f"<p><b>{_esc(c)}</b>: "
        + (
            f'{len(p)} characters</p><pre class="text">{_esc(p)}</pre>'
            if p
            else "no prefix (the string after the boundary token alone)</p>"
        )
        for c, p in ((c, m.prefixes.get(c, "")) for c in m.conditions)
    )

    metrics = (
        frame_table(m.table())
        + '<p class="note">AUC: probability that a random member outscores a random '
        "non-member (log-probability; mean: per token; SLOR: against a unigram model). Pair "
        "accuracy: share of minimal pairs the member wins. Accuracy: on the test split, at "
        "the threshold chosen on the calibration split.</p>"
    )
    chance_table = getattr(m, "chance_table", None)
    if callable(chance_table):
        ct = chance_table()
        if len(ct):
            metrics += (
                "<p>Chance levels: each metric under the null models ("
                + _esc(str(getattr(m, "baseline", "")))
                + "); lifts and differentials against the same under them.</p>"
                + frame_table(ct)
            )
    lifts = m.lift
    if lifts:
        metrics += (
            "<p>Lifts (95% CI):</p><ul>"
            + "".join(
                f"<li>{_esc(k)}: AUC {v['auc']:+.3f} {ci(v['auc_ci_low'], v['auc_ci_high'])}"
                + (
                    f"; pair accuracy {v['pair_accuracy']:+.3f} "
                    f"{ci(v['pair_accuracy_ci_low'], v['pair_accuracy_ci_high'])}"
                    if "pair_accuracy" in v
                    else ""
                )
                + "</li>"
                for k, v in lifts.items()
            )
            + "</ul>"
        )

    out: list[Section] = [
        ("Strings and conditions", cells + prefixes),
        ("Metrics", metrics),
    ]
    if n1 == 0 or n0 == 0:
        return out  # no curve or distribution without both classes

    auc = m.auc
    null = _chance_auc(m)
    curves: dict[str, tuple[list[float], list[float]]] = {}
    for c in m.conditions:
        label = f"{c} (AUC {auc[c]:.3f}" + (f"; null {null[c]:.3f})" if c in null else ")")
        fpr, tpr = roc_points(m.scores(c).tolist(), m.labels.tolist())
        curves[label] = (fpr.tolist(), tpr.tolist())
    # the length-only classifier (fewer tokens = "member") is measured on every Membership:
    # a chance level with its own CI, drawn even when no null model was run
    ntok = -np.asarray(m.n_tokens["none"], dtype=np.float64)
    lo_len, hi_len = _stats.bootstrap_auc_ci(ntok[lab], ntok[~lab], n_boot=m.n_boot, seed=m.seed)
    chance = {"length-only": (m.length_only_auc, lo_len, hi_len)}
    roc_note = (
        "Dashed diagonal: AUC 0.5, a ranking at random; it is not the chance level, which is "
        "measured: a model that knows nothing still prefers strings with fewer tokens. "
        "length-only (in the legend, with its 95% CI): the AUC of the token count alone; "
        + (
            "null (in each curve's label): the same AUC under the null models ("
            + (
                "no-knowledge models trained the same way"
                if getattr(m, "baseline_kind", "") == "trained"
                else "random weights"
            )
            + ") on these strings, the chance level of that curve."
            if null
            else "no null model was measured here (baseline=None or --null-draws 0), so the "
            "AUCs stand without their chance level under a model that knows nothing."
        )
    )
    out.append(
        (
            "ROC curves",
            f'<div class="plots">{roc_curve(curves, chance=chance)}</div><p class="note">Score: '
            "the total log-probability of string + end marker; a curve above the diagonal "
            f"ranks members higher. {_esc(roc_note)}</p>",
        )
    )
    dist = "".join(
        distributions(
            {
                "members": _to_unit(m.scores(c)[lab], unit),
                "non-members": _to_unit(m.scores(c)[~lab], unit),
            },
            xlabel=f"log p, condition {c} ({unit})",
        )
        for c in m.conditions
    )
    out.append(
        (
            "Member and non-member scores",
            f'<div class="plots">{dist}</div><p class="note">Densities of the total '
            f"log-probability ({unit}) per condition; members to the right of non-members is "
            "what a model that knows the grammar shows.</p>",
        )
    )

    lengths = sorted(set(np.asarray(m.lengths).tolist()))
    series: dict[str, tuple[list[float], list[float], list[float]]] = {}
    counts: list[str] = []
    for L in lengths:
        sel = np.asarray(m.lengths) == L
        counts.append(f"{L}: {int((lab & sel).sum())}+{int((~lab & sel).sum())}")
    for c in m.conditions:
        ys, los, his = [], [], []
        x = m.scores(c)
        for L in lengths:
            sel = np.asarray(m.lengths) == L
            pos, neg = x[sel & lab], x[sel & ~lab]
            if len(pos) == 0 or len(neg) == 0:
                ys.append(math.nan)
                los.append(math.nan)
                his.append(math.nan)
                continue
            ys.append(_stats.roc_auc(pos, neg))
            lo, hi = _stats.bootstrap_auc_ci(pos, neg, n_boot=m.n_boot, seed=m.seed)
            los.append(lo)
            his.append(hi)
        series[c] = (ys, los, his)
    if any(math.isfinite(v) for ys, _, _ in series.values() for v in ys):
        plot = errorbar_lines(
            lengths,
            series,
            xlabel="length (symbols)",
            ylabel="AUC",
            reference=0.5,
            reference_label="AUC",
            ylim=(0.0, 1.0),
        )
        out.append(
            (
                "AUC by length",
                f'<div class="plots">{plot}</div><p class="note">AUC among strings of one '
                "length, with its 95% CI (stratified BCa bootstrap; a point where every "
                "resample agrees, e.g. perfect separation). Strings per length, members + "
                f"non-members: {_esc('; '.join(counts))}. Lengths without both classes are "
                "left out.</p>",
            )
        )
    return out


def membership_html(m: Any, path: str | Path | None = None) -> str:
    """``Membership.to_html``: one page of :func:`membership_sections` (log-probabilities in
    nats), written to ``path`` when given."""

    n1 = int(m.labels.sum())
    doc = page(
        f"Grammar membership: {m.grammar}",
        membership_sections(m),
        "nats",
        subtitle=f"{n1} members, {len(m.labels) - n1} non-members, conditions "
        + ", ".join(m.conditions),
    )
    if path is not None:
        write_html(doc, path)
    return doc


_RATES = (
    (
        "valid",
        "share of samples that ended with the end marker and that the grammar accepts; the "
        "empty string counts as valid when the grammar's language holds it (Dyck languages "
        "do), so read it beside the empty rate",
    ),
    ("distinct", "distinct valid strings / samples (a model that repeats itself scores low)"),
    (
        "novel",
        "valid strings that are not among the known ones (the shots and any strings passed "
        "as known=) / samples",
    ),
)


def generation_sections(g: Any, *, shown: int = SAMPLES_SHOWN) -> list[Section]:
    """The generation report's sections: the rates per condition with their CIs and meaning,
    the prefixes, then up to ``shown`` samples per condition (escaped, each marked)."""
    cis = {name: g.ci(name) for name, _ in _RATES}
    rates = {"valid": g.valid_rate, "distinct": g.distinct_rate, "novel": g.novel_rate}
    empty = g.empty_rate
    head = "".join(
        f"<th>{h}</th>" for h in ("condition", "samples", "valid", "distinct", "novel", "empty")
    )
    body = ""
    for c in g.conditions:
        cells = "".join(
            f"<td>{_fmt(rates[name][c])} {ci(*cis[name][c], spec='.3f')}</td>" for name, _ in _RATES
        )
        body += (
            f"<tr><td>{_esc(c)}</td><td>{len(g.samples[c])}</td>{cells}<td>{empty[c]:.3f}</td></tr>"
        )
    meaning = "".join(f"<li><b>{n}</b>: {_esc(t)}.</li>" for n, t in _RATES)
    rates_html = (
        f'<table class="nums"><tr>{head}</tr>{body}</table>'
        f"<ul>{meaning}<li><b>empty</b>: share of samples that ended at once (the empty "
        "string).</li></ul>"
        '<p class="note">Brackets: 95% CI over samples.</p>'
    )
    prefixes = "".join(
        f"<p><b>{_esc(c)}</b>: "
        + (f'</p><pre class="text">{_esc(p)}</pre>' if p else "no prefix</p>")
        for c, p in ((c, g.prefixes.get(c, "")) for c in g.conditions)
    )
    samples = ""
    for c in g.conditions:
        strs = g.samples[c]
        marks = []
        for s, ok, done in list(zip(strs, g.valid[c], g.terminated[c], strict=True))[:shown]:
            tag = "valid" if ok else ("invalid" if done else "unterminated")
            text = repr(s)[1:-1] if s else "(empty)"
            marks.append(f"<tr><td>{_esc(text)}</td><td>{tag}</td></tr>")
        more = f" (first {shown} of {len(strs)})" if len(strs) > shown else ""
        samples += (
            f"<p><b>{_esc(c)}</b>{_esc(more)}</p>"
            f'<table class="nums"><tr><th>sample</th><th>verdict</th></tr>{"".join(marks)}</table>'
        )
    return [
        (f"Generation from {g.grammar}: rates", rates_html),
        ("Generation prefixes", prefixes),
        ("Generated samples", samples),
    ]


def generation_html(g: Any, path: str | Path | None = None) -> str:
    """``Generation.to_html``: one page of :func:`generation_sections`, written to ``path``
    when given."""

    doc = page(f"Grammar generation: {g.grammar}", generation_sections(g), "")
    if path is not None:
        write_html(doc, path)
    return doc
