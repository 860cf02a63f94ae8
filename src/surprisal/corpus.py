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
import hashlib
import json
import os
from collections.abc import Collection, Iterable, Iterator, Mapping, Sized
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal, TextIO

from . import parallel
from ._progress import bar as progress_bar
from .core import contexts_for, run
from .engine import default_batch_tokens
from .errors import NonFiniteError, SurprisalError
from .flags import DEFAULT_SEPARATOR
from .lm import resolve_model
from .options import RunOptions
from .pipeline import chunk_tokens_for, prefetched
from .records import header, render_scores
from .resume import (
    Done,
    append_synced,
    check_texts,
    merge_parts,
    meta_path,
    part_files,
    prepare_output,
    release_lock,
    take_lock,
    text_lines,
    texts_path,
)

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
    chunk_size: int | None,
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
    if chunk_size is not None:
        if isinstance(chunk_size, bool) or not isinstance(chunk_size, int):
            raise TypeError(f"chunk_size must be an int or None, got {type(chunk_size).__name__}")
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
    encoded: Any = None,
) -> Any:
    """Scores of one chunk's texts (``encoded``: already tokenized); a non-finite score
    names the record ids affected."""
    texts = [t for _, _, t in todo]
    ctxs = contexts_for(context, len(texts))
    try:
        if sharded:
            return parallel.score_sharded(lm, texts, ctxs, opts)
        return run(lm, texts, ctxs, opts, encoded=encoded)
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
    chunk_size: int | None = None,
    progress: bool | None = None,
    settings: Mapping[str, Any] | None = None,
) -> FileRun:
    """Score a corpus of any size into a file, incrementally and resumably.

    Records stream through a chunk at a time, so memory stays flat: by default chunks of
    about eight of the device's batches of tokens (65,536 at least), or ``chunk_size``
    records when given. The next chunk is tokenized on a worker thread while the current
    one scores, and each chunk's records are written (appended and fsynced) on another
    while the next scores.
    After a crash or kill, call again with ``resume=True``: complete records are kept, a
    record cut by the interruption is redone, and the file ends with every record exactly
    once.

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
        chunk_size: records per write (and per resume step); None (default): chunks by
            tokens, as above.
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
            lambda todo, encs: _score_chunk(
                lm, todo, context, opts, f"in {sink}", sharded=False, encoded=encs
            ),
            lambda todo, s: render_scores(
                s,
                [rid for _, rid, _ in todo],
                [i for i, _, _ in todo],
                "jsonl" if use_parts else fmt,
                unit,
                words,
                ex,
                run_id,
                correction=correction,
                level="token" if use_parts else level,
            ),
            done=done,
            chunks=_chunker(lm, opts, chunk_size),
            extras=ex,
            level="token" if use_parts else level,
            shard=(lambda texts: parallel.share(lm, texts, rank, size)) if size > 1 else None,
            bar=bar,
            check=lambda chunk: check_texts(out, chunk, done),
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
        release_lock(lock)
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
    render_chunk: Any,
    *,
    done: Collection[str],
    chunks: Any,
    extras: list[str],
    level: str,
    shard: Any,
    bar: Any,
    check: Any = None,
    texts: Path | None = None,
) -> tuple[int, int]:
    """Score the records not ``done``, a chunk at a time (``chunks``: a :func:`_chunker`;
    this rank's ``shard`` of each chunk), appending each chunk to ``sink`` and fsyncing it
    (after its fingerprint lines, into ``texts`` when given) on a writer thread while the
    next chunk scores. ``check(chunk)`` runs on every chunk before it is scored. Returns
    (scored, skipped).

    A failed write (a full disk, say) is a :class:`SurprisalError` naming ``sink``: the
    records before it are saved and a resume continues."""
    scored = written = skipped = 0

    def failed(exc: OSError) -> SurprisalError:
        return SurprisalError(
            f"cannot write {exc.filename or sink}: {exc.strerror or exc}; the {written} "
            "records written before are saved: fix that, then resume (--resume, "
            "resume=True) to continue"
        )

    def write(text: str, side: str | None) -> None:
        if texts is not None and side is not None:
            append_synced(texts, side)
        _append_text(fh, text)

    def wait(job: Future[None] | None, n: int) -> None:
        nonlocal written
        if job is None:
            return
        try:
            job.result()  # in order; a failed write stops the run here
        except OSError as exc:
            raise failed(exc) from None
        written += n

    try:
        fh = sink.open("a", encoding="utf-8", newline="")
        if fh.tell() == 0:
            fh.write(header(fmt, extras, level))
    except OSError as exc:
        raise failed(exc) from None
    try:
        with ThreadPoolExecutor(1, thread_name_prefix="surprisal-write") as writer:
            pending: Future[None] | None = None
            n_pending = 0
            for chunk, todo, encs in chunks(stream, lambda r: r[1] not in done):
                if check is not None:
                    check(chunk)
                skipped += len(chunk) - len(todo)
                if shard is not None and todo:
                    todo, encs = [todo[i] for i in shard([t for _, _, t in todo])], None
                if todo:
                    text = render_chunk(todo, score(todo, encs))
                    side = text_lines([(rid, t) for _, rid, t in todo]) if texts else None
                    wait(pending, n_pending)
                    pending, n_pending = writer.submit(write, text, side), len(todo)
                    scored += len(todo)
                if bar is not None:
                    bar.update(len(chunk))
            wait(pending, n_pending)
    finally:
        with contextlib.suppress(OSError):  # all was flushed; a failed write raised
            fh.close()
    return scored, skipped


def _append_text(fh: IO[str], text: str) -> None:
    """Append a chunk's rendered records to the open output and fsync it."""
    fh.write(text)
    fh.flush()
    os.fsync(fh.fileno())


def _chunker(lm: Any, opts: RunOptions, chunk_size: int | None) -> Any:
    """The input cut in chunks (by tokens, or ``chunk_size`` records) and each chunk's
    kept records tokenized one chunk ahead (:func:`surprisal.pipeline.prefetched`)."""
    budget = opts.batch_tokens or default_batch_tokens(lm)

    def chunks(stream: Iterator[tuple[int, str, str]], keep: Any) -> Any:
        return prefetched(
            stream,
            lambda r: r[2],
            lm.tokenizer,
            parse_special_tokens=lm.parse_special_tokens,
            chunk_tokens=chunk_tokens_for(budget),
            chunk_size=chunk_size,
            keep=keep,
        )

    return chunks


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
            lock = take_lock(out)
            state["done"], state["parts"], state["fresh"] = prepare_output(
                out, meta, fmt, resume, run_id
            )
        except SurprisalError as exc:
            state["error"] = str(exc)
    if size > 1:
        import torch

        box = [state]
        torch.distributed.broadcast_object_list(box, src=0)
        state = box[0]
    if state["error"]:
        release_lock(lock)
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
        merge_parts(out, fmt, ex, level)
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
    chunk_size: int | None = None,
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
    for chunk, _, encs in _chunker(lm, opts, chunk_size)(normalize_records(records), None):
        s = _score_chunk(
            lm, chunk, context, opts, "in the output so far", pos is not None, encoded=encs
        )
        if lead:
            rids, idx = [rid for _, rid, _ in chunk], [i for i, _, _ in chunk]
            stream.write(
                render_scores(
                    s, rids, idx, fmt, unit, words, ex, None, correction=correction, level=level
                )
            )
            stream.flush()
        n += len(chunk)
    return n
