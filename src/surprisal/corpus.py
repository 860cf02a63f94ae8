"""Resumable corpus scoring into a file: :func:`score_to_file` (what ``surprisal score -o`` runs).

On disk, for ``output="scores.jsonl"``:

* ``scores.jsonl``: the records, in input order. JSONL has one object per text; CSV and TSV
  have one row per token (``level="token"``) or one row per word (``level="word"``).
* ``scores.jsonl.meta.json``: the model's :meth:`~surprisal.LM.fingerprint`, the scoring
  options and the versions of surprisal, torch and transformers. A resume with other
  settings is refused, so results never mix; one under other versions is warned about (the
  file lists every set of versions that wrote it). It is replaced atomically (a temporary
  file, then a rename), and only when it changes.
* ``scores.csv.texts.jsonl`` (CSV and TSV only): one ``["id", fingerprint]`` line per
  record, a 16-hex-digit BLAKE2b hash of the record's text. A resume checks every text
  already scored against the input (JSONL records hold their ``text``, so they need no
  sidecar) and refuses an input whose texts differ, naming the first id that differs.
  The hashes live beside the table rather than in a column so the table keeps the columns
  readers expect and no per-token row repeats a per-text value.
* ``scores.jsonl.rank{R}.part``: one per process, only while a multi-process run (torchrun,
  ``accelerate launch``) goes on or after one was interrupted. Each holds that rank's
  records as JSONL. At the end rank 0 merges them into ``scores.jsonl`` in input order and
  removes them.

Crash safety. Records are written a chunk at a time, flushed and fsynced. An interruption
can cut at most the last line of a file. On resume that line is dropped, complete records
are kept, and only the missing ones are scored. A merge that was itself interrupted is
simply finished by the next resume: records already in the output are skipped. A line
that is corrupt anywhere else (not a cut tail) is an error naming the file and the line.
A run that ends (fails, or is interrupted) before writing any record leaves no output and
no settings file behind; the lock file ``scores.jsonl.lock`` is removed when a run ends.
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
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence, Sized
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import IO, Any, Literal, TextIO

from . import parallel
from ._progress import bar as progress_bar
from ._versions import versions
from .core import contexts_for, run
from .errors import NonFiniteError, SurprisalError
from .lm import resolve_model
from .options import DEFAULT_SEPARATOR, RunOptions
from .records import header, record, render, render_rows

_FORMATS = ("jsonl", "csv", "tsv")
_LEVELS = ("token", "word")
_FILE_EXTRAS = ("entropy", "rank", "topk", "bow")
_TABLE_EXTRAS = ("entropy", "rank", "bow")  # one number per token: a CSV/TSV column each


@dataclass(frozen=True)
class FileRun:
    """What one :func:`score_to_file` call did.

    Attributes:
        path: the output file.
        scored: records scored by this call (summed over all processes).
        skipped: records that were already complete from an earlier, interrupted run.
        run_id: a 12-hex-digit hash of the settings. It is stored in every record, so
            records from one setting can be told apart from those of another.
    """

    path: Path
    scored: int
    skipped: int
    run_id: str


# ---------------------------------------------------------------- records


def normalize_records(records: Iterable[Any]) -> Iterator[tuple[int, str, str]]:
    """(index, id, text) for each input: a str (its id is its 0-based position), an
    ``(id, text)`` pair, or a mapping with ``"text"`` and optionally ``"id"``."""
    if isinstance(records, (str, bytes)):
        raise TypeError("score_to_file takes an iterable of texts or records, not one string")
    seen: set[str] = set()
    for i, r in enumerate(records):
        if isinstance(r, str):
            rid, text = str(i), r
        elif isinstance(r, tuple) and len(r) == 2:
            rid, text = str(r[0]), r[1]
        elif isinstance(r, Mapping) and "text" in r:
            rid, text = str(r.get("id", i)), r["text"]
        else:
            raise TypeError(
                f"record {i} is {type(r).__name__}; give a str, an (id, text) pair or a "
                "mapping with 'text' (and optionally 'id')"
            )
        if not isinstance(text, str):
            raise TypeError(f"record {i} (id {rid!r}): text is {type(text).__name__}, not str")
        if rid in seen:
            raise SurprisalError(f"duplicate id {rid!r} (record {i}); ids must be unique to resume")
        seen.add(rid)
        yield i, rid, text


# ---------------------------------------------------------------- files

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


def _text_lines(recs: Sequence[tuple[str, str]]) -> str:
    """Sidecar lines for (id, text) pairs."""
    return "".join(json.dumps([rid, fingerprint(t)], ensure_ascii=False) + "\n" for rid, t in recs)


def _check_texts(out: Path, chunk: Sequence[tuple[int, str, str]], done: Done) -> None:
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


def _lock(out: Path) -> IO[str] | None:
    """An exclusive advisory lock on ``OUT.lock``, held while one process writes ``out``: a
    second writer (two ``--resume`` runs at once, say) is refused instead of writing every
    record twice. :func:`_unlock` removes the file; a writer that had opened it just before
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


def _unlock(fh: IO[str] | None) -> None:
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


def _prepare(
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


def _merge(out: Path, fmt: str, extras: Sequence[str], level: str = "token") -> int:
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
                    _append(texts_path(out), _text_lines([(r["id"], r["text"]) for r in recs]))
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


def _append(path: Path, text: str) -> None:
    """Append ``text`` to ``path`` and fsync it."""
    with path.open("a", encoding="utf-8", newline="") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())


# ---------------------------------------------------------------- the job


def format_of(output: str | os.PathLike[str] | None, format: str | None) -> str:
    """The output format: ``format`` if given, else from ``output``'s suffix, else JSONL."""
    fmt = format or {".csv": "csv", ".tsv": "tsv"}.get(Path(output or "").suffix.lower(), "jsonl")
    if fmt not in _FORMATS:
        raise SurprisalError(f"format must be one of {', '.join(_FORMATS)}, got {format!r}")
    return fmt


def _record_options(
    fmt: str,
    unit: str,
    words: bool,
    extras: Collection[str] | str,
    chunk_size: int,
    level: str = "token",
    correction: str | None = None,
) -> list[str]:
    """Check what a record holds; the extras as a list."""
    if unit not in ("nats", "bits"):
        raise SurprisalError(f"unit must be 'nats' or 'bits', got {unit!r}")
    if isinstance(extras, str):
        extras = [e.strip() for e in extras.split(",") if e.strip()]
    ex = list(extras)
    bad = sorted(set(ex) - set(_FILE_EXTRAS))
    if bad:
        raise SurprisalError(
            f"extras for a file take {', '.join(_FILE_EXTRAS)}, got {', '.join(bad)}"
        )
    if level not in _LEVELS:
        raise SurprisalError(f"level must be 'token' or 'word', got {level!r}")
    if correction not in (None, "pimentel-meister"):
        raise SurprisalError(f"correction must be None or 'pimentel-meister', got {correction!r}")
    if correction is not None and not words:
        raise SurprisalError("a word correction needs words=True (--words)")
    if level == "word" and not words:
        raise SurprisalError("level='word' needs words=True (--words)")
    if fmt != "jsonl":
        if words and level == "token":
            raise SurprisalError(
                "words in CSV/TSV need one row per word: level='word' (--level word); "
                "or use JSONL, whose records hold tokens and words"
            )
        if level == "word" and ex:
            raise SurprisalError(
                f"extras ({', '.join(ex)}) are per token; a word-level table holds none: "
                "drop them, or use --level token or JSONL"
            )
        if "topk" in ex:
            raise SurprisalError(
                "topk gives K alternatives per token, which a CSV/TSV cell cannot hold; "
                "use JSONL output for topk"
            )
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int):
        raise TypeError(f"chunk_size must be an int, got {type(chunk_size).__name__}")
    if chunk_size < 1:
        raise SurprisalError(f"chunk_size must be at least 1, got {chunk_size}")
    return ex


def _run_options(ex: list[str], correction: str | None, run: Mapping[str, Any]) -> RunOptions:
    """The engine options of a file or stream run (``run``: the keywords of
    :func:`surprisal.score` the call was given); a word correction computes the word-start
    masses whether or not they are written. The file's own progress bar counts records, so
    the engine shows none."""
    need = ex + (["bow"] if correction is not None and "bow" not in ex else [])
    return RunOptions.make(**{**run, "extras": need, "progress": False})


def _score_chunk(
    lm: Any,
    todo: list[tuple[int, str, str]],
    context: str | None,
    opts: Any,
    where: str,
    sharded: bool,
) -> Any:
    """Scores of one chunk's texts; a non-finite score names the record ids affected."""
    texts = [t for _, _, t in todo]
    ctxs = contexts_for(context, len(texts))
    try:
        if sharded:
            return parallel.score_sharded(lm, texts, ctxs, opts)
        return run(lm, texts, ctxs, opts)
    except NonFiniteError as exc:
        ids = [todo[i][1] for i in exc.indices]
        raise NonFiniteError(
            f"{exc} Record ids: {ids[:10]}. Records before this chunk are saved {where}.",
            [todo[i][0] for i in exc.indices],
        ) from None


def score_to_file(
    records: Iterable[str | tuple[Any, str] | Mapping[str, Any]],
    output: str | os.PathLike[str],
    *,
    model: Any,
    context: str | None = None,
    separator: str = DEFAULT_SEPARATOR,
    format: Literal["jsonl", "csv", "tsv"] | None = None,
    resume: bool = False,
    unit: Literal["nats", "bits"] = "nats",
    words: bool = False,
    correction: Literal["pimentel-meister"] | None = None,
    level: Literal["token", "word"] = "token",
    extras: Collection[str] = (),
    top_k: int = 5,
    add_bos: bool | None = None,
    max_length: int | None = None,
    stride: int | None = None,
    truncate_context: Literal["error", "left"] = "error",
    batch_tokens: int | None = None,
    padding_side: Literal["right", "left"] = "right",
    pack: bool | None = None,
    head: Literal["auto", "fused", "plain"] = "auto",
    temperature: float | None = None,
    device: str | Any | None = None,
    dtype: str | Any | None = None,
    chunk_size: int = 256,
    progress: bool | None = None,
    settings: Mapping[str, Any] | None = None,
) -> FileRun:
    """Score a corpus of any size into a file, incrementally and resumably.

    Records stream through ``chunk_size`` at a time, so memory stays flat. Each chunk's
    records are appended and fsynced once they are scored. After a crash or kill, call
    again with ``resume=True``: complete records are kept, a record cut by the
    interruption is redone, and the file ends with every record exactly once.

    Under ``torchrun`` or ``accelerate launch`` (torch.distributed initialized with more
    than one process), every rank reads the same stream. Within each chunk, a rank scores
    its share, balanced by token count, and writes its own part file. The ranks never wait
    for each other until the end, when rank 0 merges the parts into ``output`` in input
    order. A resume may use a different number of processes.

    Args:
        records: texts (a text's id is its 0-based position), ``(id, text)`` pairs, or
            mappings with ``"text"`` and optionally ``"id"``. Ids must be unique.
        output: the file to write; ``.csv`` and ``.tsv`` suffixes select those formats.
        model: a :class:`surprisal.LM`, a name or path, or a ``(model, tokenizer)`` pair.
        context: scored after this text (see :func:`surprisal.score`).
        separator: between context and text.
        format: ``"jsonl"`` (one object per text), ``"csv"`` or ``"tsv"`` (one row per
            token, or per word with ``level="word"``); default from the suffix, else JSONL.
        resume: continue an existing output; without it, an existing output is an error.
        unit: ``"nats"`` or ``"bits"``, for every surprisal written.
        words: add word-level surprisal (JSONL: in each record; CSV/TSV: needs
            ``level="word"``).
        correction: ``"pimentel-meister"`` to apply that word correction (see
            :meth:`surprisal.TextScore.words`; the word-start masses are computed for it).
        level: CSV/TSV rows: ``"token"`` (default) or ``"word"`` (:data:`WORD_COLUMNS`, needs
            ``words``).
        extras: any of ``"entropy"`` (in ``unit``), ``"rank"``, ``"bow"`` and, in JSONL
            only, ``"topk"`` (``top_k`` alternatives per token).
        top_k, add_bos, max_length, stride, truncate_context, batch_tokens, padding_side,
            pack, head, temperature, device, dtype: as in :func:`surprisal.score`;
            ``temperature`` and ``truncate_context="left"`` are recorded in the settings
            file (they change the numbers).
        chunk_size: records per write (and per resume step).
        progress: a bar on stderr, counting texts (default: on a terminal only; see
            :mod:`surprisal._progress`); only rank 0 shows one. Its ETA needs ``records``
            to have a length.
        settings: more items for the settings file (the CLI records its arguments).

    Returns:
        :class:`FileRun`, the same on every rank.

    Each JSONL record holds ``id``, ``index`` (the position in the input), ``text``,
    ``unit``, ``n_tokens``, ``total``, ``mean``, ``perplexity``, ``pieces``, ``spans``,
    ``surprisal`` (per token; null where unscored), the optional extras and words (see
    :func:`record`), and ``run``.

    >>> import tempfile, os, json
    >>> from surprisal.testing import tiny_lm
    >>> path = os.path.join(tempfile.mkdtemp(), "s.jsonl")
    >>> run = score_to_file(["a b", "c d e"], path, model=tiny_lm("gpt2"), progress=False)
    >>> run.scored, [json.loads(x)["id"] for x in open(path)]
    (2, ['0', '1'])
    """
    out = Path(output)
    fmt = format_of(out, format)
    ex = _record_options(fmt, unit, words, extras, chunk_size, level, correction)
    if context is not None and not isinstance(context, str):
        raise TypeError("score_to_file takes one context string for all records (or None)")
    run = {
        "separator": separator,
        "top_k": top_k,
        "add_bos": add_bos,
        "max_length": max_length,
        "stride": stride,
        "truncate_context": truncate_context,
        "batch_tokens": batch_tokens,
        "padding_side": padding_side,
        "pack": pack,
        "head": head,
        "temperature": temperature,
    }
    opts = _run_options(ex, correction, run)
    lm = resolve_model(model, device=device, dtype=dtype)
    meta = _settings(lm, settings, unit, ex, words, context, separator, max_length, stride, fmt)
    meta.update(
        correction=correction, level=level, add_bos=add_bos, top_k=top_k if "topk" in ex else None
    )
    # Options that change the numbers, recorded only when set, so that files written
    # before they were options resume as they did.
    if opts.temperature is not None:
        meta["temperature"] = opts.temperature
    if truncate_context != "error":
        meta["truncate_context"] = truncate_context
    # the versions are kept beside the settings, not in them: a resume under other versions
    # is warned about, not refused, and the run id stays that of the settings
    run_id = hashlib.sha256(json.dumps(meta, sort_keys=True).encode()).hexdigest()[:12]
    pos = parallel.world()
    rank, size = pos if pos is not None else (0, 1)
    done, had_parts, fresh, lock = _agree_on_state(out, meta, fmt, resume, rank, size, run_id)
    use_parts = size > 1 or had_parts
    sink = out.with_name(f"{out.name}.rank{rank}.part") if use_parts else out
    total = len(records) if isinstance(records, Sized) else None
    label = f"scoring into {out.name}"
    bar = progress_bar(progress if rank == 0 else False, total, label=label, unit="text")
    try:
        scored, skipped = _write_chunks(
            normalize_records(records),
            sink,
            "jsonl" if use_parts else fmt,
            lambda todo: _score_chunk(lm, todo, context, opts, f"in {sink}", sharded=False),
            lambda i, rid, ts: record(rid, i, ts, unit, words, ex, run_id, correction=correction),
            done=done,
            chunk_size=chunk_size,
            extras=ex,
            level="token" if use_parts else level,
            shard=(lambda texts: parallel.share(lm, texts, rank, size)) if size > 1 else None,
            bar=bar,
            check=lambda chunk: _check_texts(out, chunk, done),
            texts=texts_path(out) if fmt != "jsonl" and not use_parts else None,
        )
        scored = _finish(out, fmt, ex, level, scored, use_parts, rank, size)
    except BaseException:
        if fresh and size == 1:
            _remove_if_empty(out, fmt, ex, level)
        raise
    finally:
        if bar is not None:
            bar.close()
        _unlock(lock)
    return FileRun(path=out, scored=scored, skipped=skipped, run_id=run_id)


def _remove_if_empty(out: Path, fmt: str, extras: list[str], level: str) -> None:
    """After a failed first run: an output holding no record (a CSV header at most) is
    removed with its settings and fingerprint files, so nothing suggests a result."""
    try:
        head = header(fmt, extras, level).encode("utf-8")
        if out.exists() and out.read_bytes()[: len(head) + 1] not in (b"", head):
            return
        if part_files(out):
            return
        for p in (out, meta_path(out), texts_path(out)):
            p.unlink(missing_ok=True)
    except OSError:
        pass  # best effort: the error being raised is the one to report


def _write_chunks(
    stream: Iterator[tuple[int, str, str]],
    sink: Path,
    fmt: str,
    score: Any,
    make_record: Any,
    *,
    done: Collection[str],
    chunk_size: int,
    extras: list[str],
    level: str,
    shard: Any,
    bar: Any,
    check: Any = None,
    texts: Path | None = None,
) -> tuple[int, int]:
    """Score the records not ``done``, ``chunk_size`` at a time (this rank's ``shard`` of
    each chunk), appending each chunk to ``sink`` and fsyncing it (after its fingerprint
    lines, into ``texts`` when given). ``check(chunk)`` runs on every chunk before it is
    scored. Returns (scored, skipped).

    A failed write (a full disk, say) is a :class:`SurprisalError` naming ``sink``: the
    records before it are saved and a resume continues."""
    scored = skipped = 0

    def failed(exc: OSError) -> SurprisalError:
        return SurprisalError(
            f"cannot write {exc.filename or sink}: {exc.strerror or exc}; the {scored} "
            "records written before are saved: fix that, then resume (--resume, "
            "resume=True) to continue"
        )

    try:
        fh = sink.open("a", encoding="utf-8", newline="")
        if fh.tell() == 0:
            fh.write(header(fmt, extras, level))
    except OSError as exc:
        raise failed(exc) from None
    try:
        while chunk := list(islice(stream, chunk_size)):
            if check is not None:
                check(chunk)
            todo = [r for r in chunk if r[1] not in done]
            skipped += len(chunk) - len(todo)
            if shard is not None and todo:
                todo = [todo[i] for i in shard([t for _, _, t in todo])]
            if todo:
                recs = [
                    make_record(i, rid, ts)
                    for (i, rid, _), ts in zip(todo, score(todo), strict=True)
                ]
                try:
                    if texts is not None:
                        _append(texts, _text_lines([(rid, t) for _, rid, t in todo]))
                    fh.write(render(recs, fmt, extras, level))
                    fh.flush()
                    os.fsync(fh.fileno())
                except OSError as exc:
                    raise failed(exc) from None
                scored += len(recs)
            if bar is not None:
                bar.update(len(chunk))
    finally:
        with contextlib.suppress(OSError):  # all was flushed; a failed write raised
            fh.close()
    return scored, skipped


def _settings(
    lm: Any,
    settings: Mapping[str, Any] | None,
    unit: str,
    ex: list[str],
    words: bool,
    context: str | None,
    separator: str,
    max_length: int | None,
    stride: int | None,
    fmt: str,
) -> dict[str, Any]:
    """What the settings file records: a resume with anything else is refused."""
    return {
        **dict(settings or {}),
        "fingerprint": lm.fingerprint(),
        "unit": unit,
        "extras": ex,
        "words": bool(words),
        "context_sha": None
        if context is None
        else hashlib.sha256(context.encode()).hexdigest()[:16],
        "separator": separator,
        "max_length": max_length,
        "stride": stride,
        "format": fmt,
    }


def _agree_on_state(
    out: Path, meta: dict[str, Any], fmt: str, resume: bool, rank: int, size: int, run_id: str
) -> tuple[Done, bool, bool, IO[str] | None]:
    """Rank 0 takes the output's lock and checks the output against the settings; every
    rank learns the records already complete, whether part files exist and whether the
    output is new (or the error, raised on every rank). Returns those and the lock (rank
    0), to release at the end."""
    state: dict[str, Any] = {"done": {}, "parts": False, "fresh": False, "error": None}
    lock = None
    if rank == 0:
        try:
            lock = _lock(out)
            state["done"], state["parts"], state["fresh"] = _prepare(out, meta, fmt, resume, run_id)
        except SurprisalError as exc:
            state["error"] = str(exc)
    if size > 1:
        import torch

        box = [state]
        torch.distributed.broadcast_object_list(box, src=0)
        state = box[0]
    if state["error"]:
        _unlock(lock)
        raise SurprisalError(state["error"])
    return state["done"], state["parts"], state["fresh"], lock


def _finish(
    out: Path,
    fmt: str,
    ex: list[str],
    level: str,
    scored: int,
    use_parts: bool,
    rank: int,
    size: int,
) -> int:
    """Sum the ranks' counts, merge part files (rank 0); the merged file exists on return,
    on every rank. Returns the records scored by all ranks."""
    if size > 1:
        import torch

        counts: list[Any] = [None] * size
        torch.distributed.all_gather_object(counts, scored)
        scored = sum(counts)
    if use_parts and rank == 0:
        _merge(out, fmt, ex, level)
    if size > 1:
        import torch

        torch.distributed.barrier()
    return scored


def score_to_stream(
    records: Iterable[str | tuple[Any, str] | Mapping[str, Any]],
    stream: TextIO,
    *,
    model: Any,
    context: str | None = None,
    separator: str = DEFAULT_SEPARATOR,
    format: Literal["jsonl", "csv", "tsv"] = "jsonl",
    unit: Literal["nats", "bits"] = "nats",
    words: bool = False,
    correction: Literal["pimentel-meister"] | None = None,
    level: Literal["token", "word"] = "token",
    extras: Collection[str] = (),
    top_k: int = 5,
    add_bos: bool | None = None,
    max_length: int | None = None,
    stride: int | None = None,
    truncate_context: Literal["error", "left"] = "error",
    batch_tokens: int | None = None,
    padding_side: Literal["right", "left"] = "right",
    pack: bool | None = None,
    head: Literal["auto", "fused", "plain"] = "auto",
    temperature: float | None = None,
    device: str | Any | None = None,
    dtype: str | Any | None = None,
    chunk_size: int = 256,
) -> int:
    """:func:`score_to_file`'s records written to an open text stream (stdout, say) as each
    chunk is scored; no settings file, so no resume and no ``run`` field. Under torchrun
    each chunk is sharded over the ranks and gathered, and rank 0 writes. Returns the
    number of records written."""
    fmt = format_of(None, format)
    ex = _record_options(fmt, unit, words, extras, chunk_size, level, correction)
    if context is not None and not isinstance(context, str):
        raise TypeError("score_to_stream takes one context string for all records (or None)")
    run = {
        "separator": separator,
        "top_k": top_k,
        "add_bos": add_bos,
        "max_length": max_length,
        "stride": stride,
        "truncate_context": truncate_context,
        "batch_tokens": batch_tokens,
        "padding_side": padding_side,
        "pack": pack,
        "head": head,
        "temperature": temperature,
    }
    opts = _run_options(ex, correction, run)
    lm = resolve_model(model, device=device, dtype=dtype)
    pos = parallel.world()
    lead = pos is None or pos[0] == 0
    if lead:
        stream.write(header(fmt, ex, level))
    n = 0
    it = normalize_records(records)
    while chunk := list(islice(it, chunk_size)):
        s = _score_chunk(lm, chunk, context, opts, "in the output so far", pos is not None)
        if lead:
            recs = [
                record(rid, i, ts, unit, words, ex, None, correction=correction)
                for (i, rid, _), ts in zip(chunk, s, strict=True)
            ]
            stream.write(render(recs, fmt, ex, level))
            stream.flush()
        n += len(chunk)
    return n
