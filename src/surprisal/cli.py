"""The ``surprisal`` command: ``score``, ``delta``, ``grammar`` and ``demo``.

``surprisal score`` streams its output: records are written chunk by chunk and flushed, a
sidecar ``OUTPUT.meta.json`` records the model and options, and ``--resume`` continues an
interrupted run: records already complete are kept, a record cut by the interruption is
dropped and redone, and settings that differ from the first run are refused. The file
work is :func:`surprisal.corpus.score_to_file`; under torchrun each rank writes a part
file and rank 0 merges them in input order at the end.

User mistakes print one line, ``surprisal: error: ...``, and exit with status 2; so does an
output that cannot be written (a full disk), with a note that ``--resume`` continues. Every input
file is read as UTF-8 with or without a byte-order mark; a byte that is not UTF-8 is an
error naming the file and line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ._progress import wanted
from .cli_input import (
    UserError,
    counted,
    iter_records,
    read_file,
    read_records,
    read_text_arg,
    unescape,
)
from .controls import DEFAULT_CONTROLS
from .errors import SurprisalError


def _run_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """The run options a command's flags set (:data:`surprisal.flags.RUN_FLAGS`), by the
    keywords of the Python API; only those the command has, so each goes through the same
    checks as in Python."""
    from .flags import RUN_FLAGS

    out = {f.name: getattr(args, f.name) for f in RUN_FLAGS if hasattr(args, f.name)}
    if "separator" in out:
        out["separator"] = unescape(out["separator"])
    return out


# ---------------------------------------------------------------- commands


def _hf_progress_off() -> None:
    """The command shows its own progress; transformers' bars off (imported only here, so
    --help and argument errors never wait for transformers)."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()


def _load(args: argparse.Namespace) -> Any:
    """The model, loaded with the Hugging Face options given (see :func:`surprisal.load`)."""
    _hf_progress_off()
    hf: dict[str, Any] = {}
    if args.revision is not None:
        hf["revision"] = args.revision
    if args.trust_remote_code:
        hf["trust_remote_code"] = True
    if args.attn_implementation is not None:
        hf["attn_implementation"] = args.attn_implementation
    if args.device_map is not None:
        if args.device is not None:
            raise UserError("give --device or --device-map, not both")
        dm = args.device_map
        if dm.startswith("{"):
            try:
                dm = json.loads(dm)
            except json.JSONDecodeError as exc:
                raise UserError(f"--device-map is not valid JSON ({exc.msg})") from None
        hf["device_map"] = dm  # forwarded to from_pretrained through load's **model_kwargs
    if args.model == "demo":
        if hf or args.dtype not in ("float32", "auto"):
            raise UserError(
                "--model demo is the bundled float32 model: drop --dtype, --revision, "
                "--trust-remote-code, --attn-implementation and --device-map"
            )
        from .demo import load_demo

        return load_demo(device=args.device)
    from . import load

    dtype: str | None = args.dtype
    if dtype == "auto":
        # the checkpoint's own dtype: from_pretrained's torch_dtype="auto", which every
        # supported transformers version reads (load's own dtype= takes torch dtypes only)
        dtype, hf["torch_dtype"] = None, "auto"
    return load(args.model, device=args.device, dtype=dtype, **hf)


def _cmd_score(args: argparse.Namespace) -> int:
    from .corpus import format_of, score_to_file, score_to_stream

    fmt = format_of(args.output, args.format)
    records: Any = iter_records(args.files, args.text)  # streamed: memory stays flat
    if args.output and wanted(_progress(args)):
        records = counted(records, args.files, args.text)  # a total for the bar's ETA
    context = read_text_arg(args.context, "context", args.context_text)
    correction = None if args.word_correction == "none" else args.word_correction
    same: dict[str, Any] = {  # what the file and the stream are both given
        "model": _load(args),
        "context": context,
        "format": fmt,
        "unit": args.unit,
        # --level word and --word-correction are about words: they imply --words
        "words": args.words or args.level == "word" or correction is not None,
        "correction": correction,
        "level": args.level,
        "extras": args.extras or "",
        "top_k": args.top_k,
        "chunk_size": args.chunk_size,
        **_run_kwargs(args),
    }
    if args.output:
        score_to_file(
            records,
            args.output,
            resume=args.resume,
            progress=_progress(args),
            settings={
                "command": "score",
                "model": args.model,
                "dtype": args.dtype,
                "revision": args.revision,
                "temperature": args.temperature,
            },
            **same,
        )
    else:
        score_to_stream(records, sys.stdout, **same)
    return 0


def _cmd_delta(args: argparse.Namespace) -> int:
    from .deltas import delta

    explanation = read_text_arg(args.explanation, "explanation", args.explanation_text)
    control = read_text_arg(args.control, "control", args.control_text)
    records = read_records(args.targets, None)
    lm = _load(args)
    d = delta(
        [t for _, t in records],
        explanation=explanation or "",
        control=control,
        model=lm,
        progress=_progress(args),
        **_run_kwargs(args),
        divergence=args.divergence,
        controls=args.controls,
        seed=args.seed,
    )
    unit = args.unit
    ids = [rid for rid, _ in records]
    out = Path(args.output).open("w", encoding="utf-8") if args.output else sys.stdout  # noqa: SIM115
    try:
        for rec in d.to_records(unit, ids=ids):
            out.write(json.dumps(rec, ensure_ascii=False) + "\n")
    finally:
        if out is not sys.stdout:
            out.close()
    summary = str(d.summary(unit=unit, seed=args.seed))
    print(summary, file=sys.stderr if not args.output else sys.stdout)
    if args.html:
        d.to_html(args.html, unit=unit, labels=ids, seed=args.seed)
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
        return grammar.cfg(read_file(p), name=p.stem)
    raise UserError(
        f"unknown grammar {spec!r}: give a zoo name ({', '.join(grammar.ZOO_NAMES)}), "
        "'regex:PATTERN', or a file with a CFG"
    )


def _cmd_grammar(args: argparse.Namespace) -> int:
    from . import grammar
    from .report.grammar import generation_sections, membership_sections

    g = _grammar_from_arg(args.grammar)
    explanation = read_text_arg(args.explanation, "explanation", args.explanation_text)
    control = read_text_arg(args.control, "control", args.control_text)
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
    draws = 0 if args.no_baseline else args.null_draws
    m = grammar.membership(
        g,
        model=lm,
        n=args.n,
        min_len=args.min_len,
        baseline=None if draws == 0 else "random",
        null_draws=None if draws is None else max(draws, 1),  # unused when baseline is None
        batch_tokens=args.batch_tokens,
        progress=_progress(args),
        **same,
    )
    print(m)
    gen = None
    if args.generate:
        gen = grammar.generation(
            g, model=lm, n=args.generate, sampling_temperature=args.sampling_temperature, **same
        )
        print(gen)
    if args.html:
        from .report.page import page, write_html

        sections = membership_sections(m) + (generation_sections(gen) if gen else [])
        title = f"Grammar {'membership and generation' if args.generate else 'membership'}"
        write_html(page(f"{title}: {g.name}", sections, "nats"), args.html)
        print(f"wrote {args.html}", file=sys.stderr)
    return 0


_IMPORTED_AT = time.time()


def _process_start() -> float:
    """The wall-clock time this process started (``time.time()`` scale): from /proc on
    Linux (the process's start, in clock ticks after boot, against the uptime), else the
    time this module was imported (after Python's own start-up)."""
    try:
        with open("/proc/self/stat", encoding="ascii") as f:
            stat = f.read()
        with open("/proc/uptime", encoding="ascii") as f:
            uptime = float(f.read().split()[0])
        # Fields after the command name (which may hold spaces, in parentheses): the
        # start time is field 22 of the line, the 20th after the closing parenthesis.
        ticks = int(stat.rsplit(")", 1)[1].split()[19])
        age = uptime - ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return _IMPORTED_AT
    return time.time() - age if 0 <= age < 86400 * 365 else _IMPORTED_AT


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    _hf_progress_off()
    report = run_demo(
        html_path=args.html, quick=args.quick, progress=_progress(args), started=_process_start()
    )
    print(report.text)
    if args.html:
        print(f"wrote {args.html}", file=sys.stderr)
    return 0


# ---------------------------------------------------------------- parser


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Descriptions and examples as written; every option's default shown after its help
    (``off`` for flags, and the words a help text gives for a ``None`` default)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if (
            "default" in text
            or action.required
            or action.default is argparse.SUPPRESS
            or not action.option_strings
        ):
            return text
        flag = action.nargs == 0
        shown = ("on" if action.default else "off") if flag else "%(default)s"
        return f"{text} (default: {shown})"


def _sub(
    sub: Any, name: str, help: str, description: str, examples: str
) -> argparse.ArgumentParser:
    return sub.add_parser(  # type: ignore[no-any-return]
        name,
        help=help,
        description=description,
        epilog="examples:\n" + examples,
        formatter_class=_Formatter,
    )


def _add_model(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("model")
    g.add_argument(
        "--model",
        required=True,
        help="local path or hub id, or 'demo' for the bundled demo model (required)",
    )
    g.add_argument(
        "--device",
        default=None,
        help="cpu, cuda, cuda:1, ... (default: cuda when present, else cpu)",
    )
    g.add_argument(
        "--dtype",
        default="float32",
        help="float32, bfloat16, float16, or auto (the checkpoint's own); scores are a "
        "measurement, so float32 is the default",
    )
    g.add_argument(
        "--revision", default=None, help="hub branch, tag or commit (default: the main branch)"
    )
    g.add_argument(
        "--trust-remote-code",
        action="store_true",
        help="run the model repository's own modelling code (only for repositories you trust)",
    )
    g.add_argument(
        "--device-map",
        default=None,
        help="accelerate device map: auto, balanced, cpu, or a JSON object; spreads a large "
        "model over devices, instead of --device (default: none, one device)",
    )
    g.add_argument(
        "--attn-implementation",
        default=None,
        help="eager, sdpa, flash_attention_2, ... (default: the transformers default)",
    )
    _add_flags(g, "model")
    p.add_argument("--unit", choices=["nats", "bits"], default="nats", help="unit of every number")
    _add_progress(p)


def _add_progress(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--quiet", action="store_true", help="no progress bar")
    g.add_argument(
        "--progress",
        action="store_true",
        help="a progress bar even when stderr is not a terminal (by default one is shown "
        "on a terminal only)",
    )


def _progress(args: argparse.Namespace) -> bool | None:
    """The ``progress=`` of the verbs: --quiet off, --progress on, else on a terminal."""
    return False if args.quiet else (True if args.progress else None)


def _add_flags(g: Any, group: str, skip: Sequence[str] = ()) -> None:
    """The run-option flags of ``group``, built from :data:`surprisal.flags.RUN_FLAGS` (the
    declaration the Python keywords share; numpy- and torch-free, so --help stays fast)."""
    from .flags import RUN_FLAGS

    for f in RUN_FLAGS:
        if f.group != group or f.name in skip:
            continue
        if f.kind == "bool":
            x = g.add_mutually_exclusive_group()
            x.add_argument(f.flag, dest=f.name, action="store_const", const=True, help=f.help)
            x.add_argument(
                f.negative or "--no-" + f.flag[2:],
                dest=f.name,
                action="store_const",
                const=False,
                help=argparse.SUPPRESS,
            )
            g.set_defaults(**{f.name: f.default})
        elif f.kind == "choice":
            g.add_argument(f.flag, choices=f.choices, default=f.default, help=f.help)
        elif f.name == "separator":
            g.add_argument(f.flag, default="\\n", help=f.help)
        else:
            kind = {"int": int, "float": float, "str": str}[f.kind]
            g.add_argument(f.flag, type=kind, default=f.default, help=f.help)


def _add_run(p: argparse.ArgumentParser, skip: Sequence[str] = ()) -> None:
    _add_flags(p.add_argument_group("scoring"), "scoring", skip)


def _count(value: str) -> int:
    """An argparse type: a whole number >= 0."""
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {n}")
    return n


def _add_chance(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("chance levels")
    x = g.add_mutually_exclusive_group()
    x.add_argument(
        "--null-draws",
        type=_count,
        default=None,  # grammar.membership's default: 16 up to 100M parameters, 4 above
        metavar="N",
        help="random-weight twins of the model that measure each metric's chance level "
        "(default 16 for models up to 100M parameters, 4 above) "
        "(the same metric on the same strings under a model that knows nothing); each "
        "scores every string again, so N twins make N+1 times the scoring work. 0 skips "
        "them: no measured chance level, so each AUC stands alone (0.5 is not chance)",
    )
    x.add_argument(
        "--no-baseline",
        action="store_true",
        help="same as --null-draws 0: no chance models, no measured chance level",
    )


def _add_prefix(p: argparse.ArgumentParser, what: str, help_file: str, required: bool) -> None:
    g = p.add_mutually_exclusive_group(required=required)
    g.add_argument(f"--{what}", default=None, metavar="FILE", help=help_file)
    g.add_argument(
        f"--{what}-text",
        default=None,
        metavar="TEXT",
        help=f"the {what} itself, instead of --{what} FILE (default: none)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="surprisal",
        description="How surprising is a text to a language model? Per-token surprisal, "
        "explanation deltas and grammar membership with Hugging Face causal LMs.",
        epilog="examples:\n"
        "  surprisal score --model demo --text '([])[]'\n"
        "  surprisal score --help\n"
        "\nDocumentation: docs/howto/cli.md",
        formatter_class=_Formatter,
    )
    from ._versions import versions

    parser.add_argument(
        "--version", action="version", version=f"surprisal {versions()['surprisal']}"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = _sub(
        sub,
        "score",
        "per-token surprisal of texts",
        "Per-token surprisal of each text (-log p of each token given all before it),\n"
        "streamed as JSONL (one record per text), CSV or TSV (one row per token, or per\n"
        "word with --level word). With -o the output is written chunk by chunk and can be\n"
        "resumed (--resume) after an interruption.",
        "  surprisal score --model gpt2 --text 'The cat sat.' --unit bits\n"
        "  surprisal score --model gpt2 texts.txt -o scores.jsonl --extras entropy,topk\n"
        "  surprisal score --model gpt2 texts.txt -o words.csv --level word \\\n"
        "      --word-correction pimentel-meister\n"
        "  cat texts.txt | surprisal score --model gpt2 --context-text 'A story:' -",
    )
    _add_model(p)
    _add_run(p)
    p.add_argument(
        "files",
        nargs="*",
        help="text files (one text per line), .jsonl files (a 'text' field, optionally "
        "'id'), or - for stdin (default: stdin when no --text is given)",
    )
    p.add_argument("--text", action="append", help="a text to score; repeatable (default: none)")
    _add_prefix(p, "context", "file whose text precedes every input text (default: none)", False)
    p.add_argument(
        "--output", "-o", default=None, help="write here, incrementally (default: stdout)"
    )
    p.add_argument(
        "--format",
        choices=["jsonl", "csv", "tsv"],
        default=None,
        help="output format (default: from the --output suffix, else jsonl)",
    )
    p.add_argument("--resume", action="store_true", help="continue an interrupted --output")
    p.add_argument(
        "--words",
        action="store_true",
        help="word-level surprisal: in each JSONL record; for CSV/TSV use --level word",
    )
    p.add_argument(
        "--word-correction",
        choices=["none", "pimentel-meister"],
        default="none",
        help="pimentel-meister: the word's probability includes where it ends (Pimentel & "
        "Meister 2024); implies --words",
    )
    p.add_argument(
        "--level",
        choices=["token", "word"],
        default="token",
        help="CSV/TSV rows: one per token, or one per word (implies --words)",
    )
    p.add_argument(
        "--extras",
        default="",
        help="comma list of entropy, rank, bow (word-start mass) and, in JSONL only, topk "
        "(default: none)",
    )
    p.add_argument("--top-k", type=int, default=5, help="alternatives per token for topk")
    p.add_argument(
        "--chunk-size",
        type=int,
        default=None,
        help="texts per write (and resume step); default: 8 device batches, 64k tokens or more",
    )
    p.set_defaults(func=_cmd_score)

    p = _sub(
        sub,
        "delta",
        "surprise reduction of targets by an explanation",
        "Surprise reduction S(t) - S(t | explanation) of each target text, with a control\n"
        "text as a baseline. One JSON record per target goes to stdout (or --output); the\n"
        "summary (mean reduction, its CI and the p from the same procedure, the explanation's\n"
        "cost and the two-part gain) follows on stderr (stdout with --output). --controls K\n"
        "adds the explanation-level null: K control prefixes (the explanation's tokens\n"
        "shuffled, neutral passages of its length) and the explanation's reduction above them.",
        "  surprisal delta --model gpt2 targets.txt --explanation-text 'Each line repeats ab.'\n"
        "  surprisal delta --model demo targets.txt --explanation expl.txt \\\n"
        "      --control ctrl.txt --unit bits --html delta.html\n"
        "  surprisal delta --model gpt2 targets.txt --explanation expl.txt --controls 39",
    )
    _add_model(p)
    _add_run(p, skip=("temperature",))  # delta() scores the model as trained
    p.add_argument("targets", nargs="+", help="target files (one per line) or .jsonl")
    _add_prefix(
        p,
        "explanation",
        "file with the explanation text (this or --explanation-text is required; no default)",
        True,
    )
    _add_prefix(p, "control", "file with a control text (default: none)", False)
    p.add_argument("--output", "-o", default=None, help="per-target JSONL here (default: stdout)")
    p.add_argument(
        "--html", default=None, help="write an HTML report with plots here (default: none)"
    )
    p.add_argument("--seed", type=int, default=0, help="bootstrap and controls seed")
    p.add_argument(
        "--controls",
        type=int,
        nargs="?",
        const=DEFAULT_CONTROLS,
        default=None,
        metavar="K",
        help=(
            f"compare with K generated control prefixes (default K without a number: "
            f"{DEFAULT_CONTROLS}; a rank p is at least 1/(K+1), so p < 0.05 needs K >= 20)"
        ),
    )
    p.add_argument(
        "--divergence",
        action="store_true",
        help="also KL(p(.|e) || p(.)) and the entropy change at every target position",
    )
    p.set_defaults(func=_cmd_delta)

    p = _sub(
        sub,
        "grammar",
        "grammar membership and generation report",
        "Does the model tell a grammar's members from near-miss non-members, with and\n"
        "without an explanation of the grammar? Prints ROC-AUC, pair accuracy and lifts per\n"
        "condition; with --generate, also samples strings and checks them.",
        "  surprisal grammar --model demo --grammar dyck1 --n 100 --max-len 12\n"
        "  surprisal grammar --model gpt2 --grammar 'regex:(ab)+' --no-explanation\n"
        "  surprisal grammar --model gpt2 --grammar anbn --generate 100 --html anbn.html\n"
        "  surprisal grammar --model gpt2 --grammar dyck2 --null-draws 1  # 1 chance model",
    )
    _add_model(p)
    p.add_argument(
        "--grammar", required=True, help="zoo name, regex:PATTERN, or a CFG file (required)"
    )
    _add_prefix(p, "explanation", "file (default: the zoo grammar's own)", False)
    _add_prefix(p, "control", "file (default: the zoo grammar's own)", False)
    p.add_argument("--no-explanation", action="store_true", help="only the 'none' condition")
    p.add_argument("--n", type=int, default=200, help="members to sample")
    p.add_argument("--min-len", type=int, default=1, help="shortest string, in symbols")
    p.add_argument("--max-len", type=int, default=20, help="longest string, in symbols")
    p.add_argument("--shots", type=int, default=0, help="example members shown as a prefix")
    p.add_argument(
        "--generate", type=int, default=0, help="also sample N strings per condition (0: none)"
    )
    p.add_argument(
        "--sampling-temperature",
        "--temperature",  # the name before 0.2.0
        dest="sampling_temperature",
        type=float,
        default=1.0,
        help="temperature the --generate samples are drawn at",
    )
    p.add_argument("--seed", type=int, default=0, help="sampling and bootstrap seed")
    p.add_argument("--html", default=None, help="write an HTML report here (default: none)")
    _add_chance(p)
    p.set_defaults(func=_cmd_grammar)

    p = _sub(
        sub,
        "demo",
        "score, delta and grammar membership on the bundled model",
        "A guided tour on the small model that ships with the package (offline): per-token\n"
        "surprisal, the surprise reduction by an explanation, and grammar membership.",
        "  surprisal demo --quick\n  surprisal demo --html ''",
    )
    p.add_argument("--html", default="surprisal-demo.html", help="HTML report path ('' for none)")
    p.add_argument("--quick", action="store_true", help="fewer strings, for a first look")
    _add_progress(p)
    p.set_defaults(func=_cmd_demo)
    _add_decoding(sub)
    return parser


# ---------------------------------------------------------------- decoding (issue 26)


def _read_prompts(path: str) -> tuple[list[str], list[str] | None]:
    """Prompts (and references) from a file: one prompt per line (``\\n`` and ``\\t``
    unescaped), or ``.jsonl`` objects with ``prompt`` (or ``text``) and an optional
    ``reference`` (given for every line or for none)."""
    if path == "-":
        lines = sys.stdin.read().splitlines()
    elif Path(path).is_file():
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    else:
        raise UserError(f"prompts file not found: {path}")
    if not path.endswith(".jsonl"):
        return [unescape(x) for x in lines if x.strip()], None
    prompts, refs = [], []
    for k, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UserError(f"{path}:{k + 1}: not valid JSON ({exc.msg})") from None
        text = obj.get("prompt", obj.get("text")) if isinstance(obj, dict) else None
        if not isinstance(text, str):
            raise UserError(f"{path}:{k + 1}: needs a string 'prompt' (or 'text') field")
        prompts.append(text)
        refs.append(obj.get("reference"))
    if all(r is None for r in refs):
        return prompts, None
    if any(not isinstance(r, str) for r in refs):
        raise UserError(f"{path}: give a string 'reference' on every line or on none")
    return prompts, refs


def _temperatures(value: str) -> tuple[float, ...]:
    """An argparse type: comma-separated temperatures, e.g. ``0,0.7,1``."""
    try:
        return tuple(float(v) for v in value.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated numbers such as 0,0.7,1, got {value!r}"
        ) from None


def _cmd_decoding(args: argparse.Namespace) -> int:
    from .decode import decoding

    if args.unit != "nats":
        raise UserError("surprisal decoding reports nats only; drop --unit")
    prompts, refs = _read_prompts(args.prompts)
    if args.reference is not None:
        if refs is not None:
            raise UserError("references come from the .jsonl file or --reference, not both")
        refs, _ = _read_prompts(args.reference)
    batch_size = 32  # decoding's default
    if args.batch_tokens:  # a token budget -> rows per batch (a prompt's characters for its tokens)
        longest = max((len(p) for p in prompts), default=0) + 1 + args.max_new_tokens
        batch_size = max(1, args.batch_tokens // longest)
    d = decoding(
        prompts,
        model=_load(args),
        temperatures=args.temperatures,
        samples=args.samples,
        max_new_tokens=args.max_new_tokens,
        seed=args.seed,
        reference=refs,
        stop_at_eos=args.stop_at_eos,
        batch_size=batch_size,
    )
    print(d.summary())
    if args.csv:
        d.to_pandas().to_csv(args.csv, index=False)
        print(f"wrote {args.csv}", file=sys.stderr)
    if args.html:
        d.to_html(args.html)
        print(f"wrote {args.html}", file=sys.stderr)
    return 0


def _add_decoding(sub: Any) -> None:
    p = _sub(
        sub,
        "decoding",
        "repetition, loops, entropy and surprisal of generated text per temperature",
        "Continue each prompt at several temperatures (0 = greedy) and measure the text the\n"
        "model wrote: seq-rep-n, loop rate, distinct-n, and the entropy and surprisal of\n"
        "every generated token (nats, at T = 1), each with a CI over prompts. With\n"
        "--reference, human continuations of the same prompts are scored beside them.",
        "  surprisal decoding --model demo --prompts prompts.txt --temperatures 0,0.7,1\n"
        "  surprisal decoding --model gpt2 --prompts p.jsonl --samples 8 --html dec.html",
    )
    _add_model(p)
    p.add_argument(
        "--prompts",
        required=True,
        metavar="FILE",
        help="one prompt per line, or .jsonl with 'prompt' and optional 'reference' (required)",
    )
    p.add_argument(
        "--reference",
        default=None,
        metavar="FILE",
        help="human continuations, one per line, one per prompt (default: none)",
    )
    p.add_argument(
        "--temperatures",
        type=_temperatures,
        default=(0.0, 0.7, 1.0, 1.3),
        help="comma-separated; 0 is greedy (default: 0,0.7,1,1.3)",
    )
    p.add_argument("--samples", type=int, default=4, help="continuations per prompt and T")
    p.add_argument("--max-new-tokens", type=int, default=64, help="tokens per continuation")
    p.add_argument("--stop-at-eos", action="store_true", help="end a continuation at EOS")
    p.add_argument("--seed", type=int, default=0, help="sampling and bootstrap seed")
    p.add_argument("--csv", default=None, help="one row per generated token here (default: none)")
    p.add_argument("--html", default=None, help="write an HTML report here (default: none)")
    p.set_defaults(func=_cmd_decoding)


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
    if getattr(args, "html", None) == "":
        args.html = None
    try:
        status = int(args.func(args))
        if owns_group:
            _finish_distributed()
        return status
    except (UserError, SurprisalError, ValueError, TypeError, FileNotFoundError) as exc:
        print(f"surprisal: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("surprisal: interrupted; rerun with --resume to continue", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `surprisal score ... | head`
        return 0
    except OSError as exc:  # a full disk, a read-only folder: one line, not a traceback
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"surprisal: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 1
