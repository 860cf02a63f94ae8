"""Data-parallel scoring on torch.distributed: shards balanced by tokens, results gathered.

Under ``torchrun`` (or ``accelerate launch``) every rank runs the same script. When
``torch.distributed`` is initialized with more than one process, :func:`surprisal.score`
tokenizes all texts on every rank (cheap), gives each rank a shard whose *token* count is
balanced (longest-processing-time-first: the longest text goes to the least-loaded rank),
scores its shard, and gathers every shard to every rank with ``all_gather_object``; the
result is complete and in input order on all ranks. NCCL on GPUs, gloo on CPUs: whatever
process group the caller initialized. No process pool or socket protocol of our own.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from typing import Any

import torch

from .core import run
from .lm import LM
from .options import RunOptions
from .results import Scores
from .tokenize import encode


def world() -> tuple[int, int] | None:
    """(rank, world size) when torch.distributed is initialized with more than one process."""
    dist = torch.distributed
    if not (dist.is_available() and dist.is_initialized()):
        return None
    size = dist.get_world_size()
    return (dist.get_rank(), size) if size > 1 else None


def balance(costs: Sequence[int], n_shards: int) -> list[list[int]]:
    """Indices split into ``n_shards`` lists with near-equal summed cost (LPT greedy).

    >>> balance([5, 1, 4, 2, 3], 2)
    [[0, 1, 3], [2, 4]]
    """
    heap = [(0, k) for k in range(n_shards)]
    shards: list[list[int]] = [[] for _ in range(n_shards)]
    for i in sorted(range(len(costs)), key=lambda i: (-costs[i], i)):
        load, k = heapq.heappop(heap)
        shards[k].append(i)
        heapq.heappush(heap, (load + max(1, costs[i]), k))
    return [sorted(s) for s in shards]


def share(lm: LM, texts: Sequence[str], rank: int, size: int) -> list[int]:
    """The indices of ``texts`` that ``rank`` of ``size`` scores: shards balanced by token
    count (every rank computes the same split, so no message is needed)."""
    encs = encode(lm.tokenizer, list(texts), parse_special_tokens=lm.parse_special_tokens)
    lengths = [len(e.ids) for e in encs]
    return balance(lengths, size)[rank]


def score_sharded(
    lm: LM, items: list[str], contexts: list[str | None] | None, opts: RunOptions
) -> Scores:
    """Score this rank's shard and gather all shards (see the module docstring)."""
    pos = world()
    assert pos is not None
    rank, size = pos
    mine = share(lm, items, rank, size)
    local = run(
        lm,
        [items[i] for i in mine],
        None if contexts is None else [contexts[i] for i in mine],
        opts,
    )
    gathered: list[Any] = [None] * size
    torch.distributed.all_gather_object(gathered, (mine, local))
    order = [i for idx, _ in gathered for i in idx]
    return Scores.concat([part for _, part in gathered], order=order)
