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

import numpy as np

from .columns import Columns, paused_gc
from .fields import convert

TOKEN_COLUMNS = ["id", "n_tokens", "token_index", "piece", "start", "end", "surprisal"]
WORD_COLUMNS = ["id", "n_words", "word_index", "word", "start", "end", "surprisal"]


try:  # ten times faster than json.dumps at the number-heavy records written here
    import orjson
except ImportError:  # pragma: no cover - a dependency; the stdlib twin keeps the format
    orjson = None  # type: ignore[assignment]


def dumps_line(rec: Mapping[str, Any]) -> str:
    """One JSONL line (UTF-8 text, not ASCII-escaped, ``"\\n"``-terminated): orjson when
    installed, else :func:`json.dumps`. The two write the same values (floats in their
    shortest round-trip form; orjson spells exponents ``1e-5`` where json writes ``1e-05``)."""
    if orjson is not None:
        return orjson.dumps(rec).decode("utf-8") + "\n"
    return json.dumps(rec, ensure_ascii=False) + "\n"


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
        return "".join([dumps_line(r) for r in recs])
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


# ---------------------------------------------------------------- in bulk


def _lists(values: np.ndarray, cols: Columns, rows: np.ndarray | None = None) -> list[list[Any]]:
    """Per-text lists of ``values`` (N,) or (N, K), each number a float or None (JSON has
    no NaN or infinity), without a Python call per token: only a text holding a
    non-finite value is fixed item by item. ``rows``: the text bounds when not ``cols``'s."""
    b = (cols.bounds if rows is None else rows).tolist()
    flat = values.tolist()
    per = [flat[b[i] : b[i + 1]] for i in range(len(b) - 1)]
    if values.dtype.kind == "f":
        bad = ~np.isfinite(values)
        if bad.ndim > 1:
            bad = bad.any(axis=1)
        if bad.any():
            starts = np.asarray(b[:-1])
            for i in np.unique(np.searchsorted(starts, np.flatnonzero(bad), "right") - 1):
                if values.ndim > 1:
                    per[i] = [[_num(x) for x in row] for row in per[i]]
                else:
                    per[i] = [_num(x) for x in per[i]]
    return per


def _totals(cols: Columns, unit: str) -> tuple[list[float], list[Any], list[Any]]:
    """Each text's total, mean and perplexity exactly as :class:`surprisal.TextScore`
    computes them (the same float64 sums), mean and perplexity None where undefined."""
    lp = cols.logprobs.astype(np.float64)
    nan = np.isnan(lp)
    lp[nan] = 0.0  # nansum: NaN counts as 0
    b = cols.bounds.tolist()
    sums = [lp[b[i] : b[i + 1]].sum() for i in range(len(b) - 1)]
    scored = (cols.lengths() - np.bincount(cols.text_index()[nan], minlength=len(cols))).tolist()
    totals, means, ppl = [], [], []
    for s, n in zip(sums, scored, strict=True):
        nats = float(0.0 - s) + 0.0
        t = float(convert(0.0 - s, unit)) + 0.0
        totals.append(t)
        means.append(_num(t / n) if n else None)
        ppl.append(_num(math.exp(nats / n)) if n else None)
    return totals, means, ppl


def _extra_lists(cols: Columns, unit: str, extras: Sequence[str]) -> dict[str, list[list[Any]]]:
    """The extras' per-text lists, keyed and converted as in :func:`record`."""
    out: dict[str, list[list[Any]]] = {}
    ex = cols.extras
    if "entropy" in extras and "entropy" in ex:
        out["entropy"] = _lists(convert(ex["entropy"].astype(float), unit), cols)
    if "rank" in extras and "rank" in ex:
        out["rank"] = _lists(ex["rank"], cols)
    if "topk" in extras and "topk_ids" in ex and "topk_logprobs" in ex:
        out["topk_ids"] = _lists(ex["topk_ids"], cols)
        out["topk_surprisal"] = _lists(convert(-ex["topk_logprobs"].astype(float), unit), cols)
    if "bow" in extras and "bow" in ex:
        bb = cols.bounds + np.arange(len(cols) + 1)
        out["bow"] = _lists(convert(ex["bow"].astype(float), unit), cols, bb)
    return out


def _surprisal(cols: Columns, unit: str) -> np.ndarray:
    """(N,) float32 surprisal in ``unit``, as :meth:`surprisal.TextScore.surprisal`."""
    return np.asarray(convert(-cols.logprobs.astype(np.float64), unit), dtype=np.float32)


@paused_gc()
def records_of(
    cols: Columns,
    ids: Sequence[str],
    indices: Sequence[int],
    unit: str,
    extras: Sequence[str],
    run_id: str | None,
) -> list[dict[str, Any]]:
    """The records (:func:`record`, without words) of every text of ``cols``, built from
    the flat arrays in bulk: the same dicts, key for key and number for number."""
    n = len(cols)
    b = cols.bounds.tolist()
    pieces = cols.pieces()
    totals, means, ppl = _totals(cols, unit)
    sur = _lists(_surprisal(cols, unit), cols)
    xs = _extra_lists(cols, unit, extras)
    spans = cols.spans.tolist()
    out = []
    for i in range(n):
        rec: dict[str, Any] = {
            "id": ids[i],
            "index": indices[i],
            "text": cols.texts[i],
            "unit": unit,
            "n_tokens": b[i + 1] - b[i],
            "total": totals[i],
            "mean": means[i],
            "perplexity": ppl[i],
            "pieces": pieces[b[i] : b[i + 1]],
            "spans": spans[b[i] : b[i + 1]],
            "surprisal": sur[i],
        }
        for k, v in xs.items():
            rec[k] = v[i]
        if run_id is not None:
            rec["run"] = run_id
        out.append(rec)
    return out


def render_scores(
    scores: Any,
    ids: Sequence[str],
    indices: Sequence[int],
    fmt: str,
    unit: str,
    words: bool,
    extras: Sequence[str],
    run_id: str | None,
    *,
    correction: str | None = None,
    level: str = "token",
) -> str:
    """The records of a :class:`surprisal.Scores` (ids and input positions given) as text
    in ``fmt``: exactly :func:`record` then :func:`render`, built in bulk from the result's
    flat arrays (:meth:`surprisal.Scores.columns`) when no words are asked for."""
    if words or level != "token":
        recs = [
            record(rid, i, ts, unit, words, extras, run_id, correction=correction)
            for rid, i, ts in zip(ids, indices, scores, strict=True)
        ]
        return render(recs, fmt, extras, level)
    cols = scores.columns()
    if fmt != "jsonl":
        with paused_gc():
            return _render_token_rows(cols, ids, fmt, unit, extras)
    with paused_gc():
        recs = records_of(cols, ids, indices, unit, extras, run_id)
        return "".join([dumps_line(r) for r in recs])


def _render_token_rows(
    cols: Columns, ids: Sequence[str], fmt: str, unit: str, extras: Sequence[str]
) -> str:
    """CSV/TSV token rows (:func:`token_rows`) of every text, built column by column."""
    n = len(cols)
    lens = cols.lengths()
    k = lens.tolist()
    xs = _extra_lists(cols, unit, extras)
    columns: list[Any] = [
        [rid for rid, m in zip(ids, k, strict=True) for _ in range(m)],
        np.repeat(lens, lens).tolist(),
        cols.token_index().tolist(),
        cols.pieces(),
        cols.spans[:, 0].tolist(),
        cols.spans[:, 1].tolist(),
        [x for per in _lists(_surprisal(cols, unit), cols) for x in per],
    ]
    for e in extras:
        if e in xs:
            per = xs[e]
            columns.append([x for i in range(n) for x in per[i][: k[i]]])
        else:
            columns.append([""] * cols.n_tokens)
    buf = io.StringIO(newline="")
    _writer(buf, fmt).writerows(zip(*columns, strict=True))
    return buf.getvalue()


# ---------------------------------------------------------------- files


def render_rows(rows: list[list[str]], fmt: str) -> str:
    buf = io.StringIO(newline="")
    _writer(buf, fmt).writerows(rows)
    return buf.getvalue()
