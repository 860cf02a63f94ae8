"""Length-spread sampling of distinct strings, shared by every grammar kind.

A grammar kind supplies three functions of one length: ``draw(rng, length)`` (one random
string, or None when the attempt failed), ``capacity(length)`` (the exact number of strings
of that length when cheaply known, else None) and ``enumerate_(length)`` (all of them in
sorted order when feasible, else None). :func:`collect` shares ``n`` out as evenly as possible
over the lengths (a length with fewer strings than its share gives the rest to the others),
then fills each length by enumeration when it is small or nearly exhausted and by rejection
draws otherwise. All randomness comes from the ``random.Random`` passed in.

>>> import random
>>> strings = [("a",), ("b",), ("a", "b"), ("b", "a")]
>>> got, total = collect(
...     3, [1, 2], random.Random(0),
...     draw=lambda rng, n: rng.choice([s for s in strings if len(s) == n]),
...     capacity=lambda n: 2,
...     enumerate_=lambda n: sorted(s for s in strings if len(s) == n),
... )
>>> len(got), total, sorted(len(s) for s in got) in ([1, 1, 2], [1, 2, 2])
(3, 4, True)
"""

from __future__ import annotations

import bisect
import random
from collections.abc import Callable

#: A string of a grammar as a tuple of its symbols.
Symbols = tuple[str, ...]

POOL_LIMIT = 8192  # enumerate one length's members when there are at most this many
MAX_FAILS = 1000  # consecutive useless draws before a length counts as exhausted


def water_fill(
    total: int, lengths: list[int], caps: dict[int, int | None], rng: random.Random
) -> dict[int, int]:
    """Share ``total`` as evenly as possible over ``lengths``, respecting ``caps``."""
    quota = dict.fromkeys(lengths, 0)
    open_ = [n for n in lengths if caps[n] is None or (caps[n] or 0) > 0]
    left = total
    while left > 0 and open_:
        base, extra = divmod(left, len(open_))
        lucky = set(rng.sample(open_, extra))
        nxt = []
        for n in open_:
            want = base + (1 if n in lucky else 0)
            cap = caps[n]
            room = want if cap is None else min(want, cap - quota[n])
            quota[n] += room
            left -= room
            if cap is None or quota[n] < cap:
                nxt.append(n)
        if len(nxt) == len(open_):
            break  # everybody took its full share, so nothing is left
        open_ = nxt
    return quota


def collect(
    n: int,
    lengths: list[int],
    rng: random.Random,
    *,
    draw: Callable[[random.Random, int], Symbols | None],
    capacity: Callable[[int], int | None],
    enumerate_: Callable[[int], list[Symbols] | None],
) -> tuple[list[Symbols], int | None]:
    """Collect up to ``n`` distinct strings spread evenly over ``lengths``.

    Returns the shuffled strings and the exact number available when every length's
    capacity is known (else None).
    """
    caps = {length: capacity(length) for length in lengths}
    known = [c for c in caps.values() if c is not None]
    exact_total = sum(known) if len(known) == len(caps) else None
    found: dict[int, list[Symbols]] = {length: [] for length in lengths}
    seen: dict[int, set[Symbols]] = {length: set() for length in lengths}
    exhausted: set[int] = set()
    remaining = n
    while remaining > 0:
        room: dict[int, int | None] = {}
        for length in lengths:
            cap = caps[length]
            if length in exhausted:
                continue
            left = None if cap is None else cap - len(found[length])
            if left is not None and left <= 0:
                exhausted.add(length)
                continue
            room[length] = left
        if not room:
            break
        active = sorted(room)
        quotas = water_fill(remaining, active, room, rng)
        for length in active:
            want = quotas[length]
            if want == 0:
                continue
            got = fill_length(length, want, seen[length], rng, draw, room[length], enumerate_)
            found[length].extend(got)
            remaining -= len(got)
            if len(got) < want:
                exhausted.add(length)
    out = [s for length in lengths for s in found[length]]
    rng.shuffle(out)
    return out, exact_total


def fill_length(
    length: int,
    want: int,
    seen: set[Symbols],
    rng: random.Random,
    draw: Callable[[random.Random, int], Symbols | None],
    room: int | None,
    enumerate_: Callable[[int], list[Symbols] | None],
) -> list[Symbols]:
    """Draw up to ``want`` new distinct strings of one length (fewer means exhausted)."""
    if room is not None and room <= POOL_LIMIT and 2 * want >= room:
        pool = enumerate_(length)
        if pool is not None:
            fresh = [s for s in pool if s not in seen]
            chosen = rng.sample(fresh, min(want, len(fresh)))
            seen.update(chosen)
            return chosen
    got: list[Symbols] = []
    fails = 0
    while len(got) < want and fails < MAX_FAILS:
        s = draw(rng, length)
        if s is None or s in seen:
            fails += 1
            continue
        fails = 0
        seen.add(s)
        got.append(s)
    return got


def weighted_index(rng: random.Random, cums: list[int]) -> int:
    """Index i with probability proportional to cums[i] - cums[i-1] (exact integers)."""
    return bisect.bisect_right(cums, rng.randrange(cums[-1]))
