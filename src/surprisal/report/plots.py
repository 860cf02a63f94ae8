"""Small inline-SVG plots for the HTML reports: ROC curves, histograms, distributions, lines.

Each function returns one ``<svg>`` element as a string, to be placed in a
:func:`surprisal.viz.page` section. The SVG is written by hand rather than with matplotlib:
four plot kinds of a few dozen elements each are shorter to write than a matplotlib
dependency is to install, render identically everywhere, need no fonts or files, and keep
``import surprisal`` light. No JavaScript; every label is escaped.

Legends sit in their own column to the right of the plot area, one entry per line, so they
never cover data or each other. Colours are the Okabe-Ito palette (colour-blind safe).

>>> svg = histogram([0.1, 0.5, 0.7, 1.2], mean=0.625, ci=(0.2, 1.0), xlabel="reduction (nats)")
>>> svg.startswith("<svg") and svg.endswith("</svg>"), "<script" in svg
(True, False)
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence

import numpy as np

PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#000000")
_GREY = "#888888"
_CHAR_W = 7.6  # px per character at font-size 12 (generous: wide glyphs), sizes the legend


def _esc(s: object) -> str:
    return html.escape(str(s), quote=True)


def _finite(values: Sequence[float] | np.ndarray) -> np.ndarray:
    a = np.asarray(values, dtype=np.float64).ravel()
    return a[np.isfinite(a)]


def _nice_step(span: float, n: int) -> float:
    raw = span / max(1, n)
    mag = 10.0 ** math.floor(math.log10(raw))
    for m in (1.0, 2.0, 2.5, 5.0, 10.0):
        if raw <= m * mag:
            return m * mag
    return 10.0 * mag  # pragma: no cover - the loop always returns


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    step = _nice_step(hi - lo, n)
    first = math.ceil(lo / step - 1e-9) * step
    out = []
    v = first
    while v <= hi + 1e-9 * step:
        out.append(0.0 if abs(v) < step * 1e-9 else v)
        v += step
    return out


def _fmt_tick(v: float) -> str:
    return f"{v:.3g}".replace("-", "\u2212")


def _limits(values: np.ndarray, pad: float = 0.05) -> tuple[float, float]:
    if values.size == 0:
        return 0.0, 1.0
    lo, hi = float(values.min()), float(values.max())
    if hi - lo < 1e-12:
        return lo - 0.5, hi + 0.5
    d = (hi - lo) * pad
    return lo - d, hi + d


class _Frame:
    """A plot area with axes, and a legend column to its right."""

    def __init__(
        self,
        xlim: tuple[float, float],
        ylim: tuple[float, float],
        legend: Sequence[tuple[str, str, str]] = (),
        *,
        width: int = 340,
        height: int = 230,
    ) -> None:
        self.x0, self.x1 = xlim
        self.y0, self.y1 = ylim
        self.left, self.top, self.bottom = 60, 10, 42
        self.pw, self.ph = width - self.left - 10, height - self.top - self.bottom
        self.legend_entries = list(legend)
        self.lw = 0
        if self.legend_entries:
            longest = max(len(lab) for lab, _, _ in self.legend_entries)
            self.lw = int(34 + _CHAR_W * longest)
        self.W, self.H = width + self.lw, height

    def x(self, v: float) -> float:
        return self.left + (v - self.x0) / (self.x1 - self.x0) * self.pw

    def y(self, v: float) -> float:
        return self.top + self.ph - (v - self.y0) / (self.y1 - self.y0) * self.ph

    def axes(self, xlabel: str, ylabel: str) -> str:
        L, T, R, B = self.left, self.top, self.left + self.pw, self.top + self.ph
        out = [
            f'<rect x="{L}" y="{T}" width="{self.pw}" height="{self.ph}" fill="none" '
            f'stroke="#999"/>'
        ]
        for v in _ticks(self.x0, self.x1):
            px = self.x(v)
            out.append(
                f'<line x1="{px:.1f}" y1="{B}" x2="{px:.1f}" y2="{B + 4}" stroke="#555"/>'
                f'<text x="{px:.1f}" y="{B + 16}" text-anchor="middle" font-size="11" '
                f'fill="#333">{_fmt_tick(v)}</text>'
            )
        for v in _ticks(self.y0, self.y1, 4):
            py = self.y(v)
            out.append(
                f'<line x1="{L - 4}" y1="{py:.1f}" x2="{L}" y2="{py:.1f}" stroke="#555"/>'
                f'<line x1="{L}" y1="{py:.1f}" x2="{R}" y2="{py:.1f}" stroke="#eee"/>'
                f'<text x="{L - 7}" y="{py + 4:.1f}" text-anchor="end" font-size="11" '
                f'fill="#333">{_fmt_tick(v)}</text>'
            )
        out.append(
            f'<text x="{L + self.pw / 2:.1f}" y="{B + 34}" text-anchor="middle" font-size="12" '
            f'fill="#222">{_esc(xlabel)}</text>'
        )
        cy = T + self.ph / 2
        out.append(
            f'<text x="14" y="{cy:.1f}" text-anchor="middle" font-size="12" fill="#222" '
            f'transform="rotate(-90 14 {cy:.1f})">{_esc(ylabel)}</text>'
        )
        return "".join(out)

    def legend(self) -> str:
        """Entries ``(label, colour, kind)``, kind ``line``, ``dash``, ``box``, ``band`` or
        ``none`` (text only: a number that is not drawn)."""
        out = []
        x = self.left + self.pw + 18
        for i, (label, colour, kind) in enumerate(self.legend_entries):
            y = self.top + 10 + 18 * i
            if kind == "line":
                mark = (
                    f'<line x1="{x}" y1="{y}" x2="{x + 18}" y2="{y}" stroke="{colour}" '
                    'stroke-width="2"/>'
                )
            elif kind == "dash":
                mark = (
                    f'<line x1="{x}" y1="{y}" x2="{x + 18}" y2="{y}" stroke="{colour}" '
                    'stroke-width="1.5" stroke-dasharray="4 3"/>'
                )
            elif kind == "none":
                mark = ""
            elif kind == "band":
                mark = (
                    f'<rect x="{x}" y="{y - 6}" width="18" height="12" fill="{colour}" '
                    'opacity="0.25"/>'
                )
            else:
                mark = (
                    f'<rect x="{x}" y="{y - 6}" width="18" height="12" fill="{colour}" '
                    f'fill-opacity="0.35" stroke="{colour}"/>'
                )
            out.append(
                f'{mark}<text x="{x + 24}" y="{y + 4}" font-size="12" fill="#222">'
                f"{_esc(label)}</text>"
            )
        return "".join(out)

    def svg(self, body: str, label: str) -> str:
        return (
            f'<svg width="{self.W}" height="{self.H}" viewBox="0 0 {self.W} {self.H}" '
            f'role="img" aria-label="{_esc(label)}">'
            f'<rect width="{self.W}" height="{self.H}" fill="#fff"/>'
            f"{body}{self.legend()}</svg>"
        )


def _polyline(f: _Frame, xs: Sequence[float], ys: Sequence[float], colour: str) -> str:
    pts = " ".join(
        f"{f.x(a):.1f},{f.y(b):.1f}"
        for a, b in zip(xs, ys, strict=True)
        if math.isfinite(a) and math.isfinite(b)
    )
    return f'<polyline points="{pts}" fill="none" stroke="{colour}" stroke-width="2"/>'


def roc_points(scores: Sequence[float], labels: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """(fpr, tpr) of the ROC curve of ``scores`` (higher = more likely a positive), ties
    stepped together; both start at 0 and end at 1.

    >>> fpr, tpr = roc_points([0.9, 0.8, 0.1], [1, 0, 0])
    >>> fpr.tolist(), tpr.tolist()
    ([0.0, 0.0, 0.5, 1.0], [0.0, 1.0, 1.0, 1.0])
    """
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels).astype(bool)
    if s.shape != y.shape:
        raise ValueError(f"scores and labels differ in length: {s.size} vs {y.size}")
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError("an ROC curve needs at least one positive and one negative")
    order = np.argsort(-s, kind="stable")
    s, y = s[order], y[order]
    last = np.r_[np.nonzero(np.diff(s))[0], s.size - 1]  # the last index of each tie group
    tp = np.cumsum(y)[last]
    fp = np.cumsum(~y)[last]
    return np.r_[0.0, fp / n_neg], np.r_[0.0, tp / n_pos]


def roc_curve(
    curves: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    *,
    diagonal: bool = True,
    chance: Mapping[str, float | tuple[float, float, float]] | None = None,
) -> str:
    """ROC curves, one per condition, on the unit square, with the AUC 0.5 diagonal drawn.

    The diagonal is a ranking at random, not the chance level: a model that knows nothing
    still prefers strings with fewer tokens, so chance is measured (a random-weight twin,
    the length-only AUC; see :mod:`surprisal.baseline`) and named in the legend when given.

    >>> svg = roc_curve({"none": ([0, 0, 1], [0, 1, 1])}, chance={"length-only": 0.61})
    >>> "AUC 0.5 diagonal" in svg, "measured chance AUC:" in svg, "length-only 0.610" in svg
    (True, True, True)

    Args:
        curves: label (e.g. ``"explanation (AUC 0.81)"``) -> ``(fpr, tpr)``, see
            :func:`roc_points`.
        diagonal: draw the diagonal ``tpr = fpr`` (AUC 0.5).
        chance: measured chance levels to name in the legend, under a "measured chance
            AUC:" heading, label -> AUC or ``(AUC, ci_low, ci_high)``; legend entries only
            (a chance AUC is a number, not a curve to draw).
    """
    entries = [(lab, PALETTE[i % len(PALETTE)], "line") for i, lab in enumerate(curves)]
    if diagonal:
        entries.append(("AUC 0.5 diagonal", _GREY, "dash"))
    if chance is not None and not isinstance(chance, Mapping):
        raise TypeError(
            f"chance must be a mapping label -> measured chance AUC, got {chance!r}; to draw "
            "the AUC 0.5 diagonal or not, pass diagonal=True/False"
        )
    if chance:
        entries.append(("measured chance AUC:", _GREY, "none"))
    for lab, v in (chance or {}).items():
        if isinstance(v, bool) or not isinstance(v, (int, float, tuple)):
            raise TypeError(f"chance[{lab!r}] must be an AUC or (AUC, ci_low, ci_high), got {v!r}")
        auc, *ci = v if isinstance(v, tuple) else (v,)
        ci_text = f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else ""
        entries.append((f"{lab} {auc:.3f}{ci_text}", _GREY, "none"))
    f = _Frame((0.0, 1.0), (0.0, 1.0), entries, width=290, height=260)
    body = [f.axes("false-positive rate", "true-positive rate")]
    if diagonal:
        body.append(
            f'<line x1="{f.x(0):.1f}" y1="{f.y(0):.1f}" x2="{f.x(1):.1f}" y2="{f.y(1):.1f}" '
            f'stroke="{_GREY}" stroke-width="1.5" stroke-dasharray="4 3"/>'
        )
    for i, (fpr, tpr) in enumerate(curves.values()):
        body.append(_polyline(f, list(fpr), list(tpr), PALETTE[i % len(PALETTE)]))
    return f.svg("".join(body), "ROC curves")


def _bins(values: np.ndarray, lo: float, hi: float, bins: int | None) -> np.ndarray:
    if bins is None:
        bins = int(min(30, max(5, math.ceil(2 * math.sqrt(max(values.size, 1))))))
    return np.linspace(lo, hi, bins + 1)


def histogram(
    values: Sequence[float] | np.ndarray,
    *,
    xlabel: str,
    mean: float | None = None,
    ci: tuple[float, float] | None = None,
    level: float = 0.95,
    reference: float | None = 0.0,
    bins: int | None = None,
    mean_label: str = "mean",
    item_label: str = "items",
) -> str:
    """A histogram of ``values``, with the mean (a line) and its CI (a shaded band) drawn.

    Args:
        values: the numbers (NaN and infinities are left out).
        xlabel: what the values are, with the unit, e.g. ``"reduction (nats)"``.
        mean, ci: the mean and its ``(low, high)`` confidence interval, if given.
        level: the CI's level, for the legend.
        reference: a dashed line at this value (default 0: "no effect"); None for none.
        bins: the number of bins (default: from the number of values, 5 to 30).
        mean_label, item_label: legend names of the line and the bars (to mark another
            value than the mean, e.g. the explanation among its controls).
    """
    v = _finite(values)
    marks = [x for x in (mean, reference, *(ci or ())) if x is not None and math.isfinite(x)]
    lo, hi = _limits(np.r_[v, marks])
    edges = _bins(v, lo, hi, bins)
    counts, _ = np.histogram(v, bins=edges)
    entries = [(f"{item_label} (n={v.size})", PALETTE[0], "box")]
    if ci is not None:
        entries.append((f"{level:.0%} CI [{ci[0]:.3g}, {ci[1]:.3g}]", PALETTE[1], "band"))
    if mean is not None:
        entries.append((f"{mean_label} {mean:.3g}", PALETTE[5], "line"))
    if reference is not None:
        entries.append((f"{reference:g}", _GREY, "dash"))
    f = _Frame((lo, hi), (0.0, max(1.0, float(counts.max(initial=0)) * 1.1)), entries)
    body = [f.axes(xlabel, "count")]
    if ci is not None:
        a, b = f.x(ci[0]), f.x(ci[1])
        body.append(
            f'<rect x="{a:.1f}" y="{f.top}" width="{max(b - a, 1.0):.1f}" height="{f.ph}" '
            f'fill="{PALETTE[1]}" opacity="0.25"/>'
        )
    for c, a, b in zip(counts, edges[:-1], edges[1:], strict=True):
        if c:
            body.append(
                f'<rect x="{f.x(a):.1f}" y="{f.y(c):.1f}" width="{f.x(b) - f.x(a):.1f}" '
                f'height="{f.y(0) - f.y(c):.1f}" fill="{PALETTE[0]}" fill-opacity="0.35" '
                f'stroke="{PALETTE[0]}"/>'
            )
    if reference is not None:
        body.append(_vline(f, reference, _GREY, dash=True))
    if mean is not None:
        body.append(_vline(f, mean, PALETTE[5], dash=False))
    return f.svg("".join(body), f"histogram of {xlabel}")


def _vline(f: _Frame, x: float, colour: str, *, dash: bool) -> str:
    d = ' stroke-dasharray="4 3"' if dash else ""
    return (
        f'<line x1="{f.x(x):.1f}" y1="{f.top}" x2="{f.x(x):.1f}" y2="{f.top + f.ph}" '
        f'stroke="{colour}" stroke-width="2"{d}/>'
    )


def distributions(
    groups: Mapping[str, Sequence[float] | np.ndarray], *, xlabel: str, bins: int | None = None
) -> str:
    """Overlaid histograms of two (or more) groups on shared bins, as densities (the
    groups may differ in size), e.g. member vs non-member scores."""
    arrays = {k: _finite(v) for k, v in groups.items()}
    allv = np.concatenate(list(arrays.values())) if arrays else np.zeros(0)
    lo, hi = _limits(allv)
    edges = _bins(allv, lo, hi, bins)
    width = edges[1] - edges[0]
    dens = {
        k: (
            np.histogram(a, bins=edges)[0] / (a.size * width)
            if a.size
            else np.zeros(len(edges) - 1)
        )
        for k, a in arrays.items()
    }
    top = max([float(d.max(initial=0)) for d in dens.values()] + [1e-12]) * 1.1
    entries = [
        (f"{k} (n={arrays[k].size})", PALETTE[i % len(PALETTE)], "box")
        for i, k in enumerate(arrays)
    ]
    f = _Frame((lo, hi), (0.0, top), entries)
    body = [f.axes(xlabel, "density")]
    for i, d in enumerate(dens.values()):
        c = PALETTE[i % len(PALETTE)]
        pts = [f"{f.x(edges[0]):.1f},{f.y(0):.1f}"]
        for h, a, b in zip(d, edges[:-1], edges[1:], strict=True):
            pts.append(f"{f.x(a):.1f},{f.y(h):.1f} {f.x(b):.1f},{f.y(h):.1f}")
        pts.append(f"{f.x(edges[-1]):.1f},{f.y(0):.1f}")
        body.append(
            f'<polygon points="{" ".join(pts)}" fill="{c}" fill-opacity="0.25" stroke="{c}" '
            'stroke-width="1.5"/>'
        )
    return f.svg("".join(body), f"distributions of {xlabel}")


def errorbar_lines(
    x: Sequence[float],
    series: Mapping[str, tuple[Sequence[float], Sequence[float], Sequence[float]]],
    *,
    xlabel: str,
    ylabel: str,
    reference: float | None = None,
    reference_label: str = "chance",
    ylim: tuple[float, float] | None = None,
) -> str:
    """Lines with error bars over a shared x, e.g. AUC by string length per condition.

    Args:
        x: the x positions (e.g. lengths).
        series: label -> ``(y, low, high)``, each as long as ``x``; NaN points are skipped.
        reference: a dashed horizontal line (e.g. 0.5 for AUC at chance), or None.
        ylim: fixed y limits (default: from the data and the reference).
    """
    xs = np.asarray(x, dtype=np.float64)
    vals = [_finite(np.r_[y, lo, hi]) for y, lo, hi in series.values()]
    ally = np.concatenate([*vals, np.asarray([reference] if reference is not None else [])])
    yl = ylim if ylim is not None else _limits(ally)
    xl = _limits(xs, pad=0.08)
    entries = [(lab, PALETTE[i % len(PALETTE)], "line") for i, lab in enumerate(series)]
    if reference is not None:
        entries.append((f"{reference_label} ({reference:g})", _GREY, "dash"))
    f = _Frame(xl, yl, entries)
    body = [f.axes(xlabel, ylabel)]
    if reference is not None:
        body.append(
            f'<line x1="{f.left}" y1="{f.y(reference):.1f}" x2="{f.left + f.pw}" '
            f'y2="{f.y(reference):.1f}" stroke="{_GREY}" stroke-width="1.5" '
            'stroke-dasharray="4 3"/>'
        )
    k = len(series)
    for i, (y, lo, hi) in enumerate(series.values()):
        c = PALETTE[i % len(PALETTE)]
        # series side by side within a step, so their error bars do not hide each other
        dx = (i - (k - 1) / 2) * 0.012 * (xl[1] - xl[0])
        body.append(_polyline(f, list(xs + dx), list(y), c))
        for a, m, b0, b1 in zip(xs + dx, y, lo, hi, strict=True):
            if not (math.isfinite(m) and math.isfinite(b0) and math.isfinite(b1)):
                continue
            px = f.x(a)
            body.append(
                f'<line x1="{px:.1f}" y1="{f.y(b0):.1f}" x2="{px:.1f}" y2="{f.y(b1):.1f}" '
                f'stroke="{c}" stroke-width="1.5"/>'
                f'<line x1="{px - 3:.1f}" y1="{f.y(b0):.1f}" x2="{px + 3:.1f}" y2="{f.y(b0):.1f}" '
                f'stroke="{c}"/><line x1="{px - 3:.1f}" y1="{f.y(b1):.1f}" x2="{px + 3:.1f}" '
                f'y2="{f.y(b1):.1f}" stroke="{c}"/>'
                f'<circle cx="{px:.1f}" cy="{f.y(m):.1f}" r="2.5" fill="{c}"/>'
            )
    return f.svg("".join(body), f"{ylabel} by {xlabel}")
