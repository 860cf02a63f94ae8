"""Tests for the grammar kinds (base, context_free, regular, predicates) and the catalog.

Pure Python, no torch use."""

from __future__ import annotations

import itertools
import re
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from surprisal.errors import SurprisalError
from surprisal.grammar import (
    EDIT_KINDS,
    Grammar,
    MinimalPair,
    Negative,
    cfg,
    predicate,
    regex,
)
from surprisal.grammar.catalog import ZOO_NAMES, zoo

# ----------------------------------------------------------------------------------------
# Hand-written membership cases
# ----------------------------------------------------------------------------------------

CASES: dict[str, tuple[list[str], list[str]]] = {
    "dyck1": (
        ["", "()", "(())", "()()", "(())()", "((()())())"],
        [")(", "(()", "())", "(", ")", "())(()", "(((", "x", "( )"],
    ),
    "dyck2": (
        ["", "()", "[]", "([])", "[()]()", "[[]]([])", "()[]"],
        ["([)]", "(]", "[)", "((", "][", "[(])", "[", "{}"],
    ),
    "anbn": (
        ["ab", "aabb", "aaabbb", "a" * 9 + "b" * 9],
        ["", "a", "b", "ba", "aab", "abb", "abab", "aabbab", "aaabb"],
    ),
    "palindromes": (
        ["a", "b", "aa", "bb", "aba", "abba", "babab", "aabbaa", "abaaba"],
        ["", "ab", "ba", "abb", "aab", "abab", "aabb", "abc"],
    ),
    "abn": (
        ["ab", "abab", "ababab"],
        ["", "a", "b", "ba", "aba", "abba", "abb", "baba", "abab "],
    ),
    "even_parity": (
        ["0", "00", "11", "0110", "1010", "000", "1111", "101101"],
        ["", "1", "10", "01", "010", "111", "0111", "2"],
    ),
    "english": (
        [
            "the dog sleeps",
            "a cat runs",
            "every child laughs",
            "the big dog sees a cat",
            "a small red bird chases every happy child",
            "the dog near the tree sleeps",
            "the cat with a bird under the tree likes every dog near a child",
        ],
        [
            "",
            "dog sleeps",
            "the dog",
            "the sleeps",
            "the dog sleeps the cat",
            "the dog sees",
            "the big sleeps",
            "the dog near sleeps",
            "the dog sleeps near the tree",
            "the  dog sleeps",
            "The dog sleeps",
            "the dog sleeps.",
        ],
    ),
}


def test_zoo_names_and_types() -> None:
    assert set(ZOO_NAMES) == set(CASES)
    assert tuple(zoo) == ZOO_NAMES
    for name in ZOO_NAMES:
        g = zoo[name]
        assert isinstance(g, Grammar)
        assert g.name == name
    assert zoo["english"].separator == " "
    assert zoo["dyck1"].separator == ""
    with pytest.raises(KeyError, match="available: dyck1"):
        zoo["nope"]


@pytest.mark.parametrize("name", ZOO_NAMES)
def test_zoo_membership_cases(name: str) -> None:
    g = zoo[name]
    good, bad = CASES[name]
    for text in good:
        assert g.accepts(text), (name, text)
        assert g.accepts(g.tokenize(text)), (name, text)
        assert g.accepts(list(g.tokenize(text))), (name, text)
    for text in bad:
        assert not g.accepts(text), (name, text)


@pytest.mark.parametrize("name", ZOO_NAMES)
def test_explanation_and_control(name: str) -> None:
    g = zoo[name]
    assert 150 < len(g.explanation) < 700
    n_sentences = len(re.findall(r"[.!?](\s|$)", g.explanation))
    assert 2 <= n_sentences <= 5, g.explanation
    ratio = len(g.control) / len(g.explanation)
    assert 0.8 <= ratio <= 1.2, ratio
    assert g.control != g.explanation


def test_zoo_parsers() -> None:
    # conflict-free grammars get the fast deterministic LALR recognizer, palindromes Earley
    assert zoo["dyck1"].parser == "lalr"  # type: ignore[attr-defined]
    assert zoo["english"].parser == "lalr"  # type: ignore[attr-defined]
    assert zoo["palindromes"].parser == "earley"  # type: ignore[attr-defined]


# ----------------------------------------------------------------------------------------
# Exact counts against brute force
# ----------------------------------------------------------------------------------------

BRUTE_MAX = {
    "dyck1": 10,
    "dyck2": 6,
    "anbn": 10,
    "palindromes": 7,
    "abn": 10,
    "even_parity": 10,
    "english": 3,
}


def brute_count(g: Grammar, length: int) -> int:
    return sum(g.accepts(s) for s in itertools.product(g.alphabet, repeat=length))


@pytest.mark.parametrize("name", ZOO_NAMES)
def test_count_matches_brute_force(name: str) -> None:
    g = zoo[name]
    for length in range(BRUTE_MAX[name] + 1):
        assert g.count(length) == brute_count(g, length), (name, length)


def test_count_closed_forms() -> None:
    catalan = [1, 1, 2, 5, 14, 42, 132, 429, 1430, 4862, 16796]
    for n in range(11):
        assert zoo["dyck1"].count(2 * n) == catalan[n]
        assert zoo["dyck1"].count(2 * n + 1) == 0
        assert zoo["dyck2"].count(2 * n) == catalan[n] * 2**n
        assert zoo["anbn"].count(2 * n) == (1 if n else 0)
    for n in range(1, 21):
        assert zoo["palindromes"].count(n) == 2 ** ((n + 1) // 2)
        assert zoo["even_parity"].count(n) == 2 ** (n - 1)
        assert zoo["abn"].count(n) == (1 if n % 2 == 0 else 0)


def test_english_counts_are_exact_by_enumeration() -> None:
    # The english CFG is declared unambiguous: derivation counts must equal distinct strings.
    g = zoo["english"]
    for length in range(3, 7):
        strings = g._all_strings(length)  # type: ignore[attr-defined]
        assert len(strings) == len(set(strings)) == g.count(length)
        assert all(g.accepts(s) for s in strings[:: max(1, len(strings) // 200)])
    assert g.count(3) == 3 * 5 * 3  # Det N Vi


def test_count_ambiguous_cfg_is_exact() -> None:
    g = cfg('S -> S S | "a" | "b"')  # massively ambiguous: Catalan many derivations
    for n in range(1, 9):
        assert g.count(n) == 2**n
    assert g.parser == "earley"
    u = cfg('S -> A | "a"\nA -> S | "b"')  # unit cycle
    assert [u.count(n) for n in range(3)] == [0, 2, 0]
    assert u.accepts("a") and u.accepts("b") and not u.accepts("ab")
    with pytest.raises(ValueError, match="unambiguous=True"):
        g.count(40)


def test_count_validation() -> None:
    with pytest.raises(ValueError, match="length must be >= 0"):
        zoo["dyck1"].count(-1)
    with pytest.raises(TypeError, match="length must be an int"):
        zoo["dyck1"].count(2.0)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------------------
# Sampling
# ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ZOO_NAMES)
def test_sample_members_distinct_deterministic(name: str) -> None:
    g = zoo[name]
    total = sum(g.count(n) for n in range(2, 13))
    n = min(60, total)
    a = g.sample(n, min_len=2, max_len=12, seed=7)
    b = g.sample(n, min_len=2, max_len=12, seed=7)
    assert a == b
    assert len(a) == n == len(set(a))
    assert all(g.accepts(x) for x in a)
    assert all(2 <= len(g.tokenize(x)) <= 12 for x in a)
    if total > n + 5:
        assert g.sample(n, min_len=2, max_len=12, seed=8) != a


@pytest.mark.parametrize("name", ZOO_NAMES)
def test_sample_spreads_over_member_lengths(name: str) -> None:
    g = zoo[name]
    lengths = [n for n in range(1, 16) if g.count(n) > 0]
    n = min(200, sum(g.count(n) for n in lengths))
    got = Counter(len(g.tokenize(x)) for x in g.sample(n, 1, 15, seed=3))
    assert set(got) == set(lengths)
    share = n / len(lengths)
    for length in lengths:  # each length gets its even share, or all its members
        assert got[length] >= min(g.count(length), int(share)), (length, got)


def test_sample_exhaustive_and_errors() -> None:
    g = zoo["anbn"]
    assert sorted(g.sample(10, 1, 20), key=len) == ["a" * k + "b" * k for k in range(1, 11)]
    with pytest.raises(ValueError, match="only 10 distinct members"):
        g.sample(11, 1, 20)
    with pytest.raises(ValueError, match="no members with length in \\[3, 3\\]"):
        g.sample(1, 3, 3)
    with pytest.raises(ValueError, match="min_len=5 is greater than max_len=2"):
        g.sample(1, 5, 2)
    with pytest.raises(ValueError, match="n must be >= 0"):
        g.sample(-1)
    assert g.sample(0) == []
    assert zoo["dyck1"].sample(1, 0, 0) == [""]
    # all members of a small range come back, uniformly shuffled
    assert sorted(zoo["dyck2"].sample(10, 1, 4, seed=1)) == sorted(
        ["()", "[]", "(())", "([])", "[()]", "[[]]", "()()", "()[]", "[]()", "[][]"]
    )


def test_sample_many_from_every_zoo_grammar() -> None:
    """Up to 500 strings from every zoo grammar, lengths 2-20: distinct members. (How long
    it takes is the benchmarks' business, not a test's: no wall-clock assertion.)"""
    for name in ZOO_NAMES:
        g = zoo[name]
        n = min(500, sum(g.count(k) for k in range(2, 21)))
        got = g.sample(n, 2, 20, seed=123)
        assert len(got) == len(set(got)) == n, name
        assert all(g.accepts(s) for s in got), name


# ----------------------------------------------------------------------------------------
# Negatives and minimal pairs
# ----------------------------------------------------------------------------------------


def _is_single_edit(good: tuple[str, ...], bad: tuple[str, ...], edit: str) -> bool:
    if edit == "substitute":
        return len(good) == len(bad) and sum(x != y for x, y in zip(good, bad, strict=True)) == 1
    if edit == "insert":
        return any(bad[:i] + bad[i + 1 :] == good for i in range(len(bad)))
    if edit == "delete":
        return any(good[:i] + good[i + 1 :] == bad for i in range(len(good)))
    if edit == "swap":
        return any(
            good[i] != good[i + 1] and (*good[:i], good[i + 1], good[i], *good[i + 2 :]) == bad
            for i in range(len(good) - 1)
        )
    return False


@pytest.mark.parametrize("name", ZOO_NAMES)
def test_minimal_pairs(name: str) -> None:
    g = zoo[name]
    pairs = g.minimal_pairs(40, 2, 12, seed=5)
    assert pairs == g.minimal_pairs(40, 2, 12, seed=5)
    assert len(pairs) == 40 == len(set(pairs))
    for p in pairs:
        assert isinstance(p, MinimalPair)
        assert p.edit in EDIT_KINDS
        assert g.accepts(p.good) and not g.accepts(p.bad)
        assert _is_single_edit(g.tokenize(p.good), g.tokenize(p.bad), p.edit), p


@pytest.mark.parametrize("name", ZOO_NAMES)
@pytest.mark.parametrize("kind", ["edit", "random"])
def test_negatives(name: str, kind: str) -> None:
    g = zoo[name]
    negs = g.negatives(40, 2, 12, seed=2, kind=kind)
    assert negs == g.negatives(40, 2, 12, seed=2, kind=kind)
    texts = [x.text for x in negs]
    assert len(texts) == 40 == len(set(texts))
    for x in negs:
        assert isinstance(x, Negative)
        assert x.kind == kind
        assert (x.edit in EDIT_KINDS) if kind == "edit" else (x.edit == "")
        assert not g.accepts(x.text)
        assert 2 <= len(g.tokenize(x.text)) <= 12


def test_random_negatives_are_length_matched() -> None:
    negs = zoo["anbn"].negatives(30, 1, 9, kind="random")
    assert {len(x.text) for x in negs} == {2, 4, 6, 8}  # the member lengths only


def test_negative_errors() -> None:
    everything = regex("[ab]*")
    with pytest.raises(ValueError, match="single-edit non-members"):
        everything.negatives(1, 1, 3)
    with pytest.raises(ValueError, match="random non-members"):
        everything.negatives(1, 1, 3, kind="random")
    with pytest.raises(ValueError, match="minimal pairs"):
        everything.minimal_pairs(1, 1, 3)
    with pytest.raises(ValueError, match="kind must be 'edit' or 'random'"):
        zoo["dyck1"].negatives(1, kind="other")
    # dyck1 has exactly 2 strings of length 2, "()" a member: 3 random non-members of length 2
    assert sorted(x.text for x in zoo["dyck1"].negatives(3, 2, 2, kind="random")) == [
        "((",
        ")(",
        "))",
    ]
    with pytest.raises(ValueError, match="only 3 exist"):
        zoo["dyck1"].negatives(4, 2, 2, kind="random")


@settings(
    max_examples=6,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    seed=st.integers(0, 10_000),
    min_len=st.integers(1, 8),
    span=st.integers(0, 8),
    n=st.integers(1, 6),
)
def test_property_outputs_are_correct(seed: int, min_len: int, span: int, n: int) -> None:
    max_len = min_len + span
    for name in ZOO_NAMES:
        g = zoo[name]
        total = sum(g.count(k) for k in range(min_len, max_len + 1))
        if total == 0:
            with pytest.raises(ValueError, match="no members"):
                g.sample(n, min_len, max_len, seed=seed)
            continue
        if total < n:
            with pytest.raises(ValueError, match=f"only {total} distinct members"):
                g.sample(n, min_len, max_len, seed=seed)
        else:
            s = g.sample(n, min_len, max_len, seed=seed)
            assert len(set(s)) == n and all(g.accepts(x) for x in s)
            assert all(min_len <= len(g.tokenize(x)) <= max_len for x in s)
        for p in g.minimal_pairs(n, min_len, max_len, seed=seed):
            assert g.accepts(p.good) and not g.accepts(p.bad)
        for kind in ("edit", "random"):
            try:
                negs = g.negatives(n, min_len, max_len, seed=seed, kind=kind)
            except ValueError as err:  # only when the range genuinely runs out
                assert "non-members" in str(err)
                continue
            assert len({x.text for x in negs}) == n
            assert not any(g.accepts(x.text) for x in negs)


# ----------------------------------------------------------------------------------------
# cfg() text format and errors
# ----------------------------------------------------------------------------------------


def test_cfg_format_features() -> None:
    g = cfg(
        """
        # comments and blank lines are ignored
        S -> A B        # a trailing comment
          | 'x'
        A -> "a" |      # epsilon alternative
        B -> "#" | "b"
        S -> "y"        # a second line for S adds alternatives
        """,
        name="feat",
    )
    assert g.name == "feat" and g.kind == "cfg"
    assert g.alphabet == ("x", "a", "#", "b", "y")  # order of first appearance
    for text in ["ab", "b", "a#", "#", "x", "y"]:
        assert g.accepts(text), text
    for text in ["", "a", "ba", "xy"]:
        assert not g.accepts(text), text
    assert g.count(1) == 4 and g.count(2) == 2
    assert g.source is not None and "comments" in g.source


def test_cfg_word_grammar_and_separator() -> None:
    g = cfg('S -> "hello" W\nW -> "world" | "there"')
    assert g.separator == " "
    assert g.tokenize("hello world") == ("hello", "world")
    assert g.render(("hello", "there")) == "hello there"
    assert g.accepts("hello there") and not g.accepts("hellothere")
    with pytest.raises(ValueError, match="word 'planet'"):
        g.tokenize("hello planet")
    with pytest.raises(ValueError, match="empty word"):
        g.tokenize("hello  world")
    with pytest.raises(ValueError, match="separator"):
        cfg('S -> "ab" "c"', separator="")
    dashed = cfg('S -> "ab" "c"', separator="-")
    assert dashed.accepts("ab-c") and dashed.render(("ab", "c")) == "ab-c"


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", "no rules"),
        ("# only a comment", "no rules"),
        ('S -> "a" T', r"no rule: \['T'\]"),
        ('S => "a"', "line 1: unexpected character '='"),
        ('S -> "a"\nS "b"', "line 2: cannot read"),
        ('| "a"', "no rule came before"),
        ('S -> "a" -> "b"', "one rule per line"),
        ('S -> ""', "empty terminal"),
        ("S -> A\nA -> ", "no terminal symbols"),
        ('S -> "a\n', "unexpected character"),
        ("S -> {a}", "unexpected character '{'"),
    ],
)
def test_cfg_parse_errors(text: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        cfg(text)


def test_cfg_empty_language_and_non_str() -> None:
    g = cfg('S -> "a" S')  # no finite derivation: empty language
    assert g.count(3) == 0 and not g.accepts("aaa")
    with pytest.raises(ValueError, match="no members"):
        g.sample(1)
    with pytest.raises(TypeError, match="expects the grammar as a str"):
        cfg(123)  # type: ignore[arg-type]


def test_accepts_foreign_input() -> None:
    g = zoo["dyck1"]
    assert not g.accepts("(x)")
    assert not g.accepts(["(", "x", ")"])
    assert not g.accepts(["()"])
    with pytest.raises(TypeError, match="expects a str or a tuple/list"):
        g.accepts(42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="character 'x' at position 1"):
        g.tokenize("(x)")
    with pytest.raises(ValueError, match="not in the alphabet"):
        g.render(["(", "x"])


# ----------------------------------------------------------------------------------------
# regex() and predicate()
# ----------------------------------------------------------------------------------------

REGEX_CASES: list[tuple[str, str | None]] = [
    ("a|b*", None),
    ("(a|bc)*d?", None),
    ("[a-c]{2,3}", None),
    ("x.y", "xyz"),
    ("[^a]b", "abc"),
    (r"\d+a", "a1b"),
    ("(ab|a)(bc|c)", None),
    ("^(?:ab)*$", None),
    ("a*?b+?", None),
    ("a{0}b", None),
    ("(a|)(b|)", None),
    ("", "ab"),
    ("[ab]{3,}", None),
]


# syntax the regex parser must read as re does
PARSER_CASES: list[tuple[str, str | None]] = [
    (r"a\.b", None),  # escaped punctuation is a literal
    (r"[]a]b", None),  # "]" first in a class is a literal
    ("[a-]+", None),  # "-" last in a class is a literal
    ("[-a]{2}", None),
    ("a{,2}b", None),
    ("a{2}", None),
    ("a{,}b", None),
    ("a{}", None),  # not a repeat: literal braces
    ("a{", None),
    ("(?P<x>ab)|c", None),
    ("((a|b)c)*", None),
    (r"\x61\u0062+", None),
    (r"\N{LATIN SMALL LETTER A}b?", None),
    (r"[\da]b", "0a1b"),
    (r"[^\s]a", "a b"),
    (r"\w\W", "a-1"),
    (r"[\]\\]x", None),
    ("a|", None),
    ("(|a)b", None),
    ("a{1,3}?b{0,1}", None),
    ("(?:)a", None),
    (r"\ta\n", None),
    (r"\0a", None),
    ("a$", None),
    (".a", "a\nb"),
    (r"[\b]a", None),
]


@pytest.mark.parametrize(("pattern", "alphabet"), REGEX_CASES + PARSER_CASES)
def test_regex_counts_and_samples_match_re(pattern: str, alphabet: str | None) -> None:
    g = regex(pattern, alphabet=alphabet)
    for length in range(6):
        strings = ["".join(s) for s in itertools.product(g.alphabet, repeat=length)]
        members = [s for s in strings if re.fullmatch(pattern, s)]
        assert g.count(length) == len(members), (pattern, length)
        assert all(g.accepts(s) == (s in members) for s in strings)
    lengths = [k for k in range(6) if g.count(k)]
    total = sum(g.count(k) for k in lengths)
    if lengths:
        got = g.sample(min(total, 25), min(lengths), max(lengths), seed=1)
        assert all(re.fullmatch(pattern, s) for s in got)


def test_regex_alphabet_and_errors() -> None:
    assert regex("(ab)+").alphabet == ("a", "b")
    assert regex("[c-e]x").alphabet == ("c", "d", "e", "x")
    g = regex("(ab)+", alphabet="abc")
    assert not g.accepts("abc") and g.count(4) == 1
    with pytest.raises(ValueError, match="pass alphabet"):
        regex("a.b")
    with pytest.raises(ValueError, match="invalid regular expression"):
        regex("(ab")
    for pattern, what in [
        (r"(a)\1", "back-references"),
        ("a(?=b)b", "look-arounds"),
        ("(?i)ab", "case-insensitive"),
        ("a^b", "anchors other than"),
        ("a*+b", "possessive repeats"),
    ]:
        with pytest.raises(ValueError, match=what):
            regex(pattern)
    with pytest.raises(ValueError, match="one-character"):
        regex("ab", alphabet=["ab"])


def test_regex_sampling_long_strings() -> None:
    g = regex("(ab)+")
    got = g.sample(50, 1, 100, seed=0)
    assert sorted(got, key=len) == ["ab" * k for k in range(1, 51)]
    assert zoo["even_parity"].count(200) == 2**199


def test_predicate_grammar() -> None:
    pal = predicate(lambda s: s == s[::-1], alphabet=["a", "b"], name="pal")
    assert pal.kind == "predicate" and pal.source is None
    assert [pal.count(n) for n in range(1, 8)] == [zoo["palindromes"].count(n) for n in range(1, 8)]
    s = pal.sample(20, 1, 6, seed=4)
    assert s == pal.sample(20, 1, 6, seed=4)
    assert len(set(s)) == 20 and all(x == x[::-1] for x in s)
    for p in pal.minimal_pairs(10, 2, 6):
        assert p.good == p.good[::-1] and p.bad != p.bad[::-1]
    with pytest.raises(ValueError, match="cannot count"):
        pal.count(21)


def test_predicate_with_sampler_and_words() -> None:
    def fn(s: tuple[str, ...]) -> bool:
        k = len(s) // 2
        return len(s) % 2 == 0 and len(s) > 0 and s == ("x",) * k + ("y",) * k

    def sampler(rng: object, length: int) -> tuple[str, ...] | None:
        return ("x",) * (length // 2) + ("y",) * (length // 2) if length % 2 == 0 else None

    g = predicate(fn, alphabet=["x", "y", "zz"], sampler=sampler, separator=" ")
    got = g.sample(5, 2, 40, seed=0)  # long lengths need the sampler
    assert len(got) == 5 and all(g.accepts(t) for t in got)
    assert g.accepts("x y") and not g.accepts("x zz")
    assert g.negatives(5, 2, 10, kind="random")
    with pytest.raises(ValueError, match="pass a sampler"):
        predicate(fn, alphabet=["x", "y", "zz"], separator=" ").sample(5, 30, 40)
    with pytest.raises(ValueError, match="repeated symbols"):
        predicate(fn, alphabet=["x", "x"])
    with pytest.raises(ValueError, match="alphabet is empty"):
        predicate(fn, alphabet=[])


# ----------------------------------------------------------------------------------------
# The regex parser (grammar.regular): agrees with re on the subset it accepts
# ----------------------------------------------------------------------------------------


def test_regex_parser_infers_the_alphabet() -> None:
    assert regex(r"[]a]b").alphabet == ("]", "a", "b")
    assert regex(r"\x61\u0062+").alphabet == ("a", "b")
    assert regex("a{}").alphabet == ("a", "{", "}")
    assert regex(r"a\.b").alphabet == (".", "a", "b")


_ATOMS = st.sampled_from(["a", "b", "c", "[ab]", "[^a]", ".", r"\.", "[a-c]", "(?:)"])


def _pattern(depth: int) -> st.SearchStrategy[str]:
    if depth == 0:
        return _ATOMS
    sub = _pattern(depth - 1)
    suffix = st.sampled_from(["", "*", "+", "?", "{2}", "{,2}", "{1,}", "{0,2}", "*?"])
    return st.one_of(
        _ATOMS,
        st.builds(lambda x, s: f"({x}){s}", sub, suffix),
        st.builds(lambda x, y: x + y, sub, sub),
        st.builds(lambda x, y: f"{x}|{y}", sub, sub),
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pattern=_pattern(3))
def test_regex_counts_match_re_on_random_patterns(pattern: str) -> None:
    """Counting on the DFA built from our AST agrees with re.fullmatch, string by string."""
    g = regex(pattern, alphabet="abc.")
    for length in range(4):
        strings = ["".join(s) for s in itertools.product(g.alphabet, repeat=length)]
        assert g.count(length) == sum(bool(re.fullmatch(pattern, s)) for s in strings), (
            pattern,
            length,
        )


@pytest.mark.parametrize(
    ("pattern", "what", "pos"),
    [
        (r"ab(c)\1", "back-references", 5),
        ("a(?!b)", "look-arounds", 1),
        ("a(?<=a)", "look-arounds", 1),
        ("(?>a)", "atomic groups", 0),
        ("a(?#note)", "comments", 1),
        ("(a)(?(1)b|c)", "conditional groups", 3),
        ("a(?s:.)", "inline flags", 1),
        (r"a\b", "anchor", 1),
        (r"\Aa", "anchor", 0),
        ("ab^", "anchors other than", 2),
        ("a$b", "anchors other than", 1),
        ("ab+?c++", "possessive repeats", 5),
    ],
)
def test_regex_unsupported_syntax_names_its_position(pattern: str, what: str, pos: int) -> None:
    with pytest.raises(SurprisalError, match=f"{what}.*at position {pos} of"):
        regex(pattern)


def test_regex_type_and_value_errors() -> None:
    with pytest.raises(TypeError, match="pattern as a str"):
        regex(b"ab")  # type: ignore[arg-type]
    with pytest.raises(SurprisalError, match="invalid regular expression"):
        regex("a{2,1}")
    with pytest.raises(SurprisalError, match="names no characters"):
        regex("(?:)")


def test_wrong_types_raise_type_error() -> None:
    with pytest.raises(TypeError, match="separator must be a str"):
        predicate(lambda s: True, alphabet="ab", separator=None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="symbol must be a str"):
        predicate(lambda s: True, alphabet=["a", 1])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="iterable of str"):
        predicate(lambda s: True, alphabet=3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="callable"):
        predicate("not callable", alphabet="ab")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="sampler must be"):
        predicate(lambda s: True, alphabet="ab", sampler=3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="needs alphabet"):
        predicate(lambda s: True, alphabet=None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="tokenize expects a str"):
        zoo["dyck1"].tokenize(["("])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="n must be an int"):
        zoo["dyck1"].sample("3")  # type: ignore[arg-type]
    with pytest.raises(SurprisalError, match="non-empty str"):
        predicate(lambda s: True, alphabet=["a", ""])


def test_modules_are_not_shadowed_by_functions() -> None:
    import importlib
    import pkgutil
    import types

    import surprisal.grammar as pkg
    import surprisal.grammar.discriminate as m

    for info in pkgutil.iter_modules(pkg.__path__):  # every module is reachable as itself
        importlib.import_module(f"surprisal.grammar.{info.name}")
        assert isinstance(getattr(pkg, info.name), types.ModuleType), info.name

    assert m.Membership is pkg.Membership and callable(m.membership)
    public = set(pkg.__all__)
    modules = {n for n in dir(pkg) if isinstance(getattr(pkg, n), types.ModuleType)}
    assert not public & modules, public & modules
    assert {"membership", "generation", "zoo", "cfg", "regex", "predicate"} <= public
