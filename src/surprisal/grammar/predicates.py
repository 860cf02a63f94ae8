"""Grammars given by a Python function: :func:`predicate` and :class:`PredicateGrammar`.

Membership is whatever ``fn(symbols)`` says. Predicate grammars are counted by brute force
(at most 2**20 strings per length) and sampled with the user's sampler, by enumeration of
short lengths (at most 2**12 strings), or by rejection from uniform random strings.

>>> g = predicate(lambda s: s.count("a") == 2, alphabet="ab", name="two_as")
>>> g.accepts("abab"), g.count(3)
(True, 3)
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterable, Sequence

from ..errors import SurprisalError
from .base import Grammar
from .sampling import Symbols

__all__ = ["PredicateGrammar", "predicate"]

_BRUTE_COUNT_LIMIT = 2**20  # count(): brute-force a predicate up to this many strings
_BRUTE_POOL_LIMIT = 2**12  # sampling: brute-force a predicate length up to this many strings


class PredicateGrammar(Grammar):
    """A language given by a Python function; build it with :func:`predicate`.

    >>> predicate(lambda s: s.count("a") == 1, alphabet="ab").count(3)
    3
    """

    kind = "predicate"

    def __init__(
        self,
        fn: Callable[[Symbols], bool],
        *,
        alphabet: Iterable[str],
        sampler: Callable[[random.Random, int], Sequence[str] | None] | None = None,
        name: str | None = None,
        separator: str = "",
        explanation: str = "",
        control: str = "",
    ) -> None:
        if not callable(fn):
            raise TypeError(f"predicate() expects a callable fn(symbols) -> bool, got {fn!r}")
        if sampler is not None and not callable(sampler):
            raise TypeError(
                f"sampler must be None or a callable sampler(rng, length), got {sampler!r}"
            )
        if alphabet is None:
            raise TypeError("predicate() needs alphabet=[...], e.g. alphabet=['a', 'b']")
        super().__init__(
            alphabet=alphabet,
            separator=separator,
            name=name,
            explanation=explanation,
            control=control,
            source=None,
        )
        self._fn = fn
        self._sampler = sampler
        self._pool_cache: dict[int, list[Symbols] | None] = {}

    def _oracle(self, syms: Symbols) -> bool:
        return bool(self._fn(syms))

    def _brute(self, length: int) -> list[Symbols]:
        every = itertools.product(self._alphabet, repeat=length)
        return sorted(s for s in every if self._member(s))

    def _count(self, length: int) -> int:
        pool = self._enumerate(length)
        if pool is not None:
            return len(pool)
        total = len(self._alphabet) ** length
        if total > _BRUTE_COUNT_LIMIT:
            raise SurprisalError(
                f"cannot count predicate grammar {self._name!r} at length {length}: that needs "
                f"{total} membership tests (the limit is {_BRUTE_COUNT_LIMIT}); use a shorter "
                "length, or express the language with cfg() or regex() for exact counts"
            )
        return len(self._brute(length))

    def _enumerate(self, length: int) -> list[Symbols] | None:
        if length not in self._pool_cache:
            small = len(self._alphabet) ** length <= _BRUTE_POOL_LIMIT
            self._pool_cache[length] = self._brute(length) if small else None
        return self._pool_cache[length]

    def _capacity(self, length: int) -> int | None:
        pool = self._enumerate(length)
        return None if pool is None else len(pool)

    def _draw(self, rng: random.Random, length: int) -> Symbols | None:
        if self._sampler is not None:
            got = self._sampler(rng, length)
            if got is None:
                return None
            s = tuple(got)
            if len(s) != length or not all(x in self._alphabet_set for x in s):
                return None
        else:
            s = tuple(rng.choice(self._alphabet) for _ in range(length))
        return s if self._member(s) else None


def predicate(
    fn: Callable[[Symbols], bool],
    alphabet: Iterable[str],
    sampler: Callable[[random.Random, int], Sequence[str] | None] | None = None,
    name: str | None = None,
    separator: str = "",
    *,
    explanation: str = "",
    control: str = "",
) -> PredicateGrammar:
    """Build a grammar whose members are the strings ``s`` (tuples of symbols) with ``fn(s)``.

    ``sampler(rng, length)``, if given, should return a likely member of that length (a
    sequence of symbols) or ``None``; its proposals are checked with ``fn``. Without it,
    lengths with at most 4096 strings are enumerated and longer ones are sampled by
    rejection from uniform random strings, which fails (with a ``SurprisalError``) for
    languages whose members are rare. :meth:`Grammar.count` brute-forces up to 2**20
    strings per length.

    >>> g = predicate(lambda s: s == s[::-1], alphabet=["a", "b"], name="pal")
    >>> g.accepts("abba"), g.accepts(("a", "b")), g.count(4)
    (True, False, 4)
    """
    return PredicateGrammar(
        fn,
        alphabet=alphabet,
        sampler=sampler,
        name=name,
        separator=separator,
        explanation=explanation,
        control=control,
    )
