"""Context-free grammars: :func:`cfg` and :class:`CFGGrammar` (membership by lark).

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
overcounts the strings of an ambiguous grammar, so :meth:`~surprisal.grammar.Grammar.count` is
exact by one of two routes: the distinct strings are enumerated when there are at most 2**18
derivations, or the derivation count is returned when the grammar was declared
``unambiguous=True`` (all zoo CFGs are unambiguous). Counting costs about
(rules x length^2) big-integer operations per length and sampling recurses up to ``length``
calls deep, so lengths up to a few hundred symbols are practical.

>>> g = cfg('S -> "(" S ")" S | ', name="dyck1")
>>> g.accepts("(()())"), g.accepts(")(")
(True, False)
>>> sorted(g.sample(3, min_len=2, max_len=4))
['(())', '()', '()()']
>>> [g.count(n) for n in range(0, 9, 2)]
[1, 1, 2, 5, 14]
"""

from __future__ import annotations

import itertools
import random
import re
from collections.abc import Iterator
from typing import Any

import lark
from lark.exceptions import GrammarError, UnexpectedInput
from lark.lexer import Lexer, Token

from ..errors import SurprisalError
from .base import Grammar
from .sampling import POOL_LIMIT, Symbols, weighted_index

__all__ = ["CFGGrammar", "cfg"]

_COUNT_ENUM_LIMIT = 2**18  # count(): enumerate distinct CFG strings up to this many derivations
_MAX_VARIANTS = 4096  # epsilon-removal variants of one rule

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
            raise SurprisalError(
                f"CFG line {lineno}: unexpected character {text!r} in {line.strip()!r}; expected "
                'quoted terminals ("a" or \'a\'), nonterminal names, "->", "|" or a # comment'
            )
        if kind in ("dq", "sq"):
            if len(text) == 2:
                raise SurprisalError(
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
        raise TypeError(f"cfg() expects the grammar as a str, got {type(text).__name__}")
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
                raise SurprisalError(
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
            raise SurprisalError(
                f"CFG line {lineno}: cannot read {line.strip()!r}; expected a rule "
                "'A -> alt1 | alt2' (nonterminal name, '->', alternatives of quoted terminals and "
                "nonterminal names separated by '|'), or a line starting with '|'"
            )
        alt: list[tuple[str, str]] = []
        for i, (kind, value) in enumerate(body):
            if kind == "arrow":
                raise SurprisalError(
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
        raise SurprisalError(
            'CFG text has no rules; expected lines such as \'S -> "(" S ")" S | \' '
            "(the first rule's left-hand side is the start symbol)"
        )
    undefined = sorted(
        {v for alts in rules.values() for alt in alts for k, v in alt if k == "name"} - set(rules)
    )
    if undefined:
        raise SurprisalError(
            f"CFG uses nonterminals with no rule: {undefined}; define them (e.g. "
            f"'{undefined[0]} -> \"x\"') or quote them if they are meant as terminals"
        )
    for name in order:  # drop repeated alternatives, keeping the first occurrence
        rules[name] = list(dict.fromkeys(rules[name]))
    return order, rules, list(terminals)


Rules = list[list[tuple[Item, ...]]]  # [nonterminal][alternative] -> symbols


def _nullable(rules: Rules) -> list[bool]:
    """Which nonterminals derive the empty string (fixed point)."""
    nullable = [False] * len(rules)
    changed = True
    while changed:
        changed = False
        for a, alts in enumerate(rules):
            if not nullable[a] and any(
                all(isinstance(x, int) and nullable[x] for x in alt) for alt in alts
            ):
                nullable[a] = changed = True
    return nullable


def _without_epsilon(rules: Rules, nullable: list[bool], names: list[str]) -> Rules:
    """Every way of dropping nullable nonterminals from each alternative, minus empty ones."""
    eps_free: Rules = []
    for a, alts in enumerate(rules):
        variants: list[tuple[Item, ...]] = []
        for alt in alts:
            spots = [i for i, x in enumerate(alt) if isinstance(x, int) and nullable[x]]
            if 2 ** len(spots) > _MAX_VARIANTS:
                raise SurprisalError(
                    f"CFG rule for {names[a]!r} has {len(spots)} nullable "
                    "nonterminals in one alternative; split it into smaller rules"
                )
            for drop in itertools.product((False, True), repeat=len(spots)):
                dropped = {s for s, d in zip(spots, drop, strict=True) if d}
                v = tuple(x for i, x in enumerate(alt) if i not in dropped)
                if v:
                    variants.append(v)
        eps_free.append(list(dict.fromkeys(variants)))
    return eps_free


def _without_units(rules: Rules) -> Rules:
    """A gets the non-unit alternatives of every B with A =>* B (unit rules removed)."""

    def is_unit(alt: tuple[Item, ...]) -> bool:
        return len(alt) == 1 and isinstance(alt[0], int)

    final: Rules = []
    for a in range(len(rules)):
        closure = [a]
        for b in closure:
            for alt in rules[b]:
                if is_unit(alt) and alt[0] not in closure:
                    closure.append(int(alt[0]))
        merged = [alt for b in closure for alt in rules[b] if not is_unit(alt)]
        final.append(list(dict.fromkeys(merged)))
    return final


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
            raise SurprisalError(
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
                raise SurprisalError(f"lark could not compile the CFG: {err}") from err
            self._parser_kind = "earley"

    def _oracle(self, syms: Symbols) -> bool:
        try:
            self._lark.parse(syms)  # type: ignore[arg-type]
        except UnexpectedInput:
            return False
        return True

    # ---- counting -----------------------------------------------------------------------

    def _prepare_counting(self) -> None:
        """Compile the rules for counting: no epsilon rules, no unit rules."""
        k = len(self._rules)
        nullable = _nullable(self._rules)
        self._start_nullable = nullable[0]
        eps_free = _without_epsilon(self._rules, nullable, self._nt_names)
        self._crules = _without_units(eps_free)
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
        raise SurprisalError(
            f"cannot count the members of length {length} of grammar {self._name!r} exactly: it "
            f"has {d} derivations of that length (more than {_COUNT_ENUM_LIMIT} to enumerate) and "
            "was not declared unambiguous, so derivations may overcount strings; if every string "
            "has one parse tree, build it with cfg(..., unambiguous=True)"
        )

    def _capacity(self, length: int) -> int | None:
        d = self._derivations(length)
        if d == 0 or self._unambiguous or length == 0:
            return d
        if d <= POOL_LIMIT:
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
            self._pool_cache[length] = self._all_strings(length) if d <= POOL_LIMIT else None
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
        r = weighted_index(rng, cums)
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
                m = ms[weighted_index(rng, wc)]
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
    it enumerates, which is limited to 2**18 derivations). Raises ``SurprisalError`` on text that
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
    surprisal.errors.SurprisalError: CFG line 2: unexpected character '=' in 'S => "c"'; ...
    """
    return CFGGrammar(
        text,
        name=name,
        separator=separator,
        explanation=explanation,
        control=control,
        unambiguous=unambiguous,
    )
