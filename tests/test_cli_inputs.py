"""The command's inputs and what it prints when a file goes wrong (issue 24, items 4, 8, 9).

A byte-order mark is read away in every input format; a byte that is not UTF-8, or a full
disk, gives one line naming the file (and line), not a traceback, and leaves no empty
output behind; progress bars appear on a terminal only, one per call, unless asked.
"""

from __future__ import annotations

import errno
import io
import json
import os
import sys

import pytest

from surprisal import corpus
from surprisal.cli import main

BOM = b"\xef\xbb\xbf"
TEXTS = ["([])[]", "the cat sat", "a b c"]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, lms):
    d = tmp_path_factory.mktemp("gpt2")
    lms["gpt2"].model.save_pretrained(d)
    lms["gpt2"].tokenizer.save_pretrained(d)
    return str(d)


def _score(model_dir, capsys, *args) -> list[dict]:
    capsys.readouterr()
    assert main(["score", "--model", model_dir, "--quiet", *args]) == 0
    return [json.loads(x) for x in capsys.readouterr().out.splitlines()]


def _one_error_line(capsys) -> str:
    lines = [x for x in capsys.readouterr().err.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("surprisal: error: "), lines
    return lines[0]


# ---------------------------------------------------------------- item 4: a BOM


@pytest.mark.parametrize("kind", ["txt", "jsonl"])
def test_a_bom_is_not_part_of_the_first_text(model_dir, tmp_path, capsys, kind):
    if kind == "txt":
        body = "\n".join(TEXTS).encode() + b"\n"
    else:
        body = b"".join(json.dumps({"text": t}).encode() + b"\n" for t in TEXTS)
    plain, marked = tmp_path / f"plain.{kind}", tmp_path / f"bom.{kind}"
    plain.write_bytes(body)
    marked.write_bytes(BOM + body)
    want = _score(model_dir, capsys, str(plain))
    got = _score(model_dir, capsys, str(marked))
    assert [r["text"] for r in got] == TEXTS
    assert [r["n_tokens"] for r in got] == [r["n_tokens"] for r in want]
    assert [r["total"] for r in got] == pytest.approx([r["total"] for r in want], abs=1e-5)


def test_a_bom_on_stdin_and_in_a_context_file(model_dir, tmp_path, capsys, monkeypatch):
    ctx = tmp_path / "ctx.txt"
    ctx.write_bytes(BOM + b"Brackets:\n")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(BOM + TEXTS[0].encode())))
    got = _score(model_dir, capsys, "-", "--context", str(ctx))
    want = _score(model_dir, capsys, "--text", TEXTS[0], "--context-text", "Brackets:")
    assert got[0]["text"] == TEXTS[0]
    assert got[0]["total"] == pytest.approx(want[0]["total"], abs=1e-5)


# ---------------------------------------------------------------- item 8: bad bytes, full disk


@pytest.mark.parametrize("kind", ["txt", "jsonl"])
def test_bytes_that_are_not_utf8_name_file_and_line(model_dir, tmp_path, capsys, kind):
    inp = tmp_path / f"in.{kind}"
    bad = b"caf\xe9 au lait"  # Latin-1, not UTF-8
    if kind == "txt":
        inp.write_bytes(b"one\n" + bad + b"\nthree\n")
    else:
        inp.write_bytes(b'{"text": "one"}\n{"text": "' + bad + b'"}\n')
    out = tmp_path / "o.jsonl"
    capsys.readouterr()
    assert main(["score", "--model", model_dir, str(inp), "-o", str(out), "--quiet"]) == 2
    line = _one_error_line(capsys)
    col = 4 if kind == "txt" else len('{"text": "caf') + 1
    assert f"in.{kind}:2: not UTF-8 (byte 0xe9 at character {col})" in line
    assert "--resume" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"in.{kind}"]  # no empty output


def test_bad_bytes_after_a_saved_chunk_resume_after_the_fix(model_dir, tmp_path, capsys):
    inp = tmp_path / "in.txt"
    good = [f"text {i}" for i in range(5)]
    inp.write_bytes("\n".join(good[:3]).encode() + b"\nbad \xff\n" + good[4].encode() + b"\n")
    out = tmp_path / "o.jsonl"
    args = ["score", "--model", model_dir, str(inp), "-o", str(out), "--chunk-size", "2"]
    assert main([*args, "--quiet"]) == 2
    assert "in.txt:4: not UTF-8" in _one_error_line(capsys)
    assert [json.loads(x)["id"] for x in out.read_text().splitlines()] == ["1", "2"]
    inp.write_text("\n".join([*good[:3], "bad", good[4]]) + "\n", encoding="utf-8")
    assert main([*args, "--quiet", "--resume"]) == 0
    assert [json.loads(x)["text"] for x in out.read_text().splitlines()][3:] == ["bad", good[4]]


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_disk_full_is_one_line_and_leaves_nothing(model_dir, tmp_path, capsys, monkeypatch, fmt):
    """ENOSPC while the records are written: one line, status 2, no empty output, settings
    or lock file (nothing was saved)."""

    def full(*_a, **_k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(corpus, "_append_text", full)
    out = tmp_path / f"o.{fmt}"
    capsys.readouterr()
    rc = main(["score", "--model", model_dir, "--text", "a b", "-o", str(out), "--quiet"])
    assert rc == 2
    line = _one_error_line(capsys)
    assert f"cannot write {out}: No space left on device" in line and "--resume" in line
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")
def test_a_full_device_elsewhere_is_one_line(model_dir, tmp_path, capsys):
    """An OSError outside the scoring file (delta's output on a full device) is one line."""
    t = tmp_path / "t.txt"
    t.write_text("(())\n", encoding="utf-8")
    capsys.readouterr()
    argv = ["delta", "--model", model_dir, "--explanation-text", "E.", str(t), "-o", "/dev/full"]
    assert main([*argv, "--quiet"]) == 1
    assert "No space left on device" in _one_error_line(capsys)


def test_a_finished_run_removes_its_lock_file(model_dir, tmp_path):
    out = tmp_path / "o.tsv"
    assert main(["score", "--model", model_dir, "--text", "a b", "-o", str(out), "--quiet"]) == 0
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["o.tsv", "o.tsv.meta.json", "o.tsv.texts.jsonl"]  # no o.tsv.lock


# ---------------------------------------------------------------- item 9: progress bars


def test_demo_asks_for_bars_only_on_a_terminal(monkeypatch):
    """`surprisal demo` passed progress=True, so a log got ~28 bars; now None (a terminal
    decides), True with --progress, False with --quiet. What None draws: test_progress.py."""
    from surprisal import demo

    seen = []

    def fake(**kwargs):
        seen.append(kwargs["progress"])
        return demo.DemoReport(text="", html=None)

    monkeypatch.setattr(demo, "run_demo", fake)
    for flag in ([], ["--progress"], ["--quiet"]):
        assert main(["demo", "--quick", "--html", "", *flag]) == 0
    assert seen == [None, True, False]
