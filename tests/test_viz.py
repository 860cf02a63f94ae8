"""Tests for surprisal.viz (self-contained HTML token heatmaps)."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from surprisal.report import plots
from surprisal.viz import heatmap, page, token_heatmap_html, write_html

_SPAN = re.compile(
    r'<span style="background:(#[0-9a-f]{6});color:#[0-9a-f]{3}" title="([^"]*)">(.*?)</span>', re.S
)
_ROW_TXT = re.compile(r'<div class="txt">(.*?)</div></div>', re.S)


@dataclass
class Row:
    label: str
    pieces: list[str]
    values: list[float]
    extra: dict[str, str] = field(default_factory=dict)


NAN = float("nan")

ROWS = [
    Row("plain", ["The", " cat", " sat", "."], [1.0, 5.0, 2.5, 0.1], {"total": "8.6 nats"}),
    {
        "label": "tricky <label>",
        "pieces": ["<script>", "alert('x')", "</script>", ' & "q"', "\n", "  two\tspaces"],
        "values": [0.5, NAN, -1.0, 3.0, None, 12.0],
        "extra": {"k<": "v&"},
    },
    {"label": "empty", "pieces": [], "values": []},
]
TEXTS = ["The cat sat.", "<script>alert('x')</script> & \"q\"\n  two\tspaces", ""]


def _render(**kw: object) -> str:
    args: dict = {"title": "Demo <t>", "value_label": "surprisal"}
    args.update(kw)
    return token_heatmap_html(ROWS, **args)


def test_document_structure() -> None:
    doc = _render()
    assert doc.startswith("<!doctype html>")
    assert '<meta charset="utf-8">' in doc
    assert doc.rstrip().endswith("</html>")
    assert "<title>Demo &lt;t&gt;</title>" in doc
    assert "white-space:pre-wrap" in doc
    assert "nats" in doc and "surprisal" in doc


def test_no_script_and_no_network() -> None:
    for diverging in (False, True):
        doc = _render(diverging=diverging).lower()
        assert "<script" not in doc
        assert "http" not in doc
        assert "<link" not in doc and "<img" not in doc


def test_escaping() -> None:
    doc = _render()
    assert "&lt;script&gt;" in doc
    assert "&lt;/script&gt;" in doc
    assert "tricky &lt;label&gt;" in doc
    assert "k&lt;: v&amp;" in doc
    assert "<label>" not in doc


def test_span_count_equals_piece_count() -> None:
    doc = _render()
    n_pieces = sum(len(r.pieces if isinstance(r, Row) else r["pieces"]) for r in ROWS)
    assert doc.count("<span") == n_pieces
    assert len(_SPAN.findall(doc)) == n_pieces


def test_pieces_concatenate_back_to_texts() -> None:
    doc = _render()
    row_chunks = _ROW_TXT.findall(doc)
    assert len(row_chunks) == len(TEXTS)
    for chunk, text in zip(row_chunks, TEXTS, strict=True):
        stripped = html.unescape(re.sub(r"<[^>]*>", "", chunk))
        assert stripped == text


def test_tooltips_and_nan() -> None:
    doc = _render()
    spans = _SPAN.findall(doc)
    tips = [html.unescape(t) for _, t, _ in spans]
    assert tips[0] == "The | 1.000 nats"
    assert tips[4] == "<script> | 0.500 nats"
    assert tips[5] == "alert('x') | n/a"
    assert tips[8] == "\\n | n/a"  # None is treated as NaN; newline shown visibly
    # NaN / None pieces are grey.
    assert spans[5][0] == spans[8][0] == "#d9d9d9"
    # custom unit
    doc_bits = token_heatmap_html(ROWS[:1], title="t", value_label="v", unit="bits")
    assert "1.000 bits" in html.unescape(doc_bits)


def test_sequential_scale_monotone() -> None:
    rows = [{"label": "r", "pieces": ["a", "b", "c"], "values": [0.0, 1.0, 2.0]}]
    bgs = [bg for bg, _, _ in _SPAN.findall(token_heatmap_html(rows, title="t", value_label="v"))]
    assert bgs[0] == "#ffffff"
    greens = [int(bg[3:5], 16) for bg in bgs]
    assert greens[0] > greens[1] > greens[2]


def test_diverging_colours_differ_in_sign() -> None:
    rows = [{"label": "r", "pieces": ["a", "b", "c"], "values": [2.0, 0.0, -2.0]}]
    doc = token_heatmap_html(rows, title="t", value_label="reduction", diverging=True)
    (pos, _, _), (zero, _, _), (neg, _, _) = _SPAN.findall(doc)
    assert zero == "#ffffff"
    assert pos != neg

    def rgb(c: str) -> tuple[int, int, int]:
        return int(c[1:3], 16), int(c[3:5], 16), int(c[5:7], 16)

    assert rgb(pos)[2] > rgb(pos)[0]  # positive: blue
    assert rgb(neg)[0] > rgb(neg)[2]  # negative: orange/red


def test_robust_scale_ignores_single_outlier() -> None:
    values = [1.0] * 199 + [1000.0]
    rows = [{"label": "r", "pieces": ["x"] * 200, "values": values}]
    bgs = [bg for bg, _, _ in _SPAN.findall(token_heatmap_html(rows, title="t", value_label="v"))]
    assert bgs[0] != "#ffffff"  # ordinary values still visibly coloured
    assert bgs[0] == bgs[-1]  # saturated at the 99th-percentile scale


def test_all_nan_and_zero_rows_do_not_crash() -> None:
    rows = [
        {"label": "a", "pieces": ["x", "y"], "values": [NAN, NAN]},
        {"label": "b", "pieces": ["z"], "values": [0.0]},
    ]
    doc = token_heatmap_html(rows, title="t", value_label="v", diverging=True)
    assert doc.count("<span") == 3


def test_errors() -> None:
    with pytest.raises(ValueError, match="2 pieces but 1 values"):
        token_heatmap_html(
            [{"label": "r", "pieces": ["a", "b"], "values": [1.0]}], title="t", value_label="v"
        )
    with pytest.raises(TypeError, match="not str"):
        token_heatmap_html(
            [{"label": "r", "pieces": [1], "values": [1.0]}], title="t", value_label="v"
        )


def test_write_html(tmp_path: Path) -> None:
    doc = _render()
    out = write_html(doc, tmp_path / "nested" / "heat.html")
    assert isinstance(out, Path)
    assert out.read_text(encoding="utf-8") == doc
    out2 = write_html("<!doctype html>é", str(tmp_path / "s.html"))
    assert out2.read_bytes().decode("utf-8").endswith("é")


# ---------------------------------------------------------------- page template and plots


_TEXT = re.compile(r'<text x="([0-9.]+)" y="([0-9.]+)"[^>]*text-anchor="(\w+)"[^>]*>([^<]*)</text>')
_FRAME = re.compile(
    r'<rect x="([0-9.]+)" y="([0-9.]+)" width="([0-9.]+)" height="([0-9.]+)" '
    r'fill="none" stroke="#999"/>'
)


def test_page_template() -> None:
    doc = page(
        "Title <x>", [("Part <1>", "<p>body</p>"), ("", "<p>two</p>")], "bits", subtitle="model m"
    )
    assert doc.startswith("<!doctype html>") and doc.rstrip().endswith("</html>")
    assert doc.count("<h1>") == 1 and "<h1>Title &lt;x&gt;</h1>" in doc
    assert doc.count("<h2>") == 1 and "<h2>Part &lt;1&gt;</h2>" in doc
    assert "model m · all values in bits" in doc
    assert "<script" not in doc and "http" not in doc
    # token_heatmap_html is the same template
    heat = token_heatmap_html(ROWS[:1], title="t", value_label="v")
    assert heat.count("<style>") == 1 and 'class="surprisal"' in heat


def test_heatmap_legend_ticks_sit_below_the_bar_and_apart() -> None:
    for diverging in (False, True):
        frag = heatmap(ROWS[:1], value_label="v", diverging=diverging)
        svg = frag[frag.index("<svg") : frag.index("</svg>")]
        bar_bottom = 1 + 14
        ticks = [t for t in _TEXT.findall(svg) if t[3] != "n/a"]
        assert [a for _, _, a, _ in ticks] == (
            ["start", "middle", "end"] if diverging else ["start", "end"]
        )
        assert all(float(y) > bar_bottom + 8 for _, y, _, _ in ticks)  # below the bar
        xs = [float(x) for x, _, _, _ in ticks]
        assert xs == sorted(xs) and xs[-1] - xs[0] >= 290  # at the bar's two ends
        assert "0≥" not in frag


def test_heatmap_caps_rows() -> None:
    rows = [{"label": f"r{i}", "pieces": ["a"], "values": [1.0]} for i in range(5)]
    frag = heatmap(rows, value_label="v", max_rows=2)
    assert frag.count("<span") == 2 and "first 2 of 5 texts" in frag


def _legend_outside_plot(svg: str) -> None:
    (x, _, w, _), *_ = _FRAME.findall(svg)
    right = float(x) + float(w)
    labels = re.findall(r'<text x="([0-9.]+)" y="[0-9.]+" font-size="12" fill="#222">', svg)
    assert labels and all(float(lx) > right for lx in labels), (right, labels)


def test_roc_points_area_is_the_mann_whitney_auc() -> None:
    rng = np.random.default_rng(0)
    s = np.round(rng.normal(size=60), 1)  # rounded: ties
    y = (rng.random(60) < 0.4).astype(int)
    y[:2] = [0, 1]
    fpr, tpr = plots.roc_points(s, y)
    assert fpr[0] == tpr[0] == 0.0 and fpr[-1] == tpr[-1] == 1.0
    area = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))
    pos, neg = s[y == 1], s[y == 0]
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    assert area == pytest.approx(wins / (len(pos) * len(neg)), abs=1e-12)
    with pytest.raises(ValueError, match="one positive and one negative"):
        plots.roc_points([1.0, 2.0], [1, 1])


def test_roc_curve_draws_the_diagonal_and_a_curve_per_condition() -> None:
    curves = {"none (AUC 0.50)": ([0, 0.5, 1], [0, 0.5, 1]), "expl": ([0, 0, 1], [0, 1, 1])}
    svg = plots.roc_curve(curves)
    assert svg.count("<polyline") == 2
    # the diagonal is AUC 0.5, not "chance": chance is measured, and absent when not given
    assert 'stroke-dasharray="4 3"' in svg and "AUC 0.5 diagonal" in svg
    assert "chance" not in svg
    (x, y, w, h), *_ = _FRAME.findall(svg)
    x0, y0, x1, y1 = float(x), float(y) + float(h), float(x) + float(w), float(y)
    assert f'<line x1="{x0:.1f}" y1="{y0:.1f}" x2="{x1:.1f}" y2="{y1:.1f}"' in svg  # diagonal
    _legend_outside_plot(svg)


def test_roc_curve_names_measured_chance_levels_in_the_legend() -> None:
    curves = {"none (AUC 0.80)": ([0, 0, 1], [0, 1, 1])}
    svg = plots.roc_curve(curves, chance={"null": 0.6123, "length-only": (0.61, 0.52, 0.7)})
    assert "measured chance AUC:" in svg and "chance (AUC 0.5)" not in svg
    assert "null 0.612" in svg and "length-only 0.610 [0.520, 0.700]" in svg
    # legend text only: no line, mark or curve is drawn for a chance AUC
    plain = plots.roc_curve(curves)
    assert svg.count("<polyline") == 1 and svg.count("<line") == plain.count("<line")
    _legend_outside_plot(svg)
    bare = plots.roc_curve(curves, diagonal=False)
    assert "stroke-dasharray" not in bare and "diagonal" not in bare
    with pytest.raises(TypeError, match="diagonal=True"):
        plots.roc_curve(curves, chance=True)  # type: ignore[arg-type]


def test_histogram_draws_the_mean_inside_its_ci_band() -> None:
    vals = [0.3, 0.5, 0.7, 1.2, 0.9, 0.4]
    m = float(np.mean(vals))
    svg = plots.histogram(vals, xlabel="reduction (nats)", mean=m, ci=(0.45, 0.85))
    band = re.search(
        r'<rect x="([0-9.]+)" y="[0-9.]+" width="([0-9.]+)" height="[0-9.]+" '
        r'fill="#E69F00" opacity="0.25"/>',
        svg,
    )
    mean = re.search(r'<line x1="([0-9.]+)"[^>]*stroke="#D55E00" stroke-width="2"/>', svg)
    zero = re.search(
        r'<line x1="([0-9.]+)"[^>]*stroke="#888888" stroke-width="2" '
        r"stroke-dasharray",
        svg,
    )
    assert band and mean and zero
    bx, bw, mx, zx = float(band[1]), float(band[2]), float(mean[1]), float(zero[1])
    assert bx < mx < bx + bw and zx < bx  # 0 < CI low < mean < CI high, left to right
    # where the mean sits within the band matches where it sits within the CI
    assert (mx - bx) / bw == pytest.approx((m - 0.45) / 0.4, abs=0.01)
    assert f"mean {m:.3g}" in svg and "95% CI [0.45, 0.85]" in svg and "n=6" in svg
    _legend_outside_plot(svg)
    assert plots.histogram([], xlabel="x").startswith("<svg")  # nothing to draw: no crash
    assert plots.histogram([2.0, 2.0], xlabel="x", reference=None).count("<rect") >= 2


def test_distributions_and_error_bars() -> None:
    svg = plots.distributions(
        {"members": [1, 2, 2, 3], "non-members": [3, 4, 4, 5, 6]}, xlabel="log p (nats)"
    )
    assert svg.count("<polygon") == 2 and "members (n=4)" in svg and "non-members (n=5)" in svg
    _legend_outside_plot(svg)
    nan = float("nan")
    svg = plots.errorbar_lines(
        [2, 4, 6],
        {
            "none": ([0.5, 0.6, nan], [0.4, 0.5, nan], [0.6, 0.7, nan]),
            "explanation": ([0.7, 0.8, 0.9], [0.6, 0.7, 0.8], [0.8, 0.9, 1.0]),
        },
        xlabel="length",
        ylabel="AUC",
        reference=0.5,
        ylim=(0, 1),
    )
    assert svg.count("<circle") == 5 and "chance (0.5)" in svg
    _legend_outside_plot(svg)
