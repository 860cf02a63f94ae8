"""The output record format: what ``surprisal score`` and :func:`surprisal.score_to_file` write.

One JSON record per text (:func:`record`), or one CSV/TSV row per token (:func:`token_rows`,
columns :data:`TOKEN_COLUMNS` plus the extras) or per word (:func:`word_rows`,
:data:`WORD_COLUMNS`). :class:`surprisal.Scores` gives the same records (``to_records``);
:mod:`surprisal.corpus` writes them to files, resumably.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from .fields import convert

TOKEN_COLUMNS = ["id", "n_tokens", "token_index", "piece", "start", "end", "surprisal"]
WORD_COLUMNS = ["id", "n_words", "word_index", "word", "start", "end", "surprisal"]


def _num(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None  # NaN (and -inf top-k fill) -> null in JSON


def record(
    rid: str,
    index: int,
    ts: Any,
    unit: str,
    words: bool,
    extras: Sequence[str],
    run_id: str | None,
    *,
    correction: str | None = None,
) -> dict[str, Any]:
    """The output record of one scored text (surprisal in ``unit``; NaN written as null);
    ``run`` is left out when ``run_id`` is None (no settings file, as on stdout).

    Extras: ``entropy`` (in ``unit``), ``rank``, ``topk`` (``topk_ids`` and
    ``topk_surprisal`` in ``unit``, K per token), ``bow`` (the log-probability, in ``unit``,
    that each position starts a word; one more entry than tokens). ``words`` adds ``words``,
    ``word_spans`` and ``word_surprisal`` (with ``correction``, see
    :meth:`surprisal.TextScore.words`, also ``word_correction``)."""
    rec: dict[str, Any] = {
        "id": rid,
        "index": index,
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
    if "topk" in extras and ts.topk_ids is not None and ts.topk_logprobs is not None:
        rec["topk_ids"] = ts.topk_ids.tolist()
        topk = convert(-ts.topk_logprobs.astype(float), unit).tolist()
        rec["topk_surprisal"] = [[_num(x) for x in row] for row in topk]
    if "bow" in extras and ts.bow is not None:
        rec["bow"] = [_num(x) for x in convert(ts.bow.astype(float), unit).tolist()]
    if words:
        w = ts.words(correction)  # type: ignore[arg-type]
        rec["words"] = w.words
        rec["word_spans"] = w.spans.tolist()
        rec["word_surprisal"] = [_num(x) for x in w.surprisal(unit).tolist()]
        if correction is not None:
            rec["word_correction"] = correction
    if run_id is not None:
        rec["run"] = run_id
    return rec


def token_rows(rec: Mapping[str, Any], extras: Sequence[str]) -> list[list[Any]]:
    """One CSV/TSV row per token of a record: :data:`TOKEN_COLUMNS` plus the extras."""
    rows = []
    for i, piece in enumerate(rec["pieces"]):
        a, b = rec["spans"][i]
        row = [rec["id"], rec["n_tokens"], i, piece, a, b, rec["surprisal"][i]]
        for e in extras:
            row.append(rec[e][i] if e in rec else "")
        rows.append(row)
    return rows


def _writer(buf: io.StringIO, fmt: str) -> Any:
    """An RFC 4180 CSV/TSV writer: CRLF line ends, so a field holding a bare CR or LF (a
    newline token's piece, say) is always quoted and never splits a row."""
    return csv.writer(buf, delimiter="," if fmt == "csv" else "\t", lineterminator="\r\n")


def word_rows(rec: Mapping[str, Any]) -> list[list[Any]]:
    """One CSV/TSV row per word of a record (written with ``words``): :data:`WORD_COLUMNS`.
    The second column counts the record's rows, as ``n_tokens`` does for token rows, so a
    resume finds torn records the same way at both levels."""
    n = len(rec["words"])
    return [
        [rec["id"], n, i, word, *rec["word_spans"][i], rec["word_surprisal"][i]]
        for i, word in enumerate(rec["words"])
    ]


def render(
    recs: Sequence[Mapping[str, Any]], fmt: str, extras: Sequence[str], level: str = "token"
) -> str:
    """Records as text in ``fmt`` (no CSV header); CSV/TSV rows per token or per word."""
    if fmt == "jsonl":
        return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in recs)
    buf = io.StringIO(newline="")
    w = _writer(buf, fmt)
    for r in recs:
        w.writerows(word_rows(r) if level == "word" else token_rows(r, extras))
    return buf.getvalue()


def header(fmt: str, extras: Sequence[str], level: str = "token") -> str:
    """The CSV/TSV header line ("" for JSONL)."""
    if fmt == "jsonl":
        return ""
    cols = WORD_COLUMNS if level == "word" else TOKEN_COLUMNS + list(extras)
    buf = io.StringIO(newline="")
    _writer(buf, fmt).writerow(cols)
    return buf.getvalue()


# ---------------------------------------------------------------- files


def render_rows(rows: list[list[str]], fmt: str) -> str:
    buf = io.StringIO(newline="")
    _writer(buf, fmt).writerows(rows)
    return buf.getvalue()
