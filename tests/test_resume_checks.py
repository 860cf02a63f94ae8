"""What a resume checks before it adds to an output: the input's texts, the settings file,
every line already written; and what a run leaves behind (issue 24, items 3, 5 and 8).

Each test writes a complete output first, then damages or changes one thing and resumes.
"""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest
import torch
import transformers

import surprisal
from surprisal import corpus, records, resume
from surprisal._versions import versions
from surprisal.corpus import score_to_file

TEXTS = ["the cat sat", "on the mat", "a dog ran", "under a tree", "it rained"]
FORMATS = ["jsonl", "csv", "tsv"]


def _write(tmp_path: Path, lm, fmt: str, texts=TEXTS, name: str = "s", **kw) -> Path:
    out = tmp_path / f"{name}.{fmt}"
    score_to_file(texts, out, model=lm, progress=False, chunk_size=2, **kw)
    return out


def _meta(out: Path) -> Path:
    return out.with_name(out.name + ".meta.json")


# ---------------------------------------------------------------- item 3: the input's texts


@pytest.mark.parametrize("fmt", FORMATS)
def test_resume_with_a_changed_text_is_refused_naming_the_id(tmp_path, gpt2_lm, fmt):
    out = _write(tmp_path, gpt2_lm, fmt, TEXTS[:3])
    before = out.read_bytes()
    changed = [TEXTS[0], "on the rug", TEXTS[2], *TEXTS[3:]]  # id "1" now holds another text
    with pytest.raises(surprisal.SurprisalError, match=r"id '1' is not the text"):
        score_to_file(changed, out, model=gpt2_lm, progress=False, resume=True, chunk_size=2)
    assert out.read_bytes() == before  # nothing of the new corpus was added


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_a_changed_order_is_refused_with_positional_ids(tmp_path, gpt2_lm, fmt):
    """Ids from positions (line numbers): moving lines gives an id another text."""
    out = _write(tmp_path, gpt2_lm, fmt, TEXTS[:3])
    moved = [TEXTS[1], TEXTS[0], *TEXTS[2:]]
    with pytest.raises(surprisal.SurprisalError, match=r"id '0' is not the text"):
        score_to_file(moved, out, model=gpt2_lm, progress=False, resume=True)


@pytest.mark.parametrize("fmt", ["jsonl", "tsv"])
def test_a_changed_order_with_explicit_ids_resumes(tmp_path, gpt2_lm, fmt):
    """Explicit ids keep their texts when lines move: the resume accepts it and scores
    only the new record, whose numbers match a fresh run's."""
    recs = [(f"d{i}", t) for i, t in enumerate(TEXTS)]
    out = _write(tmp_path, gpt2_lm, fmt, recs[:3])
    moved = [recs[2], recs[0], recs[1], recs[3]]
    run = score_to_file(moved, out, model=gpt2_lm, progress=False, resume=True)
    assert (run.scored, run.skipped) == (1, 3)
    want = surprisal.score([recs[3][1]], model=gpt2_lm)[0].surprisal().tolist()
    lines = out.read_text(encoding="utf-8").splitlines()
    if fmt == "jsonl":
        got = json.loads(lines[-1])
        assert got["id"] == "d3" and got["index"] == 3  # its position in this call's input
        assert got["surprisal"] == pytest.approx(want, abs=1e-5)
    else:
        rows = [r.split("\t") for r in lines[1:]]
        assert [r[0] for r in rows][-len(want) :] == ["d3"] * len(want)
        assert [float(r[6]) for r in rows[-len(want) :]] == pytest.approx(want, abs=1e-5)


def test_csv_fingerprints_live_beside_the_table(tmp_path, gpt2_lm):
    """The table keeps its columns; the sidecar holds one [id, hash] line per record, the
    hash an independent BLAKE2b of the text."""
    import hashlib

    out = _write(tmp_path, gpt2_lm, "csv", TEXTS[:3])
    assert out.read_text(encoding="utf-8").splitlines()[0] == ",".join(records.TOKEN_COLUMNS)
    side = [json.loads(x) for x in corpus.texts_path(out).read_text().splitlines()]
    want = [hashlib.blake2b(t.encode(), digest_size=8).hexdigest() for t in TEXTS[:3]]
    assert side == [[str(i), h] for i, h in enumerate(want)]
    jsonl = _write(tmp_path, gpt2_lm, "jsonl", TEXTS[:3])
    assert not corpus.texts_path(jsonl).exists()  # JSONL records hold their text


def test_csv_written_before_fingerprints_resumes_with_a_warning(tmp_path, gpt2_lm):
    """An output from before the sidecar existed: its texts cannot be checked, so the resume
    says so and goes on; records it adds get fingerprints, so a later change is caught."""
    out = _write(tmp_path, gpt2_lm, "csv", TEXTS[:2])
    corpus.texts_path(out).unlink()
    with pytest.warns(UserWarning, match="2 records .* without text fingerprints"):
        run = score_to_file(TEXTS[:4], out, model=gpt2_lm, progress=False, resume=True)
    assert (run.scored, run.skipped) == (2, 2)
    changed = [*TEXTS[:3], "under a bush"]
    with pytest.raises(surprisal.SurprisalError, match=r"id '3'"), pytest.warns(UserWarning):
        score_to_file(changed, out, model=gpt2_lm, progress=False, resume=True)


# ---------------------------------------------------------------- item 5: the settings file


@pytest.mark.parametrize("damage", [b"", b'{\n "fingerprint": {"weights'])
def test_empty_or_cut_settings_file_of_a_table_names_it(tmp_path, gpt2_lm, damage):
    out = _write(tmp_path, gpt2_lm, "csv", TEXTS[:2])
    _meta(out).write_bytes(damage)
    with pytest.raises(surprisal.SurprisalError, match=r"settings file s\.csv\.meta\.json is "):
        score_to_file(TEXTS, out, model=gpt2_lm, progress=False, resume=True)


def test_empty_settings_file_of_jsonl_is_rebuilt_from_the_run_ids(tmp_path, gpt2_lm):
    """JSONL records carry the run id (a hash of the settings): when all carry this run's,
    the settings are known and the finished work is kept."""
    out = _write(tmp_path, gpt2_lm, "jsonl", TEXTS[:2])
    good = json.loads(_meta(out).read_text())
    _meta(out).write_bytes(b"")
    with pytest.warns(UserWarning, match="carries this run's id"):
        run = score_to_file(TEXTS, out, model=gpt2_lm, progress=False, resume=True)
    assert (run.scored, run.skipped) == (3, 2)
    assert json.loads(_meta(out).read_text()) == good
    # other settings: the run ids differ, so the damaged file is not rebuilt
    _meta(out).write_bytes(b"")
    with pytest.raises(surprisal.SurprisalError, match="is empty"):
        score_to_file(TEXTS, out, model=gpt2_lm, progress=False, resume=True, unit="bits")


def test_settings_file_is_written_only_when_it_changes(tmp_path, gpt2_lm):
    out = _write(tmp_path, gpt2_lm, "jsonl", TEXTS[:2])
    os.utime(_meta(out), ns=(10**9, 10**9))
    score_to_file(TEXTS, out, model=gpt2_lm, progress=False, resume=True)
    assert _meta(out).stat().st_mtime_ns == 10**9


def test_settings_file_is_replaced_whole_or_not_at_all(tmp_path, gpt2_lm, monkeypatch):
    """A failure while the settings file is written (a full disk) leaves the old one."""
    out = _write(tmp_path, gpt2_lm, "jsonl", TEXTS[:2])
    before = _meta(out).read_bytes()
    monkeypatch.setattr(resume, "versions", lambda: {**versions(), "torch": "0.0"})

    def full(*_a):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(corpus.os, "replace", full)
    with (
        pytest.raises(surprisal.SurprisalError, match=r"meta\.json: No space left"),
        pytest.warns(UserWarning, match="other versions"),
    ):
        score_to_file(TEXTS, out, model=gpt2_lm, progress=False, resume=True)
    assert _meta(out).read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.jsonl", "s.jsonl.meta.json"]


def test_settings_file_records_the_versions(tmp_path, gpt2_lm, monkeypatch):
    out = _write(tmp_path, gpt2_lm, "jsonl", TEXTS[:2])
    meta = json.loads(_meta(out).read_text())
    assert meta["versions"] == {
        "surprisal": surprisal.__version__,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
    }
    # a resume under other versions: warned about, not refused; the file lists both
    old = {**versions(), "transformers": "0.0.1"}
    _meta(out).write_text(json.dumps({**meta, "versions": old}))
    with pytest.warns(UserWarning, match=r"transformers 0\.0\.1 -> "):
        run = score_to_file(TEXTS[:3], out, model=gpt2_lm, progress=False, resume=True)
    assert run.scored == 1
    meta = json.loads(_meta(out).read_text())
    assert meta["versions"] == versions() and meta["earlier_versions"] == [old]
    # a settings file from before versions were recorded resumes too
    del meta["versions"], meta["earlier_versions"]
    _meta(out).write_text(json.dumps(meta))
    run = score_to_file(TEXTS[:4], out, model=gpt2_lm, progress=False, resume=True)
    assert run.scored == 1 and json.loads(_meta(out).read_text())["versions"] == versions()


# ---------------------------------------------------------------- item 5: corrupt lines


def test_corrupt_middle_line_of_jsonl_is_named(tmp_path, gpt2_lm):
    out = _write(tmp_path, gpt2_lm, "jsonl", TEXTS[:3])
    lines = out.read_bytes().split(b"\n")
    lines[1] = lines[1][: len(lines[1]) // 2]  # a line cut short, not at the end of the file
    out.write_bytes(b"\n".join(lines))
    with pytest.raises(surprisal.SurprisalError, match=r"s\.jsonl, line 2: not valid JSON"):
        score_to_file(TEXTS, out, model=gpt2_lm, progress=False, resume=True)


@pytest.mark.parametrize("fmt", ["csv", "tsv"])
def test_corrupt_middle_row_of_a_table_is_named(tmp_path, gpt2_lm, fmt):
    out = _write(tmp_path, gpt2_lm, fmt, TEXTS[:3])
    lines = out.read_bytes().decode("utf-8").split("\r\n")
    sep = "," if fmt == "csv" else "\t"
    lines[3] = sep.join(lines[3].split(sep)[:4])  # row 4 lost its last columns
    out.write_text("\r\n".join(lines), encoding="utf-8", newline="")
    with pytest.raises(surprisal.SurprisalError, match=rf"s\.{fmt}, line 4: 4 columns"):
        score_to_file(TEXTS, out, model=gpt2_lm, progress=False, resume=True)


def test_corrupt_line_of_the_fingerprint_sidecar_is_named(tmp_path, gpt2_lm):
    out = _write(tmp_path, gpt2_lm, "csv", TEXTS[:3])
    side = corpus.texts_path(out)
    side.write_text('["0", "x"]\n{oops\n["2", "y"]\n')
    with pytest.raises(surprisal.SurprisalError, match=r"texts\.jsonl, line 2"):
        score_to_file(TEXTS, out, model=gpt2_lm, progress=False, resume=True)


# ---------------------------------------------------------------- item 8: what a run leaves


def fail_writes(monkeypatch, after: int) -> None:
    """Writing records fails with ENOSPC (a full disk) from the (after + 1)-th chunk on."""
    calls = {"n": 0}
    real = corpus._append_text

    def append(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] > after:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(*args, **kwargs)

    monkeypatch.setattr(corpus, "_append_text", append)


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_disk_full_before_any_record_leaves_nothing_behind(tmp_path, gpt2_lm, fmt, monkeypatch):
    fail_writes(monkeypatch, after=0)
    out = tmp_path / f"s.{fmt}"
    with pytest.raises(surprisal.SurprisalError, match=r"No space left on device.*resume"):
        score_to_file(TEXTS, out, model=gpt2_lm, progress=False, chunk_size=2)
    assert list(tmp_path.iterdir()) == []  # no empty output, settings, sidecar or lock


@pytest.mark.parametrize("fmt", ["jsonl", "tsv"])
def test_disk_full_mid_run_keeps_the_records_and_resumes(tmp_path, gpt2_lm, fmt, monkeypatch):
    full = _write(tmp_path, gpt2_lm, fmt, name="full")
    out = tmp_path / f"s.{fmt}"
    fail_writes(monkeypatch, after=1)
    with pytest.raises(surprisal.SurprisalError, match="the 2 records written before"):
        score_to_file(TEXTS, out, model=gpt2_lm, progress=False, chunk_size=2)
    monkeypatch.undo()
    run = score_to_file(TEXTS, out, model=gpt2_lm, progress=False, chunk_size=2, resume=True)
    assert run.skipped == 2 and out.read_bytes() == full.read_bytes()


def test_lock_file_is_removed_when_a_run_ends(tmp_path, gpt2_lm):
    out = _write(tmp_path, gpt2_lm, "jsonl", TEXTS[:2])
    assert not out.with_name("s.jsonl.lock").exists()
    with pytest.raises(surprisal.SurprisalError):
        score_to_file(TEXTS, out, model=gpt2_lm, progress=False)  # exists, no resume
    assert not out.with_name("s.jsonl.lock").exists()


def test_a_removed_lock_is_taken_again_and_still_excludes(tmp_path):
    """Removing the lock file at the end does not weaken it: the next writer locks a fresh
    file and a second one is still refused."""
    out = tmp_path / "s.jsonl"
    first = resume.take_lock(out)
    assert first is not None
    resume.release_lock(first)
    assert not out.with_name("s.jsonl.lock").exists()
    second = resume.take_lock(out)
    assert second is not None and os.path.exists(second.name)
    with pytest.raises(surprisal.SurprisalError, match="being written by another process"):
        resume.take_lock(out)
    resume.release_lock(second)
