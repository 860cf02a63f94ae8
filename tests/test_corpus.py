"""score_to_file: the Python side of resumable corpus scoring, and the per-rank part files.

The multi-process paths are driven here with a faked two-rank world in one process: ranks
only talk at the start (rank 0's resume state) and at the end (counts, a barrier), so
running rank 1 and then rank 0 one after the other is what a real run does, minus
the waiting. The real two-process run is in test_cli.py (torchrun) and test_parallel.py.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

import surprisal
from surprisal import corpus, parallel, resume
from surprisal.corpus import part_files, score_to_file

TEXTS = [f"text {i}: {'the cat sat on the mat ' * (1 + i % 5)}" for i in range(41)]


def _lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]


def _same(got: list[dict], want: list[dict], tol: float = 1e-5) -> None:
    assert [g["id"] for g in got] == [w["id"] for w in want]  # all, once, in order
    for g, w in zip(got, want, strict=True):
        assert g["pieces"] == w["pieces"] and g["index"] == w["index"] and g["run"] == w["run"]
        np.testing.assert_allclose(g["surprisal"], w["surprisal"], atol=tol)


class _Interrupt(Exception):
    pass


def _stop_after(items, n):
    for k, x in enumerate(items):
        if k == n:
            raise _Interrupt
        yield x


class ThreadWorld:
    """Ranks as threads of this process: world(), broadcast, gather and barrier behave as
    torch.distributed's do between processes. A rank that fails breaks the barrier, so the
    others stop too (as torchrun stops the other ranks of a failed job)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.local = threading.local()
        self.sync = threading.Barrier(size, timeout=120)
        self.box: list = []
        self.gathered: list = [None] * size

    def world(self):
        rank = getattr(self.local, "rank", None)  # the test's own thread: no world
        return None if rank is None else (rank, self.size)

    def broadcast_object_list(self, box, src=0):
        if self.local.rank == src:
            self.box = list(box)
        self.sync.wait()
        box[:] = self.box
        self.sync.wait()

    def all_gather_object(self, out, obj):
        self.gathered[self.local.rank] = obj
        self.sync.wait()
        out[:] = list(self.gathered)
        self.sync.wait()

    def barrier(self):
        self.sync.wait()

    def run(self, fn) -> list:
        """fn(rank) on every rank at once; each rank's return value or exception."""
        results: list = [None] * self.size

        def target(rank: int) -> None:
            self.local.rank = rank
            try:
                results[rank] = fn(rank)
            except BaseException as exc:
                results[rank] = exc
                self.sync.abort()

        threads = [threading.Thread(target=target, args=(r,)) for r in range(self.size)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return results


@pytest.fixture
def two_ranks(monkeypatch):
    w = ThreadWorld(2)
    monkeypatch.setattr(parallel, "world", w.world)
    for name in ("broadcast_object_list", "all_gather_object", "barrier"):
        monkeypatch.setattr(torch.distributed, name, getattr(w, name))
    return w


def test_matches_score_in_order_with_ids(tmp_path, gpt2_lm):
    out = tmp_path / "s.jsonl"
    recs = [{"id": f"doc{i}", "text": t} for i, t in enumerate(TEXTS)]
    run = score_to_file(recs, out, model=gpt2_lm, chunk_size=7, progress=False, extras=["rank"])
    assert (run.scored, run.skipped) == (len(TEXTS), 0)
    got = _lines(out)
    assert [g["id"] for g in got] == [f"doc{i}" for i in range(len(TEXTS))]
    assert [g["index"] for g in got] == list(range(len(TEXTS)))
    want = surprisal.score(TEXTS, model=gpt2_lm, extras=["rank"])
    for g, ts in zip(got, want, strict=True):
        np.testing.assert_allclose(g["surprisal"], ts.surprisal(), atol=1e-5)
        assert g["rank"] == ts.rank.tolist() and g["total"] == pytest.approx(ts.total(), abs=1e-4)
    meta = json.loads((tmp_path / "s.jsonl.meta.json").read_text())
    assert meta["fingerprint"] == gpt2_lm.fingerprint() and meta["extras"] == ["rank"]


def test_record_kinds_and_bad_records(tmp_path, gpt2_lm):
    out = tmp_path / "k.jsonl"
    score_to_file(["a", "b"], out, model=gpt2_lm, progress=False)
    assert [r["id"] for r in _lines(out)] == ["0", "1"]
    out2 = tmp_path / "k2.jsonl"
    score_to_file([("x", "a"), (7, "b")], out2, model=gpt2_lm, progress=False)
    assert [r["id"] for r in _lines(out2)] == ["x", "7"]
    with pytest.raises(surprisal.SurprisalError, match="duplicate id 'x'"):
        score_to_file([("x", "a"), ("x", "b")], tmp_path / "d.jsonl", model=gpt2_lm)
    with pytest.raises(TypeError, match="record 1"):
        score_to_file(["a", 3], tmp_path / "t.jsonl", model=gpt2_lm, progress=False)
    with pytest.raises(TypeError, match="not one string"):
        score_to_file("abc", tmp_path / "u.jsonl", model=gpt2_lm)
    with pytest.raises(surprisal.SurprisalError, match="exists"):
        score_to_file(["a"], out, model=gpt2_lm)
    with pytest.raises(surprisal.SurprisalError, match="level='word'"):
        score_to_file(["a"], tmp_path / "w.csv", model=gpt2_lm, words=True)
    with pytest.raises(surprisal.SurprisalError, match="entropy, rank, topk, bow"):
        score_to_file(["a"], tmp_path / "e.jsonl", model=gpt2_lm, extras=["nope"])
    with pytest.raises(surprisal.SurprisalError, match="use JSONL output for topk"):
        score_to_file(["a"], tmp_path / "k.csv", model=gpt2_lm, extras=["topk"])


def test_resume_without_settings_file_is_refused(tmp_path, gpt2_lm):
    out = tmp_path / "n.jsonl"
    out.write_text('{"id": "0"}\n')
    with pytest.raises(surprisal.SurprisalError, match="settings file"):
        score_to_file(["a"], out, model=gpt2_lm, resume=True)
    assert out.read_text() == '{"id": "0"}\n'


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_interrupted_python_job_resumes_exactly_once(tmp_path, gpt2_lm, fmt):
    full = tmp_path / f"full.{fmt}"
    score_to_file(TEXTS, full, model=gpt2_lm, chunk_size=5, progress=False)
    out = tmp_path / f"part.{fmt}"
    for stop in (3, 12, 30):  # interrupted mid-chunk three times, resumed each time
        with pytest.raises(_Interrupt):
            score_to_file(
                _stop_after(TEXTS, stop), out, model=gpt2_lm, chunk_size=5, resume=True,
                progress=False,
            )  # fmt: skip
    run = score_to_file(TEXTS, out, model=gpt2_lm, chunk_size=5, resume=True, progress=False)
    assert run.skipped == 30 - 30 % 5 and run.scored == len(TEXTS) - run.skipped
    assert out.read_bytes() == full.read_bytes()


def test_two_ranks_write_parts_and_rank0_merges_in_order(tmp_path, gpt2_lm, two_ranks):
    single = tmp_path / "single.jsonl"
    score_to_file(TEXTS, single, model=gpt2_lm, chunk_size=6, progress=False)
    out = tmp_path / "multi.jsonl"
    seen_parts = []

    def job(rank):
        run = score_to_file(TEXTS, out, model=gpt2_lm, chunk_size=6, progress=False)
        seen_parts.append(len(part_files(out)))
        return run

    runs = two_ranks.run(job)
    assert all(isinstance(r, corpus.FileRun) for r in runs), runs
    assert runs[0] == runs[1] and runs[0].scored == len(TEXTS)
    assert part_files(out) == [] and seen_parts == [0, 0]  # merged and removed
    _same(_lines(out), _lines(single))


def test_shares_are_balanced_by_tokens(tmp_path, gpt2_lm, two_ranks):
    out = tmp_path / "b.jsonl"
    texts = ["word " * 60] + ["w"] * 10  # one long text, ten tiny ones
    scored = {}
    orig = corpus.render_scores

    def spy(s, ids, indices, *a, **kw):  # what each rank writes: the input positions
        scored.setdefault(two_ranks.local.rank, []).extend(indices)
        return orig(s, ids, indices, *a, **kw)

    corpus.render_scores = spy
    try:
        two_ranks.run(lambda r: score_to_file(texts, out, model=gpt2_lm, progress=False))
    finally:
        corpus.render_scores = orig
    assert sorted(scored[0] + scored[1]) == list(range(11))
    long_rank = 0 if 0 in scored[0] else 1
    assert scored[long_rank] == [0]  # the long text alone balances the ten short ones


def test_interrupted_two_rank_run_resumes_on_one_process(tmp_path, gpt2_lm, two_ranks):
    single = tmp_path / "single.jsonl"
    score_to_file(TEXTS, single, model=gpt2_lm, chunk_size=6, progress=False)
    out = tmp_path / "m.jsonl"

    def job(rank):  # rank 0 dies at record 20; rank 1 is stopped with it: no merge
        items = _stop_after(TEXTS, 20) if rank == 0 else TEXTS
        return score_to_file(items, out, model=gpt2_lm, chunk_size=6, progress=False)

    runs = two_ranks.run(job)
    assert isinstance(runs[0], _Interrupt) and isinstance(runs[1], threading.BrokenBarrierError)
    assert len(part_files(out)) == 2 and not out.exists()
    with part_files(out)[0].open("ab") as fh:
        fh.write(b'{"id": "torn')  # and a last write was cut
    # one process now (the test's thread): it goes on in part mode and merges
    with pytest.raises(surprisal.SurprisalError, match="exists"):
        score_to_file(TEXTS, out, model=gpt2_lm, chunk_size=6, progress=False)
    run = score_to_file(TEXTS, out, model=gpt2_lm, chunk_size=6, resume=True, progress=False)
    assert run.skipped > 0 and run.scored == len(TEXTS) - run.skipped
    assert part_files(out) == []
    _same(_lines(out), _lines(single))


def test_interrupted_merge_is_finished_by_resume(tmp_path, gpt2_lm, two_ranks, monkeypatch):
    single = tmp_path / "single.csv"
    score_to_file(TEXTS, single, model=gpt2_lm, chunk_size=6, progress=False)
    out = tmp_path / "m.csv"

    def boom(self, *a, **k):
        raise _Interrupt

    with monkeypatch.context() as m:
        m.setattr(Path, "unlink", boom)  # the merge writes everything, then dies
        runs = two_ranks.run(
            lambda r: score_to_file(TEXTS, out, model=gpt2_lm, chunk_size=6, progress=False)
        )
    assert isinstance(runs[0], _Interrupt)
    assert len(part_files(out)) == 2
    data = out.read_bytes()
    out.write_bytes(data[: len(data) - 40])  # and the output's tail was torn as well
    run = score_to_file(TEXTS, out, model=gpt2_lm, chunk_size=6, resume=True, progress=False)
    assert run.scored == 0 and run.skipped == len(TEXTS)
    assert part_files(out) == []
    got, want = out.read_text().splitlines(), single.read_text().splitlines()
    assert [r.split(",")[:3] for r in got] == [r.split(",")[:3] for r in want]


def test_merge_is_a_no_op_without_parts(tmp_path):
    out = tmp_path / "x.jsonl"
    assert resume.merge_parts(out, "jsonl", []) == 0 and not out.exists()
