"""The scoring core below every public verb: options, plan, engine run, assembly.

Every caller inside the package (``score``, ``score_iter``, ``delta``, grammar membership,
``score_to_file``, the CLI, torchrun sharding) goes through :func:`run`, which returns one
type, :class:`surprisal.Scores`.

What is scored, precisely:

* unconditional: ``[boundary] + tokens(text)``; every token of the text is scored, the
  first one from the boundary token (BOS, or EOS for tokenizers without BOS). Without any
  boundary token the first token is NaN.
* conditional: ``[boundary] + tokens(context + separator) + tokens(text)``; only the text's
  tokens are scored. The text is tokenized on its own, so its tokens are identical with and
  without the context. Each distinct context is encoded once and its KV cache shared.
* longer than ``max_length``: strided windows (:func:`surprisal.tokenize.windows`).

The steps of :func:`run`: :meth:`RunOptions.resolve` (window and boundary settings for this
LM) -> :func:`prefixes` (each distinct context tokenized once) -> :func:`plan` (one
:class:`~surprisal.engine.Job` per window) -> :func:`surprisal.engine.run_jobs` ->
:func:`assemble` (per-job arrays back into one :class:`~surprisal.TextScore` per text).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch

from ._compat import CacheNotExpandable
from ._progress import task
from .columns import Columns
from .engine import Job, JobResult, RunStats, default_batch_tokens, run_jobs
from .errors import NonFiniteError, SurprisalError
from .fields import Extras
from .lm import LM
from .options import Resolved, RunOptions, tempered
from .pipeline import chunk_tokens_for, prefetched
from .results import Scores, TextScore
from .tokenize import Encoded, Encodings, encode, encode_flat, windows


def contexts_for(context: str | Sequence[str | None] | None, n: int) -> list[str | None] | None:
    """``context=`` as users give it (None, one string, or one per text) to one entry per
    text, or None when no text has a context. Checked once, here."""
    if context is None:
        return None
    if isinstance(context, str):
        return [context] * n
    if isinstance(context, bytes) or not isinstance(context, Sequence):
        raise TypeError(
            f"context must be a str, a list of str/None (one per text) or None, got "
            f"{type(context).__name__}"
        )
    ctxs = list(context)
    if len(ctxs) != n:
        raise SurprisalError(
            f"context has {len(ctxs)} items but there are {n} texts; give one "
            "context string for all texts or exactly one per text"
        )
    for i, c in enumerate(ctxs):
        if c is not None and not isinstance(c, str):
            raise TypeError(f"context[{i}] is {type(c).__name__}; expected str or None")
    return ctxs


# ---------------------------------------------------------------- plan


@dataclass
class _Plan:
    """How every text's tokens map onto jobs, for all texts of a call at once.

    ``parts`` are (text, job, token index of the job's first scored token), one per job
    that scores tokens; ``tail_job[i]`` is the job whose tail gives text i's last word-start
    mass (-1: none); ``unscored[i]`` counts text i's leading tokens with no context (NaN)."""

    encs: Encodings
    parts: list[tuple[int, int, int]]
    tail_job: np.ndarray  # (n_texts,) int64
    unscored: np.ndarray  # (n_texts,) int64


@dataclass(frozen=True)
class _Prefixes:
    """Each text's prefix index (None: no context), the prefixes' ids (boundary included)
    and, per prefix, its context string and the encoding of the part kept."""

    of: list[int | None]
    ids: list[list[int]]
    kept: list[tuple[str, Encoded]]


def prefixes(
    lm: LM,
    contexts: list[str | None],
    opts: RunOptions,
    r: Resolved,
    given: Mapping[str, Sequence[int]] | None = None,
) -> _Prefixes:
    """Dedupe contexts, tokenize each once (``context + separator``), map texts to prefixes.
    A context in ``given`` is not tokenized: its ids are used as they are (separator
    included)."""
    M, boundary = r.max_length, r.boundary
    distinct = list(dict.fromkeys(c for c in contexts if c is not None))
    given = given or {}
    tok = [c for c in distinct if c not in given]
    by = dict(
        zip(
            tok,
            encode(
                lm.tokenizer,
                [c + opts.separator for c in tok],
                parse_special_tokens=lm.parse_special_tokens,
            ),
            strict=True,
        )
    )
    if given:
        pre = [c for c in distinct if c in given]
        by.update(zip(pre, encoded_from_ids(lm.tokenizer, [given[c] for c in pre]), strict=True))
    encs = [by[c] for c in distinct]
    keep = M - r.stride  # room for the target in the first window after a left truncation
    ids_out: list[list[int]] = []
    kept: list[tuple[str, Encoded]] = []
    index: dict[str, int] = {}
    for c, e in zip(distinct, encs, strict=True):
        ids = list(boundary) + e.ids
        if len(ids) >= M:
            k = keep - len(boundary)
            if opts.truncate_context != "left":
                raise SurprisalError(
                    f"the context is {len(ids)} tokens long (boundary and separator included) "
                    f"but the model's context is {M}; shorten it, or pass "
                    f"truncate_context='left' to keep its last {k} tokens"
                )
            if k < 1:
                raise SurprisalError(
                    f"truncate_context='left' keeps max_length - stride = {keep} positions, "
                    f"which leaves no room for the context after the boundary; use a smaller stride"
                )
            cut = int(e.spans[-k, 0])
            e = Encoded(e.text[cut:], e.ids[-k:], e.spans[-k:] - cut, e.tokens[-k:])
            ids = list(boundary) + e.ids
        index[c] = len(ids_out)
        ids_out.append(ids)
        kept.append((c, e))
    of: list[int | None] = []
    for ctx in contexts:
        k_ = None if ctx is None else index[ctx]
        of.append(k_ if k_ is not None and ids_out[k_] else None)
    return _Prefixes(of, ids_out, kept)


def plan(
    encs: Encodings, pre: _Prefixes, r: Resolved, *, want_tail: bool, share: bool = True
) -> tuple[list[Job], _Plan]:
    """One job per window of each text; a text that fits after its prefix is a single job on
    the prefix's cache (unless ``share`` is False: a model whose cache cannot be shared),
    others are windowed over prefix + text. The common case, a text without a prefix that
    fits in one window after the boundary token, is a view into one array that holds every
    such text after its boundary token (no per-token work)."""
    M = r.max_length
    boundary = list(r.boundary)
    nb = len(boundary)
    n_texts = len(encs)
    lens = encs.lengths()
    bounds = encs.bounds
    # Every text after the boundary token, laid end to end: text i is seq[sb[i]:sb[i + 1]].
    seq = np.insert(encs.ids, np.repeat(bounds[:-1], nb), boundary * n_texts) if nb else encs.ids
    sb = bounds + nb * np.arange(n_texts + 1)
    jobs: list[Job] = []
    parts: list[tuple[int, int, int]] = []
    tail_job = np.full(n_texts, -1, np.int64)
    unscored = np.zeros(n_texts, np.int64)
    if not nb:
        unscored[:] = np.minimum(lens, 1)  # no boundary: the first token cannot be scored
    for i, (pk, n) in enumerate(zip(pre.of, lens.tolist(), strict=True)):
        if share and pk is not None and len(pre.ids[pk]) + n <= M:
            # The common conditional case: one job on the shared prefix's cache.
            unscored[i] = 0
            if n == 0 and not want_tail:
                continue
            jobs.append(Job(encs.ids[bounds[i] : bounds[i + 1]], 0, pk, tail=want_tail))
            parts.append((i, len(jobs) - 1, 0))
            if want_tail:
                tail_job[i] = len(jobs) - 1
            continue
        if pk is None and nb + n <= M:
            # One window: the boundary and the text; nothing to score in an empty text.
            if n == 0 and not (want_tail and nb):
                continue
            first = nb if nb else 1
            if n > int(unscored[i]) or want_tail:
                jobs.append(Job(seq[sb[i] : sb[i + 1]], first, None, tail=want_tail))
                parts.append((i, len(jobs) - 1, first - nb))
                if want_tail:
                    tail_job[i] = len(jobs) - 1
            continue
        head = pre.ids[pk] if pk is not None else boundary
        ids = encs.ids[bounds[i] : bounds[i + 1]].tolist()
        full = list(head) + ids
        first = len(head) if head else 1  # no boundary: the first token cannot be scored
        unscored[i] = 0 if head else min(1, n)
        if n > int(unscored[i]) or want_tail:
            for w in windows(full, first, M, r.stride):
                if w.score_from >= len(w.ids) and not (
                    want_tail and w.offset + len(w.ids) == len(full)
                ):
                    continue  # a window of context only
                jobs.append(Job(tuple(w.ids), w.score_from, None, last_unfed=w.last_unfed))
                parts.append((i, len(jobs) - 1, w.offset + w.score_from - len(head)))
            if want_tail and jobs[-1].last_unfed:
                # The tail needs the last token fed: the last M tokens, as context only.
                jobs.append(Job(tuple(full[len(full) - M :]), M, None))
            if want_tail:
                last = jobs[-1]
                jobs[-1] = Job(last.ids, last.score_from, None, tail=True)
                tail_job[i] = len(jobs) - 1
    return jobs, _Plan(encs, parts, tail_job, unscored)


# ---------------------------------------------------------------- assembly


def assemble_hidden(p: _Plan, results: list[JobResult]) -> list[torch.Tensor | None]:
    """Each text's kept head inputs, (n, H) or (n, V), in token order; NaN rows where a
    token was not scored. None for a text with no tokens."""
    by_text: list[list[tuple[torch.Tensor | None, int]]] = [[] for _ in range(len(p.encs))]
    for i, j, start in p.parts:
        by_text[i].append((results[j].hidden, start))
    out: list[torch.Tensor | None] = []
    for i, got in enumerate(by_text):
        first = next((h for h, _ in got if h is not None), None)
        if first is None:
            out.append(None)
            continue
        n = int(p.encs.bounds[i + 1] - p.encs.bounds[i])
        t = first.new_full((n, first.shape[1]), math.nan)
        for h, start in got:
            if h is not None:
                t[start : start + h.shape[0]] = h
        out.append(t)
    return out


def assemble(p: _Plan, results: list[JobResult], ex: Extras) -> Columns:
    """Every job's results back into flat arrays over all texts' tokens (the field's fill
    where a token was not scored): the :class:`~surprisal.columns.Columns` of the call."""
    encs = p.encs
    b = encs.bounds
    n_texts, N = len(encs), int(b[-1])
    bb = b + np.arange(n_texts + 1)  # bow has one more entry per text
    arrays: dict[str, np.ndarray] = {}
    for f in ex.fields:
        shape: tuple[int, ...] = (N, ex.top_k) if f.topk else (N + n_texts * (f.name == "bow"),)
        arrays[f.name] = np.full(shape, f.fill, dtype=f.dtype)
    names = list(arrays)
    store = _shared_store(p.parts, results)
    if store is not None:  # every job's rows in one run's flat arrays: one copy per field
        parts = np.asarray(p.parts, dtype=np.int64).reshape(-1, 3)
        js = parts[:, 1].tolist()
        at = np.fromiter((results[j].at for j in js), np.int64, len(js))
        n = np.fromiter((results[j].n for j in js), np.int64, len(js))
        src = _ranges(at, n)
        for name in names:
            if name in store:
                dst = _ranges((bb if name == "bow" else b)[parts[:, 0]] + parts[:, 2], n)
                arrays[name][dst] = store[name][src]
    else:
        for i, j, start in p.parts:
            got = results[j].arrays
            m = len(got["logprobs"])
            for name in names:
                if name in got:
                    o = (bb if name == "bow" else b)[i] + start
                    arrays[name][o : o + m] = got[name]
    if "bow" in arrays:
        for i in np.flatnonzero(p.tail_job >= 0).tolist():
            tb = results[int(p.tail_job[i])].tail_bow
            arrays["bow"][bb[i + 1] - 1] = np.nan if tb is None else tb
    logprobs = arrays.pop("logprobs")
    return Columns(encs.texts, b, encs.ids, encs.tokens, encs.spans, logprobs, arrays)


def _shared_store(
    parts: Sequence[tuple[int, int, int]], results: Sequence[JobResult]
) -> dict[str, np.ndarray] | None:
    """The flat host arrays that every part's job result is a slice of, or None when they
    do not all share one (results of several runs, or made by hand)."""
    if not parts:
        return None
    store = results[parts[0][1]].flat
    if store is None or any(results[j].flat is not store for _, j, _ in parts):
        return None
    return store


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The indices ``starts[k] .. starts[k] + lengths[k] - 1`` of every k, concatenated."""
    ends = np.cumsum(lengths)
    return np.arange(int(ends[-1]) if len(ends) else 0) + np.repeat(
        starts - (ends - lengths), lengths
    )


def _check_finite(cols: Columns, p: _Plan, lm: LM, offset: int = 0) -> None:
    """Every token that should have a score has a finite one: a NaN or inf from a numerical
    failure (an fp16 overflow, say) must never be summed or averaged away."""
    ok = np.isfinite(cols.logprobs)
    first = cols.bounds[:-1]
    ok[first[p.unscored > 0]] = True  # a leading token with no context is NaN by design
    if ok.all():
        return
    b = cols.bounds
    scored = [cols.logprobs[b[i] + p.unscored[i] : b[i + 1]] for i in range(len(b) - 1)]
    check_finite(scored, lm, offset=offset)


def check_finite(scored: Sequence[np.ndarray], lm: LM, *, offset: int = 0) -> None:
    """Raise :class:`NonFiniteError` unless every array (one per text: the log-probabilities
    of the tokens that should be scored) is finite; ``offset`` is added to the positions
    named (a chunk's first text in the call's input)."""
    bad = [offset + i for i, lp in enumerate(scored) if not np.isfinite(lp).all()]
    if bad:
        raise NonFiniteError(
            f"non-finite log-probabilities in {len(bad)} text(s), indices {bad[:10]}"
            f"{' ...' if len(bad) > 10 else ''}, with {lm.dtype} weights; the model overflowed. "
            "Load it in float32 or bfloat16 (dtype='float32'); float16 often overflows.",
            bad,
        )


def _prefix_score(enc: Encoded, boundary: list[int], own: JobResult) -> TextScore:
    """The TextScore of a context's own tokens, from the forward that built its cache."""
    lp = own.logprobs
    if not boundary:
        lp = np.concatenate([[np.nan], lp]).astype(np.float32)
    return TextScore(enc.text, np.asarray(enc.ids, dtype=np.int64), enc.tokens, enc.spans, lp)


def _encodings(encs: Sequence[Encoded]) -> Encodings:
    """Per-text encodings as one flat :class:`Encodings`."""
    lens = [len(e.ids) for e in encs]
    ids = np.asarray([i for e in encs for i in e.ids], dtype=np.int64)
    spans = np.concatenate([e.spans for e in encs]) if encs else np.zeros((0, 2), np.int64)
    bounds = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
    return Encodings(
        [e.text for e in encs], ids, spans, bounds, [t for e in encs for t in e.tokens]
    )


# ---------------------------------------------------------------- run


def _result(
    cols: Columns,
    lm: LM,
    r: Resolved,
    stats: RunStats,
    contexts: Sequence[str | None] | None = None,
    prefix_scores: dict[str, TextScore] | None = None,
) -> Scores:
    """A call's :class:`Scores`: its columns and the run settings it was scored under."""
    return Scores.from_columns(
        cols,
        model=lm.name,
        bos_policy=r.policy,
        max_length=r.max_length,
        stride=r.stride,
        contexts=tuple(contexts) if contexts is not None else None,
        stats=stats,
        prefix_scores=prefix_scores,
    )


def _run_encoded(
    lm: LM,
    encs: Encodings,
    pre: _Prefixes,
    r: Resolved,
    opts: RunOptions,
    stats: RunStats,
    own: dict[int, JobResult] | None = None,
    hidden: list[torch.Tensor | None] | None = None,
    offset: int = 0,
) -> Columns:
    """Plan, run and assemble encoded texts (each after its prefix in ``pre``); ``offset``
    is the first text's position in the call's input (for the errors that name texts).

    A model whose cache holds recurrent state (Mamba and other SSMs) cannot share one
    prefix's cache over a batch; its texts are then run with the prefix in front of each,
    recomputed (remembered on the LM, so it is tried once)."""
    ex = opts.extras
    share = getattr(lm, "shares_prefix_cache", True)
    while True:
        jobs, p = plan(encs, pre, r, want_tail=ex.bow, share=share)
        try:
            results = run_jobs(
                lm,
                jobs,
                pre.ids,
                extras=ex,
                batch_tokens=opts.batch_tokens,
                padding_side=opts.padding_side,
                pack=opts.pack,
                plain=None if opts.head == "auto" else opts.head == "plain",
                progress=opts.progress,
                stats=stats,
                prefix_scores=own,
                keep_hidden=hidden is not None,
            )
            break
        except CacheNotExpandable:
            if not share:
                raise
            share = False
            lm.shares_prefix_cache = False  # type: ignore[attr-defined]
            if own is not None:
                own.clear()
    cols = assemble(p, results, ex)
    if hidden is not None:
        hidden[:] = assemble_hidden(p, results)
    _check_finite(cols, p, lm, offset)
    return cols


def run(
    lm: LM,
    texts: list[str],
    contexts: list[str | None] | None,
    opts: RunOptions,
    *,
    prefix_scores: bool = False,
    hidden: list[torch.Tensor | None] | None = None,
    prefix_ids: Mapping[str, Sequence[int]] | None = None,
    encoded: Encodings | None = None,
) -> Scores:
    """Score checked ``texts`` (one context per text, or None) on a resolved LM.

    ``prefix_ids`` gives, for some contexts, the exact token ids to use instead of
    tokenizing ``context + separator`` (generated controls, scored as ids).

    With ``prefix_scores=True`` the result's ``prefix_scores`` maps each context to the
    scores of its own tokens (the part kept of ``context + separator``, after the
    boundary), read from the forward that builds its cache, so no prefix is encoded twice.
    Under ``truncate_context="left"`` they are the scores of the tokens kept, the very
    ones the texts were conditioned on, whatever the texts' lengths.

    With a list as ``hidden``, the head is not run: the list is filled with one tensor per
    text, what the head would read at each of the text's tokens, (n, H) hidden states
    (fused path) or (n, V) logits (plain path, temperature applied), NaN rows where a token
    was not scored (None: no tokens); the returned log-probabilities are placeholders, 0
    where a token is scored and NaN where not, for the caller's own head to replace.

    ``encoded``: the texts already tokenized (:func:`surprisal.tokenize.encode_flat`, by a
    pipeline's worker thread, say); used when its texts are ``texts``.
    """
    lm = tempered(lm, opts.temperature)
    r = opts.resolve(lm)
    if contexts is None and not prefix_scores and hidden is None and encoded is None:
        piped = _pipelined(lm, texts, opts, r)
        if piped is not None:
            return piped
    ctxs: list[str | None] = contexts if contexts is not None else [None] * len(texts)
    pre = prefixes(lm, ctxs, opts, r, prefix_ids)
    stats = RunStats()
    own: dict[int, JobResult] | None = {} if prefix_scores else None
    if encoded is not None and encoded.texts == texts:
        encs = encoded
    else:
        encs = encode_flat(lm.tokenizer, texts, parse_special_tokens=lm.parse_special_tokens)
    cols = _run_encoded(lm, encs, pre, r, opts, stats, own, hidden)
    got: dict[str, TextScore] | None = None
    if own is not None:
        got = {
            pre.kept[k][0]: _prefix_score(pre.kept[k][1], r.boundary, res) for k, res in own.items()
        }
        # A prefix whose texts were all too long to share a window with it was never run
        # alone: score its kept tokens after the boundary, windowed like any text.
        missing = [k for k, (c, _) in enumerate(pre.kept) if c not in got]
        if missing:
            alone = _run_encoded(
                lm,
                _encodings([pre.kept[k][1] for k in missing]),
                _Prefixes([None] * len(missing), [], []),
                r,
                replace(opts, extras=Extras()),
                stats,
            )
            got.update(
                (pre.kept[k][0], ts)
                for k, ts in zip(missing, Scores.from_columns(alone).items, strict=True)
            )
    return _result(cols, lm, r, stats, contexts, got)


# A call of at least this many chunks (of ``pipeline.chunk_tokens_for`` tokens, guessed at 4
# characters a token) on an accelerator is tokenized a chunk ahead on a worker thread while
# the chunk before it is scored; a smaller one is tokenized in one piece (its batching sees
# every text). Not on a CPU, where the forward already uses every core: there the worker
# only competes with it (measured on 2 cores, 20,000 texts: the forward took 1.2-1.6x as
# long and the call 1.0-1.3x; docs/benchmarks.md, "Host-side cost per token").
PIPELINE_MIN_CHUNKS = 4
PIPELINE_ON_CPU = False
CHARS_PER_TOKEN_GUESS = 4


def _pipelined(lm: LM, texts: list[str], opts: RunOptions, r: Resolved) -> Scores | None:
    """:func:`run` of texts without contexts on an accelerator, in chunks: the next chunk is
    tokenized on a worker thread (:func:`surprisal.pipeline.prefetched`; the Rust tokenizer
    releases the GIL) while the device scores this one, and the chunks' columns are joined
    at the end. None when the call is too small for that to pay, or runs on the CPU.
    Results are those of one piece (the engine's results do not depend on how texts are
    batched)."""
    if lm.device.type == "cpu" and not PIPELINE_ON_CPU:
        return None
    chunk = chunk_tokens_for(opts.batch_tokens or default_batch_tokens(lm))
    chars = sum(map(len, texts))
    n_chunks = math.ceil(chars / (CHARS_PER_TOKEN_GUESS * chunk))
    if n_chunks < PIPELINE_MIN_CHUNKS:
        return None
    stats = RunStats()
    parts: list[Columns] = []
    done = 0  # texts of the chunks before this one: positions in the call's input
    with task("surprisal", opts.progress, passes=n_chunks):
        for got, _, encs in prefetched(
            iter(texts),
            str,
            lm.tokenizer,
            parse_special_tokens=lm.parse_special_tokens,
            chunk_tokens=chunk,
        ):
            if encs is None:  # a text the tokenizer refuses: say which, by its position
                encode_flat(lm.tokenizer, texts, parse_special_tokens=lm.parse_special_tokens)
                raise SurprisalError("a text could not be tokenized")  # pragma: no cover
            pre = _Prefixes([None] * len(got), [], [])
            parts.append(_run_encoded(lm, encs, pre, r, opts, stats, offset=done))
            done += len(got)
    return _result(Columns.concat(parts), lm, r, stats)


# ---------------------------------------------------------------- pre-tokenized input


def encoded_from_ids(tokenizer: object, token_ids: object) -> list[Encoded]:
    """Pre-tokenized sequences as :class:`Encoded` items, without re-tokenizing: each id's
    piece is the tokenizer's decode of that id alone, the text is the pieces joined, and
    the spans are the pieces' offsets in it (a character split over several byte tokens
    shows as replacement characters in its pieces; the ids are what is scored)."""
    if isinstance(token_ids, (str, bytes)) or not isinstance(token_ids, Sequence):
        raise TypeError(
            f"token_ids must be a list of lists of token ids, got {type(token_ids).__name__}"
        )
    size = len(tokenizer)  # type: ignore[arg-type]
    out = []
    for i, seq in enumerate(token_ids):
        if isinstance(seq, (str, bytes)) or not isinstance(seq, Sequence | np.ndarray):
            raise TypeError(
                f"token_ids[{i}] must be a list of ints, got {type(seq).__name__}; for one "
                "sequence pass [ids]"
            )
        ids = []
        for j, v in enumerate(seq):
            if isinstance(v, bool) or not isinstance(v, int | np.integer):
                raise TypeError(f"token_ids[{i}][{j}] is {type(v).__name__}; ids are ints")
            if not 0 <= int(v) < size:
                raise SurprisalError(
                    f"token_ids[{i}][{j}] = {int(v)} is not in the tokenizer's vocabulary "
                    f"(0 .. {size - 1})"
                )
            ids.append(int(v))
        pieces = [str(tokenizer.decode([v], skip_special_tokens=False)) for v in ids]  # type: ignore[attr-defined]
        ends = np.cumsum([len(p) for p in pieces], dtype=np.int64)
        spans = np.stack([ends - [len(p) for p in pieces], ends], axis=1).reshape(-1, 2)
        tokens = list(tokenizer.convert_ids_to_tokens(ids))  # type: ignore[attr-defined]
        out.append(Encoded("".join(pieces), ids, spans.astype(np.int64), tokens))
    return out


def run_token_ids(
    lm: LM,
    token_ids: object,
    opts: RunOptions,
    *,
    hidden: list[torch.Tensor | None] | None = None,
) -> Scores:
    """:func:`run` for pre-tokenized sequences (no context): the ids are scored as given,
    after the boundary token, windowed like any text."""
    lm = tempered(lm, opts.temperature)
    r = opts.resolve(lm)
    encs = encoded_from_ids(lm.tokenizer, token_ids)
    stats = RunStats()
    pre = _Prefixes([None] * len(encs), [], [])
    cols = _run_encoded(lm, _encodings(encs), pre, r, opts, stats, None, hidden)
    return _result(cols, lm, r, stats)
