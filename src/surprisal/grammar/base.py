"""The grammar base class: alphabet, rendering, sampling, minimal pairs and negatives.

A :class:`Grammar` is a set of strings over a finite alphabet of *symbols*. A symbol is a
non-empty ``str`` — a character such as ``"("`` for character grammars, or a word such as
``"the"`` for word grammars. Internally a string is a tuple of symbols; :meth:`Grammar.render`
joins the symbols with the grammar's ``separator`` (``""`` for character grammars, ``" "`` for
word grammars) and :meth:`Grammar.tokenize` splits rendered text back into symbols.

Every grammar kind (:mod:`~surprisal.grammar.context_free`, :mod:`~surprisal.grammar.regular`,
:mod:`~surprisal.grammar.predicates`) offers the same experiment-oriented API:
:meth:`~Grammar.accepts` (exact membership), :meth:`~Grammar.count` (exact number of members of
one length), :meth:`~Grammar.sample` (distinct members whose lengths are spread evenly over the
lengths that have members), :meth:`~Grammar.minimal_pairs` (a member and a one-edit non-member)
and :meth:`~Grammar.negatives` (guaranteed non-members). All randomness comes from
``random.Random(seed)``, so every result is a pure function of its arguments. A subclass
supplies the membership oracle, exact counts and one-string samplers (the ``_oracle``,
``_count``, ``_capacity``, ``_enumerate`` and ``_draw`` hooks).

Bad values raise :class:`~surprisal.errors.SurprisalError` (a ``ValueError``); arguments of
the wrong type raise ``TypeError``.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, NamedTuple

from ..errors import SurprisalError
from .sampling import Symbols, collect

__all__ = ["EDIT_KINDS", "Grammar", "MinimalPair", "Negative", "check_int"]

#: The single-edit operations used by :meth:`Grammar.minimal_pairs` and
#: :meth:`Grammar.negatives`.
EDIT_KINDS: tuple[str, ...] = ("substitute", "insert", "delete", "swap")

NEG_POOL_LIMIT = 2**10  # random negatives: enumerate a length's strings up to this many


class MinimalPair(NamedTuple):
    """A member ``good`` and a non-member ``bad`` that differ by one ``edit``.

    ``edit`` is one of :data:`EDIT_KINDS`: ``"substitute"`` (one symbol replaced),
    ``"insert"`` (one symbol added), ``"delete"`` (one symbol removed) or ``"swap"`` (two
    adjacent, different symbols exchanged).

    >>> MinimalPair(good="()", bad=")(", edit="swap").bad
    ')('
    """

    good: str
    bad: str
    edit: str


class Negative(NamedTuple):
    """A guaranteed non-member ``text`` and how it was made.

    ``kind`` is ``"edit"`` (a single edit of a sampled member; ``edit`` then names the
    operation, one of :data:`EDIT_KINDS`) or ``"random"`` (a uniform random string over the
    alphabet, length-matched to the members; ``edit`` is ``""``).

    >>> Negative("(()", "edit", "delete").kind
    'edit'
    """

    text: str
    kind: str
    edit: str = ""


class Grammar:
    """A set of strings over a finite alphabet of symbols, with exact membership.

    Build grammars with :func:`cfg`, :func:`regex` or :func:`predicate`; this base class
    holds the alphabet, rendering and all sampling logic, and subclasses supply the
    membership oracle, exact counts and one-string samplers.

    >>> from surprisal.grammar import regex
    >>> g = regex(r"(ab)+")
    >>> g.alphabet, g.separator, g.accepts("abab"), g.count(4)
    (('a', 'b'), '', True, 1)
    """

    kind: str = "abstract"

    def __init__(
        self,
        *,
        alphabet: Iterable[str],
        separator: str = "",
        name: str | None = None,
        explanation: str = "",
        control: str = "",
        source: str | None = None,
    ) -> None:
        symbols = _check_alphabet(alphabet, separator)
        self._alphabet: Symbols = symbols
        self._alphabet_set = frozenset(symbols)
        self._separator = separator
        self._name = name if name is not None else self.kind
        self._explanation = explanation
        self._control = control
        self._source = source
        self._member_cache: dict[Symbols, bool] = {}

    # ---- read-only attributes ---------------------------------------------------------

    @property
    def alphabet(self) -> Symbols:
        """The symbols strings are made of, in a fixed order.

        >>> from surprisal.grammar import cfg, regex
        >>> cfg('S -> "a" S "b" | "a" "b"').alphabet
        ('a', 'b')
        """
        return self._alphabet

    @property
    def separator(self) -> str:
        """The text put between symbols when rendering (``""`` or ``" "``).

        >>> from surprisal.grammar import cfg, regex
        >>> cfg('S -> "the" "cat"').separator
        ' '
        """
        return self._separator

    @property
    def name(self) -> str:
        """A short identifier, e.g. ``"dyck1"`` (defaults to the grammar kind).

        >>> from surprisal.grammar import cfg, regex
        >>> regex("a+", name="as").name
        'as'
        """
        return self._name

    @property
    def explanation(self) -> str:
        """A natural-language description of the language (``""`` unless given).

        >>> from surprisal.grammar import cfg, regex
        >>> regex("a+", explanation="One or more a's.").explanation
        "One or more a's."
        """
        return self._explanation

    @property
    def control(self) -> str:
        """An irrelevant text of about the explanation's length (``""`` unless given).

        >>> from surprisal.grammar import cfg, regex
        >>> regex("a+").control
        ''
        """
        return self._control

    @property
    def source(self) -> str | None:
        """The CFG text or regex pattern the grammar was built from (``None`` for predicates).

        >>> from surprisal.grammar import cfg, regex
        >>> regex("a+").source
        'a+'
        """
        return self._source

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._name!r} alphabet={list(self._alphabet)!r}>"

    # ---- text <-> symbols -------------------------------------------------------------

    def tokenize(self, text: str) -> Symbols:
        """Split rendered ``text`` into a tuple of symbols.

        Raises ``SurprisalError`` naming the first character (separator ``""``) or word that is
        not in the alphabet. The empty text is the empty tuple.

        >>> from surprisal.grammar import cfg, regex
        >>> cfg('S -> "the" N\\nN -> "cat" | "dog"').tokenize("the dog")
        ('the', 'dog')
        """
        if not isinstance(text, str):
            raise TypeError(f"tokenize expects a str, got {type(text).__name__}")
        if text == "":
            return ()
        if self._separator == "":
            for i, ch in enumerate(text):
                if ch not in self._alphabet_set:
                    raise SurprisalError(
                        f"character {ch!r} at position {i} of {text!r} is not in the alphabet "
                        f"{list(self._alphabet)} of grammar {self._name!r}"
                    )
            return tuple(text)
        words = text.split(self._separator)
        for i, w in enumerate(words):
            if w not in self._alphabet_set:
                hint = (
                    " (an empty word: the text has a leading, trailing or doubled separator)"
                    if w == ""
                    else ""
                )
                raise SurprisalError(
                    f"word {w!r} (word {i} of {text!r}, split on {self._separator!r}) is not in "
                    f"the alphabet {list(self._alphabet)} of grammar {self._name!r}{hint}"
                )
        return tuple(words)

    def render(self, symbols: Iterable[str]) -> str:
        """Join ``symbols`` with the grammar's separator.

        >>> from surprisal.grammar import cfg, regex
        >>> cfg('S -> "the" N\\nN -> "cat" | "dog"').render(("the", "cat"))
        'the cat'
        """
        syms = tuple(symbols)
        for s in syms:
            if s not in self._alphabet_set:
                raise SurprisalError(
                    f"symbol {s!r} is not in the alphabet {list(self._alphabet)} of grammar "
                    f"{self._name!r}"
                )
        return self._separator.join(syms)

    # ---- membership and counting ------------------------------------------------------

    def accepts(self, text: str | Sequence[str]) -> bool:
        """Decide exactly whether ``text`` is a member.

        ``text`` is either rendered text (a ``str``) or a tuple/list of symbols. Text that is
        not over the alphabet is simply not a member (``False``, no error).

        >>> from surprisal.grammar import cfg, regex
        >>> g = cfg('S -> "(" S ")" S | ')
        >>> g.accepts("(())()"), g.accepts(["(", ")"]), g.accepts("(()"), g.accepts("x")
        (True, True, False, False)
        """
        if isinstance(text, str):
            try:
                syms = self.tokenize(text)
            except SurprisalError:
                return False
        elif isinstance(text, (tuple, list)):
            syms = tuple(text)
            if not all(isinstance(s, str) and s in self._alphabet_set for s in syms):
                return False
        else:
            raise TypeError(
                f"accepts expects a str or a tuple/list of symbols, got {type(text).__name__}"
            )
        return self._member(syms)

    def _member(self, syms: Symbols) -> bool:
        """Membership for a tuple already known to be over the alphabet (cached)."""
        hit = self._member_cache.get(syms)
        if hit is None:
            if len(self._member_cache) > 200_000:
                self._member_cache.clear()
            hit = bool(self._oracle(syms))
            self._member_cache[syms] = hit
        return hit

    def count(self, length: int) -> int:
        """Return the exact number of members with exactly ``length`` symbols.

        >>> from surprisal.grammar import cfg, regex
        >>> regex(r"(0|10*1)+").count(3)
        4
        """
        check_int("length", length, minimum=0)
        return self._count(length)

    # ---- hooks for subclasses ---------------------------------------------------------

    def _oracle(self, syms: Symbols) -> bool:  # pragma: no cover - abstract
        raise NotImplementedError

    def _count(self, length: int) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def _has_members(self, length: int) -> bool | None:
        """True/False when known, None when unknown (predicates at large lengths)."""
        cap = self._capacity(length)
        return None if cap is None else cap > 0

    def _capacity(self, length: int) -> int | None:  # pragma: no cover - abstract
        """Exact number of members of ``length`` if cheaply known, else None."""
        raise NotImplementedError

    def _enumerate(self, length: int) -> list[Symbols] | None:  # pragma: no cover - abstract
        """All members of ``length`` in sorted order if feasible, else None."""
        raise NotImplementedError

    def _draw(self, rng: random.Random, length: int) -> Symbols | None:  # pragma: no cover
        """One random member of ``length`` (None when the attempt failed)."""
        raise NotImplementedError

    # ---- sampling -----------------------------------------------------------------------

    def sample(self, n: int, min_len: int = 1, max_len: int = 20, seed: int = 0) -> list[str]:
        """Return ``n`` distinct rendered members with lengths in ``[min_len, max_len]``.

        Lengths are counted in symbols. The ``n`` members are shared out as evenly as
        possible over the lengths in the range that have members (a length with fewer
        members than its share gives up the rest to the others), and each length's members
        are drawn uniformly (for CFGs: uniformly over derivations, which is uniform over
        strings when the grammar is unambiguous). The result is shuffled and depends only
        on the arguments. Raises ``SurprisalError`` when the range holds no member, or when it
        holds fewer than ``n`` distinct members (the message gives the number).

        >>> from surprisal.grammar import cfg, regex
        >>> g = cfg('S -> "a" S "b" | "a" "b"', name="anbn")
        >>> sorted(g.sample(3, min_len=1, max_len=7), key=len)
        ['ab', 'aabb', 'aaabbb']
        >>> g.sample(4, min_len=1, max_len=7)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        surprisal.errors.SurprisalError: grammar 'anbn' has only 3 distinct members ... but n=4 ...
        """
        check_int("n", n, minimum=0)
        rng = random.Random(seed)
        found = self._sample_symbols(n, min_len, max_len, rng, allow_fewer=False)
        return [self._separator.join(s) for s in found]

    def _member_lengths(self, min_len: int, max_len: int) -> list[int]:
        check_int("min_len", min_len, minimum=0)
        check_int("max_len", max_len, minimum=0)
        if min_len > max_len:
            raise SurprisalError(
                f"min_len={min_len} is greater than max_len={max_len}; expected min_len <= max_len"
            )
        lengths = [n for n in range(min_len, max_len + 1) if self._has_members(n) is not False]
        if not lengths:
            near = []
            below = next((k for k in range(min_len - 1, -1, -1) if self._has_members(k)), None)
            above = next(
                (k for k in range(max_len + 1, max_len + 65) if self._has_members(k)), None
            )
            if below is not None:
                near.append(f"the longest shorter member has length {below}")
            if above is not None:
                near.append(f"the shortest longer member has length {above}")
            extra = "".join(f"; {x}" for x in near)
            raise SurprisalError(
                f"grammar {self._name!r} has no members with length in [{min_len}, {max_len}] "
                f"(lengths count symbols{extra}); choose a range that contains member lengths"
            )
        return lengths

    def _sample_symbols(
        self, n: int, min_len: int, max_len: int, rng: random.Random, *, allow_fewer: bool
    ) -> list[Symbols]:
        lengths = self._member_lengths(min_len, max_len)
        found, exact_total = collect(
            n,
            lengths,
            rng,
            draw=self._draw,
            capacity=self._capacity,
            enumerate_=self._enumerate,
        )
        if len(found) < n and not allow_fewer:
            rng_text = f"[{min_len}, {max_len}]"
            if exact_total is not None:
                raise SurprisalError(
                    f"grammar {self._name!r} has only {exact_total} distinct members with length "
                    f"in {rng_text}, but n={n} were requested; request at most {exact_total}, or "
                    "widen the range (e.g. raise max_len)"
                )
            raise SurprisalError(
                f"found only {len(found)} distinct members of grammar {self._name!r} with length "
                f"in {rng_text} after extensive sampling, but n={n} were requested; the range may "
                "hold fewer members: request fewer, widen the range, or (for predicate grammars) "
                "pass a sampler"
            )
        return found

    # ---- negatives --------------------------------------------------------------------

    def _edit_stream(self, good: Symbols, rng: random.Random) -> Iterator[tuple[str, Symbols]]:
        """Yield ``(edit, bad)`` for distinct single edits of ``good`` that are non-members.

        Each step picks an edit kind uniformly among the kinds with untried edits left, then
        an untried edit of that kind uniformly at random.
        """
        alpha = self._alphabet
        m = len(alpha)
        n = len(good)
        # the number of distinct edits of each kind; _apply_edit decodes one index
        sizes = {"substitute": n * (m - 1), "insert": (n + 1) * m, "delete": n, "swap": n - 1}
        orders: dict[str, list[int]] = {}
        tried: set[Symbols] = {good}
        while True:
            kinds = [k for k in EDIT_KINDS if sizes[k] > 0]
            if not kinds:
                return
            kind = rng.choice(kinds)
            if kind not in orders:
                orders[kind] = rng.sample(range(sizes[kind]), sizes[kind])
            idx = orders[kind].pop()
            sizes[kind] -= 1
            bad = _apply_edit(good, kind, idx, alpha)
            if bad is None or bad in tried:
                continue
            tried.add(bad)
            if not self._member(bad):
                yield kind, bad

    def _edit_round_robin(
        self,
        n: int,
        goods: list[Symbols],
        rng: random.Random,
        keep: Callable[[Symbols], bool],
    ) -> list[tuple[Symbols, str, Symbols]]:
        """Take one new non-member edit per member in turn until ``n`` are found."""
        streams = [self._edit_stream(g, rng) for g in goods]
        out: list[tuple[Symbols, str, Symbols]] = []
        active = list(range(len(goods)))
        while len(out) < n and active:
            still: list[int] = []
            for pos, i in enumerate(active):
                if len(out) >= n:
                    still.extend(active[pos:])
                    break
                for kind, bad in streams[i]:
                    if keep(bad):
                        out.append((goods[i], kind, bad))
                        still.append(i)
                        break
            active = still
        return out

    def minimal_pairs(
        self, n: int, min_len: int = 1, max_len: int = 20, seed: int = 0
    ) -> list[MinimalPair]:
        """Return ``n`` distinct pairs of a member and a non-member one edit away.

        The members (``good``) are sampled as in :meth:`sample` (lengths in
        ``[min_len, max_len]``); each ``bad`` is one substitution, insertion, deletion or
        swap of adjacent different symbols away from ``good`` (so its length may be one
        outside the range), and is verified to be a non-member by the exact oracle. The edit
        kind is chosen uniformly among the kinds that still have untried edits. When the
        range has fewer than ``n`` members, members are reused with different edits. Raises
        ``SurprisalError`` when ``n`` distinct pairs do not exist.

        >>> from surprisal.grammar import cfg, regex
        >>> g = cfg('S -> "(" S ")" S | ')
        >>> p = g.minimal_pairs(2, min_len=2, max_len=6, seed=1)
        >>> all(g.accepts(x.good) and not g.accepts(x.bad) for x in p)
        True
        """
        check_int("n", n, minimum=0)
        rng = random.Random(seed)
        goods = self._sample_symbols(n, min_len, max_len, rng, allow_fewer=True)
        triples = self._edit_round_robin(n, goods, rng, keep=lambda bad: True)
        if len(triples) < n:
            raise SurprisalError(
                f"grammar {self._name!r} admits only {len(triples)} distinct minimal pairs with "
                f"members of length in [{min_len}, {max_len}], but n={n} were requested; request "
                "fewer or widen the range"
            )
        sep = self._separator
        return [MinimalPair(sep.join(g), sep.join(b), k) for g, k, b in triples]

    def negatives(
        self,
        n: int,
        min_len: int = 1,
        max_len: int = 20,
        seed: int = 0,
        kind: str = "edit",
    ) -> list[Negative]:
        """Return ``n`` distinct rendered non-members with lengths in ``[min_len, max_len]``.

        ``kind="edit"``: single edits (see :meth:`minimal_pairs`) of sampled members, kept
        when their length is in the range. ``kind="random"``: uniform random strings over
        the alphabet whose lengths are drawn like :meth:`sample`'s (spread evenly over the
        lengths that have members), rejected when they are members. Every result is
        verified by the exact oracle. Raises ``SurprisalError`` when ``n`` distinct negatives of
        that kind cannot be found.

        >>> from surprisal.grammar import cfg, regex
        >>> g = regex(r"(ab)+")
        >>> sorted(x.text for x in g.negatives(3, 2, 2, kind="random"))
        ['aa', 'ba', 'bb']
        """
        check_int("n", n, minimum=0)
        if kind not in ("edit", "random"):
            raise SurprisalError(f"kind must be 'edit' or 'random', got {kind!r}")
        rng = random.Random(seed)
        if kind == "edit":
            return self._edit_negatives(n, min_len, max_len, rng)
        return self._random_negatives(n, min_len, max_len, rng)

    def _edit_negatives(
        self, n: int, min_len: int, max_len: int, rng: random.Random
    ) -> list[Negative]:
        """``n`` distinct single-edit non-members with lengths in the range."""
        goods = self._sample_symbols(n, min_len, max_len, rng, allow_fewer=True)
        used: set[Symbols] = set()

        def keep(bad: Symbols) -> bool:
            if not (min_len <= len(bad) <= max_len) or bad in used:
                return False
            used.add(bad)
            return True

        triples = self._edit_round_robin(n, goods, rng, keep)
        if len(triples) < n:
            raise SurprisalError(
                f"found only {len(triples)} distinct single-edit non-members of grammar "
                f"{self._name!r} with length in [{min_len}, {max_len}], but n={n} were "
                "requested; request fewer, widen the range or use kind='random'"
            )
        return [Negative(self._separator.join(b), "edit", k) for _, k, b in triples]

    def random_pool(self, n: int, min_len: int, max_len: int, seed: int = 0) -> list[Negative]:
        """Up to ``n`` distinct uniform random non-members at *every* length in the range.

        Unlike :meth:`negatives` (member lengths only, exactly ``n`` or an error), this is a
        pool to choose from, for example negatives whose token counts match the members'
        (:func:`~surprisal.grammar.membership` with ``length_matched=True``).

        >>> from surprisal.grammar import regex
        >>> sorted(x.text for x in regex(r"(ab)+").random_pool(10, 1, 2))
        ['a', 'aa', 'b', 'ba', 'bb']
        """
        check_int("n", n, minimum=0)
        check_int("min_len", min_len, minimum=0)
        check_int("max_len", max_len, minimum=min_len)
        lengths = list(range(min_len, max_len + 1))
        return self._random_negatives(n, min_len, max_len, random.Random(seed), lengths=lengths)

    def _random_negatives(
        self,
        n: int,
        min_len: int,
        max_len: int,
        rng: random.Random,
        *,
        lengths: list[int] | None = None,
    ) -> list[Negative]:
        """``n`` distinct uniform random non-members at the member lengths in the range
        (or, with ``lengths``, up to ``n`` at those lengths)."""
        allow_fewer = lengths is not None
        if lengths is None:
            lengths = self._member_lengths(min_len, max_len)
        m = len(self._alphabet)

        def capacity(length: int) -> int | None:
            members = self._capacity(length)
            return None if members is None else m**length - members

        def enumerate_(length: int) -> list[Symbols] | None:
            if m**length > NEG_POOL_LIMIT:
                return None
            every = itertools.product(self._alphabet, repeat=length)
            return [s for s in every if not self._member(s)]

        def draw(r: random.Random, length: int) -> Symbols | None:
            s = tuple(r.choice(self._alphabet) for _ in range(length))
            return None if self._member(s) else s

        found, exact_total = collect(
            n, lengths, rng, draw=draw, capacity=capacity, enumerate_=enumerate_
        )
        if len(found) < n and not allow_fewer:
            how = f"only {exact_total} exist" if exact_total is not None else "few seem to exist"
            raise SurprisalError(
                f"found only {len(found)} distinct random non-members of grammar {self._name!r} "
                f"at the member lengths in [{min_len}, {max_len}] ({how}), but n={n} were "
                "requested; request fewer, widen the range or use kind='edit'"
            )
        return [Negative(self._separator.join(s), "random", "") for s in found]


def check_int(name: str, value: Any, *, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {value!r} ({type(value).__name__})")
    if value < minimum:
        raise SurprisalError(f"{name} must be >= {minimum}, got {value}")


def _check_alphabet(alphabet: Iterable[str], separator: str) -> Symbols:
    """The alphabet as a tuple, checked to render and tokenize unambiguously."""
    if not isinstance(separator, str):
        raise TypeError(
            f"separator must be a str such as '' or ' ', got {type(separator).__name__}"
        )
    if isinstance(alphabet, bytes):
        raise TypeError("alphabet must be an iterable of str symbols, got bytes; decode it first")
    try:
        symbols = tuple(alphabet)
    except TypeError:
        raise TypeError(
            f"alphabet must be an iterable of str symbols such as ['a', 'b'], "
            f"got {type(alphabet).__name__}"
        ) from None
    if not symbols:
        raise SurprisalError("alphabet is empty; expected at least one symbol such as 'a'")
    for s in symbols:
        if not isinstance(s, str):
            raise TypeError(
                f"every alphabet symbol must be a str, got {s!r} ({type(s).__name__}); "
                "pass e.g. alphabet=['a', 'b']"
            )
        if not s:
            raise SurprisalError(
                "every alphabet symbol must be a non-empty str, got ''; "
                "pass e.g. alphabet=['a', 'b']"
            )
        if separator == "" and len(s) != 1:
            raise SurprisalError(
                f"symbol {s!r} has {len(s)} characters, but separator '' needs one-character "
                "symbols to render and tokenize unambiguously; pass separator=' ' for words"
            )
        if separator and separator in s:
            raise SurprisalError(
                f"symbol {s!r} contains the separator {separator!r}; choose another separator"
            )
    if len(set(symbols)) != len(symbols):
        dup = sorted({s for s in symbols if symbols.count(s) > 1})
        raise SurprisalError(f"alphabet has repeated symbols {dup}; list each symbol once")
    return symbols


def _apply_edit(good: Symbols, kind: str, idx: int, alpha: Symbols) -> Symbols | None:
    """The ``idx``-th edit of ``kind`` applied to ``good`` (None: a swap of equal symbols).

    >>> _apply_edit(("a", "b"), "substitute", 1, ("a", "b", "c"))
    ('c', 'b')
    >>> _apply_edit(("a", "b"), "insert", 2, ("a", "b")), _apply_edit(("a", "b"), "swap", 0, ())
    (('a', 'a', 'b'), ('b', 'a'))
    """
    if kind == "substitute":
        pos, j = divmod(idx, len(alpha) - 1)
        others = [a for a in alpha if a != good[pos]]
        return (*good[:pos], others[j], *good[pos + 1 :])
    if kind == "insert":
        pos, j = divmod(idx, len(alpha))
        return (*good[:pos], alpha[j], *good[pos:])
    if kind == "delete":
        return good[:idx] + good[idx + 1 :]
    if good[idx] == good[idx + 1]:  # swap
        return None
    return (*good[:idx], good[idx + 1], good[idx], *good[idx + 2 :])
