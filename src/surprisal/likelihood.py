"""``surprisal.loglikelihood``: lm-evaluation-harness's ``loglikelihood`` request, computed
on this package's engine. (The module is not named after the function, so that importing
it never shadows the function on the package.)

Each ``(context, continuation)`` pair gives ``(logprob, is_greedy)``: the summed natural
log-probability of the continuation's tokens after the context, and whether every one of
them is the model's most likely next token. The tokens are cut exactly as lm-eval's
Hugging Face model (``HFLM``, default settings) cuts them, so the numbers can be compared
with an lm-eval run token for token:

* the context's trailing whitespace moves to the front of the continuation
  (``"Q: 2+2= "``, ``"4"`` -> ``"Q: 2+2="``, ``" 4"``);
* ``context + continuation`` is tokenized as one string and the continuation's tokens are
  those after the first ``len(tokens(context))`` tokens, so a token that straddles the
  boundary belongs to the continuation (unlike :func:`surprisal.score`, which tokenizes a
  text on its own, after a separator);
* tokenizing uses the tokenizer's own defaults (``tokenizer.encode(string)``: a tokenizer
  that adds a BOS token adds it, special-token strings are parsed), except that a string
  that already starts with the prefix token's text gets no second one;
* an empty context is the prefix token (BOS, or EOS for tokenizers without a BOS), unless
  the continuation's own first token is that token;
* nothing else is added: no separator, no boundary token of this package's own.

Dimension letters: N scored positions.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Literal

import numpy as np
import torch

from .core import check_finite
from .engine import Job, run_jobs
from .errors import SurprisalError
from .fields import Extras
from .lm import LM, resolve_model
from .options import RunOptions, tempered

__all__ = ["encode_pair", "loglikelihood"]


def _prefix_token_id(tokenizer: Any) -> int:
    """lm-eval's ``prefix_token_id``: BOS, else EOS."""
    bos = getattr(tokenizer, "bos_token_id", None)
    tid = bos if bos is not None else getattr(tokenizer, "eos_token_id", None)
    if tid is None:
        raise SurprisalError(
            "an empty context is scored after the tokenizer's BOS (or EOS) token, and this "
            "tokenizer has neither; give a non-empty context"
        )
    return int(tid)


def _tok_encode(tokenizer: Any, string: str, prefix_text: str | None) -> list[int]:
    """lm-eval's ``HFLM.tok_encode`` with its defaults: the tokenizer's own special-token
    setting, none added when the string already starts with the prefix token's text."""
    kw: dict[str, Any] = {}
    if prefix_text and string.startswith(prefix_text):
        kw["add_special_tokens"] = False
    return [int(i) for i in tokenizer.encode(string, **kw)]


def encode_pair(tokenizer: Any, context: str, continuation: str) -> tuple[list[int], list[int]]:
    """The (context ids, continuation ids) lm-eval scores for one pair (see the module).

    >>> from surprisal.testing import tiny_tokenizer
    >>> tok = tiny_tokenizer()
    >>> ctx, cont = encode_pair(tok, "The cat ", "sat")
    >>> tok.decode(ctx), tok.decode(cont)
    ('The cat', ' sat')
    """
    if not isinstance(context, str) or not isinstance(continuation, str):
        raise TypeError(
            f"a pair is (context: str, continuation: str), got ({type(context).__name__}, "
            f"{type(continuation).__name__})"
        )
    try:
        prefix_id: int | None = _prefix_token_id(tokenizer)
    except SurprisalError:
        if context == "":
            raise
        prefix_id = None
    prefix_text = tokenizer.decode(prefix_id) if prefix_id is not None else None
    if context == "":
        cont = [int(i) for i in tokenizer.encode(continuation, add_special_tokens=False)]
        assert prefix_id is not None
        if cont and cont[0] == prefix_id:
            return cont[:1], cont[1:]
        return [prefix_id], cont
    n_spaces = len(context) - len(context.rstrip())
    if n_spaces > 0:
        continuation = context[-n_spaces:] + continuation
        context = context[:-n_spaces]
    whole = _tok_encode(tokenizer, context + continuation, prefix_text)
    ctx = _tok_encode(tokenizer, context, prefix_text)
    return ctx, whole[len(ctx) :]


def _pairs(pairs: object) -> list[tuple[str, str]]:
    if isinstance(pairs, (str, bytes)) or not isinstance(pairs, Iterable):
        raise TypeError(
            "pairs must be a list of (context, continuation) string pairs, got "
            f"{type(pairs).__name__}"
        )
    out = []
    for i, p in enumerate(pairs):
        if isinstance(p, (str, bytes)) or not isinstance(p, Sequence) or len(p) != 2:
            raise TypeError(f"pairs[{i}] must be a (context, continuation) pair, got {p!r:.60}")
        c, x = p
        if not isinstance(c, str) or not isinstance(x, str):
            raise TypeError(
                f"pairs[{i}] must hold two strings, got ({type(c).__name__}, {type(x).__name__})"
            )
        out.append((c, x))
    return out


def loglikelihood(
    pairs: Iterable[tuple[str, str]],
    *,
    model: LM | str | Any,
    truncate_context: Literal["error", "left"] = "error",
    batch_tokens: int | None = None,
    head: Literal["auto", "fused", "plain"] = "auto",
    temperature: float | None = None,
    progress: bool | None = None,
    device: str | torch.device | None = None,
    dtype: str | torch.dtype | None = None,
) -> list[tuple[float, bool]]:
    """lm-eval's ``loglikelihood``: ``(logprob, is_greedy)`` of each continuation after its
    context.

    ``logprob`` is the sum of the continuation's token log-probabilities (nats, natural
    log; a float summed in float64 from the engine's float32 values); ``is_greedy`` is True
    when every continuation token has the largest logit at its position (a token tied with
    another for the largest counts as greedy). Tokens are cut as lm-eval cuts them: see
    :mod:`surprisal.likelihood`; this is *not* :func:`surprisal.score` with a context,
    which adds a BOS and a ``"\\n"`` separator and tokenizes the text on its own.

    Args:
        pairs: ``(context, continuation)`` string pairs; ``context`` may be ``""`` (the
            continuation is then scored after the BOS/EOS token).
        model: a :class:`surprisal.LM`, a hub id or local path, or a ``(model, tokenizer)``
            pair, as for :func:`surprisal.score`.
        truncate_context: a pair longer than the model's context: ``"error"`` (default), or
            ``"left"`` to keep its last ``max_length`` tokens. lm-eval keeps the last
            ``max_length + 1`` tokens (it feeds all but the last), so with ``"left"`` such a
            pair sees one context token fewer than under lm-eval.
        batch_tokens, head, temperature, progress, device, dtype: as for
            :func:`surprisal.score`.

    Returns:
        One ``(logprob, is_greedy)`` per pair, in order.

    >>> import surprisal
    >>> from surprisal.testing import tiny_lm
    >>> out = surprisal.loglikelihood([("The cat", " sat"), ("", "The")], model=tiny_lm("gpt2"))
    >>> [(round(lp, 1) < 0, type(g).__name__) for lp, g in out]
    [(True, 'bool'), (True, 'bool')]
    """
    items = _pairs(pairs)
    opts = RunOptions(  # validates the options as every verb does
        truncate_context=truncate_context,
        batch_tokens=batch_tokens,
        head=head,
        temperature=temperature,
        progress=progress,
    )
    lm = tempered(resolve_model(model, device=device, dtype=dtype), opts.temperature)
    M = lm.max_length
    jobs: list[Job] = []
    for i, (context, continuation) in enumerate(items):
        ctx, cont = encode_pair(lm.tokenizer, context, continuation)
        if not cont:
            raise SurprisalError(
                f"pairs[{i}]: the continuation {continuation!r:.40} has no tokens of its own "
                "after the context (lm-eval rejects such a request too); give a non-empty "
                "continuation"
            )
        if len(cont) >= M:
            raise SurprisalError(
                f"pairs[{i}]: the continuation is {len(cont)} tokens long, but the model's "
                f"context is {M} tokens and at least one context token is needed"
            )
        ids = ctx + cont
        if len(ids) > M:
            if opts.truncate_context != "left":
                raise SurprisalError(
                    f"pairs[{i}] is {len(ids)} tokens long (context {len(ctx)} + continuation "
                    f"{len(cont)}) but the model's context is {M}; shorten the context, or "
                    f"pass truncate_context='left' to keep the last {M} tokens"
                )
            ids = ids[-M:]
        jobs.append(Job(tuple(ids), len(ids) - len(cont)))
    if not jobs:
        return []
    results = run_jobs(
        lm,
        jobs,
        extras=Extras(rank=True),
        batch_tokens=opts.batch_tokens,
        plain=None if opts.head == "auto" else opts.head == "plain",
        progress=opts.progress,
    )
    out: list[tuple[float, bool]] = []
    for i, r in enumerate(results):
        lp = r.logprobs
        check_finite([lp], lm)  # a NaN or inf is never summed away
        rank = r.arrays["rank"]
        if len(lp) != len(jobs[i].ids) - jobs[i].score_from:  # pragma: no cover - invariant
            raise AssertionError("the engine returned a wrong number of positions")
        out.append((float(np.sum(lp, dtype=np.float64)), bool((rank == 1).all())))
    return out
