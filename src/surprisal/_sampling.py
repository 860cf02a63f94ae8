"""Token-by-token generation with a KV cache, shared by :mod:`surprisal.decode` and
:func:`surprisal.grammar.generation`.

Generation works on token ids only: each drawn id is fed back as it is, never decoded
and re-tokenized. Dimension letters: B rows, P prefix tokens (left-padded), V vocabulary.

* :func:`prefill` runs left-padded prefixes once and returns their cache, the next-token
  logits of each row and the attention mask;
* :func:`draw_tokens` is the loop: draw one token per row from the current logits (the
  caller's ``draw``: argmax, or a sample with the caller's generators), stop a row at EOS
  or when the caller's ``stop`` says so, feed the drawn tokens, repeat;
* :func:`next_token_stats`: entropy of a full-vocabulary softmax and the log-probability
  of the chosen token, float32, nats.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from ._compat import cache_kwarg, output_cache

__all__ = ["Drawn", "draw_tokens", "next_token_stats", "prefill", "run_padded"]


@dataclass
class Drawn:
    """What :func:`draw_tokens` generated, per row.

    Attributes:
        ids: the tokens appended to each row (EOS is not appended: it ends the row).
        finished: the row ended (EOS or ``stop``) before ``max_new_tokens`` ran out.
        entropy: with ``track``: per appended token, the entropy (nats) of the full
            next-token distribution it was drawn from, at temperature 1.
        logprob: with ``track``: per appended token, its log-probability (nats) at
            temperature 1.
    """

    ids: list[list[int]]
    finished: list[bool]
    entropy: list[list[float]] | None = None
    logprob: list[list[float]] | None = None


def next_token_stats(
    logits: torch.Tensor,  # (..., V) any float dtype
    ids: torch.Tensor,  # (...,) long
) -> tuple[torch.Tensor, torch.Tensor]:
    """Entropy ``-sum_v p_v log p_v`` and ``log p(ids)``, float32 nats, of ``softmax(logits)``
    over the whole vocabulary (logits of ``-inf`` contribute 0 to the entropy)."""
    lp = torch.log_softmax(logits.float(), dim=-1)  # (..., V)
    p = lp.exp()
    ent = -torch.where(p > 0, p * lp, torch.zeros_like(lp)).sum(dim=-1)  # (...,)
    chosen = lp.gather(-1, ids.to(lp.device).unsqueeze(-1)).squeeze(-1)  # (...,)
    return ent, chosen


@functools.cache
def _keeps_logits(cls: Any) -> bool:
    return "logits_to_keep" in inspect.signature(cls.forward).parameters


@torch.no_grad()
def run_padded(
    model: Any,
    rows: Sequence[Sequence[int]],
    device: torch.device,
    *,
    use_cache: bool,
    last_only: bool,
    pad_id: int = 0,
) -> tuple[Any, torch.Tensor]:
    """One forward of left-padded rows: ``(output, mask (B, P))``.

    Position ids count real tokens only (padding gets position 0 and is masked), so a row's
    numbers are those it gets alone. ``last_only`` asks the model for the last position's
    logits only, where its forward takes ``logits_to_keep``.
    """
    P = max(len(r) for r in rows)
    ids = torch.full((len(rows), P), pad_id, dtype=torch.long)  # (B, P)
    mask = torch.zeros((len(rows), P), dtype=torch.long)  # (B, P)
    for b, r in enumerate(rows):
        if r:
            ids[b, P - len(r) :] = torch.tensor(list(r), dtype=torch.long)
            mask[b, P - len(r) :] = 1
    pos = (mask.cumsum(1) - 1).clamp(min=0)  # (B, P)
    keep = last_only and _keeps_logits(model.__class__)
    kw: dict[str, Any] = {"logits_to_keep": 1} if keep else {}
    out = model(
        input_ids=ids.to(device),
        attention_mask=mask.to(device),
        position_ids=pos.to(device),
        use_cache=use_cache,
        **kw,
    )
    return out, mask.to(device)


def prefill(
    model: Any, rows: Sequence[Sequence[int]], device: torch.device
) -> tuple[Any, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Run prefixes (each non-empty) once: ``(cache, logits (B, V) float32, mask (B, P),
    next_pos (B,))``, where ``next_pos`` is each row's first new position."""
    out, mask = run_padded(model, rows, device, use_cache=True, last_only=True)
    logits = out.logits[:, -1].float()  # (B, V): left padding puts every row's last token here
    next_pos = torch.tensor([len(r) for r in rows], dtype=torch.long, device=device)
    return output_cache(out), logits, mask, next_pos


@torch.no_grad()
def draw_tokens(
    model: Any,
    cache: Any,
    logits: torch.Tensor,  # (B, V) next-token logits after each row's prefix
    mask: torch.Tensor,  # (B, P) long, 1 for real prefix tokens
    next_pos: torch.Tensor,  # (B,) long, position id of each row's first new token
    *,
    max_new_tokens: int,
    draw: Callable[[torch.Tensor], torch.Tensor],
    eos_id: int | None,
    stop: Callable[[int, list[int]], bool] | None = None,
    track: bool = False,
) -> Drawn:
    """Generate up to ``max_new_tokens`` tokens per row, one step for all rows at a time.

    Each step ``draw(logits (B, V)) -> (B,)`` ids (on any device) picks one token per row,
    finished rows included (so the caller's random draws do not depend on which rows are
    done). A row ends at ``eos_id`` (not appended; None: never) or after a token for which
    ``stop(row, ids so far)`` is true (appended). The loop ends when every row has ended
    or after ``max_new_tokens`` steps; the tokens of ended rows are still fed (their
    numbers are never read), so all rows keep one shape.
    """
    B = logits.shape[0]
    dev = mask.device  # the model's input device
    gen: list[list[int]] = [[] for _ in range(B)]
    ents: list[list[float]] = [[] for _ in range(B)]
    lps: list[list[float]] = [[] for _ in range(B)]
    finished = [False] * B
    for step in range(max_new_tokens):
        nxt = draw(logits).cpu()  # (B,)
        if track:
            ent_t, lp_t = (v.tolist() for v in next_token_stats(logits, nxt))
        for i in range(B):
            if finished[i]:
                continue
            t = int(nxt[i])
            if eos_id is not None and t == eos_id:  # the document ended: so did the row
                finished[i] = True
                continue
            gen[i].append(t)
            if track:
                ents[i].append(ent_t[i])
                lps[i].append(lp_t[i])
            if stop is not None and stop(i, gen[i]):
                finished[i] = True
        if all(finished) or step == max_new_tokens - 1:
            break
        mask = torch.cat([mask, torch.ones((B, 1), dtype=torch.long, device=dev)], 1)
        pos = (next_pos + step)[:, None]  # (B, 1)
        o = model(
            input_ids=nxt[:, None].to(dev),
            attention_mask=mask,
            position_ids=pos,
            **{cache_kwarg(model): cache},
            use_cache=True,
        )
        cache = output_cache(o)
        logits = o.logits[:, -1].float()  # (B, V)
    if not track:
        return Drawn(gen, finished)
    return Drawn(gen, finished, ents, lps)
