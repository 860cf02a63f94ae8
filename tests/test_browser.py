"""Every HTML report renders in a real browser: headless Chromium loads it without console
errors and the screenshot is not blank. Skipped when no Chromium is installed (Debian:
``apt-get install -y chromium``)."""

from __future__ import annotations

import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

import surprisal
from surprisal.report import plots
from surprisal.viz import page, token_heatmap_html, write_html

CHROMIUM = next(
    (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)),
    None,
)
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(CHROMIUM is None, reason="no chromium (apt-get install chromium)"),
]
WIDTH, HEIGHT = 1000, 1300


def _render(path: Path, png: Path) -> str:
    """Screenshot ``path``; returns Chromium's log (console messages are logged there)."""
    assert CHROMIUM is not None
    r = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--disable-gpu",
            "--no-sandbox",
            "--hide-scrollbars",
            "--enable-logging=stderr",
            "--v=0",
            f"--screenshot={png}",
            f"--window-size={WIDTH},{HEIGHT}",
            path.resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    return r.stderr


def _png(path: Path) -> tuple[int, int, bytes]:
    """Width, height and the decompressed (still filtered) pixel rows of a PNG."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, size = 8, b"", (0, 0)
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + n]
        if kind == b"IHDR":
            size = struct.unpack(">II", body[:8])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    return size[0], size[1], zlib.decompress(idat)


def _check(doc: str, tmp_path: Path, name: str, blank_bytes: int) -> None:
    html = write_html(doc, tmp_path / f"{name}.html")
    png = tmp_path / f"{name}.png"
    log = _render(html, png)
    console = [x for x in log.splitlines() if "CONSOLE" in x or "Failed to load" in x]
    assert not console, console
    w, h, pixels = _png(png)
    assert (w, h) == (WIDTH, HEIGHT)
    # a blank page is a few KB of one colour; a report has text, colour and lines
    assert png.stat().st_size > 5 * blank_bytes, (png.stat().st_size, blank_bytes)
    assert len(set(pixels)) > 64


@pytest.fixture(scope="module")
def blank_bytes(tmp_path_factory) -> int:
    d = tmp_path_factory.mktemp("blank")
    html = write_html(page("", [], ""), d / "blank.html")
    _render(html, d / "blank.png")
    return (d / "blank.png").stat().st_size


def test_heatmap_page(tmp_path, blank_bytes, gpt2_lm):
    s = surprisal.score(["The cat sat on the mat.", "Colorless green ideas."], model=gpt2_lm)
    rows = [{"label": t.text, "pieces": t.pieces, "values": t.surprisal().tolist()} for t in s]
    _check(
        token_heatmap_html(rows, title="surprisal", value_label="surprisal"),
        tmp_path,
        "heat",
        blank_bytes,
    )


def test_delta_report(tmp_path, blank_bytes, gpt2_lm):
    d = surprisal.delta(
        [f"the cat number {i} sat on the mat" for i in range(8)],
        explanation="Cats sit on mats.",
        control="The weather is mild.",
        model=gpt2_lm,
    )
    _check(d.to_html(unit="bits"), tmp_path, "delta", blank_bytes)


def test_plot_primitives_page(tmp_path, blank_bytes):
    import numpy as np

    rng = np.random.default_rng(0)
    pos, neg = rng.normal(1, 1, 40), rng.normal(0, 1, 60)
    s, y = np.r_[pos, neg], np.r_[np.ones(40), np.zeros(60)]
    x = [2, 4, 6, 8]
    body = "".join(
        [
            plots.roc_curve({"explanation": plots.roc_points(s, y)}),
            plots.distributions({"members": pos, "non-members": neg}, xlabel="log p (nats)"),
            plots.histogram(pos, xlabel="reduction (nats)", mean=1.0, ci=(0.7, 1.3)),
            plots.errorbar_lines(
                x,
                {"none": ([0.5, 0.6, 0.7, 0.6], [0.4] * 4, [0.8] * 4)},
                xlabel="length",
                ylabel="AUC",
                reference=0.5,
                ylim=(0, 1),
            ),
        ]
    )
    _check(
        page("plots", [("All four", f'<div class="plots">{body}</div>')], "nats"),
        tmp_path,
        "plots",
        blank_bytes,
    )


def test_console_errors_are_caught(tmp_path):
    """The check above can fail: a page with a script error shows up in the log."""
    bad = tmp_path / "bad.html"
    bad.write_text("<!doctype html><p>x</p><script>undefinedFunction();</script>")
    log = _render(bad, tmp_path / "bad.png")
    assert any("CONSOLE" in x and "undefinedFunction" in x for x in log.splitlines())


def test_membership_and_generation_reports(tmp_path, blank_bytes):
    from surprisal import grammar
    from surprisal.grammar.reports import generation_sections, membership_sections
    from surprisal.testing import tiny_lm

    g, lm = grammar.zoo["dyck1"], tiny_lm("gpt2", max_positions=512)
    m = grammar.membership(
        g, model=lm, n=20, max_len=8, explanation=g.explanation, control=g.control, n_boot=200
    )
    _check(m.to_html(), tmp_path, "membership", blank_bytes)
    gen = grammar.generation(g, model=lm, n=6, max_new_tokens=6, explanation=g.explanation)
    _check(gen.to_html(), tmp_path, "generation", blank_bytes)
    both = page("both", membership_sections(m) + generation_sections(gen), "nats")
    _check(both, tmp_path, "both", blank_bytes)


def test_demo_report(tmp_path, blank_bytes):
    from surprisal.demo import run_demo

    report = run_demo(quick=True, html_path=tmp_path / "demo-src.html")
    assert report.html is not None
    _check(report.html, tmp_path, "demo", blank_bytes)
