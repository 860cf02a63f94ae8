"""What the ``surprisal`` command reads: texts from files, ``--text`` and stdin (ids,
plain lines or JSONL), prefix texts from files, shell escapes. Every input is read as
UTF-8 with or without a byte-order mark, in one place; a byte that is not UTF-8 is an
error naming the file and line.
"""

from __future__ import annotations

import io
import json
import re
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO


class UserError(Exception):
    pass


def read_records(paths: Sequence[str], texts: Sequence[str] | None) -> list[tuple[str, str]]:
    """All (id, text) pairs at once (see :func:`iter_records`), ids checked unique."""
    from .corpus import normalize_records  # here, not at the top: --help stays torch-free

    return [(rid, text) for _, rid, text in normalize_records(iter_records(paths, texts))]


def iter_records(paths: Sequence[str], texts: Sequence[str] | None) -> Iterator[tuple[str, str]]:
    """(id, text) pairs from --text arguments, files, or stdin, read lazily.

    Plain files: one text per line; ids are line numbers from 1 for one input, ``file:line``
    for several. ``.jsonl`` files (or stdin lines that start with ``{``): objects with ``text``
    and optionally ``id``. Ids must be unique (resuming relies on them): the scoring
    functions check that, once, as records stream through.
    """

    sources: list[str] = []
    if paths:
        for p in paths:
            if p != "-" and not Path(p).is_file():
                raise UserError(f"input file not found: {p}")
            sources.append(p)
    elif not texts:
        if sys.stdin.isatty():
            raise UserError("no input: give FILE arguments, --text, or pipe texts on stdin")
        sources.append("-")
    many = len(sources) > 1 or bool(texts)
    for i, t in enumerate(texts or []):
        yield f"text:{i + 1}" if many and paths else str(i + 1), t
    for name in sources:
        jsonl = name.endswith(".jsonl")
        for lineno, line in _text_lines(name):
            if name == "-" and line.startswith("{"):
                jsonl = True
            if jsonl:
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise UserError(f"{name}:{lineno + 1}: not valid JSON ({exc.msg})") from None
                if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
                    raise UserError(f"{name}:{lineno + 1}: a JSONL record needs a string 'text'")
                rid = obj.get("id", f"{name}:{lineno + 1}" if many else lineno + 1)
                yield str(rid), obj["text"]
            else:
                yield f"{name}:{lineno + 1}" if many else str(lineno + 1), line


# A byte that is not UTF-8, as decoded with errors="surrogateescape"
_NOT_UTF8 = re.compile("[\udc80-\udcff]")


def _utf8(name: str, lineno: int, line: str) -> str:
    """``line`` (line ``lineno`` from 0 of ``name``), or a one-line error when it held a byte
    that is not UTF-8."""
    bad = _NOT_UTF8.search(line)
    if bad is not None:
        byte = ord(bad.group()) - 0xDC00
        raise UserError(
            f"{name}:{lineno + 1}: not UTF-8 (byte 0x{byte:02x} at character {bad.start() + 1}); "
            "save the file as UTF-8 (e.g. iconv -f latin1 -t utf-8), then rerun (with "
            "--resume if an output was started: the records before this line are kept)"
        )
    return line


def _open_text(name: str) -> TextIO:
    """An input file (or ``-``, stdin) as text: the one way every input is read. UTF-8,
    a leading byte-order mark dropped (``utf-8-sig``); bytes that are not UTF-8 are kept as
    lone surrogates for :func:`_utf8` to report with their line."""
    if name != "-":
        return Path(name).open(encoding="utf-8-sig", errors="surrogateescape")
    raw = getattr(sys.stdin, "buffer", None)
    if raw is None:  # stdin replaced by a text stream (a test, an embedding program)
        return sys.stdin
    return io.TextIOWrapper(raw, encoding="utf-8-sig", errors="surrogateescape")


def _text_lines(name: str) -> Iterator[tuple[int, str]]:
    """(line number from 0, line without its line end) of an input file or stdin."""
    fh = _open_text(name)
    try:
        for lineno, line in enumerate(fh):
            yield lineno, _utf8(name, lineno, line.rstrip("\n").rstrip("\r"))
    finally:
        if name != "-":
            fh.close()
        elif fh is not sys.stdin:
            fh.detach()  # type: ignore[attr-defined]  # leave sys.stdin's buffer open


def read_file(p: Path) -> str:
    """A whole text file (a context, explanation, control or grammar), read as inputs are."""
    return "\n".join(line for _, line in _text_lines(str(p)))


class _Counted:
    """Records streamed as before, with their number counted up front (for a progress
    bar's total, and so its ETA)."""

    def __init__(self, it: Iterator[tuple[str, str]], n: int) -> None:
        self._it, self._n = it, n

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return self._it

    def __len__(self) -> int:
        return self._n


def counted(it: Any, paths: Sequence[str], texts: Sequence[str] | None) -> Any:
    """``it`` with a length when every input is a file (stdin cannot be read twice): the
    lines of plain files, the non-blank lines of ``.jsonl`` files, the --text values."""
    if not paths or "-" in paths or not all(Path(p).is_file() for p in paths):
        return it
    n = len(texts or [])
    for p in paths:
        with open(p, "rb") as fh:
            jsonl = p.endswith(".jsonl")
            n += sum(1 for line in fh if line.strip() or not jsonl)
    return _Counted(it, n)


def read_text_arg(value: str | None, what: str, inline: str | None = None) -> str | None:
    """A --explanation/--control/--context value: the text of the file ``value``, or the
    inline text of ``--{what}-text`` (argparse makes the two exclusive)."""
    if inline is not None:
        return inline
    if value is None:
        return None
    p = Path(value)
    if not p.is_file():
        raise UserError(
            f"{what} file not found: {value} (give a path to a text file, or the text itself "
            f"with --{what}-text)"
        )
    return read_file(p).rstrip("\n")


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\"}


def unescape(s: str) -> str:
    """Backslash-n, -t, -r and a doubled backslash, typed in a shell, as the characters
    they name; any other character is kept as it is."""
    out, i = [], 0
    while i < len(s):
        if s[i] == "\\" and i + 1 < len(s) and s[i + 1] in _ESCAPES:
            out.append(_ESCAPES[s[i + 1]])
            i += 2
        else:
            out.append(s[i])
            i += 1
    return "".join(out)
