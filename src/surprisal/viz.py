"""Self-contained HTML token heatmaps (inline CSS only: no JavaScript, no network).

Each row is a text split into pieces (tokens or characters) with one value per piece,
e.g. per-token surprisal in nats. Every piece becomes one ``<span>`` whose background
encodes the value and whose ``title`` tooltip reads ``"piece | value unit"``. The output
is a single HTML5 string that can be opened offline or attached to a report.

Colour scales (both colour-blind friendly and normalised over *all* rows by the 99th
percentile of ``|value|``, so one outlier does not wash everything out):

* sequential (default): white (0) to dark red (high), e.g. surprisal;
  negative values are shown as white.
* diverging: orange/red for negative, white at 0, blue for positive, e.g. surprisal
  reduction (blue = the explanation helped).

``NaN`` (or ``None``) values are drawn grey and shown as ``n/a`` in the tooltip.
The only ``<span>`` elements in the document are the token pieces.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["append_heatmap", "token_heatmap_html", "write_html"]

_WHITE = (255, 255, 255)
_SEQ_HIGH = (178, 24, 43)  # ColorBrewer RdBu dark red
_DIV_POS = (33, 102, 172)  # ColorBrewer RdBu/PuOr-compatible blue
_DIV_NEG = (230, 97, 1)  # ColorBrewer PuOr orange
_NAN_COLOUR = "#d9d9d9"

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.3em;margin:0 0 .6em 0}
.legend{margin:0 0 1.2em 0;font-size:.9em}
.bar{display:inline-block;width:18em;height:1em;border:1px solid #999;vertical-align:middle}
.ticks{display:flex;justify-content:space-between;width:18em;font-size:.8em;color:#555}
.nan{display:inline-block;width:1.4em;height:1em;border:1px solid #999;vertical-align:middle}
.row{margin:0 0 1.2em 0;border-top:1px solid #ddd;padding-top:.5em}
.hdr{font-size:.85em;color:#444;margin-bottom:.3em}
.hdr b{color:#000;font-size:1.05em;margin-right:.8em}
.kv{display:inline-block;margin-right:1em}
.txt{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.95em;
white-space:pre-wrap;word-break:break-word;line-height:1.7}
.txt span{border-radius:2px;box-shadow:inset 0 0 0 1px rgba(0,0,0,.06)}
""".strip()


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
    unit_txt = f" ({html.escape(unit)})" if unit else ""
    s = _fmt_value(scale)
    if diverging:
        grad = f"linear-gradient(to right,{_hex(_DIV_NEG)},#ffffff,{_hex(_DIV_POS)})"
        ticks = f"<div>&le; &minus;{s} (orange)</div><div>0</div><div>&ge; +{s} (blue)</div>"
    else:
        grad = f"linear-gradient(to right,#ffffff,{_hex(_SEQ_HIGH)})"
        ticks = f"<div>&le; 0</div><div>&ge; {s}</div>"
    return (
        '<div class="legend">'
        f"<div><b>{html.escape(value_label)}</b>{unit_txt}</div>"
        f'<div class="bar" style="background:{grad}"></div> '
        f'<div class="nan" style="background:{_NAN_COLOUR}"></div> n/a'
        f'<div class="ticks">{ticks}</div>'
        f"<div>Colour saturates at the 99th percentile of |value| over all rows: "
        f"{s}{(' ' + html.escape(unit)) if unit else ''}.</div>"
        "</div>"
    )


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
    parsed: list[tuple[str, list[str], list[float], Mapping[str, Any]]] = []
    all_values: list[float] = []
    for i, row in enumerate(rows):
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
    out: list[str] = [
        "<!doctype html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(title)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        f"<h1>{html.escape(title)}</h1>",
        _legend(scale, value_label, unit, diverging),
    ]
    for label, pieces, values, extra in parsed:
        kv = "".join(
            f'<div class="kv">{html.escape(str(k))}: {html.escape(str(v))}</div>'
            for k, v in extra.items()
        )
        out.append(f'<div class="row"><div class="hdr"><b>{html.escape(label)}</b>{kv}</div>')
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
    out.append("</body>")
    out.append("</html>")
    return "\n".join(out) + "\n"


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


def append_heatmap(
    doc: str,
    rows: Sequence[Any],
    *,
    title: str,
    value_label: str,
    unit: str = "nats",
    diverging: bool = False,
) -> str:
    """``doc`` (from :func:`token_heatmap_html`) with a second heatmap appended: its own
    heading, legend and colour scale, the rows as in :func:`token_heatmap_html`.

    >>> a = token_heatmap_html([{"pieces": ["a"], "values": [1.0]}], title="x", value_label="v")
    >>> b = append_heatmap(a, [{"pieces": ["a"], "values": [2.0]}], title="y", value_label="w")
    >>> b.count("<span"), b.count("<h1>"), b.count("<h2>"), b.rstrip().endswith("</html>")
    (2, 1, 1, True)
    """
    second = token_heatmap_html(
        rows, title=title, value_label=value_label, unit=unit, diverging=diverging
    )
    h1 = f"<h1>{html.escape(title)}</h1>"
    body = second[second.index(h1) + len(h1) : second.rindex("</body>")]
    section = f"<h2>{html.escape(title)}</h2>{body}"
    cut = doc.rindex("</body>")
    return doc[:cut] + section + doc[cut:]
