"""Repetition in token sequences: seq-rep-n, distinct-n and loops, on plain id lists.

Pure functions of the token ids (no model, no tokenizer), so each number can be checked
by hand. Every definition counts **tokens** of the model's tokenizer, not words.

* **n-grams** of a sequence ``x_1 .. x_L``: the ``L - n + 1`` windows
  ``(x_t, .., x_{t+n-1})``, counted with multiplicity.
* **seq-rep-n** (Welleck et al. 2020, "Neural text generation with unlikelihood
  training"): ``1 - |unique n-grams| / |n-grams|`` of one sequence; 0 when no n-gram
  occurs twice, near 1 for a sequence that repeats itself. NaN for a sequence shorter
  than ``n`` (it has no n-grams).
* **distinct-n** (Li et al. 2016): ``|unique n-grams| / |n-grams|`` pooled over several
  sequences (here: the samples of one prompt), so it measures how different the samples
  are from each other as well as from themselves. For one sequence it is
  ``1 - seq-rep-n``. NaN when no sequence has an n-gram.
* **loop**: a sequence *ends in a loop* of period ``p`` when its longest ``p``-periodic
  suffix (a suffix ``s`` with ``s[k] == s[k + p]`` for every ``k``) covers at least
  ``min_repeats * p`` tokens and at least ``min_tokens`` tokens: the last ``p`` tokens
  were repeated exactly, back to back, ``min_repeats`` times or more. The loop's period is
  the smallest such ``p``; its length is the length of that periodic suffix. Defaults:
  ``min_repeats=3``, ``min_tokens=8`` (a cycle seen three times, over at least eight
  tokens; for i.i.d. tokens from an effective vocabulary of ``k`` types, a false loop needs
  at least ``max(2p, 8 - p)`` chance coincidences, probability ``k**-6`` or less).

>>> seq_rep([1, 2, 1, 2, 1, 2], 2)  # 2-grams (1,2) (2,1) (1,2) (2,1) (1,2): 2 unique of 5
0.6
>>> find_loop([5, 6, 1, 2, 1, 2, 1, 2, 1, 2])
Loop(period=2, length=8)
>>> find_loop([1, 2, 3, 4, 5, 6, 7, 8]) is None
True
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .errors import SurprisalError

__all__ = ["Loop", "distinct", "find_loop", "ngrams", "periodic_suffix", "seq_rep"]

#: A loop's cycle must be seen this many times in a row (see the module docstring).
MIN_REPEATS = 3
#: ... and cover at least this many tokens.
MIN_TOKENS = 8


def _check_n(n: int) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise SurprisalError(f"n (the n-gram length) must be an int >= 1, got {n!r}")
    return n


def ngrams(ids: Sequence[int], n: int) -> list[tuple[int, ...]]:
    """The ``len(ids) - n + 1`` n-grams of ``ids``, in order, with repeats.

    >>> ngrams([1, 2, 3], 2)
    [(1, 2), (2, 3)]
    """
    _check_n(n)
    seq = list(ids)
    return [tuple(seq[t : t + n]) for t in range(len(seq) - n + 1)]


def seq_rep(ids: Sequence[int], n: int) -> float:
    """Welleck et al.'s seq-rep-n of one sequence: ``1 - |unique n-grams| / |n-grams|``.

    Returns:
        A share in ``[0, 1)``; NaN when the sequence is shorter than ``n``.
    """
    grams = ngrams(ids, n)
    if not grams:
        return math.nan
    return 1.0 - len(set(grams)) / len(grams)


def distinct(seqs: Iterable[Sequence[int]], n: int) -> float:
    """distinct-n pooled over sequences: ``|unique n-grams| / |n-grams|`` of all of them.

    >>> distinct([[1, 2, 3], [1, 2, 4]], 2)  # (1,2) (2,3) (1,2) (2,4): 3 unique of 4
    0.75

    Returns:
        A share in ``(0, 1]``; NaN when no sequence has an n-gram.
    """
    grams = [g for s in seqs for g in ngrams(s, n)]
    if not grams:
        return math.nan
    return len(set(grams)) / len(grams)


def periodic_suffix(ids: Sequence[int], period: int) -> int:
    """Length of the longest suffix of ``ids`` with period ``period`` (``s[k] == s[k + p]``).

    A suffix no longer than ``period`` is periodic by definition, so the answer is at least
    ``min(period, len(ids))``.

    >>> periodic_suffix([9, 1, 2, 3, 1, 2, 3, 1], 3)  # 1 2 3 1 2 3 1
    7
    """
    if isinstance(period, bool) or not isinstance(period, int) or period < 1:
        raise SurprisalError(f"period must be an int >= 1, got {period!r}")
    seq = list(ids)
    n = len(seq)
    if n <= period:
        return n
    m = 0  # trailing positions t with seq[t] == seq[t - period], contiguous from the end
    while m < n - period and seq[n - 1 - m] == seq[n - 1 - m - period]:
        m += 1
    return period + m


@dataclass(frozen=True)
class Loop:
    """An exact cycle at the end of a sequence.

    Attributes:
        period: tokens in one cycle (the smallest period that qualifies).
        length: tokens the periodic suffix covers (``length / period`` cycles, the last
            one possibly partial).
    """

    period: int
    length: int

    @property
    def repeats(self) -> float:
        """Cycles covered, ``length / period``."""
        return self.length / self.period


def find_loop(
    ids: Sequence[int],
    *,
    min_repeats: int = MIN_REPEATS,
    min_tokens: int = MIN_TOKENS,
    max_period: int | None = None,
) -> Loop | None:
    """The loop ``ids`` ends in, or None (definition in the module docstring).

    Args:
        ids: the token ids.
        min_repeats: the cycle must be seen at least this many times in a row (>= 2).
        min_tokens: the periodic suffix must cover at least this many tokens (>= 1).
        max_period: longest cycle looked for (default: ``len(ids) // min_repeats``).

    >>> find_loop([7, 7, 7, 7, 7, 7, 7, 7])
    Loop(period=1, length=8)
    >>> find_loop([7, 7, 7, 7, 7, 7, 7])  # seven tokens: under min_tokens
    """
    if isinstance(min_repeats, bool) or not isinstance(min_repeats, int) or min_repeats < 2:
        raise SurprisalError(f"min_repeats must be an int >= 2, got {min_repeats!r}")
    if isinstance(min_tokens, bool) or not isinstance(min_tokens, int) or min_tokens < 1:
        raise SurprisalError(f"min_tokens must be an int >= 1, got {min_tokens!r}")
    seq = list(ids)
    top = len(seq) // min_repeats if max_period is None else min(max_period, len(seq))
    for p in range(1, top + 1):
        length = periodic_suffix(seq, p)
        if length >= max(min_repeats * p, min_tokens):
            return Loop(p, length)
    return None
