"""The ``surprisal`` command: ``score``, ``delta``, ``grammar`` and ``demo``.

``surprisal score`` streams its output: records are written chunk by chunk and flushed, a
sidecar ``OUTPUT.meta.json`` records the model and options, and ``--resume`` continues an
interrupted run: records already complete are kept, a record cut by the interruption is
dropped and redone, and settings that differ from the first run are refused.

User mistakes print one line, ``surprisal: error: ...``, and exit with status 2.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import os
import sys
from collections.abc import Iterator, Sequence
from itertools import islice
from pathlib import Path
from typing import Any, TextIO

from .errors import SurprisalError

__all__ = ["main"]

_TOKEN_COLUMNS = ["id", "n_tokens", "token_index", "piece", "start", "end", "surprisal"]


class _UserError(Exception):
    pass


# ---------------------------------------------------------------- input


def _read_records(paths: Sequence[str], texts: Sequence[str] | None) -> list[tuple[str, str]]:
    """All (id, text) pairs at once (see :func:`_iter_records`)."""
    return list(_iter_records(paths, texts))


def _iter_records(paths: Sequence[str], texts: Sequence[str] | None) -> Iterator[tuple[str, str]]:
    """(id, text) pairs from --text arguments, files, or stdin, read lazily.

    Plain files: one text per line; ids are line numbers from 1 for one input, ``file:line``
    for several. ``.jsonl`` files (or stdin lines that start with ``{``): objects with ``text``
    and optionally ``id``. Ids must be unique (resuming relies on them).
    """
    seen: set[str] = set()

    def emit(rid: str, text: str) -> tuple[str, str]:
        if rid in seen:
            raise _UserError(f"duplicate id {rid!r} in the input; ids must be unique to resume")
        seen.add(rid)
        return rid, text

    sources: list[tuple[str, TextIO]] = []
    if paths:
        for p in paths:
            if p == "-":
                sources.append(("-", sys.stdin))
                continue
            path = Path(p)
            if not path.is_file():
                raise _UserError(f"input file not found: {p}")
            sources.append((p, path.open(encoding="utf-8")))
    elif not texts:
        if sys.stdin.isatty():
            raise _UserError("no input: give FILE arguments, --text, or pipe texts on stdin")
        sources.append(("-", sys.stdin))
    many = len(sources) > 1 or bool(texts)
    for i, t in enumerate(texts or []):
        yield emit(f"text:{i + 1}" if many and paths else str(i + 1), t)
    for name, fh in sources:
        jsonl = name.endswith(".jsonl")
        for lineno, line in enumerate(fh):
            line = line.rstrip("\n").rstrip("\r")
            if name == "-" and line.startswith("{"):
                jsonl = True
            if jsonl:
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise _UserError(f"{name}:{lineno + 1}: not valid JSON ({exc.msg})") from None
                if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
                    raise _UserError(f"{name}:{lineno + 1}: a JSONL record needs a string 'text'")
                rid = obj.get("id", f"{name}:{lineno + 1}" if many else lineno + 1)
                yield emit(str(rid), obj["text"])
            else:
                yield emit(f"{name}:{lineno + 1}" if many else str(lineno + 1), line)
        if fh is not sys.stdin:
            fh.close()


def _read_text_arg(value: str | None, what: str) -> str | None:
    """A --explanation/--control value: a file path if it exists, else an error."""
    if value is None:
        return None
    p = Path(value)
    if not p.is_file():
        raise _UserError(f"{what} file not found: {value} (give a path to a text file)")
    return p.read_text(encoding="utf-8").rstrip("\n")


# ---------------------------------------------------------------- output


def _format_of(args: argparse.Namespace) -> str:
    if args.format:
        return str(args.format)
    if args.output:
        suffix = Path(args.output).suffix.lower()
        return {".csv": "csv", ".tsv": "tsv"}.get(suffix, "jsonl")
    return "jsonl"


def _score_record(
    rid: str, ts: Any, unit: str, words: bool, extras: Sequence[str]
) -> dict[str, Any]:
    from .results import convert

    rec: dict[str, Any] = {
        "id": rid,
        "text": ts.text,
        "unit": unit,
        "n_tokens": len(ts),
        "total": ts.total(unit),
        "mean": _num(ts.mean(unit)),
        "perplexity": _num(ts.perplexity()),
        "pieces": ts.pieces,
        "spans": ts.spans.tolist(),
        "surprisal": [_num(x) for x in ts.surprisal(unit).tolist()],
    }
    if "entropy" in extras and ts.entropy is not None:
        rec["entropy"] = [_num(x) for x in convert(ts.entropy.astype(float), unit).tolist()]
    if "rank" in extras and ts.rank is not None:
        rec["rank"] = ts.rank.tolist()
    if words:
        w = ts.words()
        rec["words"] = w.words
        rec["word_surprisal"] = [_num(x) for x in w.surprisal(unit).tolist()]
    return rec


def _num(x: float) -> float | None:
    return None if x != x else float(x)  # NaN -> null in JSON


def _token_rows(rec: dict[str, Any], extras: Sequence[str]) -> list[list[Any]]:
    rows = []
    for i, piece in enumerate(rec["pieces"]):
        a, b = rec["spans"][i]
        row = [rec["id"], rec["n_tokens"], i, piece, a, b, rec["surprisal"][i]]
        for e in extras:
            row.append(rec[e][i] if e in rec else "")
        rows.append(row)
    return rows


def _completed_ids(path: Path, fmt: str) -> set[str]:
    """Ids whose records are complete in an output file; cut a torn tail off the file."""
    if not path.exists():
        return set()
    data = path.read_bytes()
    keep = data.rfind(b"\n") + 1  # a line cut by the interruption is not a record
    done: set[str] = set()
    if fmt == "jsonl":
        for line in data[:keep].decode("utf-8").splitlines():
            if line.strip():
                done.add(str(json.loads(line)["id"]))
        _truncate(path, keep)
        return done
    delim = "," if fmt == "csv" else "\t"
    text = data[:keep].decode("utf-8")
    rows = list(csv.reader(io.StringIO(text), delimiter=delim))
    if not rows:
        _truncate(path, 0)
        return done
    counts: dict[str, tuple[int, int]] = {}
    for r in rows[1:]:
        n, c = counts.get(r[0], (int(r[1]), 0))
        counts[r[0]] = (n, c + 1)
    complete = {k for k, (n, c) in counts.items() if c == n}
    if len(complete) != len(counts):  # rewrite without the torn record
        buf = io.StringIO()
        w = csv.writer(buf, delimiter=delim, lineterminator="\n")
        w.writerow(rows[0])
        w.writerows(r for r in rows[1:] if r[0] in complete)
        path.write_text(buf.getvalue(), encoding="utf-8")
    else:
        _truncate(path, keep)
    return complete


def _truncate(path: Path, size: int) -> None:
    with path.open("r+b") as fh:
        fh.truncate(size)


# ---------------------------------------------------------------- commands


def _load(args: argparse.Namespace) -> Any:
    from . import load

    if args.model == "demo":
        from .demo import load_demo

        return load_demo(device=args.device)
    return load(args.model, device=args.device, dtype=args.dtype)


def _cmd_score(args: argparse.Namespace) -> int:
    import torch

    from . import parallel
    from .api import _score

    extras = [e.strip() for e in (args.extras or "").split(",") if e.strip()]
    bad = sorted(set(extras) - {"entropy", "rank"})
    if bad:
        raise _UserError(f"--extras takes entropy and/or rank, got {', '.join(bad)}")
    records = _iter_records(args.files, args.text)  # streamed: memory stays flat
    fmt = _format_of(args)
    if args.words and fmt != "jsonl":
        raise _UserError("--words needs JSONL output (csv/tsv has one row per token)")
    meta = {
        "command": "score",
        "model": args.model,
        "dtype": args.dtype,
        "unit": args.unit,
        "extras": extras,
        "words": bool(args.words),
        "context": args.context,
        "format": fmt,
    }
    out_path = Path(args.output) if args.output else None
    pos = parallel.world()  # under torchrun: every rank scores a shard, rank 0 writes
    lead = pos is None or pos[0] == 0
    lm = _load(args)
    meta["fingerprint"] = lm.fingerprint()
    run_id = hashlib.sha256(json.dumps(meta, sort_keys=True).encode()).hexdigest()[:12]
    state: dict[str, Any] = {"done": set(), "error": None}
    if out_path is not None and lead:
        try:
            state["done"] = _prepare_output(out_path, meta, fmt, args.resume)
        except _UserError as exc:
            state["error"] = str(exc)
    if pos is not None:  # every rank learns what rank 0 found
        box = [state]
        torch.distributed.broadcast_object_list(box, src=0)
        state = box[0]
    if state["error"]:
        raise _UserError(state["error"])
    done: set[str] = state["done"]
    todo = ((rid, t) for rid, t in records if rid not in done)
    context = _read_text_arg(args.context, "context") if args.context else None

    fh: TextIO = (
        out_path.open("a", encoding="utf-8", newline="")
        if out_path is not None and lead
        else (sys.stdout if lead else open(os.devnull, "w"))  # noqa: SIM115 - closed below
    )
    writer = None
    if fmt in ("csv", "tsv"):
        writer = csv.writer(fh, delimiter="," if fmt == "csv" else "\t", lineterminator="\n")
        if out_path is None or not lead or out_path.stat().st_size == 0:
            writer.writerow(_TOKEN_COLUMNS + extras)
    bar = None
    n_chunks = 0
    try:
        while chunk := list(islice(todo, args.chunk_size)):
            n_chunks += 1
            if bar is None and n_chunks == 2 and lead and not args.quiet:  # silent when small
                from tqdm.auto import tqdm

                bar = tqdm(initial=len(done) + args.chunk_size, unit="text", file=sys.stderr)
            texts = [t for _, t in chunk]
            kw: dict[str, Any] = {"extras": extras, "batch_tokens": args.batch_tokens}
            if pos is not None:
                s = parallel.score_sharded(lm, texts, context, progress=False, **kw)
            else:
                s, _ = _score(lm, texts, context, progress=False, **kw)
            lines = []
            for (rid, _), ts in zip(chunk, s, strict=True):
                rec = _score_record(rid, ts, args.unit, args.words, extras)
                rec["run"] = run_id  # the same for every record of one setting
                if writer is None:
                    lines.append(json.dumps(rec, ensure_ascii=False) + "\n")
                else:
                    buf = io.StringIO()
                    csv.writer(
                        buf, delimiter="," if fmt == "csv" else "\t", lineterminator="\n"
                    ).writerows(_token_rows(rec, extras))
                    lines.append(buf.getvalue())
            fh.write("".join(lines))
            fh.flush()
            if out_path is not None and lead:
                os.fsync(fh.fileno())
            if bar is not None:
                bar.update(len(chunk))
    finally:
        if bar is not None:
            bar.close()
        if fh is not sys.stdout:
            fh.close()
    return 0


def _prepare_output(out_path: Path, meta: dict[str, Any], fmt: str, resume: bool) -> set[str]:
    """Check an output file against this run's settings; return the ids already complete."""
    meta_path = out_path.with_name(out_path.name + ".meta.json")
    done: set[str] = set()
    if resume and meta_path.exists():
        old = json.loads(meta_path.read_text(encoding="utf-8"))
        if old != meta:
            diff = sorted(k for k in meta if old.get(k) != meta[k])
            raise _UserError(
                f"--resume: {out_path} was written with other settings ({', '.join(diff)}); "
                "use the same options or a new --output"
            )
        done = _completed_ids(out_path, fmt)
    elif out_path.exists() and not resume and out_path.stat().st_size > 0:
        raise _UserError(f"{out_path} exists; pass --resume to continue it or remove it first")
    meta_path.write_text(json.dumps(meta, indent=1), encoding="utf-8")
    return done


def _cmd_delta(args: argparse.Namespace) -> int:
    from .delta import delta

    explanation = _read_text_arg(args.explanation, "explanation")
    control = _read_text_arg(args.control, "control")
    records = _read_records(args.targets, None)
    lm = _load(args)
    d = delta(
        [t for _, t in records],
        explanation=explanation or "",
        control=control,
        model=lm,
        batch_tokens=args.batch_tokens,
        progress=None if not args.quiet else False,
    )
    unit = args.unit
    out = Path(args.output).open("w", encoding="utf-8") if args.output else sys.stdout  # noqa: SIM115
    try:
        from .results import convert

        red = convert(d.reduction, unit)
        base = convert(d.base.total(), unit)
        cond = convert(d.conditioned.total(), unit)
        ctrl = None if d.controlled is None else convert(d.controlled.total(), unit)
        for i, (rid, text) in enumerate(records):
            rec = {
                "id": rid,
                "text": text,
                "unit": unit,
                "surprisal": float(base[i]),
                "surprisal_given_explanation": float(cond[i]),
                "reduction": float(red[i]),
            }
            if ctrl is not None:
                rec["surprisal_given_control"] = float(ctrl[i])
            out.write(json.dumps(rec, ensure_ascii=False) + "\n")
    finally:
        if out is not sys.stdout:
            out.close()
    summary = str(d.summary(unit=unit, seed=args.seed))
    print(summary, file=sys.stderr if not args.output else sys.stdout)
    if args.html:
        d.to_html(args.html, unit=unit)
        print(f"wrote {args.html}", file=sys.stderr)
    return 0


def _grammar_from_arg(spec: str) -> Any:
    from . import grammar

    if spec in grammar.zoo:
        return grammar.zoo[spec]
    if spec.startswith("regex:"):
        return grammar.regex(spec[len("regex:") :])
    p = Path(spec)
    if p.is_file():
        return grammar.cfg(p.read_text(encoding="utf-8"), name=p.stem)
    raise _UserError(
        f"unknown grammar {spec!r}: give a zoo name ({', '.join(grammar.ZOO_NAMES)}), "
        "'regex:PATTERN', or a file with a CFG"
    )


def _cmd_grammar(args: argparse.Namespace) -> int:
    from . import grammar

    g = _grammar_from_arg(args.grammar)
    explanation = _read_text_arg(args.explanation, "explanation")
    control = _read_text_arg(args.control, "control")
    if not args.no_explanation:
        explanation = explanation or (g.explanation or None)
        control = control or (g.control or None)
    lm = _load(args)
    m = grammar.membership(
        lm,
        g,
        explanation=explanation,
        control=control,
        shots=args.shots,
        n=args.n,
        min_len=args.min_len,
        max_len=args.max_len,
        seed=args.seed,
        batch_tokens=args.batch_tokens,
    )
    print(m)
    html = m.to_html()
    if args.generate:
        gen = grammar.generation(
            lm,
            g,
            explanation=explanation,
            control=control,
            shots=args.shots,
            n=args.generate,
            max_len=args.max_len,
            temperature=args.temperature,
            seed=args.seed,
        )
        print(gen)
        html = html.replace("</body>", f"<h2>Generation</h2><pre>{_escape(str(gen))}</pre></body>")
    if args.html:
        from .viz import write_html

        write_html(html, args.html)
        print(f"wrote {args.html}", file=sys.stderr)
    return 0


def _escape(s: str) -> str:
    import html

    return html.escape(s)


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    report = run_demo(html_path=args.html, quick=args.quick, progress=not args.quiet)
    print(report.text)
    if args.html:
        print(f"wrote {args.html}", file=sys.stderr)
    return 0


# ---------------------------------------------------------------- parser


def _add_model(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--model", required=True, help="local path or hub id, or 'demo' for the bundled demo model"
    )
    p.add_argument(
        "--device", default=None, help="cpu, cuda, cuda:1, ... (default: cuda if present)"
    )
    p.add_argument("--dtype", default="float32", help="float32 (default), bfloat16, float16")
    p.add_argument("--batch-tokens", type=int, default=None, help="padded tokens per batch")
    p.add_argument("--unit", choices=["nats", "bits"], default="nats")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="surprisal", description="How surprising is a text to a language model?"
    )
    from . import __version__

    parser.add_argument("--version", action="version", version=f"surprisal {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("score", help="per-token surprisal of texts")
    _add_model(p)
    p.add_argument(
        "files", nargs="*", help="text files (one text per line), .jsonl, or - for stdin"
    )
    p.add_argument("--text", action="append", help="a text to score (repeatable)")
    p.add_argument("--context", default=None, help="file whose text precedes every input text")
    p.add_argument(
        "--output", "-o", default=None, help="write here (incrementally) instead of stdout"
    )
    p.add_argument("--format", choices=["jsonl", "csv", "tsv"], default=None)
    p.add_argument("--resume", action="store_true", help="continue an interrupted --output")
    p.add_argument("--words", action="store_true", help="add word-level surprisal")
    p.add_argument("--extras", default="", help="comma list: entropy,rank")
    p.add_argument("--chunk-size", type=int, default=256, help="texts per write (and resume step)")
    p.set_defaults(func=_cmd_score)

    p = sub.add_parser("delta", help="surprise reduction of targets by an explanation")
    _add_model(p)
    p.add_argument("targets", nargs="+", help="target files (one per line) or .jsonl")
    p.add_argument("--explanation", required=True, help="file with the explanation text")
    p.add_argument("--control", default=None, help="file with a control text")
    p.add_argument("--output", "-o", default=None, help="per-target JSONL here")
    p.add_argument("--html", default=None, help="write an HTML report")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_cmd_delta)

    p = sub.add_parser("grammar", help="grammar membership and generation report")
    _add_model(p)
    p.add_argument("--grammar", required=True, help="zoo name, regex:PATTERN, or a CFG file")
    p.add_argument("--explanation", default=None, help="file (default: the zoo grammar's own)")
    p.add_argument("--control", default=None, help="file (default: the zoo grammar's own)")
    p.add_argument("--no-explanation", action="store_true", help="only the 'none' condition")
    p.add_argument("--n", type=int, default=200, help="members to sample")
    p.add_argument("--min-len", type=int, default=1)
    p.add_argument("--max-len", type=int, default=20)
    p.add_argument("--shots", type=int, default=0)
    p.add_argument("--generate", type=int, default=0, help="also sample N strings per condition")
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--html", default=None, help="write an HTML report")
    p.set_defaults(func=_cmd_grammar)

    p = sub.add_parser("demo", help="score, delta and grammar membership on the bundled model")
    p.add_argument("--html", default="surprisal-demo.html", help="HTML report path ('' for none)")
    p.add_argument("--quick", action="store_true", help="fewer strings, a few seconds")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_cmd_demo)
    return parser


def _init_distributed() -> bool:
    """Join the process group torchrun (or accelerate launch) set up in the environment;
    True when this call created it (and so must destroy it)."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or "RANK" not in os.environ:
        return False
    import torch

    dist = torch.distributed
    if dist.is_available() and not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(backend)
        return True
    return False


def _finish_distributed() -> None:
    import torch

    torch.distributed.barrier()  # no rank tears down while another still gathers
    torch.distributed.destroy_process_group()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``surprisal`` command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    owns_group = _init_distributed()
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # the command shows its own progress
    if getattr(args, "html", None) == "":
        args.html = None
    try:
        status = int(args.func(args))
        if owns_group:
            _finish_distributed()
        return status
    except (_UserError, SurprisalError, ValueError, TypeError, FileNotFoundError) as exc:
        print(f"surprisal: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("surprisal: interrupted; rerun with --resume to continue", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `surprisal score ... | head`
        return 0
