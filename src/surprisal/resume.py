"""The on-disk state of a file run (see :mod:`surprisal.corpus` for the files): which records
are complete and from which texts, the settings file and its checks, the writer's lock, the
per-rank part files and their merge. What a resume reads before it scores anything.
"""

from __future__ import annotations

import contextlib
import csv
import glob
import hashlib
import io
import json
import os
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from ._versions import versions
from .errors import SurprisalError
from .records import header, render, render_rows

#: What a resume knows of the records already complete: id -> the fingerprint of the text
#: it was scored from (None for a CSV/TSV record written before fingerprints were kept).
Done = dict[str, "str | None"]

_REPAIR = (
    "only the last line can be cut by an interruption, so this one was edited or damaged: "
    "remove that line (its record is scored again on resume) or use a new output"
)


def fingerprint(text: str) -> str:
    """16 hex digits of the BLAKE2b hash of ``text`` (UTF-8): how a resume checks that a
    record already written was scored from the same text as the input's."""
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()


def meta_path(out: Path) -> Path:
    """The settings file of ``out``."""
    return out.with_name(out.name + ".meta.json")


def texts_path(out: Path) -> Path:
    """The fingerprint sidecar of a CSV/TSV ``out`` (see the module docstring)."""
    return out.with_name(out.name + ".texts.jsonl")


def _truncate(path: Path, size: int) -> None:
    with path.open("r+b") as fh:
        fh.truncate(size)


def _json_lines(path: Path, data: bytes) -> Iterator[tuple[int, Any]]:
    """(line number from 1, value) of each complete, non-blank line of a JSONL file."""
    keep = data.rfind(b"\n") + 1  # a line cut by an interruption is not a record
    for k, line in enumerate(data[:keep].split(b"\n")[:-1], 1):
        if not line.strip():
            continue
        try:
            yield k, json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            why = exc.msg if isinstance(exc, json.JSONDecodeError) else "not UTF-8"
            raise SurprisalError(f"{path}, line {k}: not valid JSON ({why}); {_REPAIR}") from None


def completed(path: Path, fmt: str, *, repair: bool = True) -> tuple[Done, set[str | None]]:
    """The records complete in an output file (id -> text fingerprint) and the run ids they
    carry (JSONL; None for a record without one). With ``repair``, a torn tail is cut off
    the file. A corrupt line elsewhere is a :class:`SurprisalError` naming file and line."""
    if not path.exists():
        return {}, set()
    data = path.read_bytes()
    done: Done = {}
    runs: set[str | None] = set()
    if fmt == "jsonl":
        # Split on "\n" only: a record's text may hold U+2028 and other line breaks.
        for k, rec in _json_lines(path, data):
            if not isinstance(rec, dict) or "id" not in rec:
                raise SurprisalError(f"{path}, line {k}: a record without an id; {_REPAIR}")
            text = rec.get("text")
            done[str(rec["id"])] = fingerprint(text) if isinstance(text, str) else None
            runs.add(rec.get("run"))
        keep = data.rfind(b"\n") + 1
        if repair and keep != len(data):
            _truncate(path, keep)
        return done, runs
    rows = _csv_rows(path, data.decode("utf-8", errors="replace"), fmt)
    if not rows:
        if repair:
            _truncate(path, 0)
        return done, runs
    counts: dict[str, tuple[int, int]] = {}
    for line, r in rows[1:]:
        try:
            n = int(r[1])
        except ValueError:
            raise SurprisalError(
                f"{path}, line {line}: the count column holds {r[1]!r}, not a number; {_REPAIR}"
            ) from None
        n, c = counts.get(r[0], (n, 0))
        counts[r[0]] = (n, c + 1)
    complete = {k for k, (n, c) in counts.items() if c == n}
    rewrite = render_rows([rows[0][1]] + [r for _, r in rows[1:] if r[0] in complete], fmt)
    if repair and rewrite.encode("utf-8") != data:  # a torn record: keep the complete ones
        path.write_bytes(rewrite.encode("utf-8"))
    fps = _read_texts(texts_path(path), repair=repair)
    return {rid: fps.get(rid) for rid in complete}, runs


def _csv_rows(path: Path, text: str, fmt: str) -> list[tuple[int, list[str]]]:
    """(line where it ends, row) of the whole rows of a CSV/TSV text; a row torn by an
    interruption (inside a quoted field, or short of its line end) is dropped, and a row of
    the wrong width anywhere else is an error."""
    reader = csv.reader(
        io.StringIO(text, newline=""), delimiter="," if fmt == "csv" else "\t", strict=True
    )
    rows: list[tuple[int, list[str]]] = []
    try:
        for row in reader:
            rows.append((reader.line_num, row))
    except csv.Error:  # the tail ends inside a quoted field: that row was never yielded
        pass
    else:
        if rows and not text.endswith("\n"):
            rows.pop()  # the last row was cut before its line end
    for line, r in rows[1:]:
        if len(r) != len(rows[0][1]):
            raise SurprisalError(
                f"{path}, line {line}: {len(r)} columns where the header has "
                f"{len(rows[0][1])}; {_REPAIR}"
            )
    return rows


def _read_texts(path: Path, *, repair: bool = True) -> dict[str, str]:
    """The fingerprint sidecar: id -> fingerprint (the last line of an id wins: a record
    redone after an interruption is listed again). Missing file: {}."""
    if not path.exists():
        return {}
    data = path.read_bytes()
    fps: dict[str, str] = {}
    for k, v in _json_lines(path, data):
        if not (isinstance(v, list) and len(v) == 2 and all(isinstance(x, str) for x in v)):
            raise SurprisalError(f"{path}, line {k}: not an [id, fingerprint] pair; {_REPAIR}")
        fps[v[0]] = v[1]
    keep = data.rfind(b"\n") + 1
    if repair and keep != len(data):
        _truncate(path, keep)
    return fps


def text_lines(recs: Sequence[tuple[str, str]]) -> str:
    """Sidecar lines for (id, text) pairs."""
    return "".join(json.dumps([rid, fingerprint(t)], ensure_ascii=False) + "\n" for rid, t in recs)


def check_texts(out: Path, chunk: Sequence[tuple[int, str, str]], done: Done) -> None:
    """Refuse a resume whose input holds another text under an id already written."""
    for _, rid, text in chunk:
        fp = done.get(rid)
        if fp is not None and fp != fingerprint(text):
            raise SurprisalError(
                f"cannot resume {out}: the input's text for id {rid!r} is not the text that "
                "was scored under that id (the input changed since, or lines moved); resume "
                "with the input that was scored, or use a new output"
            )


def part_files(out: Path) -> list[Path]:
    """The per-rank part files of ``out`` left by a multi-process run, in rank order."""
    found = glob.glob(glob.escape(str(out)) + ".rank*.part")
    return sorted((Path(p) for p in found), key=lambda p: (len(p.name), p.name))


def take_lock(out: Path) -> IO[str] | None:
    """An exclusive advisory lock on ``OUT.lock``, held while one process writes ``out``: a
    second writer (two ``--resume`` runs at once, say) is refused instead of writing every
    record twice. :func:`unlock` removes the file; a writer that had opened it just before
    finds it gone once it gets the lock, and locks a fresh one."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: no advisory locks
        return None
    path = out.with_name(out.name + ".lock")
    while True:
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            fh = path.open("a", encoding="utf-8")
        except OSError as exc:  # name the output the user asked for, not the lock file
            raise SurprisalError(f"cannot write {out}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.close()
            raise SurprisalError(
                f"{out} is being written by another process (it holds {path.name}); wait for "
                "it to finish or stop it, then resume"
            ) from None
        try:
            st = os.stat(path)
            mine = os.fstat(fh.fileno())
            if (st.st_ino, st.st_dev) == (mine.st_ino, mine.st_dev):
                return fh
        except FileNotFoundError:
            pass
        fh.close()  # the previous writer removed this file as it finished: lock the new one


def release_lock(fh: IO[str] | None) -> None:
    """Remove the lock file and release the lock (removed first, while still held)."""
    if fh is None:
        return
    with contextlib.suppress(OSError):
        os.unlink(fh.name)
    fh.close()


def _write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` by ``text`` all at once: an interruption leaves the old file or the
    new one, never a cut one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise SurprisalError(f"cannot write {path}: {exc.strerror or exc}") from None


def _read_settings(mp: Path) -> tuple[dict[str, Any] | None, str | None]:
    """The settings file's contents, or None and what is wrong with it."""
    if not mp.exists():
        return None, "is missing"
    raw = mp.read_bytes()
    if not raw.strip():
        return None, "is empty (cut by an interruption while it was written)"
    try:
        old = json.loads(raw.decode("utf-8"))
    except json.JSONDecodeError as exc:
        return None, f"is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
    except UnicodeDecodeError:
        return None, "is not UTF-8 text"
    if not isinstance(old, dict):
        return None, "does not hold a JSON object"
    return old, None


_VERSION_KEYS = ("versions", "earlier_versions")


def _check_settings(
    out: Path, meta: dict[str, Any], fmt: str, parts: list[Path], run_id: str
) -> dict[str, Any] | None:
    """The settings of a started ``out``, checked against this run's: refused when they
    differ (versions aside). A missing or damaged settings file is rebuilt when every
    record already written carries this run's id (JSONL records and part files do), so
    finished work is not stranded; otherwise refused. Returns the old settings (None when
    rebuilt)."""
    mp = meta_path(out)
    old, problem = _read_settings(mp)
    if old is None:
        runs: set[str | None] = set()
        unchecked = False
        for p, f in [(out, fmt)] + [(p, "jsonl") for p in parts]:
            d, r = completed(p, f, repair=False)
            runs |= r
            unchecked |= f != "jsonl" and bool(d)
        if runs == {run_id} and not unchecked:
            warnings.warn(
                f"the settings file {mp} {problem}; every record in {out} carries this "
                f"run's id ({run_id}), so it was written with these settings: the settings "
                "file is written again",
                stacklevel=4,
            )
            return None
        raise SurprisalError(
            f"cannot resume {out}: its settings file {mp.name} {problem}, so nothing shows "
            "which model and options wrote it; use a new output (the records in it stay "
            "readable)"
        )
    mine = {k: v for k, v in old.items() if k not in _VERSION_KEYS}
    if mine != meta:
        diff = sorted(k for k in set(meta) | set(mine) if mine.get(k) != meta.get(k))
        raise SurprisalError(
            f"cannot resume {out}: it was written with other settings ({', '.join(diff)}); "
            "use the same model and options, or a new output"
        )
    return old


def _with_versions(out: Path, meta: dict[str, Any], old: dict[str, Any] | None) -> dict[str, Any]:
    """The settings to write: this run's, its versions, and the earlier versions that wrote
    records into ``out`` (a resume under other versions is warned about, not refused)."""
    now = versions()
    new = {**meta, "versions": now}
    if old is None:
        return new
    earlier = [v for v in old.get("earlier_versions", []) if v != now]
    before = old.get("versions")
    if isinstance(before, dict) and before != now:
        changed = ", ".join(
            f"{k} {before.get(k)} -> {now[k]}" for k in now if before.get(k) != now[k]
        )
        warnings.warn(
            f"resuming {out} under other versions ({changed}): its records will come from "
            "both; the settings file lists the earlier ones under 'earlier_versions'",
            stacklevel=4,
        )
        earlier.append(before)
    if earlier:
        new["earlier_versions"] = earlier
    return new


def prepare_output(
    out: Path, meta: dict[str, Any], fmt: str, resume: bool, run_id: str
) -> tuple[Done, bool, bool]:
    """Check the output against this run's settings and write the settings file (when it
    changes). Returns the records already complete, whether part files exist, and whether
    the output was new (nothing in it yet)."""
    try:  # the output's own path in any error, not the settings file's
        out.parent.mkdir(parents=True, exist_ok=True)
        existed = out.exists()
        out.open("a", encoding="utf-8").close()
        if not existed:
            os.unlink(out)  # a multi-process run writes part files first; OUT comes at the merge
    except OSError as exc:
        raise SurprisalError(f"cannot write {out}: {exc.strerror or exc}") from None
    parts = part_files(out)
    started = (out.exists() and out.stat().st_size > 0) or bool(parts)
    done: Done = {}
    old = None
    if started and not resume:
        raise SurprisalError(f"{out} exists; resume it (--resume, resume=True) or remove it first")
    if resume and started:
        old = _check_settings(out, meta, fmt, parts, run_id)
        done, _ = completed(out, fmt)
        for p in parts:
            done.update(completed(p, "jsonl")[0])
        if fmt != "jsonl" and any(v is None for v in done.values()):
            n = sum(v is None for v in done.values())
            warnings.warn(
                f"{n} records in {out} were written without text fingerprints (by an "
                f"earlier version, or {texts_path(out).name} was removed): the resume cannot "
                "check that their texts are the input's",
                stacklevel=4,
            )
    new = _with_versions(out, meta, old)
    if new != old:
        _write_atomic(meta_path(out), json.dumps(new, indent=1))
    return done, bool(parts), not started


def merge_parts(out: Path, fmt: str, extras: Sequence[str], level: str = "token") -> int:
    """Append the part files' records to ``out`` in input order, then remove the parts.

    Records already in ``out`` (from an earlier, interrupted merge) are skipped, so a merge
    cut short is finished by running it again. Returns the number of records appended.
    """
    parts = part_files(out)
    if not parts:
        return 0
    done, _ = completed(out, fmt)
    entries: list[tuple[int, int, int, int, str]] = []  # (index, part, offset, length, id)
    for k, p in enumerate(parts):
        off = 0
        with p.open("rb") as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.endswith(b"\n"):
                    break  # a torn last write: not a record (its text is redone or in OUT)
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise SurprisalError(
                        f"{p}, line {lineno}: not valid JSON ({exc.msg}); {_REPAIR}"
                    ) from None
                entries.append((int(rec["index"]), k, off, len(line), str(rec["id"])))
                off += len(line)
    entries.sort()
    handles = [p.open("rb") for p in parts]
    todo = []
    for e in entries:  # each id once: a record redone after an interruption is in two parts
        if e[4] not in done:
            done[e[4]] = None
            todo.append(e)
    try:
        with out.open("a", encoding="utf-8", newline="") as fo:
            if fo.tell() == 0:
                fo.write(header(fmt, extras, level))
            for a in range(0, len(todo), 256):  # the sidecar's lines first, then the records
                recs = []
                for _, k, off, length, _rid in todo[a : a + 256]:
                    handles[k].seek(off)
                    recs.append(json.loads(handles[k].read(length).decode("utf-8")))
                if fmt != "jsonl":
                    append_synced(texts_path(out), text_lines([(r["id"], r["text"]) for r in recs]))
                fo.write(render(recs, fmt, extras, level))
                fo.flush()
                os.fsync(fo.fileno())
    finally:
        for h in handles:
            h.close()
    n = len(todo)
    for p in parts:
        p.unlink()
    return n


def append_synced(path: Path, text: str) -> None:
    """Append ``text`` to ``path`` and fsync it."""
    with path.open("a", encoding="utf-8", newline="") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
