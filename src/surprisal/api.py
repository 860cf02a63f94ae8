"""``surprisal.score`` and ``surprisal.score_iter``: texts (optionally after a context) to
per-token log-probabilities. What is scored, precisely, is said in :mod:`surprisal.core`,
which every verb of the package runs on."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Sequence
from typing import Any, Literal

import torch

from . import parallel
from .core import contexts_for, run, run_token_ids
from .engine import default_batch_tokens
from .errors import SurprisalError
from .flags import DEFAULT_SEPARATOR
from .lm import LM, resolve_model
from .options import RunOptions
from .pipeline import chunk_tokens_for, prefetched
from .results import Scores, TextScore
from .tokenize import check_texts


def score(
    texts: str | Sequence[str] | None = None,
    *,
    model: LM | str | Any,
    token_ids: Sequence[Sequence[int]] | None = None,
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
    head: Literal["auto", "fused", "plain"] = "auto",
    progress: bool | None = None,
    temperature: float | None = None,
    device: str | torch.device | None = None,
    dtype: str | torch.dtype | None = None,
    distributed: bool | None = None,
) -> Scores:
    """Per-token log-probabilities (nats) of each text under a causal LM.

    Args:
        texts: a string or a list of strings. ``""`` has no tokens (total 0, mean NaN);
            whitespace-only strings are tokenized and scored like any other text.
        token_ids: instead of ``texts``, pre-tokenized sequences (a list of lists of ids),
            scored as given after the boundary token: for samples from the model, which
            are often not what their decoded text re-tokenizes to (decode, then score the
            text, and the model is scored on other tokens). Each result's pieces are the
            tokenizer's decode of each id alone and its text is their concatenation. No
            ``context``.
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
        batch_tokens: budget of tokens fed per batch, padding included (default by device
            and model width: 32,768 on CUDA, 512-2,048 on CPU; a shared context's cached
            rows may reach 8x it); halves itself on out-of-memory.
        padding_side: how batches are padded; results do not depend on it.
        pack: put several texts in one row, told apart by position ids, so that no padding
            is fed (texts without a context only). Default: ``lm.pack`` (on when the model
            passed the packing probe). Results do not depend on it.
        head: ``"auto"`` (default: the fused head, unless it failed its probe when the LM
            was built), ``"fused"`` or ``"plain"`` (the model's own logits and a full float32
            log-softmax: the fused head's twin, slower and heavier, for checks).
        progress: tqdm bar on stderr (default: only for long jobs).
        temperature: score under ``softmax(z / temperature)``, z the logits after the
            model's own transforms (Gemma-2's softcap...); every extra follows. None or 1.0:
            the model as trained (bit-identical). See
            :func:`surprisal.calibrate_temperature` for the T that fits given texts best.
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
    if texts is not None and token_ids is not None:
        raise SurprisalError("give texts or token_ids=, not both")
    if token_ids is not None and context is not None:
        raise SurprisalError("context= is not supported with token_ids=; join the ids yourself")
    items = check_texts(texts) if token_ids is None else []  # None: "texts must be ..."
    ctxs = contexts_for(context, len(items))
    opts = RunOptions.make(
        separator=separator,
        extras=extras,
        top_k=top_k,
        add_bos=add_bos,
        max_length=max_length,
        stride=stride,
        truncate_context=truncate_context,
        batch_tokens=batch_tokens,
        padding_side=padding_side,
        pack=pack,
        head=head,
        progress=progress,
        temperature=temperature,
    )
    if distributed is not None and not isinstance(distributed, bool):
        raise TypeError(
            f"distributed must be True, False or None, got {type(distributed).__name__}"
        )
    lm = resolve_model(model, device=device, dtype=dtype)
    if token_ids is not None:
        return run_token_ids(lm, token_ids, opts)
    world = parallel.world()
    if distributed and world is None:
        raise SurprisalError(
            "distributed=True but torch.distributed is not initialized with more than one "
            "process; launch with torchrun (or accelerate launch) and call "
            "torch.distributed.init_process_group() first"
        )
    if world is not None and distributed is not False:
        return parallel.score_sharded(lm, items, ctxs, opts)
    return run(lm, items, ctxs, opts)


def score_iter(
    texts: Iterable[str],
    *,
    model: LM | str | Any,
    context: str | None = None,
    chunk_size: int | None = None,
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
    head: Literal["auto", "fused", "plain"] = "auto",
    progress: bool | None = None,
    temperature: float | None = None,
    device: str | torch.device | None = None,
    dtype: str | torch.dtype | None = None,
) -> Iterator[TextScore]:
    """Score a stream of texts lazily, yielding one :class:`TextScore` per text, in order.

    Texts are consumed a chunk at a time (sorted and batched within a chunk), so memory
    stays flat however long the stream is: by default chunks of about eight of the
    device's batches (``batch_tokens``; 65,536 tokens at least), or ``chunk_size`` texts
    when given. The next chunk is tokenized on a worker thread while the current one
    scores. ``context`` is one string for all texts (or None); the other keywords are those
    of :func:`score`.

    >>> from surprisal.testing import tiny_lm
    >>> lm = tiny_lm("gpt2")
    >>> gen = (f"text number {i}" for i in range(5))
    >>> [len(t) > 0 for t in score_iter(gen, model=lm, chunk_size=2)]
    [True, True, True, True, True]
    """
    if isinstance(texts, str):
        raise TypeError("score_iter takes an iterable of texts; for one text use score()")
    if chunk_size is not None:
        if isinstance(chunk_size, bool) or not isinstance(chunk_size, int):
            raise TypeError(f"chunk_size must be an int or None, got {type(chunk_size).__name__}")
        if chunk_size < 1:
            raise SurprisalError(f"chunk_size must be at least 1, got {chunk_size}")
    if context is not None and not isinstance(context, str):
        raise TypeError("score_iter takes one context string for all texts (or None)")
    opts = RunOptions.make(
        separator=separator,
        extras=extras,
        top_k=top_k,
        add_bos=add_bos,
        max_length=max_length,
        stride=stride,
        truncate_context=truncate_context,
        batch_tokens=batch_tokens,
        padding_side=padding_side,
        pack=pack,
        head=head,
        progress=progress,
        temperature=temperature,
    )
    lm = resolve_model(model, device=device, dtype=dtype)
    budget = opts.batch_tokens or default_batch_tokens(lm)
    offset = 0
    for chunk, _, encs in prefetched(
        iter(texts),
        _checked_text,
        lm.tokenizer,
        parse_special_tokens=lm.parse_special_tokens,
        chunk_tokens=chunk_tokens_for(budget),
        chunk_size=chunk_size,
    ):
        items = check_texts(chunk, offset=offset)
        offset += len(items)
        yield from run(lm, items, contexts_for(context, len(items)), opts, encoded=encs).items


def _checked_text(t: object) -> str:
    """A stream item's text for the tokenizing worker; a non-str is passed over there as
    "" and reported by ``check_texts`` at its chunk, with its position."""
    return t if isinstance(t, str) else ""
