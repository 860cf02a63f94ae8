"""Findings of a hostile test pass on the scoring core, deltas and output files (issue 14).

Each test failed before its fix: a silent wrong number, a damaged file, or an unclear error.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import surprisal
from conftest import ref_logits
from surprisal import resume
from surprisal.corpus import score_to_file

# ---------------------------------------------------------------- deltas


def test_delta_without_boundary_compares_like_with_like(gpt2_lm):
    """No boundary token: S(t) cannot score a target's first token but S(t|e) can; the
    reduction must leave it out of both sides, not count it on one."""
    targets = ["the cat sat", "a dog ran far"]
    d = surprisal.delta(targets, explanation="A story about animals.", model=gpt2_lm, add_bos=False)
    assert (d.unpaired_tokens == 1).all()
    for i in range(len(targets)):
        base = d.base[i].logprobs.astype(np.float64)
        cond = d.conditioned[i].logprobs.astype(np.float64)
        assert np.isnan(base[0]) and not np.isnan(cond[0])
        want = cond[1:].sum() - base[1:].sum()  # over the tokens scored in both
        assert d.reduction[i] == pytest.approx(want, abs=1e-4)
    with_bos = surprisal.delta(targets, explanation="A story about animals.", model=gpt2_lm)
    assert (with_bos.unpaired_tokens == 0).all()
    np.testing.assert_allclose(
        with_bos.reduction, with_bos.base.total() - with_bos.conditioned.total(), atol=1e-6
    )


def test_truncated_explanation_cost_does_not_depend_on_target_length(gpt2_lm):
    """truncate_context='left': the explanation's cost is that of the tokens kept, the very
    ones the targets are conditioned on, whether a target is short or long."""
    long_expl = " ".join(f"word{i}" for i in range(400))
    short = surprisal.delta(["a b"], explanation=long_expl, model=gpt2_lm, truncate_context="left")
    very_long_target = " ".join(["the cat sat on the mat"] * 60)
    long = surprisal.delta(
        [very_long_target], explanation=long_expl, model=gpt2_lm, truncate_context="left"
    )
    assert short.explanation_scores.text == long.explanation_scores.text
    assert short.explanation_cost == pytest.approx(long.explanation_cost, rel=1e-4)
    assert len(short.explanation_scores) < len(long_expl.split()) * 2  # really truncated


def test_truncate_left_with_stride_max_minus_one_is_refused(gpt2_lm):
    """stride = max_length - 1 leaves no room for the context after the boundary; it used to
    keep the whole context through a -0 slice."""
    long_ctx = " ".join(["word"] * 300)
    with pytest.raises(surprisal.SurprisalError, match="no room for the context"):
        surprisal.score(
            ["a b"],
            model=gpt2_lm,
            context=long_ctx,
            truncate_context="left",
            max_length=64,
            stride=63,
        )
    kept = surprisal.score(
        ["a b"], model=gpt2_lm, context=long_ctx, truncate_context="left", max_length=64, stride=8
    )
    tokens_kept = 64 - 8 - 1  # max_length - stride positions, the boundary among them
    tok = gpt2_lm.tokenizer
    ctx_ids = tok(long_ctx + "\n", add_special_tokens=False)["input_ids"][-tokens_kept:]
    ids = tok("a b", add_special_tokens=False)["input_ids"]
    seq = [gpt2_lm.boundary_id, *ctx_ids, *ids]
    lp = ref_logits(gpt2_lm.model, seq)
    p0 = len(seq) - len(ids)
    ref = [float(lp[p0 + j - 1, seq[p0 + j]]) for j in range(len(ids))]
    np.testing.assert_allclose(kept[0].logprobs, ref, atol=1e-4)


# ---------------------------------------------------------------- options


@pytest.mark.parametrize(
    ("kw", "msg"),
    [
        ({"max_length": 0}, "max_length must be at least 2"),
        ({"stride": 0}, "stride must be at least 1"),
        ({"batch_tokens": 0}, "batch_tokens must be at least 1"),
        ({"truncate_context": "right"}, "truncate_context must be one of"),
        ({"padding_side": "middle"}, "padding_side must be one of"),
        ({"head": "fast"}, "head must be one of"),
    ],
)
def test_every_invalid_option_is_an_error(gpt2_lm, kw, msg):
    """Zero used to mean "not given"; truncate_context was not validated."""
    with pytest.raises(surprisal.SurprisalError, match=msg):
        surprisal.score(["a b"], model=gpt2_lm, **kw)


@pytest.mark.parametrize("context", [5, np.array("x"), b"bytes"])
def test_bad_context_types_are_clear(gpt2_lm, context):
    with pytest.raises(TypeError, match="context must be a str"):
        surprisal.score(["a b"], model=gpt2_lm, context=context)


def test_empty_context_and_separator_without_boundary(gpt2_lm):
    """An empty context with an empty separator has no tokens: it is no context (this used
    to fail with the internal 'prefix 0 is empty')."""
    got = surprisal.score(["a b"], model=gpt2_lm, context="", separator="", add_bos=False)
    want = surprisal.score(["a b"], model=gpt2_lm, add_bos=False)
    np.testing.assert_array_equal(got[0].logprobs, want[0].logprobs)


def test_cli_chunk_size_zero_is_an_error(tmp_path):
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "surprisal",
            "score",
            "--model",
            "demo",
            "--text",
            "ab",
            "--chunk-size",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 2 and "chunk_size must be at least 1" in r.stderr, r.stderr


# ---------------------------------------------------------------- files

CR_TEXTS = ["a\rb c", "x\r\ny", 'line\nbreak, "quoted"', "tab\tthere", "plain"]


@pytest.mark.parametrize("fmt", ["csv", "tsv"])
def test_csv_quotes_bare_carriage_returns(tmp_path, gpt2_lm, fmt):
    """A bare CR in a piece was written unquoted: readers split the row and resume crashed."""
    out = tmp_path / f"s.{fmt}"
    score_to_file(CR_TEXTS, out, model=gpt2_lm, progress=False)
    rows = list(
        csv.reader(
            io.StringIO(out.read_bytes().decode("utf-8"), newline=""),
            delimiter="," if fmt == "csv" else "\t",
        )
    )
    n_tokens = sum(len(t) for t in surprisal.score(CR_TEXTS, model=gpt2_lm))
    assert len(rows) == 1 + n_tokens
    assert {len(r) for r in rows} == {len(rows[0])}
    pieces = {}
    for r in rows[1:]:
        pieces.setdefault(r[0], []).append(r[3])
    assert ["".join(pieces[str(i)]) for i in range(len(CR_TEXTS))] == CR_TEXTS
    import pandas as pd  # a core dependency

    df = pd.read_csv(out, sep="," if fmt == "csv" else "\t", keep_default_na=False)
    assert len(df) == n_tokens


@pytest.mark.parametrize("fmt", ["csv", "tsv", "jsonl"])
def test_every_truncation_point_resumes(tmp_path, gpt2_lm, fmt):
    """Cut a complete file at every byte; a resume must finish it exactly once."""
    full = tmp_path / f"full.{fmt}"
    score_to_file(CR_TEXTS, full, model=gpt2_lm, progress=False)
    data = full.read_bytes()
    want = data
    cuts = sorted(set(range(0, len(data), max(1, len(data) // 40))) | {len(data) - 1})
    for cut in cuts:
        part = tmp_path / f"cut{cut}.{fmt}"
        part.write_bytes(data[:cut])
        for side in (".meta.json", ".texts.jsonl"):  # the sidecars are written before it
            if (tmp_path / f"full.{fmt}{side}").exists():
                (tmp_path / f"cut{cut}.{fmt}{side}").write_bytes(
                    (tmp_path / f"full.{fmt}{side}").read_bytes()
                )
        score_to_file(CR_TEXTS, part, model=gpt2_lm, progress=False, resume=True)
        got = sorted(_parsed(part.read_bytes(), fmt), key=lambda r: int(r[0]))
        _same_records(got, _parsed(want, fmt))


_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=0, max_size=12)


def _parsed(data: bytes, fmt: str) -> list[tuple[str, list[str], list[float]]]:
    """(id, pieces, surprisal) per text, in file order, read the way a user's reader would."""
    if fmt == "jsonl":
        recs = [json.loads(x) for x in data.split(b"\n") if x]
        return [(r["id"], r["pieces"], r["surprisal"]) for r in recs]
    delim = "," if fmt == "csv" else "\t"
    rows = list(csv.reader(io.StringIO(data.decode("utf-8"), newline=""), delimiter=delim))
    out: dict[str, tuple[str, list[str], list[float]]] = {}
    for r in rows[1:]:
        rec = out.setdefault(r[0], (r[0], [], []))
        rec[1].append(r[3])
        rec[2].append(float(r[6]) if r[6] else float("nan"))
    return list(out.values())


def _same_records(got, want):
    assert [g[0] for g in got] == [w[0] for w in want]  # every id once, in order
    for g, w in zip(got, want, strict=True):
        assert g[1] == w[1]
        np.testing.assert_allclose(
            np.array(g[2], dtype=float), np.array(w[2], dtype=float), atol=1e-4
        )


@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(texts=st.lists(_text, min_size=1, max_size=4))
def test_unicode_round_trips_through_every_format_and_resume(tmp_path_factory, gpt2_lm, texts):
    """Arbitrary Unicode (line and paragraph separators, CR, quotes, tabs) survives every
    output format, and a resume after a cut loses and duplicates nothing."""
    n_tokens = [len(t) for t in surprisal.score(texts, model=gpt2_lm)]
    d = tmp_path_factory.mktemp("rt")
    for fmt in ("jsonl", "csv", "tsv"):
        out = d / f"s.{fmt}"
        score_to_file(texts, out, model=gpt2_lm, progress=False)
        data = out.read_bytes()
        recs = _parsed(data, fmt)
        ids_with_tokens = [str(i) for i, n in enumerate(n_tokens) if n or fmt == "jsonl"]
        assert [r[0] for r in recs] == ids_with_tokens
        assert ["".join(r[1]) for r in recs] == [texts[int(i)] for i in ids_with_tokens]
        cut = d / f"c.{fmt}"
        cut.write_bytes(data[: len(data) * 2 // 3])
        for side in (".meta.json", ".texts.jsonl"):
            if (d / f"s.{fmt}{side}").exists():
                (d / f"c.{fmt}{side}").write_bytes((d / f"s.{fmt}{side}").read_bytes())
        score_to_file(texts, cut, model=gpt2_lm, progress=False, resume=True)
        _same_records(sorted(_parsed(cut.read_bytes(), fmt), key=lambda r: int(r[0])), recs)
        for p in (out, cut):
            p.unlink()


def test_a_second_writer_is_refused(tmp_path, gpt2_lm):
    """Two resumes on one output both succeeded and wrote every record twice."""
    out = tmp_path / "s.jsonl"
    held = resume.take_lock(out)
    try:
        with pytest.raises(surprisal.SurprisalError, match="being written by another process"):
            score_to_file(["a b"], out, model=gpt2_lm, progress=False, resume=True)
    finally:
        assert held is not None
        held.close()
    run = score_to_file(["a b", "c"], out, model=gpt2_lm, progress=False, resume=True)
    assert run.scored == 2
    run = score_to_file(["a b", "c"], out, model=gpt2_lm, progress=False, resume=True)
    assert run.scored == 0 and run.skipped == 2
    assert len(out.read_text().splitlines()) == 2


def test_unwritable_output_names_the_output(tmp_path, gpt2_lm):
    """The error named the settings sidecar, not the file the user asked for."""
    target = tmp_path / "no" / "such"
    target.parent.write_text("a file, not a folder")
    with pytest.raises(surprisal.SurprisalError, match=r"cannot write .*such\.jsonl"):
        score_to_file(["a"], target / "such.jsonl", model=gpt2_lm, progress=False)
