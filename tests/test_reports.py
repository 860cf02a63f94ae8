"""Membership, generation and demo reports: every number drawn is checked against an
independent computation (pair counting for AUCs, shoelace areas for densities, plain
counting for rates and cells), user text is escaped, and each page is one ``viz.page``."""

from __future__ import annotations

import html
import math
import re
from dataclasses import fields

import numpy as np
import pytest

from surprisal import grammar
from surprisal.grammar import Generation, Membership
from surprisal.grammar.reports import generation_sections, membership_sections
from surprisal.report.plots import PALETTE
from surprisal.testing import tiny_lm

G = grammar.zoo["dyck1"]


@pytest.fixture(scope="module")
def m() -> Membership:
    lm = tiny_lm("gpt2", max_positions=512)
    return grammar.membership(
        G,
        model=lm,
        n=20,
        max_len=8,
        explanation=G.explanation,
        control=G.control,
        n_boot=200,
        baseline=None,  # chance levels are tested in test_chance.py; the legend without them
    )


@pytest.fixture(scope="module")
def secs(m) -> dict[str, str]:
    return dict(membership_sections(m))


def _pair_count_auc(pos: np.ndarray, neg: np.ndarray) -> float:
    """P(member > non-member) + P(tie) / 2, by looking at every pair."""
    wins = sum(1.0 if p > q else 0.5 if p == q else 0.0 for p in pos for q in neg)
    return wins / (len(pos) * len(neg))


def _points(s: str) -> np.ndarray:
    return np.array([[float(v) for v in p.split(",")] for p in s.split()])


def _svgs(body: str) -> list[str]:
    return re.findall(r"<svg.*?</svg>", body, re.S)


def test_membership_page_is_one_template_with_every_section(m):
    doc = m.to_html()
    assert doc.startswith("<!doctype html>") and doc.count("<html") == 1
    assert "<script" not in doc.lower() and "all values in nats" in doc
    heads = re.findall(r"<h2>(.*?)</h2>", doc)
    assert heads == [
        "Strings and conditions",
        "Metrics",
        "ROC curves",
        "Member and non-member scores",
        "AUC by length",
    ]
    assert len(set(heads)) == len(heads)  # no doubled section titles


def test_roc_area_is_the_pair_counted_auc(m, secs):
    svg = _svgs(secs["ROC curves"])[0]
    lines = re.findall(r'<polyline points="([^"]+)"', svg)
    assert len(lines) == len(m.conditions)
    legend = re.findall(r"AUC (\d\.\d{3})\)", html.unescape(svg))
    # the frame of plots.roc_curve: 60 px left margin, 220 x 208 px plot area, top at 10
    for c, pts, shown in zip(m.conditions, lines, legend, strict=True):
        xy = _points(pts)
        fpr, tpr = (xy[:, 0] - 60) / 220, (218 - xy[:, 1]) / 208
        area = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))
        lab = m.labels == 1
        truth = _pair_count_auc(m.scores(c)[lab], m.scores(c)[~lab])
        assert area == pytest.approx(truth, abs=3e-3), c
        assert float(shown) == pytest.approx(truth, abs=5e-4), c
    # the diagonal is AUC 0.5 and says so; it is not called chance (chance is measured)
    assert "stroke-dasharray" in svg and "AUC 0.5 diagonal" in svg
    assert "chance (AUC 0.5)" not in svg and "0.5 = chance" not in secs["ROC curves"]


def test_roc_legend_shows_the_measured_length_only_chance(m, secs):
    """The length-only AUC (fewer tokens = member), counted pair by pair, is in the legend."""
    svg = html.unescape(_svgs(secs["ROC curves"])[0])
    lab = m.labels == 1
    ntok = np.asarray(m.n_tokens["none"], dtype=float)
    truth = _pair_count_auc(-ntok[lab], -ntok[~lab])
    assert "measured chance AUC:" in svg
    shown = re.search(r"length-only (\d\.\d{3}) \[(\d\.\d{3}), (\d\.\d{3})\]", svg)
    assert shown, svg
    auc, lo, hi = (float(v) for v in shown.groups())
    assert auc == pytest.approx(truth, abs=5e-4)
    assert lo <= auc <= hi


def test_score_distributions_are_densities_of_each_class(m, secs):
    body = secs["Member and non-member scores"]
    svgs = _svgs(body)
    assert len(svgs) == len(m.conditions)
    n1 = int(m.labels.sum())
    for c, svg in zip(m.conditions, svgs, strict=True):
        assert f"members (n={n1})" in svg and f"non-members (n={len(m.labels) - n1})" in svg
        assert f"condition {c} (nats)" in svg
        polys = re.findall(r'<polygon points="([^"]+)"', svg)
        assert len(polys) == 2
        # both are densities on the same axes: equal areas (shoelace, in pixels)
        areas = []
        for p in polys:
            xy = _points(p)
            x, y = xy[:, 0], xy[:, 1]
            areas.append(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2)
        assert areas[0] == pytest.approx(areas[1], rel=0.02)
    bits = dict(membership_sections(m, unit="bits"))["Member and non-member scores"]
    assert "(bits)" in bits and "(nats)" not in bits


def test_auc_by_length_points_are_pair_counted_aucs(m, secs):
    svg = _svgs(secs["AUC by length"])[0]
    lab = m.labels == 1
    # plots.errorbar_lines with ylim (0, 1): plot area from y = 10 to y = 188
    for i, c in enumerate(m.conditions):
        colour = PALETTE[i]
        cys = [
            float(v)
            for v in re.findall(rf'<circle cx="[^"]+" cy="([^"]+)" r="2.5" fill="{colour}"', svg)
        ]
        want = []
        for L in sorted(set(m.lengths.tolist())):
            sel = m.lengths == L
            if (sel & lab).any() and (sel & ~lab).any():
                want.append(_pair_count_auc(m.scores(c)[sel & lab], m.scores(c)[sel & ~lab]))
        assert len(want) >= 2
        got = [(188 - cy) / 178 for cy in cys]
        assert got == pytest.approx(want, abs=1e-3), c
    counts = re.search(r"members \+ non-members: (.*?)\. ", html.unescape(secs["AUC by length"]))
    assert counts is not None
    for cell in counts.group(1).split("; "):
        L, pn = cell.split(": ")
        sel = m.lengths == int(L)
        assert pn == f"{int((sel & lab).sum())}+{int((sel & ~lab).sum())}"


def test_metrics_table_shows_every_column_of_table(m, secs):
    body = secs["Metrics"]
    t = m.table()
    for col in t.columns:
        assert f"<th>{col}</th>" in body
    lab = m.labels == 1
    for c in m.conditions:
        auc = _pair_count_auc(m.scores(c)[lab], m.scores(c)[~lab])
        row = re.search(rf"<tr><td>{c}</td><td>([0-9.]+)</td>", body)
        assert row is not None and float(row.group(1)) == pytest.approx(auc, abs=5e-4)
    for k in m.lift:
        assert f"{k}: AUC" in body


def test_cells_count_the_strings(m, secs):
    body = secs["Strings and conditions"]
    lab, test = m.labels == 1, m.test
    rows = re.findall(r"<tr><td>([a-z ()]+)</td><td>(\d+)</td><td>(\d+)</td><td>(\d+)</td>", body)
    got = {name: tuple(int(v) for v in vals) for name, *vals in rows}
    assert got["calibration (threshold)"] == (
        int((lab & ~test).sum()),
        int((~lab & ~test).sum()),
        int((~test).sum()),
    )
    assert got["test (accuracy)"] == (
        int((lab & test).sum()),
        int((~lab & test).sum()),
        int(test.sum()),
    )
    assert got["all"] == (int(lab.sum()), int((~lab).sum()), len(m.labels))
    # the explanation and control texts are shown, escaped
    for c in ("explanation", "control"):
        assert html.escape(m.prefixes[c]) in body


def test_null_model_auc_is_noted_when_measured(m):
    """A Membership with chance levels (``m.chance["auc"]``) shows the null AUC in the legend."""

    class WithChance(Membership):
        @property
        def chance(self):  # type: ignore[override]
            return {"auc": {c: 0.6 + 0.01 * i for i, c in enumerate(self.conditions)}}

    wc = WithChance(**{f.name: getattr(m, f.name) for f in fields(m)})
    roc = dict(membership_sections(wc))["ROC curves"]
    for i, c in enumerate(m.conditions):
        assert f"{c} (AUC {m.auc[c]:.3f}; null {0.6 + 0.01 * i:.3f})" in html.unescape(roc)
    assert "no null model" in dict(membership_sections(m))["ROC curves"]


def test_user_text_is_escaped():
    lm = tiny_lm("gpt2", max_positions=512)
    m = grammar.membership(
        model=lm,
        positives=["<b>a</b>", "ab"],
        negatives=["ba", "a&b"],
        explanation="Tags like <i>x</i> & friends.",
        n_boot=50,
    )
    doc = m.to_html()
    assert "<i>x</i>" not in doc and "&lt;i&gt;x&lt;/i&gt; &amp; friends." in doc
    assert "<b>a</b>" not in doc


def _gen(samples: list[str], valid: list[bool], done: list[bool]) -> Generation:
    return Generation(
        grammar="dyck1",
        conditions=("none", "explanation"),
        prefixes={"none": "", "explanation": "Balanced <brackets> & more"},
        samples={"none": samples, "explanation": samples[::-1]},
        terminated={"none": np.array(done), "explanation": np.array(done[::-1])},
        valid={"none": np.array(valid), "explanation": np.array(valid[::-1])},
        known=frozenset({"()"}),
        n_boot=200,
    )


def test_generation_rates_are_counted_from_the_samples(tmp_path):
    samples = ["()", "()", "(())", "", "<b>)(", "(()"]
    valid = [True, True, True, True, False, False]
    done = [True, True, True, True, True, False]
    g = _gen(samples, valid, done)
    doc = g.to_html(tmp_path / "g.html")
    assert (tmp_path / "g.html").read_text(encoding="utf-8") == doc
    rates = dict(generation_sections(g))["Generation from dyck1: rates"]
    row = re.search(r"<tr><td>none</td><td>(\d+)</td>(.*?)</tr>", rates)
    assert row is not None and int(row.group(1)) == 6
    cells = re.findall(r"<td>([0-9.]+) \[([0-9.]+), ([0-9.]+)\]</td>", row.group(2))
    valid_rate = sum(valid) / 6  # 4 of 6
    distinct = len({s for s, v in zip(samples, valid, strict=True) if v}) / 6  # (), (()), ""
    novel = sum(v and s != "()" for s, v in zip(samples, valid, strict=True)) / 6
    for (v, lo, hi), want in zip(cells, (valid_rate, distinct, novel), strict=True):
        assert float(v) == pytest.approx(want, abs=5e-4)
        assert float(lo) <= float(v) <= float(hi)
    assert re.search(r"<td>0\.167</td></tr>", rates)  # empty: 1 of 6
    for word in ("valid", "distinct", "novel", "empty string counts"):
        assert word in rates
    listed = dict(generation_sections(g))["Generated samples"]
    assert "&lt;b&gt;)(" in listed and "<b>)(" not in listed and "(empty)" in listed
    assert listed.count("unterminated") == 2 and "Balanced &lt;brackets&gt; &amp; more" in doc


def test_generation_str_says_what_the_rates_mean():
    g = _gen(["()", ""], [True, True], [True, True])
    text = str(g)
    assert "empty string counts as valid" in text and "distinct valid strings" in text
    assert max(len(line) for line in text.splitlines()) <= 100


def test_grammar_cli_writes_one_page(tmp_path, capsys):
    from surprisal.cli import main
    from surprisal.demo import demo_path

    out = tmp_path / "g.html"
    argv = ["grammar", "--model", str(demo_path()), "--grammar", "dyck1", "--n", "8"]
    argv += ["--max-len", "6", "--generate", "3", "--html", str(out), "--device", "cpu"]
    assert main(argv) == 0
    doc = out.read_text(encoding="utf-8")
    assert doc.count("<html") == 1 and doc.count("<body") == 1 and "<pre>" not in doc
    heads = re.findall(r"<h2>(.*?)</h2>", doc)
    assert "ROC curves" in heads and "Generation from dyck1: rates" in heads
    assert len(heads) == len(set(heads))


@pytest.mark.slow
def test_demo_page_is_one_page_in_bits(tmp_path):
    from surprisal.demo import run_demo

    r = run_demo(quick=True, html_path=None)
    assert r.html is None
    r = run_demo(quick=True, html_path=tmp_path / "d.html")
    doc = r.html
    assert doc is not None and doc.count("<html") == 1 and doc.count("<style>") == 1
    assert "all values in bits" in doc and "<h1>" in doc and doc.count("<h1>") == 1
    heads = re.findall(r"<h2>(.*?)</h2>", doc)
    assert len(heads) == len(set(heads))
    for name in ("dyck2", "english", "even_parity"):
        assert f"3. membership, {name} \u2014 ROC curves" in heads
        assert f"2. delta, {name} \u2014 Per-target reductions" in heads
    # one unit: every axis and legend of every plot is in bits
    svg_text = " ".join(re.findall(r"<text[^>]*>([^<]*)</text>", doc))
    assert "(bits)" in svg_text and "nats" not in svg_text
    assert not math.isnan(r.numbers["seconds"])
