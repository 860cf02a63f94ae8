"""Jobs and how they are cut into batches: the scheduler of :func:`surprisal.engine.run_jobs`.

A :class:`Job` is one window of one text. Jobs are sorted by (prefix, length, longest
first); :func:`next_batch` cuts the next batch from them by a token budget, padded (jobs of
one prefix, little padding) or packed (texts without a prefix share rows, best fit in
decreasing length, gaps found by binary search over a :class:`PackIndex`).
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Job:
    """One model-sized window. ``ids[j]`` for ``j >= score_from`` is scored; ``j == 0`` is
    scored from the prefix's last hidden state (needs ``prefix``). ``tail`` adds the
    distribution after the last token (only its ``bow`` value is kept). With
    ``last_unfed``, the last id is a target only: it is scored from the position before it
    and never fed, so ``fed`` tokens score up to ``fed`` targets (a window of M inputs
    scores M tokens)."""

    ids: Sequence[int] | np.ndarray  # a tuple, or an (n,) int64 view into a call's flat ids
    score_from: int
    prefix: int | None = None
    tail: bool = False
    last_unfed: bool = False

    @property
    def fed(self) -> int:
        """The number of ids fed to the model."""
        return len(self.ids) - self.last_unfed


MAX_PADDING = 0.25  # a batch's shortest row is at least 3/4 of its longest: little padding
# A shared prefix is not fed again, only attended to. Through an expanded KV cache (a
# model that failed the shared-prefix probe) its B * P copied rows may reach 8x the token
# budget before they cut a batch; through shared-prefix attention there is one copy of
# its keys whatever B is, so only the tokens fed count.
PREFIX_ROWS = 8


class PackIndex:
    """The jobs without a prefix, for packing: their lengths in ``live`` order (longest
    first), negated for ``bisect``, and a skip list over the positions already taken.

    Built once per ``run_jobs`` call, so that cutting a packed batch costs a few Python
    steps and one binary search per job placed, not a scan of the jobs left.
    """

    def __init__(self, live: Sequence[int], jobs: Sequence[Job]) -> None:
        self.end = next((q for q, i in enumerate(live) if jobs[i].prefix is not None), len(live))
        self.lens = [jobs[live[q]].fed for q in range(self.end)]
        self.neg = [-n for n in self.lens]  # ascending, for bisect
        self._next = list(range(1, self.end + 1))  # a position's next candidate when taken

    def untaken(self, q: int, taken: bytearray) -> int:
        """The first position ``>= q`` not marked in ``taken`` (``end`` if none)."""
        root = q
        while root < self.end and taken[root]:
            root = self._next[root]
        while q < root:  # path compression: later calls jump straight to root
            self._next[q], q = root, self._next[q]
        return root


def next_batch(
    live: list[int],
    pos: int,
    jobs: Sequence[Job],
    budget: int,
    plens: list[int],
    pack: bool,
    taken: bytearray,
    expanded_prefix: bool = True,
    index: PackIndex | None = None,
) -> tuple[list[int], list[tuple[int, int]] | None]:
    """The next batch from ``live[pos:]`` (sorted longest first within a prefix group), as
    positions in ``live`` (``live[pos]`` first; ``taken`` marks positions already done),
    and for a packed batch each job's (row, offset).

    Padded: as many jobs as fit ``B * T_max <= budget`` (tokens fed) and, when the prefix's
    cache is expanded over the rows (``expanded_prefix``), ``B * P <= PREFIX_ROWS * budget``
    (its copied rows), all sharing one prefix, none shorter than ``(1 - MAX_PADDING) *
    T_max`` (so padding stays under that share).

    Packed (jobs without a prefix): rows of ``T_max`` tokens, at most ``budget // T_max``
    of them, filled best fit in decreasing length. Once no new row may be opened, shorter
    jobs further on still fill the rows' gaps; they are found by binary search in
    ``index`` (built here when not given), so a batch costs O(jobs placed * log n).
    """
    first = jobs[live[pos]]
    t_max = first.fed  # the longest, since the group is sorted longest first
    if pack and first.prefix is None:
        ix = index if index is not None else PackIndex(live, jobs)
        n_rows = max(1, budget // t_max)
        chosen: list[int] = []
        place: list[tuple[int, int]] = []
        gaps: list[tuple[int, int]] = []  # (room left, row), ascending, rows not yet full
        rows = 0
        q = pos
        # Best fit, longest job first: each job goes to the row with the least room that
        # takes it, or opens a row. The scan only moves forward: once every row is open, a
        # job too long for the largest gap is jumped over by binary search, since gaps
        # only shrink and the jobs after it are no longer.
        while (q := ix.untaken(q, taken)) < ix.end:
            n = ix.lens[q]
            i = bisect.bisect_left(gaps, (n, -1))
            if i < len(gaps):
                room, row = gaps.pop(i)
                place.append((row, t_max - room))
                if room > n:
                    bisect.insort(gaps, (room - n, row))
            elif rows < n_rows:
                place.append((rows, 0))
                if t_max > n:
                    bisect.insort(gaps, (t_max - n, rows))
                rows += 1
            elif gaps:
                q = bisect.bisect_left(ix.neg, -gaps[-1][0], q + 1, ix.end)
                continue
            else:
                break
            chosen.append(q)
            q += 1
        return chosen, place

    p = plens[first.prefix] if first.prefix is not None and expanded_prefix else 0
    n_max = max(1, min(budget // t_max, (PREFIX_ROWS * budget) // p if p else budget))
    t_min = t_max * (1.0 - MAX_PADDING)
    end = pos + 1
    while (
        end < len(live)
        and end - pos < n_max
        and jobs[live[end]].prefix == first.prefix
        and jobs[live[end]].fed >= t_min
    ):
        end += 1
    return list(range(pos, end)), None
