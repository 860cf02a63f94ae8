"""Tests for surprisal.viz (self-contained HTML token heatmaps)."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from surprisal.viz import token_heatmap_html, write_html

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
