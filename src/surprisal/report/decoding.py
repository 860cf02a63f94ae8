"""The HTML report of a :class:`surprisal.Decoding`: one page, inline SVG.

Sections: the metrics table with CIs over prompts; repetition (seq-rep-n, loop rate,
distinct-n) against temperature with CIs, the reference's value as a dashed line;
entropy, surprisal and their gap along the position, one line per temperature and the
reference; the first continuations, each token coloured by its surprisal.
"""

from __future__ import annotations

import html as _html
import math
from pathlib import Path
from typing import Any

import numpy as np

from ..formatting import ci, temperature_label
from .page import heatmap, page, write_html
from .plots import errorbar_lines


def _table(d: Any) -> str:
    esc = _html.escape
    head = "".join(f"<th>{esc(temperature_label(c))}</th>" for c in d.conditions)
    rows = []
    for name, table in d.tables():
        cells = []
        for c in d.conditions:
            est, lo, hi = table[c]
            cells.append(
                "<td>n/a</td>"
                if math.isnan(est)
                else f"<td>{est:.3f} {ci(lo, hi, spec='.3f')}</td>"
            )
        rows.append(f"<tr><td>{esc(name)}</td>{''.join(cells)}</tr>")
    per = "".join(f"<td>{d.median_loop_period(c):.3g}</td>" for c in d.conditions)
    rows.append(f"<tr><td>loop period (median, tokens)</td>{per}</tr>")
    return (
        f'<table class="nums"><tr><th>metric</th>{head}</tr>{"".join(rows)}</table>'
        f'<p class="note">{d.level:.0%} CIs over {len(d.prompts)} prompts (a prompt\'s '
        f"{d.samples} samples averaged first; bootstrap of the mean). seq-rep-n: 1 - unique/"
        "all n-grams of one continuation (Welleck et al. 2020). distinct-n: unique/all "
        "n-grams pooled over a prompt's samples. Loop: the continuation ends in an exact "
        f"cycle seen at least {d.loop_min_repeats} times in a row over at least "
        f"{d.loop_min_tokens} tokens. Entropy of the full next-token distribution and the "
        "surprisal of the token taken, both at temperature 1, in nats; surprisal - entropy "
        "near 0 is &quot;typical&quot; text (Meister et al. 2023).</p>"
    )


def _against_temperature(d: Any) -> str:
    temps = list(d.temperatures)
    ref = d.reference is not None
    plots = []

    def series(table: dict) -> tuple[list[float], list[float], list[float]]:
        return (
            [table[t][0] for t in temps],
            [table[t][1] for t in temps],
            [table[t][2] for t in temps],
        )

    for name, table in (("seq-rep-4", d.seq_rep[4]), ("loop rate", d.loop_rate)):
        plots.append(
            errorbar_lines(
                temps,
                {name: series(table)},
                xlabel="temperature",
                ylabel=name,
                reference=table["reference"][0]
                if ref and np.isfinite(table["reference"][0])
                else None,
                reference_label="reference",
                ylim=(0.0, 1.0),
            )
        )
    plots.append(
        errorbar_lines(
            temps,
            {f"seq-rep-{n}": series(d.seq_rep[n]) for n in (1, 2, 3, 4)},
            xlabel="temperature",
            ylabel="seq-rep-n",
            ylim=(0.0, 1.0),
        )
    )
    plots.append(
        errorbar_lines(
            temps,
            {f"distinct-{n}": series(d.distinct[n]) for n in (1, 2, 3, 4)},
            xlabel="temperature",
            ylabel="distinct-n",
            ylim=(0.0, 1.0),
        )
    )
    return f'<div class="plots">{"".join(plots)}</div>'


def _along_position(d: Any) -> str:
    plots = []
    for name, curves in (
        ("entropy (nats)", d.entropy),
        ("surprisal (nats)", d.surprisal),
        ("surprisal - entropy (nats)", d.gap),
    ):
        width = max((len(v) for v in curves.values()), default=0)
        if width == 0:
            continue
        x = [float(v) for v in range(1, width + 1)]
        nan = [math.nan] * width  # no error bars: lines only
        ser: dict[str, tuple[list[float], list[float], list[float]]] = {}
        for c in d.conditions:
            y = [float(v) for v in curves[c]] + [math.nan] * (width - len(curves[c]))
            ser[temperature_label(c)] = (y, nan, nan)
        plots.append(
            errorbar_lines(
                x,
                ser,
                xlabel="generated position",
                ylabel=name,
                reference=0.0 if name.startswith("surprisal -") else None,
                reference_label="typical",
            )
        )
    note = (
        '<p class="note">Mean over a prompt\'s samples, then over prompts, at each position '
        "(1 = the first generated token).</p>"
    )
    return f'<div class="plots">{"".join(plots)}</div>{note}'


def _examples(d: Any, max_rows: int) -> str:
    rows = []
    n_show = min(len(d.prompts), max(1, max_rows))
    for i in range(n_show):
        for c in d.conditions:
            r = i * (1 if c == "reference" else d.samples)  # the first sample
            loop = d.loops[c][r]
            extra = {"loop": f"period {loop.period}, {loop.length} tokens"} if loop else {}
            rows.append(
                {
                    "label": f"prompt {i} {temperature_label(c)}: {d.prompts[i][:60]!r}",
                    "pieces": list(d.pieces[c][r]),
                    "values": d.surprisal_tokens[c][r].tolist(),
                    "extra": extra,
                }
            )
    return heatmap(rows, value_label="surprisal", unit="nats")


def decoding_sections(d: Any, *, max_rows: int = 8) -> list[tuple[str, str]]:
    """The report's ``(heading, html)`` sections, shared by the page and the notebook."""
    return [
        ("Metrics", _table(d)),
        ("Repetition against temperature", _against_temperature(d)),
        ("Entropy and surprisal along the generated text", _along_position(d)),
        ("Continuations (first sample), coloured by surprisal", _examples(d, max_rows)),
    ]


def decoding_html(d: Any, path: str | Path | None = None) -> str:
    """The whole page; written to ``path`` when given."""
    doc = page(
        f"What decoding does to the model's own text \u2014 {d.model}",
        decoding_sections(d),
        "nats",
        subtitle=f"{len(d.prompts)} prompts x {d.samples} samples \u00b7 "
        f"{d.max_new_tokens} new tokens \u00b7 seed {d.seed}",
    )
    if path is not None:
        write_html(doc, path)
    return doc
