"""Formal grammars with exact membership, length-uniform sampling and guaranteed negatives.

A :class:`Grammar` is a set of strings over a finite alphabet of *symbols*. A symbol is a
non-empty ``str`` — a character such as ``"("`` for character grammars, or a word such as
``"the"`` for word grammars. Internally a string is a tuple of symbols; :meth:`Grammar.render`
joins the symbols with the grammar's ``separator`` (``""`` for character grammars, ``" "`` for
word grammars) and :meth:`Grammar.tokenize` splits rendered text back into symbols.

Three constructors build grammars:

* :func:`cfg` — a context-free grammar written in a small text format (below).
* :func:`regex` — a Python regular expression over single characters.
* :func:`predicate` — any Python function ``fn(symbols) -> bool`` plus an alphabet.

Every grammar offers the same experiment-oriented API: :meth:`~Grammar.accepts` (exact
membership), :meth:`~Grammar.count` (exact number of members of one length),
:meth:`~Grammar.sample` (distinct members whose lengths are spread evenly over the lengths
that have members), :meth:`~Grammar.minimal_pairs` (a member and a one-edit non-member) and
:meth:`~Grammar.negatives` (guaranteed non-members). All randomness comes from
``random.Random(seed)``, so every result is a pure function of its arguments.

CFG text format
---------------
One rule per line, ``A -> alt1 | alt2 | ...``. An alternative is a sequence, separated by
white space, of quoted terminals (``"("`` or ``'a'``; a terminal may be a whole word, and may
not contain its own quote character) and nonterminal names (``[A-Za-z_][A-Za-z0-9_]*``). An
empty alternative is the empty string (epsilon). A line that starts with ``|`` continues the
previous rule, several lines may share a left-hand side, ``#`` starts a comment (outside
quotes), and the left-hand side of the first rule is the start symbol. The separator defaults
to ``""`` when every terminal is one character and to ``" "`` otherwise.

Why lark
--------
Membership in a CFG is decided by `lark <https://github.com/lark-parser/lark>`_, a
well-maintained, pure-Python, dependency-free parsing library. The grammar is first compiled
as LALR(1) in lark's *strict* mode, which refuses any grammar with a shift/reduce or
reduce/reduce conflict; when that succeeds (Dyck languages, a^n b^n, the English grammar)
the recognizer is deterministic, exact and takes ~0.1 ms per string. Otherwise (palindromes,
ambiguous grammars) lark's Earley parser is used: Earley handles *every* CFG, including
ambiguous, left-recursive, epsilon and cyclic unit rules, at ~1–3 ms per short string. A
custom lark lexer feeds whole symbols, so word grammars need no tokenisation rules.

Counting and sampling
---------------------
For counting and sampling, a CFG is converted to an equivalent grammar without epsilon and
unit rules, and the number of *derivations* of each length from each nonterminal is computed
by dynamic programming with exact integers. Sampling picks a derivation with probability
proportional to these counts, so every sample is a member by construction, and samples are
uniform over the strings of one length when the grammar is unambiguous. Counting derivations
overcounts the strings of an ambiguous grammar, so :meth:`Grammar.count` is exact by one of
two routes: the distinct strings are enumerated when there are at most 2**18 derivations, or
the derivation count is returned when the grammar was declared ``unambiguous=True``
(all zoo CFGs are unambiguous). A regular expression is compiled (through Python's own
``re`` parser) to an NFA and then to a DFA over the alphabet; counts are exact and sampling is
exactly uniform within a length, while membership itself is decided by ``re.fullmatch``.

Limits: regexes may use literals, character classes, ``.``, categories such as ``\\d``,
groups, alternation, the repeats ``* + ? {m,n}`` (greedy or lazy) and ``^``/``$`` at the very
ends; back-references, look-arounds, possessive repeats, atomic groups and case-insensitive
flags raise ``ValueError`` (use :func:`predicate` instead). Predicate grammars are counted by
brute force (at most 2**20 strings per length) and sampled with the user's sampler or by
rejection from uniform random strings. CFG counting costs about (rules x length^2)
big-integer operations per length and sampling recurses up to ``length`` calls deep, so CFG
lengths up to a few hundred symbols are practical.

>>> g = cfg('S -> "(" S ")" S | ', name="dyck1")
>>> g.accepts("(()())"), g.accepts(")(")
(True, False)
>>> sorted(g.sample(3, min_len=2, max_len=4))
['(())', '()', '()()']
>>> [g.count(n) for n in range(0, 9, 2)]
[1, 1, 2, 5, 14]
"""

from __future__ import annotations

import bisect
import itertools
import random
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, NamedTuple

import lark
from lark.exceptions import GrammarError, UnexpectedInput
from lark.lexer import Lexer, Token

try:  # Python >= 3.11
    import re._constants as _sre_c  # type: ignore[import-not-found]
    import re._parser as _sre_p  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - Python 3.10
    import sre_constants as _sre_c  # type: ignore[no-redef]
    import sre_parse as _sre_p  # type: ignore[no-redef]

__all__ = [
    "EDIT_KINDS",
    "CFGGrammar",
    "Grammar",
    "MinimalPair",
    "Negative",
    "PredicateGrammar",
    "RegexGrammar",
    "cfg",
    "predicate",
    "regex",
]

Symbols = tuple[str, ...]

#: The single-edit operations used by :meth:`Grammar.minimal_pairs` and
#: :meth:`Grammar.negatives`.
EDIT_KINDS: tuple[str, ...] = ("substitute", "insert", "delete", "swap")

_POOL_LIMIT = 8192  # enumerate one length's members when there are at most this many
_COUNT_ENUM_LIMIT = 2**18  # count(): enumerate distinct CFG strings up to this many derivations
_BRUTE_COUNT_LIMIT = 2**20  # count(): brute-force a predicate up to this many strings
_BRUTE_POOL_LIMIT = 2**12  # sampling: brute-force a predicate length up to this many strings
_NEG_POOL_LIMIT = 2**10  # random negatives: enumerate a length's strings up to this many
_MAX_FAILS = 1000  # consecutive useless draws before a length counts as exhausted
_MAX_VARIANTS = 4096  # epsilon-removal variants of one rule
_MAX_DFA_STATES = 20000
_MAX_NFA_STATES = 200000


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


# --------------------------------------------------------------------------------------
# Base class
# --------------------------------------------------------------------------------------


class Grammar:
    """A set of strings over a finite alphabet of symbols, with exact membership.

    Build grammars with :func:`cfg`, :func:`regex` or :func:`predicate`; this base class
    holds the alphabet, rendering and all sampling logic, and subclasses supply the
    membership oracle, exact counts and one-string samplers.

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
        symbols = tuple(alphabet)
        if not isinstance(separator, str):
            raise ValueError(f"separator must be a str, got {type(separator).__name__}")
        if not symbols:
            raise ValueError("alphabet is empty; expected at least one symbol such as 'a'")
        for s in symbols:
            if not isinstance(s, str) or not s:
                raise ValueError(
                    f"every alphabet symbol must be a non-empty str, got {s!r}; "
                    "pass e.g. alphabet=['a', 'b']"
                )
            if separator == "" and len(s) != 1:
                raise ValueError(
                    f"symbol {s!r} has {len(s)} characters, but separator '' needs one-character "
                    "symbols to render and tokenize unambiguously; pass separator=' ' for words"
                )
            if separator and separator in s:
                raise ValueError(
                    f"symbol {s!r} contains the separator {separator!r}; choose another separator"
                )
        if len(set(symbols)) != len(symbols):
            dup = sorted({s for s in symbols if symbols.count(s) > 1})
            raise ValueError(f"alphabet has repeated symbols {dup}; list each symbol once")
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

        >>> cfg('S -> "a" S "b" | "a" "b"').alphabet
        ('a', 'b')
        """
        return self._alphabet

    @property
    def separator(self) -> str:
        """The text put between symbols when rendering (``""`` or ``" "``).

        >>> cfg('S -> "the" "cat"').separator
        ' '
        """
        return self._separator

    @property
    def name(self) -> str:
        """A short identifier, e.g. ``"dyck1"`` (defaults to the grammar kind).

        >>> regex("a+", name="as").name
        'as'
        """
        return self._name

    @property
    def explanation(self) -> str:
        """A natural-language description of the language (``""`` unless given).

        >>> regex("a+", explanation="One or more a's.").explanation
        "One or more a's."
        """
        return self._explanation

    @property
    def control(self) -> str:
        """An irrelevant text of about the explanation's length (``""`` unless given).

        >>> regex("a+").control
        ''
        """
        return self._control

    @property
    def source(self) -> str | None:
        """The CFG text or regex pattern the grammar was built from (``None`` for predicates).

        >>> regex("a+").source
        'a+'
        """
        return self._source

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._name!r} alphabet={list(self._alphabet)!r}>"

    # ---- text <-> symbols -------------------------------------------------------------

    def tokenize(self, text: str) -> Symbols:
        """Split rendered ``text`` into a tuple of symbols.

        Raises ``ValueError`` naming the first character (separator ``""``) or word that is
        not in the alphabet. The empty text is the empty tuple.

        >>> cfg('S -> "the" N\\nN -> "cat" | "dog"').tokenize("the dog")
        ('the', 'dog')
        """
        if not isinstance(text, str):
            raise ValueError(f"tokenize expects a str, got {type(text).__name__}")
        if text == "":
            return ()
        if self._separator == "":
            for i, ch in enumerate(text):
                if ch not in self._alphabet_set:
                    raise ValueError(
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
                raise ValueError(
                    f"word {w!r} (word {i} of {text!r}, split on {self._separator!r}) is not in "
                    f"the alphabet {list(self._alphabet)} of grammar {self._name!r}{hint}"
                )
        return tuple(words)

    def render(self, symbols: Iterable[str]) -> str:
        """Join ``symbols`` with the grammar's separator.

        >>> cfg('S -> "the" N\\nN -> "cat" | "dog"').render(("the", "cat"))
        'the cat'
        """
        syms = tuple(symbols)
        for s in syms:
            if s not in self._alphabet_set:
                raise ValueError(
                    f"symbol {s!r} is not in the alphabet {list(self._alphabet)} of grammar "
                    f"{self._name!r}"
                )
        return self._separator.join(syms)

    # ---- membership and counting ------------------------------------------------------

    def accepts(self, text: str | Sequence[str]) -> bool:
        """Decide exactly whether ``text`` is a member.

        ``text`` is either rendered text (a ``str``) or a tuple/list of symbols. Text that is
        not over the alphabet is simply not a member (``False``, no error).

        >>> g = cfg('S -> "(" S ")" S | ')
        >>> g.accepts("(())()"), g.accepts(["(", ")"]), g.accepts("(()"), g.accepts("x")
        (True, True, False, False)
        """
        if isinstance(text, str):
            try:
                syms = self.tokenize(text)
            except ValueError:
                return False
        elif isinstance(text, (tuple, list)):
            syms = tuple(text)
            if not all(isinstance(s, str) and s in self._alphabet_set for s in syms):
                return False
        else:
            raise ValueError(
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

        >>> regex(r"(0|10*1)+").count(3)
        4
        """
        _check_int("length", length, minimum=0)
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
        on the arguments. Raises ``ValueError`` when the range holds no member, or when it
        holds fewer than ``n`` distinct members (the message gives the number).

        >>> g = cfg('S -> "a" S "b" | "a" "b"', name="anbn")
        >>> sorted(g.sample(3, min_len=1, max_len=7), key=len)
        ['ab', 'aabb', 'aaabbb']
        >>> g.sample(4, min_len=1, max_len=7)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: grammar 'anbn' has only 3 distinct members with length in [1, 7], but n=4 ...
        """
        _check_int("n", n, minimum=0)
        rng = random.Random(seed)
        found = self._sample_symbols(n, min_len, max_len, rng, allow_fewer=False)
        return [self._separator.join(s) for s in found]

    def _member_lengths(self, min_len: int, max_len: int) -> list[int]:
        _check_int("min_len", min_len, minimum=0)
        _check_int("max_len", max_len, minimum=0)
        if min_len > max_len:
            raise ValueError(
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
            raise ValueError(
                f"grammar {self._name!r} has no members with length in [{min_len}, {max_len}] "
                f"(lengths count symbols{extra}); choose a range that contains member lengths"
            )
        return lengths

    def _sample_symbols(
        self, n: int, min_len: int, max_len: int, rng: random.Random, *, allow_fewer: bool
    ) -> list[Symbols]:
        lengths = self._member_lengths(min_len, max_len)
        found, exact_total = _collect(
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
                raise ValueError(
                    f"grammar {self._name!r} has only {exact_total} distinct members with length "
                    f"in {rng_text}, but n={n} were requested; request at most {exact_total}, or "
                    "widen the range (e.g. raise max_len)"
                )
            raise ValueError(
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
            if kind == "substitute":
                pos, j = divmod(idx, m - 1)
                others = [a for a in alpha if a != good[pos]]
                bad = (*good[:pos], others[j], *good[pos + 1 :])
            elif kind == "insert":
                pos, j = divmod(idx, m)
                bad = (*good[:pos], alpha[j], *good[pos:])
            elif kind == "delete":
                bad = good[:idx] + good[idx + 1 :]
            else:
                if good[idx] == good[idx + 1]:
                    continue
                bad = (*good[:idx], good[idx + 1], good[idx], *good[idx + 2 :])
            if bad in tried:
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
        ``ValueError`` when ``n`` distinct pairs do not exist.

        >>> g = cfg('S -> "(" S ")" S | ')
        >>> p = g.minimal_pairs(2, min_len=2, max_len=6, seed=1)
        >>> all(g.accepts(x.good) and not g.accepts(x.bad) for x in p)
        True
        """
        _check_int("n", n, minimum=0)
        rng = random.Random(seed)
        goods = self._sample_symbols(n, min_len, max_len, rng, allow_fewer=True)
        triples = self._edit_round_robin(n, goods, rng, keep=lambda bad: True)
        if len(triples) < n:
            raise ValueError(
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
        verified by the exact oracle. Raises ``ValueError`` when ``n`` distinct negatives of
        that kind cannot be found.

        >>> g = regex(r"(ab)+")
        >>> sorted(x.text for x in g.negatives(3, 2, 2, kind="random"))
        ['aa', 'ba', 'bb']
        """
        _check_int("n", n, minimum=0)
        if kind not in ("edit", "random"):
            raise ValueError(f"kind must be 'edit' or 'random', got {kind!r}")
        rng = random.Random(seed)
        sep = self._separator
        if kind == "edit":
            goods = self._sample_symbols(n, min_len, max_len, rng, allow_fewer=True)
            used: set[Symbols] = set()

            def keep(bad: Symbols) -> bool:
                if not (min_len <= len(bad) <= max_len) or bad in used:
                    return False
                used.add(bad)
                return True

            triples = self._edit_round_robin(n, goods, rng, keep)
            if len(triples) < n:
                raise ValueError(
                    f"found only {len(triples)} distinct single-edit non-members of grammar "
                    f"{self._name!r} with length in [{min_len}, {max_len}], but n={n} were "
                    "requested; request fewer, widen the range or use kind='random'"
                )
            return [Negative(sep.join(b), "edit", k) for _, k, b in triples]

        lengths = self._member_lengths(min_len, max_len)
        m = len(self._alphabet)

        def capacity(length: int) -> int | None:
            members = self._capacity(length)
            return None if members is None else m**length - members

        def enumerate_(length: int) -> list[Symbols] | None:
            if m**length > _NEG_POOL_LIMIT:
                return None
            every = itertools.product(self._alphabet, repeat=length)
            return [s for s in every if not self._member(s)]

        def draw(r: random.Random, length: int) -> Symbols | None:
            s = tuple(r.choice(self._alphabet) for _ in range(length))
            return None if self._member(s) else s

        found, exact_total = _collect(
            n, lengths, rng, draw=draw, capacity=capacity, enumerate_=enumerate_
        )
        if len(found) < n:
            how = f"only {exact_total} exist" if exact_total is not None else "few seem to exist"
            raise ValueError(
                f"found only {len(found)} distinct random non-members of grammar {self._name!r} "
                f"at the member lengths in [{min_len}, {max_len}] ({how}), but n={n} were "
                "requested; request fewer, widen the range or use kind='edit'"
            )
        return [Negative(sep.join(s), "random", "") for s in found]


def _check_int(name: str, value: Any, *, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an int, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")


def _water_fill(
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


def _collect(
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
        quotas = _water_fill(remaining, active, room, rng)
        for length in active:
            want = quotas[length]
            if want == 0:
                continue
            got = _fill(length, want, seen[length], rng, draw, room[length], enumerate_)
            found[length].extend(got)
            remaining -= len(got)
            if len(got) < want:
                exhausted.add(length)
    out = [s for length in lengths for s in found[length]]
    rng.shuffle(out)
    return out, exact_total


def _fill(
    length: int,
    want: int,
    seen: set[Symbols],
    rng: random.Random,
    draw: Callable[[random.Random, int], Symbols | None],
    room: int | None,
    enumerate_: Callable[[int], list[Symbols] | None],
) -> list[Symbols]:
    """Draw up to ``want`` new distinct strings of one length (fewer means exhausted)."""
    if room is not None and room <= _POOL_LIMIT and 2 * want >= room:
        pool = enumerate_(length)
        if pool is not None:
            fresh = [s for s in pool if s not in seen]
            chosen = rng.sample(fresh, min(want, len(fresh)))
            seen.update(chosen)
            return chosen
    got: list[Symbols] = []
    fails = 0
    while len(got) < want and fails < _MAX_FAILS:
        s = draw(rng, length)
        if s is None or s in seen:
            fails += 1
            continue
        fails = 0
        seen.add(s)
        got.append(s)
    return got


def _weighted_index(rng: random.Random, cums: list[int]) -> int:
    """Index i with probability proportional to cums[i] - cums[i-1] (exact integers)."""
    return bisect.bisect_right(cums, rng.randrange(cums[-1]))


# --------------------------------------------------------------------------------------
# Context-free grammars
# --------------------------------------------------------------------------------------

_CFG_TOKEN = re.compile(
    r"""\s*(?:(?P<dq>"[^"]*")|(?P<sq>'[^']*')|(?P<arrow>->)|(?P<bar>\|)"""
    r"""|(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<comment>\#.*)|(?P<bad>\S))"""
)

Item = int | str  # in compiled rules: int = nonterminal index, str = terminal symbol


def _cfg_line_tokens(line: str, lineno: int) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(line):
        m = _CFG_TOKEN.match(line, pos)
        if m is None:  # only trailing white space is left
            break
        pos = m.end()
        kind = m.lastgroup
        if kind is None:
            break
        text = m.group(kind)
        if kind == "comment":
            break
        if kind == "bad":
            raise ValueError(
                f"CFG line {lineno}: unexpected character {text!r} in {line.strip()!r}; expected "
                'quoted terminals ("a" or \'a\'), nonterminal names, "->", "|" or a # comment'
            )
        if kind in ("dq", "sq"):
            if len(text) == 2:
                raise ValueError(
                    f"CFG line {lineno}: empty terminal {text} in {line.strip()!r}; write an "
                    "empty alternative (e.g. 'S -> \"a\" S | ') for the empty string"
                )
            out.append(("term", text[1:-1]))
        else:
            out.append((kind, text))
    return out


def _parse_cfg_text(
    text: str,
) -> tuple[list[str], dict[str, list[tuple[tuple[str, str], ...]]], list[str]]:
    """Parse the CFG text format into (nonterminals, rules by name, terminals).

    Nonterminals and terminals are listed in order of first appearance.
    """
    if not isinstance(text, str):
        raise ValueError(f"cfg() expects the grammar as a str, got {type(text).__name__}")
    order: list[str] = []
    rules: dict[str, list[tuple[tuple[str, str], ...]]] = {}
    terminals: dict[str, None] = {}
    current: str | None = None
    for lineno, line in enumerate(text.splitlines(), start=1):
        toks = _cfg_line_tokens(line, lineno)
        if not toks:
            continue
        if toks[0][0] == "bar":
            if current is None:
                raise ValueError(
                    f"CFG line {lineno}: {line.strip()!r} continues a rule with '|', but no rule "
                    "came before it; start with 'A -> ...'"
                )
            body = toks
        elif len(toks) >= 2 and toks[0][0] == "name" and toks[1][0] == "arrow":
            current = toks[0][1]
            if current not in rules:
                order.append(current)
                rules[current] = []
            body = [("bar", "|"), *toks[2:]]
        else:
            raise ValueError(
                f"CFG line {lineno}: cannot read {line.strip()!r}; expected a rule "
                "'A -> alt1 | alt2' (nonterminal name, '->', alternatives of quoted terminals and "
                "nonterminal names separated by '|'), or a line starting with '|'"
            )
        alt: list[tuple[str, str]] = []
        for i, (kind, value) in enumerate(body):
            if kind == "arrow":
                raise ValueError(
                    f"CFG line {lineno}: unexpected '->' in {line.strip()!r}; put one rule per line"
                )
            if kind == "bar":
                if i > 0:
                    rules[current].append(tuple(alt))
                alt = []
            else:
                alt.append((kind, value))
                if kind == "term":
                    terminals[value] = None
        rules[current].append(tuple(alt))
    if not order:
        raise ValueError(
            'CFG text has no rules; expected lines such as \'S -> "(" S ")" S | \' '
            "(the first rule's left-hand side is the start symbol)"
        )
    undefined = sorted(
        {v for alts in rules.values() for alt in alts for k, v in alt if k == "name"} - set(rules)
    )
    if undefined:
        raise ValueError(
            f"CFG uses nonterminals with no rule: {undefined}; define them (e.g. "
            f"'{undefined[0]} -> \"x\"') or quote them if they are meant as terminals"
        )
    for name in order:  # drop repeated alternatives, keeping the first occurrence
        rules[name] = list(dict.fromkeys(rules[name]))
    return order, rules, list(terminals)


class _SymbolLexer(Lexer):
    """A lark lexer whose input is a tuple of grammar symbols, one token per symbol."""

    __future_interface__ = 2
    names: dict[str, str] = {}  # noqa: RUF012 - replaced per grammar by a subclass

    def __init__(self, conf: Any) -> None:
        pass

    def lex(self, lexer_state: Any, parser_state: Any) -> Iterator[Token]:
        names = self.names
        for sym in lexer_state.text:
            yield Token(names[sym], sym)


class CFGGrammar(Grammar):
    """A context-free grammar; build it with :func:`cfg`.

    ``parser`` is ``"lalr"`` when lark could build a conflict-free LALR(1) recognizer and
    ``"earley"`` otherwise.

    >>> cfg('S -> "a" S "b" | "a" "b"').parser
    'lalr'
    """

    kind = "cfg"

    def __init__(
        self,
        text: str,
        *,
        name: str | None = None,
        separator: str | None = None,
        explanation: str = "",
        control: str = "",
        unambiguous: bool = False,
    ) -> None:
        order, rules, terminals = _parse_cfg_text(text)
        if not terminals:
            raise ValueError(
                'CFG has no terminal symbols; add quoted terminals such as "a" to some rule'
            )
        if separator is None:
            separator = "" if all(len(t) == 1 for t in terminals) else " "
        super().__init__(
            alphabet=terminals,
            separator=separator,
            name=name,
            explanation=explanation,
            control=control,
            source=text,
        )
        self._unambiguous = bool(unambiguous)
        self._nt_names = order
        index = {nt: i for i, nt in enumerate(order)}
        self._rules: list[list[tuple[Item, ...]]] = [
            [tuple(index[v] if k == "name" else v for k, v in alt) for alt in rules[nt]]
            for nt in order
        ]
        self._build_lark(terminals)
        self._prepare_counting()

    @property
    def parser(self) -> str:
        """Which lark parser decides membership: ``"lalr"`` or ``"earley"``.

        >>> cfg('P -> "a" P "a" | "b" P "b" | "a" | "b"').parser
        'earley'
        """
        return self._parser_kind

    @property
    def unambiguous(self) -> bool:
        """Whether the grammar was declared unambiguous (enables exact counts by DP).

        >>> cfg('S -> "a" S | "a"', unambiguous=True).unambiguous
        True
        """
        return self._unambiguous

    # ---- membership -------------------------------------------------------------------

    def _build_lark(self, terminals: list[str]) -> None:
        tnames = {t: f"T{i}" for i, t in enumerate(terminals)}
        lines = []
        for i, alts in enumerate(self._rules):
            bodies = [
                " ".join(f"n{x}" if isinstance(x, int) else tnames[x] for x in alt) for alt in alts
            ]
            lines.append(f"n{i}: " + " | ".join(bodies))
        lines.append("%declare " + " ".join(tnames.values()))
        grammar_text = "\n".join(lines) + "\n"
        lexer = type("_Lexer", (_SymbolLexer,), {"names": tnames})
        try:
            self._lark = lark.Lark(
                grammar_text, start="n0", parser="lalr", lexer=lexer, strict=True
            )
            self._parser_kind = "lalr"
        except GrammarError:
            try:
                self._lark = lark.Lark(
                    grammar_text, start="n0", parser="earley", lexer=lexer, ambiguity="forest"
                )
            except lark.exceptions.LarkError as err:  # pragma: no cover - defensive
                raise ValueError(f"lark could not compile the CFG: {err}") from err
            self._parser_kind = "earley"

    def _oracle(self, syms: Symbols) -> bool:
        try:
            self._lark.parse(syms)  # type: ignore[arg-type]
        except UnexpectedInput:
            return False
        return True

    # ---- counting -----------------------------------------------------------------------

    def _prepare_counting(self) -> None:
        rules = self._rules
        k = len(rules)
        nullable = [False] * k
        changed = True
        while changed:
            changed = False
            for a in range(k):
                if not nullable[a] and any(
                    all(isinstance(x, int) and nullable[x] for x in alt) for alt in rules[a]
                ):
                    nullable[a] = changed = True
        self._start_nullable = nullable[0]
        # 1. epsilon removal: every way of dropping nullable nonterminals, minus empty rules
        eps_free: list[list[tuple[Item, ...]]] = []
        for a in range(k):
            variants: list[tuple[Item, ...]] = []
            for alt in rules[a]:
                spots = [i for i, x in enumerate(alt) if isinstance(x, int) and nullable[x]]
                if 2 ** len(spots) > _MAX_VARIANTS:
                    raise ValueError(
                        f"CFG rule for {self._nt_names[a]!r} has {len(spots)} nullable "
                        "nonterminals in one alternative; split it into smaller rules"
                    )
                for drop in itertools.product((False, True), repeat=len(spots)):
                    dropped = {s for s, d in zip(spots, drop, strict=True) if d}
                    v = tuple(x for i, x in enumerate(alt) if i not in dropped)
                    if v:
                        variants.append(v)
            eps_free.append(list(dict.fromkeys(variants)))
        # 2. unit-rule removal: A gets the non-unit rules of every B with A =>* B
        final: list[list[tuple[Item, ...]]] = []
        for a in range(k):
            closure = [a]
            for b in closure:
                for alt in eps_free[b]:
                    if len(alt) == 1 and isinstance(alt[0], int) and alt[0] not in closure:
                        closure.append(alt[0])
            merged = [
                alt
                for b in closure
                for alt in eps_free[b]
                if not (len(alt) == 1 and isinstance(alt[0], int))
            ]
            final.append(list(dict.fromkeys(merged)))
        self._crules = final
        self._derivs: list[list[int]] = [[0] for _ in range(k)]  # [nt][length]
        self._suffix: dict[tuple[int, int, int, int], int] = {}
        self._rule_cums: dict[tuple[int, int], list[int]] = {}
        self._split_cums: dict[tuple[int, int, int, int], tuple[list[int], list[int]]] = {}
        self._pool_cache: dict[int, list[Symbols] | None] = {}

    def _ensure(self, length: int) -> None:
        have = len(self._derivs[0]) - 1
        for n in range(have + 1, length + 1):
            row = [
                sum(self._rest(a, r, 0, n) for r in range(len(alts)))
                for a, alts in enumerate(self._crules)
            ]
            for a, v in enumerate(row):
                self._derivs[a].append(v)

    def _rest(self, a: int, r: int, i: int, n: int) -> int:
        """Derivations of length ``n`` from symbols ``i:`` of compiled rule ``r`` of ``a``."""
        key = (a, r, i, n)
        hit = self._suffix.get(key)
        if hit is not None:
            return hit
        alt = self._crules[a][r]
        after = len(alt) - i - 1
        if i == len(alt):
            val = 1 if n == 0 else 0
        elif n < len(alt) - i:  # every symbol yields at least one terminal
            val = 0
        elif isinstance(alt[i], str):
            val = self._rest(a, r, i + 1, n - 1)
        else:
            d = self._derivs[int(alt[i])]
            val = sum(
                d[m] * self._rest(a, r, i + 1, n - m) for m in range(1, n - after + 1) if d[m]
            )
        self._suffix[key] = val
        return val

    def _derivations(self, length: int) -> int:
        if length == 0:
            return 1 if self._start_nullable else 0
        self._ensure(length)
        return self._derivs[0][length]

    def _count(self, length: int) -> int:
        d = self._derivations(length)
        if d == 0 or self._unambiguous or length == 0:
            return d
        if d <= _COUNT_ENUM_LIMIT:
            return len(self._all_strings(length))
        raise ValueError(
            f"cannot count the members of length {length} of grammar {self._name!r} exactly: it "
            f"has {d} derivations of that length (more than {_COUNT_ENUM_LIMIT} to enumerate) and "
            "was not declared unambiguous, so derivations may overcount strings; if every string "
            "has one parse tree, build it with cfg(..., unambiguous=True)"
        )

    def _capacity(self, length: int) -> int | None:
        d = self._derivations(length)
        if d == 0 or self._unambiguous or length == 0:
            return d
        if d <= _POOL_LIMIT:
            pool = self._enumerate(length)
            return None if pool is None else len(pool)
        return None

    def _has_members(self, length: int) -> bool | None:
        return self._derivations(length) > 0

    def _all_strings(self, length: int) -> list[Symbols]:
        memo: dict[tuple[int, int, int, int], list[Symbols]] = {}

        def rest(a: int, r: int, i: int, n: int) -> list[Symbols]:
            key = (a, r, i, n)
            if key in memo:
                return memo[key]
            alt = self._crules[a][r]
            out: list[Symbols] = []
            if self._rest(a, r, i, n) == 0:
                pass
            elif i == len(alt):
                out = [()]
            elif isinstance(alt[i], str):
                out = [(str(alt[i]), *t) for t in rest(a, r, i + 1, n - 1)]
            else:
                b = int(alt[i])
                for m in range(1, n - (len(alt) - i - 1) + 1):
                    if self._derivs[b][m] and self._rest(a, r, i + 1, n - m):
                        heads = nt(b, m)
                        tails = rest(a, r, i + 1, n - m)
                        out.extend(h + t for h in heads for t in tails)
            memo[key] = out
            return out

        nt_memo: dict[tuple[int, int], list[Symbols]] = {}

        def nt(b: int, m: int) -> list[Symbols]:
            key = (b, m)
            if key not in nt_memo:
                strs: dict[Symbols, None] = {}
                for r in range(len(self._crules[b])):
                    strs.update(dict.fromkeys(rest(b, r, 0, m)))
                nt_memo[key] = list(strs)
            return nt_memo[key]

        if length == 0:
            return [()] if self._start_nullable else []
        self._ensure(length)
        return sorted(nt(0, length))

    def _enumerate(self, length: int) -> list[Symbols] | None:
        if length not in self._pool_cache:
            d = self._derivations(length)
            self._pool_cache[length] = self._all_strings(length) if d <= _POOL_LIMIT else None
        return self._pool_cache[length]

    # ---- sampling -------------------------------------------------------------------------

    def _draw(self, rng: random.Random, length: int) -> Symbols | None:
        if length == 0:
            return () if self._start_nullable else None
        if self._derivations(length) == 0:
            return None
        out: list[str] = []
        self._expand(0, length, rng, out)
        return tuple(out)

    def _expand(self, a: int, n: int, rng: random.Random, out: list[str]) -> None:
        key = (a, n)
        cums = self._rule_cums.get(key)
        if cums is None:
            cums = list(
                itertools.accumulate(self._rest(a, r, 0, n) for r in range(len(self._crules[a])))
            )
            self._rule_cums[key] = cums
        r = _weighted_index(rng, cums)
        alt = self._crules[a][r]
        i = 0
        while i < len(alt):
            x = alt[i]
            if isinstance(x, str):
                out.append(x)
                n -= 1
            else:
                skey = (a, r, i, n)
                split = self._split_cums.get(skey)
                if split is None:
                    d = self._derivs[x]
                    after = len(alt) - i - 1
                    ms = [m for m in range(1, n - after + 1) if d[m]]
                    ws = [d[m] * self._rest(a, r, i + 1, n - m) for m in ms]
                    keep = [j for j, w in enumerate(ws) if w]
                    split = ([ms[j] for j in keep], list(itertools.accumulate(ws[j] for j in keep)))
                    self._split_cums[skey] = split
                ms, wc = split
                m = ms[_weighted_index(rng, wc)]
                self._expand(x, m, rng, out)
                n -= m
            i += 1


def cfg(
    text: str,
    name: str | None = None,
    *,
    separator: str | None = None,
    explanation: str = "",
    control: str = "",
    unambiguous: bool = False,
) -> CFGGrammar:
    """Build a context-free grammar from the text format described in the module docstring.

    ``separator`` defaults to ``""`` when every terminal is a single character and to
    ``" "`` otherwise. Declare ``unambiguous=True`` only when every member has exactly one
    parse tree: :meth:`Grammar.count` then trusts derivation counts at any length (otherwise
    it enumerates, which is limited to 2**18 derivations). Raises ``ValueError`` on text that
    does not follow the format, naming the line.

    >>> g = cfg('''
    ... S  -> NP VP          # a tiny word grammar
    ... NP -> "the" N
    ... N  -> "cat" | "dog"
    ... VP -> "sleeps" | "sees" NP
    ... ''', name="tiny")
    >>> g.accepts("the cat sees the dog"), g.accepts("the cat the dog")
    (True, False)
    >>> g.count(5)
    4
    >>> cfg('S -> "a" S "b" |\\nS => "c"')  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: CFG line 2: unexpected character '=' in 'S => "c"'; expected quoted terminals ...
    """
    return CFGGrammar(
        text,
        name=name,
        separator=separator,
        explanation=explanation,
        control=control,
        unambiguous=unambiguous,
    )


# --------------------------------------------------------------------------------------
# Regular expressions
# --------------------------------------------------------------------------------------

_C = _sre_c
_CATEGORY_RE = {
    _C.CATEGORY_DIGIT: r"\d",
    _C.CATEGORY_NOT_DIGIT: r"\D",
    _C.CATEGORY_SPACE: r"\s",
    _C.CATEGORY_NOT_SPACE: r"\S",
    _C.CATEGORY_WORD: r"\w",
    _C.CATEGORY_NOT_WORD: r"\W",
}
_REPEATS = (_C.MAX_REPEAT, _C.MIN_REPEAT)
_NEEDS_ALPHABET = (_C.ANY, _C.NOT_LITERAL, _C.NEGATE, _C.CATEGORY)
_UNSUPPORTED_NAMES = {
    "GROUPREF": "back-references",
    "GROUPREF_EXISTS": "conditional groups",
    "ASSERT": "look-arounds",
    "ASSERT_NOT": "look-arounds",
    "POSSESSIVE_REPEAT": "possessive repeats",
    "ATOMIC_GROUP": "atomic groups",
}


def _regex_unsupported(what: str) -> ValueError:
    return ValueError(
        f"regex() cannot sample or count patterns that use {what}; supported are literals, "
        "character classes, '.', \\d-style categories, groups, '|', the repeats * + ? {m,n} and "
        "^/$ at the very ends. Use predicate(lambda s: re.fullmatch(...) is not None, ...) instead"
    )


def _regex_literals(items: Any, out: dict[str, None]) -> None:
    """Collect the characters a pattern names literally (alphabet inference)."""
    for op, av in items:
        if op in _NEEDS_ALPHABET:
            raise ValueError(
                "cannot infer the alphabet of a pattern that uses '.', negated classes or "
                "categories such as \\d; pass alphabet=[...] explicitly"
            )
        if op == _C.LITERAL:
            out[chr(av)] = None
        elif op == _C.IN:
            _regex_literals(av, out)
        elif op == _C.RANGE:
            lo, hi = av
            if hi - lo >= 256:
                raise ValueError(
                    f"cannot infer the alphabet from the range {chr(lo)!r}-{chr(hi)!r} (more than "
                    "256 characters); pass alphabet=[...] explicitly"
                )
            for c in range(lo, hi + 1):
                out[chr(c)] = None
        elif op == _C.BRANCH:
            for alt in av[1]:
                _regex_literals(alt, out)
        elif op == _C.SUBPATTERN:
            _regex_literals(av[-1], out)
        elif op in _REPEATS:
            _regex_literals(av[2], out)
        elif op != _C.AT:
            raise _regex_unsupported(_UNSUPPORTED_NAMES.get(str(op), f"the construct {op}"))


class _NFA:
    """Thompson NFA over the characters of an alphabet."""

    def __init__(self, alphabet: Symbols, flags: int) -> None:
        self.alphabet = alphabet
        self.flags = flags
        self.eps: list[list[int]] = []
        self.edges: list[list[tuple[frozenset[str], int]]] = []

    def state(self) -> int:
        if len(self.eps) >= _MAX_NFA_STATES:
            raise ValueError(
                "the regex expands to too many automaton states (large {m,n} repeats?); "
                "simplify it or use predicate()"
            )
        self.eps.append([])
        self.edges.append([])
        return len(self.eps) - 1

    def charset(self, op: Any, av: Any) -> frozenset[str]:
        alpha = self.alphabet
        if op == _C.LITERAL:
            return frozenset(c for c in alpha if c == chr(av))
        if op == _C.NOT_LITERAL:
            return frozenset(c for c in alpha if c != chr(av))
        if op == _C.ANY:
            dotall = bool(self.flags & re.DOTALL)
            return frozenset(c for c in alpha if dotall or c != "\n")
        # op == IN
        negate = False
        chars: set[str] = set()
        for iop, iav in av:
            if iop == _C.NEGATE:
                negate = True
            elif iop == _C.LITERAL:
                chars.update(c for c in alpha if c == chr(iav))
            elif iop == _C.RANGE:
                chars.update(c for c in alpha if iav[0] <= ord(c) <= iav[1])
            elif iop == _C.CATEGORY and iav in _CATEGORY_RE:
                cat = re.compile(_CATEGORY_RE[iav], self.flags & re.ASCII)
                chars.update(c for c in alpha if cat.fullmatch(c))
            else:
                raise _regex_unsupported(f"the class item {iop}")
        return frozenset(c for c in alpha if (c in chars) != negate)

    def build(self, items: Any, top: bool = False) -> tuple[int, int]:
        items = list(items)
        if top:
            while items and items[0] in ((_C.AT, _C.AT_BEGINNING), (_C.AT, _C.AT_BEGINNING_STRING)):
                items.pop(0)
            while items and items[-1] in ((_C.AT, _C.AT_END), (_C.AT, _C.AT_END_STRING)):
                items.pop()
        start = cur = self.state()
        for op, av in items:
            s, e = self.atom(op, av)
            self.eps[cur].append(s)
            cur = e
        return start, cur

    def atom(self, op: Any, av: Any) -> tuple[int, int]:
        if op in (_C.LITERAL, _C.NOT_LITERAL, _C.ANY, _C.IN):
            s, e = self.state(), self.state()
            self.edges[s].append((self.charset(op, av), e))
            return s, e
        if op == _C.SUBPATTERN:
            add_flags, del_flags = av[1], av[2]
            if add_flags or del_flags:
                raise _regex_unsupported("inline flags such as (?i:...)")
            return self.build(av[-1])
        if op == _C.BRANCH:
            s, e = self.state(), self.state()
            for alt in av[1]:
                a, b = self.build(alt)
                self.eps[s].append(a)
                self.eps[b].append(e)
            return s, e
        if op in _REPEATS:
            lo, hi, sub = av
            s = cur = self.state()
            for _ in range(lo):
                a, b = self.build(sub)
                self.eps[cur].append(a)
                cur = b
            if hi == _C.MAXREPEAT:
                a, b = self.build(sub)
                self.eps[cur].append(a)
                self.eps[b].append(a)
                e = self.state()
                self.eps[cur].append(e)
                self.eps[b].append(e)
                return s, e
            e = self.state()
            self.eps[cur].append(e)
            for _ in range(hi - lo):
                a, b = self.build(sub)
                self.eps[cur].append(a)
                self.eps[b].append(e)
                cur = b
            return s, e
        if op == _C.AT:
            raise _regex_unsupported("anchors other than a leading ^ and a trailing $")
        raise _regex_unsupported(_UNSUPPORTED_NAMES.get(str(op), f"the construct {op}"))

    def closure(self, states: Iterable[int]) -> frozenset[int]:
        stack = list(states)
        seen = set(stack)
        while stack:
            q = stack.pop()
            for r in self.eps[q]:
                if r not in seen:
                    seen.add(r)
                    stack.append(r)
        return frozenset(seen)


class RegexGrammar(Grammar):
    """A regular language over single characters; build it with :func:`regex`.

    >>> regex(r"a[bc]*").count(3)
    4
    """

    kind = "regex"

    def __init__(
        self,
        pattern: str,
        *,
        alphabet: Iterable[str] | None = None,
        name: str | None = None,
        explanation: str = "",
        control: str = "",
    ) -> None:
        if not isinstance(pattern, str):
            raise ValueError(f"regex() expects the pattern as a str, got {type(pattern).__name__}")
        try:
            compiled = re.compile(pattern)
            parsed = _sre_p.parse(pattern)
        except re.error as err:
            raise ValueError(f"invalid regular expression {pattern!r}: {err}") from err
        flags = parsed.state.flags
        if flags & (re.IGNORECASE | re.LOCALE):
            raise _regex_unsupported("case-insensitive or locale flags")
        if alphabet is None:
            lits: dict[str, None] = {}
            _regex_literals(parsed, lits)
            if not lits:
                raise ValueError(
                    f"the pattern {pattern!r} names no characters; pass alphabet=[...] explicitly"
                )
            alphabet = sorted(lits)
        super().__init__(
            alphabet=alphabet,
            separator="",
            name=name,
            explanation=explanation,
            control=control,
            source=pattern,
        )
        self._re = compiled
        nfa = _NFA(self._alphabet, flags)
        start, accept = nfa.build(parsed, top=True)
        self._compile_dfa(nfa, start, accept)
        self._ways: list[list[int]] = [[1 if f else 0 for f in self._final]]
        self._pool_cache: dict[int, list[Symbols] | None] = {}

    def _compile_dfa(self, nfa: _NFA, start: int, accept: int) -> None:
        first = nfa.closure([start])
        index = {first: 0}
        todo = [first]
        delta: list[list[int]] = []
        final: list[bool] = []
        while todo:
            cur = todo.pop(0)
            final.append(accept in cur)
            row = []
            for c in self._alphabet:
                nxt = nfa.closure(t for q in cur for cs, t in nfa.edges[q] if c in cs)
                if nxt not in index:
                    if len(index) >= _MAX_DFA_STATES:
                        raise ValueError(
                            "the regex needs too many DFA states to sample; simplify it or use "
                            "predicate()"
                        )
                    index[nxt] = len(index)
                    todo.append(nxt)
                row.append(index[nxt])
            delta.append(row)
        self._delta = delta
        self._final = final

    def _oracle(self, syms: Symbols) -> bool:
        return self._re.fullmatch("".join(syms)) is not None

    def _ensure(self, length: int) -> None:
        while len(self._ways) <= length:
            prev = self._ways[-1]
            self._ways.append([sum(prev[t] for t in row) for row in self._delta])

    def _count(self, length: int) -> int:
        self._ensure(length)
        return self._ways[length][0]

    def _capacity(self, length: int) -> int | None:
        return self._count(length)

    def _enumerate(self, length: int) -> list[Symbols] | None:
        if length in self._pool_cache:
            return self._pool_cache[length]
        if self._count(length) > _POOL_LIMIT:
            self._pool_cache[length] = None
            return None
        out: list[Symbols] = []
        alpha = self._alphabet

        def walk(q: int, left: int, prefix: list[str]) -> None:
            if left == 0:
                out.append(tuple(prefix))
                return
            for j, t in enumerate(self._delta[q]):
                if self._ways[left - 1][t]:
                    prefix.append(alpha[j])
                    walk(t, left - 1, prefix)
                    prefix.pop()

        walk(0, length, [])
        out.sort()
        self._pool_cache[length] = out
        return out

    def _draw(self, rng: random.Random, length: int) -> Symbols | None:
        if self._count(length) == 0:
            return None
        q = 0
        out = []
        for left in range(length, 0, -1):
            ways = self._ways[left - 1]
            cums = list(itertools.accumulate(ways[t] for t in self._delta[q]))
            j = _weighted_index(rng, cums)
            out.append(self._alphabet[j])
            q = self._delta[q][j]
        sample = tuple(out)
        if not self._member(sample):  # pragma: no cover - would be a bug in the DFA
            raise RuntimeError(
                f"internal error: the DFA of {self._source!r} produced {''.join(sample)!r}, which "
                "re.fullmatch rejects; please report this pattern"
            )
        return sample


def regex(
    pattern: str,
    alphabet: Iterable[str] | None = None,
    name: str | None = None,
    *,
    explanation: str = "",
    control: str = "",
) -> RegexGrammar:
    """Build a grammar of the strings that ``re.fullmatch(pattern, text)`` accepts.

    Symbols are single characters and the separator is ``""``. ``alphabet`` defaults to the
    characters the pattern names literally (sorted); pass it explicitly when the pattern uses
    ``.``, negated classes or categories such as ``\\d``, or to add characters the pattern
    never uses (strings containing them are then non-members). See the module docstring for
    the supported syntax.

    >>> g = regex(r"(ab)+", name="abn")
    >>> g.alphabet, g.accepts("abab"), g.accepts("aba")
    (('a', 'b'), True, False)
    >>> regex(r"\\d\\d", alphabet="0123456789").count(2)
    100
    """
    return RegexGrammar(
        pattern, alphabet=alphabet, name=name, explanation=explanation, control=control
    )


# --------------------------------------------------------------------------------------
# Predicates
# --------------------------------------------------------------------------------------


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
            raise ValueError(f"predicate() expects a callable fn(symbols) -> bool, got {fn!r}")
        if sampler is not None and not callable(sampler):
            raise ValueError(
                f"sampler must be None or a callable sampler(rng, length), got {sampler!r}"
            )
        if alphabet is None:
            raise ValueError("predicate() needs alphabet=[...], e.g. alphabet=['a', 'b']")
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
            raise ValueError(
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
    rejection from uniform random strings, which fails (with a ``ValueError``) for
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
