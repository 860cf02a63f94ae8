"""Regular languages: :func:`regex` and :class:`RegexGrammar` (counting and sampling by DFA).

A pattern is parsed by a small parser of our own (below) into an AST of four node kinds —
:class:`CharSet`, :class:`Concat`, :class:`Alternation` and :class:`Repeat` — which is
compiled to a Thompson NFA and then to a DFA over the grammar's alphabet. Counts are exact
and sampling is exactly uniform within a length; membership itself is decided by
``re.fullmatch``, so the parser only has to agree with Python's ``re`` on the subset it accepts
(the tests check that it does, string by string).

Supported syntax: literals; escaped punctuation (``\\.``, ``\\(``, ...); the escapes
``\\n \\t \\r \\f \\v \\a \\0 \\xhh \\uhhhh \\Uhhhhhhhh \\N{name}``; the categories
``\\d \\D \\s \\S \\w \\W`` (Unicode, as in ``re``); ``.`` (any character but a newline);
character classes ``[...]`` with ranges, negation ``[^...]`` and categories; groups ``(...)``,
``(?:...)`` and ``(?P<name>...)``; alternation ``|``; the repeats ``* + ? {m} {m,} {,n}
{m,n}`` (greedy or lazy: membership does not depend on it); and ``^``/``$`` at the very ends.
Back-references, look-arounds, possessive repeats, atomic groups, conditionals, comments,
inline flags and other anchors (``\\b``, ``\\A``, ...) raise
:class:`~surprisal.errors.SurprisalError` naming their position: use
:func:`~surprisal.grammar.predicate` for those languages.

>>> g = regex(r"(ab)+", name="abn")
>>> g.alphabet, g.accepts("abab"), g.count(4)
(('a', 'b'), True, 1)
>>> parse_regex(r"a[bc]*")
Concat(items=(CharSet(chars='a'), Repeat(item=CharSet(chars='bc'), lo=0, hi=None)))
"""

from __future__ import annotations

import itertools
import random
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from ..errors import SurprisalError
from .base import Grammar
from .sampling import POOL_LIMIT, Symbols, weighted_index

__all__ = [
    "Alternation",
    "CharSet",
    "Concat",
    "RegexGrammar",
    "Repeat",
    "parse_regex",
    "regex",
]

_MAX_DFA_STATES = 20000
_MAX_NFA_STATES = 200000
_MAX_INFERRED_RANGE = 256  # alphabet inference: the widest range spelled out

# --------------------------------------------------------------------------------------
# The AST
# --------------------------------------------------------------------------------------

_CATEGORIES = {c: re.compile("\\" + c) for c in "dDsSwW"}


@dataclass(frozen=True)
class CharSet:
    """One character from a set: the characters ``chars``, the inclusive code-point
    ``ranges``, the ``categories`` (letters of ``\\d``-style escapes), complemented when
    ``negate``; ``dot`` is ``.`` (any character but a newline).

    >>> CharSet(ranges=((97, 99),), negate=True).matches("b"), CharSet(dot=True).matches("x")
    (False, True)
    """

    chars: str = ""
    ranges: tuple[tuple[int, int], ...] = ()
    categories: str = ""
    negate: bool = False
    dot: bool = False

    def __repr__(self) -> str:  # the fields that are set, so ASTs print short
        fields = ("chars", "ranges", "categories", "negate", "dot")
        shown = ", ".join(f"{f}={getattr(self, f)!r}" for f in fields if getattr(self, f))
        return f"CharSet({shown})"

    def matches(self, c: str) -> bool:
        """Whether the one character ``c`` is in the set."""
        if self.dot:
            return c != "\n"
        hit = (
            c in self.chars
            or any(lo <= ord(c) <= hi for lo, hi in self.ranges)
            or any(_CATEGORIES[k].fullmatch(c) for k in self.categories)
        )
        return hit != self.negate

    @property
    def needs_alphabet(self) -> bool:
        """Whether the set is not spelled out character by character."""
        return self.dot or self.negate or bool(self.categories)


@dataclass(frozen=True)
class Concat:
    """The items one after the other (the empty concatenation matches the empty string)."""

    items: tuple[Node, ...]


@dataclass(frozen=True)
class Alternation:
    """Any one of the options."""

    options: tuple[Node, ...]


@dataclass(frozen=True)
class Repeat:
    """``item`` repeated ``lo`` to ``hi`` times (``hi=None``: no upper bound)."""

    item: Node
    lo: int
    hi: int | None


Node = CharSet | Concat | Alternation | Repeat

# --------------------------------------------------------------------------------------
# The parser: recursive descent, one method per level of the grammar of patterns
#   alternation := concat ("|" concat)*
#   concat      := (atom repeat?)*
#   atom        := char | escape | "." | class | group
# --------------------------------------------------------------------------------------

_SIMPLE_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "f": "\f", "v": "\v", "a": "\a"}
_HEX_ESCAPES = {"x": 2, "u": 4, "U": 8}
_REPEAT_BRACES = re.compile(r"\{(\d*)(,(\d*))?\}")
_GROUP_KINDS = (  # (prefix after "(", what it is; None = supported)
    ("?:", None),
    ("?P<", None),
    ("?P=", "back-references"),
    ("?=", "look-arounds"),
    ("?!", "look-arounds"),
    ("?<=", "look-arounds"),
    ("?<!", "look-arounds"),
    ("?>", "atomic groups"),
    ("?#", "comments (?#...)"),
    ("?(", "conditional groups"),
)


def _unsupported(what: str, pattern: str, pos: int) -> SurprisalError:
    return SurprisalError(
        f"regex() cannot sample or count patterns that use {what} (at position {pos} of "
        f"{pattern!r}); supported are literals, escapes, character classes, '.', \\d-style "
        "categories, groups, '|', the repeats * + ? {m,n} and ^/$ at the very ends. Use "
        "predicate(lambda s: re.fullmatch(...) is not None, ...) instead"
    )


class _Parser:
    """Parse one pattern that ``re.compile`` already accepted into an AST."""

    def __init__(self, pattern: str) -> None:
        self.p = pattern
        self.i = 0

    def peek(self, k: int = 0) -> str:
        j = self.i + k
        return self.p[j] if j < len(self.p) else ""

    def error(self, what: str, pos: int | None = None) -> SurprisalError:
        return _unsupported(what, self.p, self.i if pos is None else pos)

    def parse(self) -> Node:
        if self.peek() == "^":
            self.i += 1
        node = self.alternation(depth=0)
        if self.i != len(self.p):  # pragma: no cover - re.compile refused unbalanced ")"
            raise self.error("an unbalanced ')'")
        return node

    def alternation(self, depth: int) -> Node:
        options = [self.concat(depth)]
        while self.peek() == "|":
            self.i += 1
            options.append(self.concat(depth))
        return options[0] if len(options) == 1 else Alternation(tuple(options))

    def concat(self, depth: int) -> Node:
        items: list[Node] = []
        while self.peek() not in ("", "|", ")"):
            c = self.peek()
            if c == "$" and depth == 0 and self.i == len(self.p) - 1:
                self.i += 1  # a trailing $: fullmatch ends there anyway
                break
            if c in "^$":
                raise self.error("anchors other than a leading ^ and a trailing $")
            items.append(self.repeat(self.atom(depth)))
        return items[0] if len(items) == 1 else Concat(tuple(items))

    def atom(self, depth: int) -> Node:
        c = self.peek()
        if c == "(":
            return self.group(depth)
        if c == "[":
            return self.char_class()
        if c == ".":
            self.i += 1
            return CharSet(dot=True)
        if c == "\\":
            return self.escape(in_class=False)
        if c in "*+?" or self.braces() is not None:
            raise self.error("a repeat with nothing to repeat")  # pragma: no cover - re refuses
        self.i += 1
        return CharSet(chars=c)

    def group(self, depth: int) -> Node:
        start = self.i
        self.i += 1
        if self.peek() == "?":
            found = [(p, w) for p, w in _GROUP_KINDS if self.p.startswith(p, self.i)]
            if not found:
                raise self.error("inline flags such as case-insensitive (?i)", start)
            prefix, what = found[0]
            if what is not None:
                raise self.error(what, start)
            self.i += len(prefix)
            if prefix == "?P<":
                self.i = self.p.index(">", self.i) + 1
        node = self.alternation(depth + 1)
        self.i += 1  # the ")" (re.compile checked the balance)
        return node

    def braces(self) -> re.Match[str] | None:
        """The ``{m,n}`` repeat at the cursor; None where a "{" is a literal, as in re."""
        m = _REPEAT_BRACES.match(self.p, self.i)
        if m is None or (m.group(1) == "" and m.group(2) is None):  # "{", "{}", "{x"
            return None
        return m

    def repeat(self, node: Node) -> Node:
        start = self.i
        c = self.peek()
        if c in ("*", "+", "?"):
            self.i += 1
            lo, hi = {"*": (0, None), "+": (1, None), "?": (0, 1)}[c]
        else:
            m = self.braces()
            if m is None:
                return node
            self.i = m.end()
            lo = int(m.group(1) or 0)
            hi = (
                int(m.group(1)) if m.group(2) is None else (int(m.group(3)) if m.group(3) else None)
            )
        if self.peek() == "?":
            self.i += 1  # lazy: the same language
        elif self.peek() == "+":
            raise self.error("possessive repeats", start)
        return Repeat(node, lo, hi)

    def escape(self, *, in_class: bool) -> CharSet:
        start = self.i
        c = self.peek(1)
        self.i += 2
        if c in _CATEGORIES:
            return CharSet(categories=c)
        if c in _SIMPLE_ESCAPES:
            return CharSet(chars=_SIMPLE_ESCAPES[c])
        if c == "b" and in_class:
            return CharSet(chars="\b")
        if c in _HEX_ESCAPES:
            digits = self.p[self.i : self.i + _HEX_ESCAPES[c]]
            self.i += len(digits)
            return CharSet(chars=chr(int(digits, 16)))
        if c == "N":
            end = self.p.index("}", self.i)
            name = self.p[self.i + 1 : end]
            self.i = end + 1
            return CharSet(chars=unicodedata.lookup(name))
        if c == "0":
            octal = re.match(r"[0-7]{0,2}", self.p[self.i :])
            assert octal is not None  # {0,2} always matches
            self.i += octal.end()
            return CharSet(chars=chr(int("0" + octal.group(), 8)))
        if c.isdigit():
            raise self.error("back-references or octal escapes", start)
        if c in "bBAZ":
            raise self.error(f"the anchor \\{c}", start)
        return CharSet(chars=c)  # escaped punctuation is itself (re refuses unknown letters)

    def char_class(self) -> CharSet:
        self.i += 1
        negate = self.peek() == "^"
        if negate:
            self.i += 1
        chars: list[str] = []
        ranges: list[tuple[int, int]] = []
        categories = ""
        first = True
        while first or self.peek() != "]":
            first = False
            item = self.class_item()
            if isinstance(item, CharSet):  # a category such as \d
                categories += item.categories
                continue
            if self.peek() == "-" and self.peek(1) not in ("]", ""):
                self.i += 1
                hi = self.class_item()
                assert isinstance(hi, str)  # re refuses a range that ends in a category
                ranges.append((ord(item), ord(hi)))
            else:
                chars.append(item)
        self.i += 1  # the "]"
        return CharSet(
            chars="".join(chars), ranges=tuple(ranges), categories=categories, negate=negate
        )

    def class_item(self) -> str | CharSet:
        """One character of a class, or a category escape."""
        if self.peek() == "\\":
            got = self.escape(in_class=True)
            return got if got.categories else got.chars
        if self.p.startswith("[:", self.i):
            raise self.error("POSIX classes such as [:alpha:]")
        c = self.peek()
        self.i += 1
        return c


def parse_regex(pattern: str) -> Node:
    """Parse ``pattern`` into an AST of :class:`CharSet`, :class:`Concat`,
    :class:`Alternation` and :class:`Repeat` nodes (groups leave no node of their own).

    Raises :class:`~surprisal.errors.SurprisalError` for invalid patterns and for syntax
    outside the supported subset, naming its position.

    >>> parse_regex("(a|b){2,}")
    Repeat(item=Alternation(options=(CharSet(chars='a'), CharSet(chars='b'))), lo=2, hi=None)
    >>> parse_regex("a(?=b)")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    surprisal.errors.SurprisalError: regex() ... look-arounds (at position 1 of 'a(?=b)'); ...
    """
    if not isinstance(pattern, str):
        raise TypeError(f"regex() expects the pattern as a str, got {type(pattern).__name__}")
    try:
        re.compile(pattern)
    except re.error as err:
        raise SurprisalError(f"invalid regular expression {pattern!r}: {err}") from None
    return _Parser(pattern).parse()


def _literals(node: Node, out: dict[str, None]) -> None:
    """Collect the characters a pattern names literally (alphabet inference)."""
    if isinstance(node, CharSet):
        if node.needs_alphabet:
            raise SurprisalError(
                "cannot infer the alphabet of a pattern that uses '.', negated classes or "
                "categories such as \\d; pass alphabet=[...] explicitly"
            )
        out.update(dict.fromkeys(node.chars))
        for lo, hi in node.ranges:
            if hi - lo >= _MAX_INFERRED_RANGE:
                raise SurprisalError(
                    f"cannot infer the alphabet from the range {chr(lo)!r}-{chr(hi)!r} (more "
                    f"than {_MAX_INFERRED_RANGE} characters); pass alphabet=[...] explicitly"
                )
            out.update(dict.fromkeys(chr(c) for c in range(lo, hi + 1)))
    elif isinstance(node, Repeat):
        _literals(node.item, out)
    else:
        for child in node.items if isinstance(node, Concat) else node.options:
            _literals(child, out)


# --------------------------------------------------------------------------------------
# AST -> NFA -> DFA
# --------------------------------------------------------------------------------------


class _NFA:
    """Thompson NFA over the characters of an alphabet; ``build`` returns (start, accept)."""

    def __init__(self, alphabet: Symbols) -> None:
        self.alphabet = alphabet
        self.eps: list[list[int]] = []
        self.edges: list[list[tuple[frozenset[str], int]]] = []

    def state(self) -> int:
        if len(self.eps) >= _MAX_NFA_STATES:
            raise SurprisalError(
                "the regex expands to too many automaton states (large {m,n} repeats?); "
                "simplify it or use predicate()"
            )
        self.eps.append([])
        self.edges.append([])
        return len(self.eps) - 1

    def build(self, node: Node) -> tuple[int, int]:
        if isinstance(node, CharSet):
            s, e = self.state(), self.state()
            self.edges[s].append((frozenset(c for c in self.alphabet if node.matches(c)), e))
            return s, e
        if isinstance(node, Concat):
            start = cur = self.state()
            for item in node.items:
                a, b = self.build(item)
                self.eps[cur].append(a)
                cur = b
            return start, cur
        if isinstance(node, Alternation):
            s, e = self.state(), self.state()
            for option in node.options:
                a, b = self.build(option)
                self.eps[s].append(a)
                self.eps[b].append(e)
            return s, e
        return self.repeat(node)

    def repeat(self, node: Repeat) -> tuple[int, int]:
        s = cur = self.state()
        for _ in range(node.lo):  # the required copies
            a, b = self.build(node.item)
            self.eps[cur].append(a)
            cur = b
        e = self.state()
        self.eps[cur].append(e)
        if node.hi is None:  # then a loop
            a, b = self.build(node.item)
            self.eps[cur].append(a)
            self.eps[b].append(a)
            self.eps[b].append(e)
            return s, e
        for _ in range(node.hi - node.lo):  # then optional copies, each may stop
            a, b = self.build(node.item)
            self.eps[cur].append(a)
            self.eps[b].append(e)
            cur = b
        return s, e

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


def _subset_construction(nfa: _NFA, start: int, accept: int) -> tuple[list[list[int]], list[bool]]:
    """The DFA of ``nfa``: ``delta[state][symbol index]`` and ``final[state]``; state 0 starts."""
    first = nfa.closure([start])
    index = {first: 0}
    todo = [first]
    delta: list[list[int]] = []
    final: list[bool] = []
    while todo:
        cur = todo.pop(0)
        final.append(accept in cur)
        row = []
        for c in nfa.alphabet:
            nxt = nfa.closure(t for q in cur for cs, t in nfa.edges[q] if c in cs)
            if nxt not in index:
                if len(index) >= _MAX_DFA_STATES:
                    raise SurprisalError(
                        "the regex needs too many DFA states to sample; simplify it or use "
                        "predicate()"
                    )
                index[nxt] = len(index)
                todo.append(nxt)
            row.append(index[nxt])
        delta.append(row)
    return delta, final


# --------------------------------------------------------------------------------------
# The grammar
# --------------------------------------------------------------------------------------


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
        tree = parse_regex(pattern)
        if alphabet is None:
            lits: dict[str, None] = {}
            _literals(tree, lits)
            if not lits:
                raise SurprisalError(
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
        self._re = re.compile(pattern)
        nfa = _NFA(self._alphabet)
        start, accept = nfa.build(tree)
        self._delta, self._final = _subset_construction(nfa, start, accept)
        self._ways: list[list[int]] = [[1 if f else 0 for f in self._final]]
        self._pool_cache: dict[int, list[Symbols] | None] = {}

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
        if self._count(length) > POOL_LIMIT:
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
            j = weighted_index(rng, cums)
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
    the supported syntax (and :func:`parse_regex` for the parser).

    >>> g = regex(r"(ab)+", name="abn")
    >>> g.alphabet, g.accepts("abab"), g.accepts("aba")
    (('a', 'b'), True, False)
    >>> regex(r"\\d\\d", alphabet="0123456789").count(2)
    100
    """
    return RegexGrammar(
        pattern, alphabet=alphabet, name=name, explanation=explanation, control=control
    )
