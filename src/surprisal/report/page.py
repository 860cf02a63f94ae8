"""Self-contained HTML reports: one page template, token heatmaps, inline SVG plots.

Every HTML report of the package is built by :func:`page` from titled sections, so all
reports share one stylesheet, one font and one header that states the page's unit. A page
is a single HTML5 string with inline CSS and inline SVG: no JavaScript, no network, no
external files; it opens offline and can be attached to a report. Plots come from
:mod:`surprisal.report.plots`.

Pages are built with f-strings and :func:`html.escape` rather than a template engine: the
markup is a few dozen lines, every user string passes through the one escape call, and a
bare install needs no extra dependency to write a report.

Token heatmaps (:func:`heatmap`, :func:`token_heatmap_html`): each row is a text split into
pieces (tokens or characters) with one value per piece, e.g. per-token surprisal in nats.
Every piece becomes one ``<span>`` whose background encodes the value and whose ``title``
tooltip reads ``"piece | value unit"``. The only ``<span>`` elements in a heatmap page are
the token pieces.

Colour scales (both colour-blind friendly and normalised over *all* rows by the 99th
percentile of ``|value|``, so one outlier does not wash everything out):

* sequential (default): white (0) to dark red (high), e.g. surprisal;
  negative values are shown as white.
* diverging: orange/red for negative, white at 0, blue for positive, e.g. surprisal
  reduction (blue = the explanation helped).

``NaN`` (or ``None``) values are drawn grey and shown as ``n/a`` in the tooltip.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

_WHITE = (255, 255, 255)
_SEQ_HIGH = (178, 24, 43)  # ColorBrewer RdBu dark red
_DIV_POS = (33, 102, 172)  # ColorBrewer RdBu/PuOr-compatible blue
_DIV_NEG = (230, 97, 1)  # ColorBrewer PuOr orange
_NAN_COLOUR = "#d9d9d9"

# Every selector is under .surprisal, so the same rules can sit in a notebook cell
# (see notebook_html) without restyling the notebook around it.
_CSS = """
.surprisal{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;
color:#222;line-height:1.4}
.surprisal h1{font-size:1.35em;margin:0 0 .2em 0}
.surprisal h2{font-size:1.1em;margin:1.4em 0 .5em 0;border-bottom:1px solid #ddd;
padding-bottom:.2em}
.surprisal .unit{color:#555;font-size:.9em;margin:0 0 1em 0}
.surprisal .note{color:#555;font-size:.85em}
.surprisal pre.text{white-space:pre-wrap;word-break:break-word;background:#f6f6f6;
padding:.5em .7em;margin:.2em 0 .8em 0;font-size:.9em}
.surprisal table.nums{border-collapse:collapse;font-size:.9em;margin:.3em 0}
.surprisal table.nums td,.surprisal table.nums th{border:1px solid #ccc;padding:.25em .6em;
text-align:right}
.surprisal table.nums td:first-child,.surprisal table.nums th:first-child{text-align:left}
.surprisal .legend{margin:0 0 1em 0;font-size:.9em}
.surprisal .row{margin:0 0 1.1em 0;border-top:1px solid #ddd;padding-top:.5em}
.surprisal .hdr{font-size:.85em;color:#444;margin-bottom:.3em}
.surprisal .hdr b{color:#000;font-size:1.05em;margin-right:.8em}
.surprisal .kv{display:inline-block;margin-right:1em}
.surprisal .txt{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.95em;
white-space:pre-wrap;word-break:break-word;line-height:1.7}
.surprisal .txt span{border-radius:2px;box-shadow:inset 0 0 0 1px rgba(0,0,0,.06)}
.surprisal .plots{display:flex;flex-wrap:wrap;gap:1.2em;align-items:flex-start}
.surprisal svg text{font-family:inherit}
""".strip()


def _esc(s: Any) -> str:
    return html.escape(str(s), quote=True)


def page(
    title: str,
    sections: Sequence[tuple[str, str]],
    unit: str = "nats",
    *,
    subtitle: str = "",
) -> str:
    """The one HTML page template every report uses.

    >>> doc = page("Demo <1>", [("Numbers", "<p>42</p>")], unit="bits")
    >>> doc.startswith("<!doctype html>"), "Demo &lt;1&gt;" in doc, "in bits" in doc
    (True, True, True)

    Args:
        title: the page title and heading (escaped).
        sections: ``(heading, body)`` pairs; the heading is escaped (``""`` for none), the
            body is HTML the caller built (escape user text in it, e.g. with
            :func:`html.escape`).
        unit: the one unit of every value on the page, ``"nats"`` or ``"bits"`` (``""``
            for a page without surprisal values); stated under the title.
        subtitle: a line under the title (escaped), e.g. the model.

    Returns:
        The complete HTML5 document (UTF-8, inline CSS and SVG, no scripts).
    """
    head = [
        "<!doctype html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_esc(title)}</title>",
        f"<style>body{{margin:1.5em;max-width:70em}}\n{_CSS}</style>",
        "</head>",
        "<body>",
        '<main class="surprisal">',
        f"<h1>{_esc(title)}</h1>",
    ]
    line = " · ".join(x for x in (_esc(subtitle), f"all values in {unit}" if unit else "") if x)
    if line:
        head.append(f'<div class="unit">{line}</div>')
    for heading, body in sections:
        if heading:
            head.append(f"<h2>{_esc(heading)}</h2>")
        head.append(body)
    head += ["</main>", "</body>", "</html>"]
    return "\n".join(head) + "\n"


def notebook_html(body: str) -> str:
    """An HTML fragment for a notebook cell (``_repr_html_``): ``body`` inside a
    ``.surprisal`` block with the page stylesheet, whose rules apply only inside it."""
    return f'<div class="surprisal"><style>{_CSS}</style>{body}</div>'


def _get(row: Any, name: str, default: Any = None) -> Any:
    if isinstance(row, Mapping):
        return row.get(name, default)
    return getattr(row, name, default)


def _to_float(v: Any) -> float:
    return float("nan") if v is None else float(v)


def _mix(c0: tuple[int, int, int], c1: tuple[int, int, int], t: float) -> tuple[int, int, int]:
    r, g, b = (round(a + (z - a) * t) for a, z in zip(c0, c1, strict=True))
    return r, g, b


def _hex(c: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*c)


def _colour(value: float, scale: float, diverging: bool) -> tuple[str, str]:
    """Return (background, text colour) for a value."""
    if math.isnan(value):
        return _NAN_COLOUR, "#000"
    t = min(1.0, abs(value) / scale)
    if diverging:
        target = _DIV_POS if value > 0 else _DIV_NEG
    else:
        target = _SEQ_HIGH
        if value <= 0:
            t = 0.0
    rgb = _mix(_WHITE, target, t)
    luminance = (0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2]) / 255.0
    return _hex(rgb), "#fff" if luminance < 0.5 else "#000"


def _fmt_value(v: float) -> str:
    if math.isnan(v):
        return "n/a"
    return f"{v:.3f}" if abs(v) < 1e4 else f"{v:.4g}"


def _visible(piece: str) -> str:
    return piece.replace("\n", "\\n").replace("\t", "\\t").replace("\r", "\\r")


def _robust_scale(all_values: list[float]) -> float:
    arr = np.abs(np.asarray(all_values, dtype=np.float64))
    arr = arr[np.isfinite(arr)]
    if arr.size == 0:
        return 1.0
    scale = float(np.quantile(arr, 0.99))
    if scale <= 0.0:
        scale = float(arr.max())
    return scale if scale > 0.0 else 1.0


def _legend(scale: float, value_label: str, unit: str, diverging: bool) -> str:
    """The colour bar as SVG, with its tick labels *below* the bar, anchored at the bar's
    ends (start / end) and centre (middle), so labels never overlap the bar or each other."""
    s = _fmt_value(scale)
    u = f" {unit}" if unit else ""
    w, bar_h, x0 = 300, 14, 8  # the bar: 300 px wide; labels at most ~12 characters each
    if diverging:
        stops = [(0, _hex(_DIV_NEG)), (50, "#ffffff"), (100, _hex(_DIV_POS))]
        ticks = [
            (0, "start", f"\u2264 \u2212{s}"),
            (50, "middle", "0"),
            (100, "end", f"\u2265 +{s}"),
        ]
        caption = "orange: below 0 \u00b7 blue: above 0"
    else:
        stops = [(0, "#ffffff"), (100, _hex(_SEQ_HIGH))]
        ticks = [(0, "start", "\u2264 0"), (100, "end", f"\u2265 {s}")]
        caption = ""
    grad = "".join(f'<stop offset="{o}%" stop-color="{c}"/>' for o, c in stops)
    marks = "".join(
        f'<line x1="{x0 + w * p / 100:.1f}" y1="{bar_h + 2}" x2="{x0 + w * p / 100:.1f}" '
        f'y2="{bar_h + 6}" stroke="#555"/>'
        f'<text x="{x0 + w * p / 100:.1f}" y="{bar_h + 19}" text-anchor="{a}" '
        f'font-size="12" fill="#333">{_esc(t)}</text>'
        for p, a, t in ticks
    )
    nan_x = x0 + w + 24
    svg = (
        f'<svg width="{nan_x + 60}" height="{bar_h + 26}" role="img" '
        f'aria-label="colour scale">'
        f'<defs><linearGradient id="sgrad{int(diverging)}">{grad}</linearGradient></defs>'
        f'<rect x="{x0}" y="1" width="{w}" height="{bar_h}" fill="url(#sgrad{int(diverging)})" '
        f'stroke="#999"/>{marks}'
        f'<rect x="{nan_x}" y="1" width="18" height="{bar_h}" fill="{_NAN_COLOUR}" stroke="#999"/>'
        f'<text x="{nan_x + 24}" y="{bar_h - 1}" font-size="12" fill="#333">n/a</text></svg>'
    )
    return (
        '<div class="legend">'
        f"<div><b>{_esc(value_label)}</b>{_esc(u and f' ({unit})')}</div>{svg}"
        f'<div class="note">{_esc(caption + " · " if caption else "")}Colour saturates at the '
        f"99th percentile of |value| over all rows: {_esc(s + u)}.</div>"
        "</div>"
    )


def heatmap(
    rows: Sequence[Any],
    *,
    value_label: str,
    unit: str = "nats",
    diverging: bool = False,
    max_rows: int | None = None,
) -> str:
    """A token heatmap as an HTML fragment (legend + one block per row), for :func:`page`.

    Arguments as in :func:`token_heatmap_html`; ``max_rows`` draws only the first rows and
    says how many were left out (the colour scale is still set by the rows drawn).
    """
    parsed: list[tuple[str, list[str], list[float], Mapping[str, Any]]] = []
    all_values: list[float] = []
    n_rows = len(rows)
    shown = rows if max_rows is None else rows[:max_rows]
    for i, row in enumerate(shown):
        label = str(_get(row, "label", f"row {i}"))
        pieces = list(_get(row, "pieces", None) or [])
        values = [_to_float(v) for v in (_get(row, "values", None) or [])]
        if len(pieces) != len(values):
            raise ValueError(f"row {i} ({label!r}): {len(pieces)} pieces but {len(values)} values")
        for j, p in enumerate(pieces):
            if not isinstance(p, str):
                raise TypeError(f"row {i} ({label!r}): piece {j} is {type(p).__name__}, not str")
        extra = _get(row, "extra", None) or {}
        parsed.append((label, pieces, values, extra))
        all_values.extend(values)

    scale = _robust_scale(all_values)
    unit_sfx = f" {unit}" if unit else ""
    out: list[str] = [_legend(scale, value_label, unit, diverging)]
    for label, pieces, values, extra in parsed:
        kv = "".join(f'<div class="kv">{_esc(k)}: {_esc(v)}</div>' for k, v in extra.items())
        out.append(f'<div class="row"><div class="hdr"><b>{_esc(label)}</b>{kv}</div>')
        spans: list[str] = []
        for piece, value in zip(pieces, values, strict=True):
            bg, fg = _colour(value, scale, diverging)
            val_txt = "n/a" if math.isnan(value) else f"{_fmt_value(value)}{unit_sfx}"
            tip = html.escape(f"{_visible(piece)} | {val_txt}", quote=True)
            spans.append(
                f'<span style="background:{bg};color:{fg}" title="{tip}">'
                f"{html.escape(piece, quote=False)}</span>"
            )
        out.append(f'<div class="txt">{"".join(spans)}</div></div>')
    if len(parsed) < n_rows:
        out.append(f'<p class="note">Showing the first {len(parsed)} of {n_rows} texts.</p>')
    return "\n".join(out)


def token_heatmap_html(
    rows: Sequence[Any],
    *,
    title: str,
    value_label: str,
    unit: str = "nats",
    diverging: bool = False,
) -> str:
    """Render texts as a self-contained HTML heatmap with one coloured span per piece.

    >>> doc = token_heatmap_html(
    ...     [{"label": "ex", "pieces": ["Hi", " <b>"], "values": [1.0, float("nan")]}],
    ...     title="demo", value_label="surprisal")
    >>> doc.startswith("<!doctype html>"), doc.count("<span"), "&lt;b&gt;" in doc
    (True, 2, True)
    >>> "1.000 nats" in doc and "n/a" in doc
    True

    Args:
        rows: Objects or dicts with ``label: str``, ``pieces: list[str]`` (concatenating
            to the original text), ``values: list[float]`` (one per piece, in ``unit``;
            ``NaN``/``None`` = no value, drawn grey) and optionally ``extra:
            dict[str, str]`` shown in the row header.
        title: Page title and heading.
        value_label: What the values are, e.g. ``"surprisal"``; shown in the legend.
        unit: Unit of the values, shown in the legend and tooltips (library: nats).
        diverging: Use the diverging blue (positive) / white (0) / orange (negative)
            scale instead of the sequential white-to-red one.

    Returns:
        The complete HTML5 document as one string (UTF-8, inline CSS, no scripts).

    Raises:
        ValueError: If a row's ``pieces`` and ``values`` differ in length.
        TypeError: If a piece is not a ``str``.
    """
    body = heatmap(rows, value_label=value_label, unit=unit, diverging=diverging)
    return page(title, [("", body)], unit)


def write_html(html: str, path: str | Path) -> Path:
    """Write an HTML string to ``path`` as UTF-8, creating parent folders.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = write_html("<!doctype html>", Path(d) / "sub" / "x.html")
    ...     p.read_text(encoding="utf-8")
    '<!doctype html>'

    Args:
        html: The document, e.g. from :func:`token_heatmap_html`.
        path: Destination file path.

    Returns:
        The destination as a :class:`pathlib.Path`.
    """
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html, encoding="utf-8")
    return out
