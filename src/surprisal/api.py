"""``surprisal.score``: texts (optionally after a context) to per-token log-probabilities.

What is scored, precisely:

* unconditional: ``[boundary] + tokens(text)``; every token of the text is scored, the
  first one from the boundary token (BOS, or EOS for tokenizers without BOS). Without any
  boundary token the first token is NaN.
* conditional: ``[boundary] + tokens(context + separator) + tokens(text)``; only the text's
  tokens are scored. The text is tokenized on its own, so its tokens are identical with and
  without the context. Each distinct context is encoded once and its KV cache shared.
* longer than ``max_length``: strided windows; every token is scored exactly once with at
  least ``max_length - stride`` tokens before it (or all of them).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any, Literal

import numpy as np
import torch

from .engine import Extras, Job, JobResult, RunStats, run_jobs
from .errors import NonFiniteError, SurprisalError
from .lm import LM, resolve_model
from .results import Scores, TextScore
from .tokenize import Encoded, check_texts, encode, windows

__all__ = ["DEFAULT_SEPARATOR", "EXTRAS", "score", "score_iter"]

DEFAULT_SEPARATOR = "\n"  # a line break between context and text: natural for every tokenizer
EXTRAS = ("entropy", "rank", "topk", "bow")


def _parse_extras(extras: Collection[str] | str | None, top_k: int) -> Extras:
    if extras is None:
        extras = ()
    if isinstance(extras, str):
        extras = [e.strip() for e in extras.split(",") if e.strip()]
    bad = sorted(set(extras) - set(EXTRAS))
    if bad:
        raise SurprisalError(f"unknown extras {bad}; choose from {list(EXTRAS)}")
    if "topk" in extras and top_k < 1:
        raise SurprisalError(f"top_k must be at least 1 when 'topk' is asked, got {top_k}")
    return Extras(
        entropy="entropy" in extras,
        rank="rank" in extras,
        top_k=top_k if "topk" in extras else 0,
        bow="bow" in extras,
    )


@dataclass
class _Plan:
    """How one text's tokens map onto jobs: job index, first token index it fills."""

    enc: Encoded
    parts: list[tuple[int, int]]  # (job index, token index of the job's first scored token)
    tail_job: int | None
    unscored: int  # leading tokens with no context (NaN)


def _plan(
    M: int,
    encs: list[Encoded],
    prefix_of: list[int | None],
    prefixes: list[list[int]],
    *,
    boundary: list[int],
    stride: int,
    want_tail: bool,
) -> tuple[list[Job], list[_Plan]]:
    jobs: list[Job] = []
    plans: list[_Plan] = []
    for enc, pk in zip(encs, prefix_of, strict=True):
        ids = enc.ids
        n = len(ids)
        if pk is not None and len(prefixes[pk]) + n <= M:
            # The common conditional case: one job on the shared prefix's cache.
            if n == 0 and not want_tail:
                plans.append(_Plan(enc, [], None, 0))
                continue
            jobs.append(Job(tuple(ids), 0, pk, tail=want_tail))
            plans.append(_Plan(enc, [(len(jobs) - 1, 0)], len(jobs) - 1 if want_tail else None, 0))
            continue
        head = prefixes[pk] if pk is not None else boundary
        seq = list(head) + list(ids)
        first = len(head) if head else 1  # no boundary: the first token cannot be scored
        unscored = 0 if head else min(1, n)
        parts: list[tuple[int, int]] = []
        tail_job = None
        if n > unscored or want_tail:
            for w in windows(seq, first, M, stride):
                if w.score_from >= len(w.ids) and not (
                    want_tail and w.offset + len(w.ids) == len(seq)
                ):
                    continue  # a window of context only
                jobs.append(Job(tuple(w.ids), w.score_from, None, tail=False))
                parts.append((len(jobs) - 1, w.offset + w.score_from - len(head)))
            if want_tail:
                last = jobs[-1]
                jobs[-1] = Job(last.ids, last.score_from, None, tail=True)
                tail_job = len(jobs) - 1
        plans.append(_Plan(enc, parts, tail_job, unscored))
    return jobs, plans


def _assemble(plan: _Plan, results: list[JobResult], ex: Extras) -> TextScore:
    enc = plan.enc
    n = len(enc.ids)
    lp = np.full(n, np.nan, dtype=np.float32)
    ent = np.full(n, np.nan, dtype=np.float32) if ex.entropy else None
    rk = np.full(n, -1, dtype=np.int64) if ex.rank else None
    tki = np.full((n, ex.top_k), -1, dtype=np.int64) if ex.top_k else None
    tkl = np.full((n, ex.top_k), np.nan, dtype=np.float32) if ex.top_k else None
    bow = np.full(n + 1, np.nan, dtype=np.float32) if ex.bow else None
    for j, start in plan.parts:
        r = results[j]
        sl = slice(start, start + len(r.logprob))
        lp[sl] = r.logprob
        if ent is not None and r.entropy is not None:
            ent[sl] = r.entropy
        if rk is not None and r.rank is not None:
            rk[sl] = r.rank
        if (
            tki is not None
            and tkl is not None
            and r.topk_ids is not None
            and r.topk_logprobs is not None
        ):
            tki[sl] = r.topk_ids
            tkl[sl] = r.topk_logprobs
        if bow is not None and r.bow is not None:
            bow[sl] = r.bow
    if bow is not None and plan.tail_job is not None:
        tb = results[plan.tail_job].tail_bow
        bow[n] = np.nan if tb is None else tb
    return TextScore(
        text=enc.text,
        token_ids=np.asarray(enc.ids, dtype=np.int64),
        tokens=enc.tokens,
        spans=enc.spans,
        logprobs=lp,
        entropy=ent,
        rank=rk,
        topk_ids=tki,
        topk_logprobs=tkl,
        bow=bow,
    )


def _check_finite(items: Sequence[TextScore], plans: Sequence[_Plan], lm: LM) -> None:
    """Every token that should have a score has a finite one: a NaN or inf from a numerical
    failure (an fp16 overflow, say) must never be summed or averaged away."""
    bad = [
        i
        for i, (ts, p) in enumerate(zip(items, plans, strict=True))
        if not np.isfinite(ts.logprobs[p.unscored :]).all()
    ]
    if bad:
        raise NonFiniteError(
            f"non-finite log-probabilities in {len(bad)} text(s), indices {bad[:10]}"
            f"{' ...' if len(bad) > 10 else ''}, with {lm.dtype} weights; the model overflowed. "
            "Load it in float32 or bfloat16 (dtype='float32'); float16 often overflows.",
            bad,
        )


def _prefixes(
    tokenizer: Any,
    M: int,
    contexts: list[str | None],
    separator: str,
    boundary: list[int],
    truncate: str,
    stride: int,
) -> tuple[list[int | None], list[list[int]], list[tuple[str, Encoded]]]:
    """Dedupe contexts, tokenize each once (``context + separator``), map texts to prefixes.

    Returns each text's prefix index (None: no context), the prefixes' ids (boundary
    included) and, per prefix, its context string and the encoding of the part kept.
    """
    distinct = list(dict.fromkeys(c for c in contexts if c is not None))
    encs = encode(tokenizer, [c + separator for c in distinct])
    keep = M - stride  # room for the target in the first window after a left truncation
    prefixes: list[list[int]] = []
    kept: list[tuple[str, Encoded]] = []
    index: dict[str, int] = {}
    for c, e in zip(distinct, encs, strict=True):
        ids = list(boundary) + e.ids
        if len(ids) >= M:
            if truncate != "left":
                raise SurprisalError(
                    f"the context is {len(ids)} tokens long (boundary and separator included) "
                    f"but the model's context is {M}; shorten it, or pass "
                    f"truncate_context='left' to keep its last {keep - len(boundary)} tokens"
                )
            k = keep - len(boundary)
            cut = int(e.spans[-k, 0])
            e = Encoded(e.text[cut:], e.ids[-k:], e.spans[-k:] - cut, e.tokens[-k:])
            ids = list(boundary) + e.ids
        index[c] = len(prefixes)
        prefixes.append(ids)
        kept.append((c, e))
    prefix_of: list[int | None] = []
    for ctx in contexts:
        k_ = None if ctx is None else index[ctx]
        prefix_of.append(k_ if k_ is not None and prefixes[k_] else None)
    return prefix_of, prefixes, kept


def _prefix_score(enc: Encoded, boundary: list[int], own: JobResult) -> TextScore:
    """The TextScore of a context's own tokens, from the forward that built its cache."""
    lp = own.logprob if boundary else np.concatenate([[np.nan], own.logprob]).astype(np.float32)
    return TextScore(enc.text, np.asarray(enc.ids, dtype=np.int64), enc.tokens, enc.spans, lp)


def score(
    texts: str | Sequence[str],
    *,
    model: LM | str | Any,
    context: str | Sequence[str | None] | None = None,
    separator: str = DEFAULT_SEPARATOR,
    extras: Collection[str] | str | None = None,
    top_k: int = 5,
    add_bos: bool | None = None,
    max_length: int | None = None,
    stride: int | None = None,
    truncate_context: Literal["error", "left"] = "error",
    batch_tokens: int | None = None,
    padding_side: Literal["right", "left"] = "right",
    pack: bool | None = None,
    progress: bool | None = None,
    device: str | torch.device | None = None,
    dtype: str | torch.dtype | None = None,
    distributed: bool | None = None,
) -> Scores:
    """Per-token log-probabilities (nats) of each text under a causal LM.

    Args:
        texts: a string or a list of strings. ``""`` has no tokens (total 0, mean NaN);
            whitespace-only strings are tokenized and scored like any other text.
        model: a :class:`surprisal.LM`, a hub id or local path (loaded once and kept in the
            model cache, see :func:`surprisal.clear_cache`), or a ``(model, tokenizer)`` pair.
        context: the texts are scored after it: one string for all texts, or one per text
            (None for none). Only the texts' own tokens are scored.
        separator: put between context and text; part of the context's tokens. Default ``"\\n"``.
        extras: any of ``"entropy"`` (nats), ``"rank"`` (1 = the most likely token),
            ``"topk"`` (``top_k`` alternatives and their log-probs) and ``"bow"`` (word-start
            masses, for ``words(correction="pimentel-meister")``); computed in the same pass.
        add_bos: override the LM's boundary-token setting for this call.
        max_length: window length in tokens (default: the model's context length).
        stride: window step for long texts (default ``max_length // 2``): each token keeps at
            least ``max_length - stride`` tokens of context.
        truncate_context: ``"error"`` (default) when a context does not fit the model, or
            ``"left"`` to keep its last tokens: the boundary token plus context fill
            ``max_length - stride`` positions, leaving ``stride`` for the text.
        batch_tokens: budget of padded tokens fed per batch (default by device; a shared
            context's cached rows may reach 8x it);
            halves itself on out-of-memory.
        padding_side: how batches are padded; results do not depend on it.
        pack: put several texts in one row, told apart by position ids, so that no padding
            is fed (texts without a context only). Default: ``lm.pack`` (on for GPUs when
            the model passed the packing probe). Results do not depend on it.
        progress: tqdm bar on stderr (default: only for long jobs).
        device, dtype: used when ``model`` is a name to load.
        distributed: under ``torchrun`` (torch.distributed initialized, world size > 1) each
            rank scores a shard balanced by token count and every rank gets all results, in
            order. None (default): on when torch.distributed is initialized; False: off.

    Returns:
        :class:`surprisal.Scores`, in the order of ``texts``.

    >>> import surprisal
    >>> from surprisal.testing import tiny_lm
    >>> s = surprisal.score("The cat sat.", model=tiny_lm("gpt2"))
    >>> s[0].tokens[:3], s[0].logprobs.dtype
    (['The', 'Ġc', 'at'], dtype('float32'))
    """
    items = check_texts(texts)
    lm = resolve_model(model, device=device, dtype=dtype)
    from . import parallel

    world = parallel.world()
    if distributed and world is None:
        raise SurprisalError(
            "distributed=True but torch.distributed is not initialized with more than one "
            "process; launch with torchrun (or accelerate launch) and call "
            "torch.distributed.init_process_group() first"
        )
    opts: dict[str, Any] = {
        "separator": separator,
        "extras": extras,
        "top_k": top_k,
        "add_bos": add_bos,
        "max_length": max_length,
        "stride": stride,
        "truncate_context": truncate_context,
        "batch_tokens": batch_tokens,
        "padding_side": padding_side,
        "pack": pack,
        "progress": progress,
    }
    if world is not None and distributed is not False:
        return parallel.score_sharded(lm, items, context, **opts)
    return _score(lm, items, context, **opts)[0]


def _score(
    lm: LM,
    items: list[str],
    context: str | Sequence[str | None] | None,
    *,
    separator: str = DEFAULT_SEPARATOR,
    extras: Collection[str] | str | None = None,
    top_k: int = 5,
    add_bos: bool | None = None,
    max_length: int | None = None,
    stride: int | None = None,
    truncate_context: str = "error",
    batch_tokens: int | None = None,
    padding_side: str = "right",
    pack: bool | None = None,
    progress: bool | None = None,
    prefix_scores: bool = False,
) -> tuple[Scores, dict[str, TextScore]]:
    """``score`` on a resolved LM; also returns each context's own scores when asked."""
    ex = _parse_extras(extras, top_k)
    if not isinstance(separator, str):
        raise TypeError(f"separator must be a str, got {type(separator).__name__}")
    M = int(max_length or lm.max_length)
    if lm.max_length < M:
        raise SurprisalError(
            f"max_length={M} exceeds the model's context of {lm.max_length} tokens"
        )
    if max_length is not None and M < 2:
        raise SurprisalError(f"max_length must be at least 2, got {M}")
    st = int(stride or max(1, M // 2))
    if not 1 <= st <= M - 1:
        raise SurprisalError(f"stride must be between 1 and max_length - 1 = {M - 1}, got {st}")
    use_bos = lm.add_bos if add_bos is None else add_bos
    boundary = [lm.boundary_id] if (use_bos and lm.boundary_id is not None) else []
    policy = lm.bos_policy if boundary else "none"

    if context is None:
        ctxs: list[str | None] = [None] * len(items)
    elif isinstance(context, str):
        ctxs = [context] * len(items)
    else:
        ctxs = list(context)
        if len(ctxs) != len(items):
            raise SurprisalError(
                f"context has {len(ctxs)} items but there are {len(items)} texts; give one "
                "context string for all texts or exactly one per text"
            )
        for i, c in enumerate(ctxs):
            if c is not None and not isinstance(c, str):
                raise TypeError(f"context[{i}] is {type(c).__name__}; expected str or None")

    prefix_of, prefixes, kept = _prefixes(
        lm.tokenizer, M, ctxs, separator, boundary, truncate_context, st
    )
    encs = encode(lm.tokenizer, items)
    jobs, plans = _plan(
        M, encs, prefix_of, prefixes, boundary=boundary, stride=st, want_tail=ex.bow
    )
    stats = RunStats()
    own: dict[int, JobResult] | None = {} if prefix_scores else None
    results = run_jobs(
        lm,
        jobs,
        prefixes,
        extras=ex,
        batch_tokens=batch_tokens,
        padding_side=padding_side,
        pack=pack,
        progress=progress,
        stats=stats,
        prefix_scores=own,
    )
    ctx_scores = {
        kept[k][0]: _prefix_score(kept[k][1], boundary, r) for k, r in (own or {}).items()
    }
    items_out = tuple(_assemble(p, results, ex) for p in plans)
    _check_finite(items_out, plans, lm)
    scores = Scores(
        items=items_out,
        model=lm.name,
        bos_policy=policy,
        max_length=M,
        stride=st,
        contexts=tuple(ctxs) if context is not None else None,
        stats=stats,
    )
    return scores, ctx_scores


def score_iter(
    texts: Iterable[str],
    *,
    model: LM | str | Any,
    context: str | None = None,
    chunk_size: int = 1024,
    **kwargs: Any,
) -> Iterator[TextScore]:
    """Score a stream of texts lazily, yielding one :class:`TextScore` per text, in order.

    Texts are consumed ``chunk_size`` at a time (sorted and batched within a chunk), so
    memory stays flat however long the stream is. Other keywords are those of
    :func:`score`.

    >>> from surprisal.testing import tiny_lm
    >>> lm = tiny_lm("gpt2")
    >>> gen = (f"text number {i}" for i in range(5))
    >>> [len(t) > 0 for t in score_iter(gen, model=lm, chunk_size=2)]
    [True, True, True, True, True]
    """
    if isinstance(texts, str):
        raise TypeError("score_iter takes an iterable of texts; for one text use score()")
    if chunk_size < 1:
        raise SurprisalError(f"chunk_size must be at least 1, got {chunk_size}")
    if context is not None and not isinstance(context, str):
        raise TypeError("score_iter takes one context string for all texts (or None)")
    lm = resolve_model(model, device=kwargs.pop("device", None), dtype=kwargs.pop("dtype", None))
    it = iter(texts)
    offset = 0
    while True:
        chunk = list(islice(it, chunk_size))
        if not chunk:
            return
        items = check_texts(chunk, offset=offset)
        offset += len(items)
        scores, _ = _score(lm, items, context, **kwargs)
        yield from scores.items
