"""The ``surprisal`` command: ``score``, ``delta``, ``grammar`` and ``demo``.

``surprisal score`` streams its output: records are written chunk by chunk and flushed, a
sidecar ``OUTPUT.meta.json`` records the model and options, and ``--resume`` continues an
interrupted run: records already complete are kept, a record cut by the interruption is
dropped and redone, and settings that differ from the first run are refused. The file
work is :func:`surprisal.corpus.score_to_file`; under torchrun each rank writes a part
file and rank 0 merges them in input order at the end.

User mistakes print one line, ``surprisal: error: ...``, and exit with status 2.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

from .errors import SurprisalError

__all__ = ["main"]


class _UserError(Exception):
    pass


# ---------------------------------------------------------------- input


def _read_records(paths: Sequence[str], texts: Sequence[str] | None) -> list[tuple[str, str]]:
    """All (id, text) pairs at once (see :func:`_iter_records`), ids checked unique."""
    from .corpus import normalize_records

    return [(rid, text) for _, rid, text in normalize_records(_iter_records(paths, texts))]


def _iter_records(paths: Sequence[str], texts: Sequence[str] | None) -> Iterator[tuple[str, str]]:
    """(id, text) pairs from --text arguments, files, or stdin, read lazily.

    Plain files: one text per line; ids are line numbers from 1 for one input, ``file:line``
    for several. ``.jsonl`` files (or stdin lines that start with ``{``): objects with ``text``
    and optionally ``id``. Ids must be unique (resuming relies on them): the scoring
    functions check that, once, as records stream through.
    """

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
        yield f"text:{i + 1}" if many and paths else str(i + 1), t
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
                yield str(rid), obj["text"]
            else:
                yield f"{name}:{lineno + 1}" if many else str(lineno + 1), line
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


# ---------------------------------------------------------------- commands


def _load(args: argparse.Namespace) -> Any:
    from . import load

    if args.model == "demo":
        from .demo import load_demo

        return load_demo(device=args.device)
    return load(args.model, device=args.device, dtype=args.dtype)


def _cmd_score(args: argparse.Namespace) -> int:
    from .corpus import format_of, score_to_file, score_to_stream

    fmt = format_of(args.output, args.format)
    records = _iter_records(args.files, args.text)  # streamed: memory stays flat
    context = _read_text_arg(args.context, "context") if args.context else None
    from .core import RunOptions, tempered

    # A copy of the LM whose head divides the logits by T (checked like score()'s keyword).
    lm = tempered(_load(args), RunOptions(temperature=args.temperature).temperature)
    same: dict[str, Any] = {  # what the file and the stream are both given
        "model": lm,
        "context": context,
        "format": fmt,
        "unit": args.unit,
        "words": args.words,
        "extras": args.extras or "",
        "chunk_size": args.chunk_size,
        "batch_tokens": args.batch_tokens,
    }
    if args.output:
        score_to_file(
            records,
            args.output,
            resume=args.resume,
            progress=False if args.quiet else None,
            settings={
                "command": "score",
                "model": args.model,
                "dtype": args.dtype,
                "temperature": args.temperature,
            },
            **same,
        )
    else:
        score_to_stream(records, sys.stdout, **same)
    return 0


def _cmd_delta(args: argparse.Namespace) -> int:
    from .deltas import delta

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
        divergence=args.divergence,
    )
    unit = args.unit
    out = Path(args.output).open("w", encoding="utf-8") if args.output else sys.stdout  # noqa: SIM115
    try:
        from .results import convert

        red = convert(d.reduction, unit)
        base = convert(d.base.total(), unit)
        cond = convert(d.conditioned.total(), unit)
        ctrl = None if d.controlled is None else convert(d.controlled.total(), unit)
        div: dict[str, Any] = {}
        if args.divergence:
            from .deltas import _nanmeans

            div["divergence"] = convert(d.divergence_total, unit)
            div["mean_entropy_change"] = convert(_nanmeans(d.entropy_change), unit)
            cd, ce = d.control_divergence_total, d.control_entropy_change
            if cd is not None and ce is not None:
                div["control_divergence"] = convert(cd, unit)
                div["control_mean_entropy_change"] = convert(_nanmeans(ce), unit)
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
            for c, vals in div.items():
                v = float(vals[i])
                rec[c] = None if math.isnan(v) else v
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
    same: dict[str, Any] = {  # what membership and generation are both given
        "explanation": explanation,
        "control": control,
        "shots": args.shots,
        "max_len": args.max_len,
        "seed": args.seed,
    }
    m = grammar.membership(
        lm, g, n=args.n, min_len=args.min_len, batch_tokens=args.batch_tokens, **same
    )
    print(m)
    html = m.to_html()
    if args.generate:
        gen = grammar.generation(lm, g, n=args.generate, temperature=args.temperature, **same)
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
    p.add_argument(
        "--temperature",
        type=float,
        default=None,
        help="score under softmax(logits / T) (default: the model as trained)",
    )
    p.set_defaults(func=_cmd_score)

    p = sub.add_parser("delta", help="surprise reduction of targets by an explanation")
    _add_model(p)
    p.add_argument("targets", nargs="+", help="target files (one per line) or .jsonl")
    p.add_argument("--explanation", required=True, help="file with the explanation text")
    p.add_argument("--control", default=None, help="file with a control text")
    p.add_argument("--output", "-o", default=None, help="per-target JSONL here")
    p.add_argument("--html", default=None, help="write an HTML report")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--divergence",
        action="store_true",
        help="also KL(p(.|e) || p(.)) and the entropy change at every target position",
    )
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
