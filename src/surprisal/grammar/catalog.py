"""A zoo of small formal languages for membership experiments with language models.

``zoo`` is a read-only mapping from a name to a :class:`~surprisal.grammar.Grammar`;
``ZOO_NAMES`` lists the names in a fixed order. Every zoo grammar carries an
``explanation`` — a short natural-language description precise enough to decide membership —
and a ``control`` — a text of about the same length (within 20% in characters) about
something irrelevant (weather, cooking, ...), for "explained vs. unexplained" comparisons.

=============== ======= ============================================================
name            type    language
=============== ======= ============================================================
``dyck1``       CFG     balanced round brackets ``( )``, including the empty string
``dyck2``       CFG     balanced, properly nested ``( )`` and ``[ ]``, including empty
``anbn``        CFG     ``a^n b^n`` for n >= 1
``palindromes`` CFG     non-empty palindromes over ``{a, b}``
``abn``         regex   ``(ab)^n`` for n >= 1
``even_parity`` regex   non-empty strings over ``{0, 1}`` with an even number of 1s
``english``     CFG     a 21-word English fragment (word-level, separator ``" "``)
=============== ======= ============================================================

All zoo CFGs are unambiguous (declared with ``unambiguous=True``), so their
:meth:`~surprisal.grammar.Grammar.count` is exact at every length and sampling is
uniform within each length.

>>> from surprisal.grammar.catalog import zoo, ZOO_NAMES
>>> ZOO_NAMES[:3]
('dyck1', 'dyck2', 'anbn')
>>> zoo["dyck2"].accepts("([])[]"), zoo["dyck2"].accepts("([)]")
(True, False)
>>> zoo["english"].accepts("the big dog near a tree chases every cat")
True
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import overload

from ..errors import SurprisalError
from .base import Grammar
from .context_free import cfg
from .regular import regex

__all__ = ["ZOO_NAMES", "resolve_grammar", "zoo"]

_ENGLISH = """
# A small English fragment: 21 words, no punctuation, singular agreement only.
S    -> NP VP
NP   -> Det Nom | Det Nom PP
Nom  -> N | Adj Nom
PP   -> P NP
VP   -> Vi | Vt NP
Det  -> "the" | "a" | "every"
Adj  -> "big" | "small" | "red" | "happy"
N    -> "dog" | "cat" | "bird" | "child" | "tree"
P    -> "near" | "with" | "under"
Vi   -> "sleeps" | "runs" | "laughs"
Vt   -> "sees" | "chases" | "likes"
"""


def _build() -> dict[str, Grammar]:
    return {
        "dyck1": cfg(
            'S -> "(" S ")" S | ',
            name="dyck1",
            unambiguous=True,
            explanation=(
                "The strings consist only of the characters '(' and ')', and the brackets must "
                "be balanced. Read the string from left to right while keeping a counter that "
                "goes up by one at '(' and down by one at ')': the counter must never drop below "
                "zero and must end at exactly zero. The empty string counts as balanced."
            ),
            control=(
                "Bread dough rises best in a warm kitchen, away from drafts and open windows. "
                "Bakers often cover the bowl with a damp towel and wait until the dough has "
                "roughly doubled in size, which can take an hour or two. A cooler room slows "
                "the rise but can give the loaf a deeper flavor."
            ),
        ),
        "dyck2": cfg(
            'S -> "(" S ")" S | "[" S "]" S | ',
            name="dyck2",
            unambiguous=True,
            explanation=(
                "The strings consist only of the brackets '(', ')', '[' and ']', and they must "
                "be properly nested. Every opening bracket is closed later by a closing bracket "
                "of the same kind, and brackets may not cross: when a closing bracket appears, "
                "it must match the most recent opening bracket that is still open. So '([])' is "
                "fine but '([)]' is not. The empty string counts as well nested."
            ),
            control=(
                "Morning fog often forms in river valleys after a clear, calm night, when the "
                "ground loses heat quickly and cools the air just above it. As the sun climbs, "
                "the fog usually thins from the edges and lifts into a low layer of cloud before "
                "it disappears. Drivers are advised to use low beams, because high beams reflect "
                "off the droplets. Coastal fog behaves differently."
            ),
        ),
        "anbn": cfg(
            'S -> "a" S "b" | "a" "b"',
            name="anbn",
            unambiguous=True,
            explanation=(
                "The strings consist of one or more 'a' characters followed by exactly the same "
                "number of 'b' characters. All the a's come first and all the b's come after "
                "them, with no mixing. For example 'ab', 'aabb' and 'aaabbb' belong, while "
                "'aab', 'abab' and the empty string do not."
            ),
            control=(
                "A good vegetable soup starts with onions, carrots and celery softened slowly "
                "in olive oil. Stock is added once they are tender, followed by potatoes and "
                "beans, and everything simmers gently for about half an hour. Fresh herbs and "
                "a squeeze of lemon just before serving brighten it."
            ),
        ),
        "palindromes": cfg(
            'P -> "a" P "a" | "b" P "b" | "a" | "b" | "a" "a" | "b" "b"',
            name="palindromes",
            unambiguous=True,
            explanation=(
                "The strings are non-empty sequences of the characters 'a' and 'b' that read "
                "the same forwards and backwards. The first character equals the last, the "
                "second equals the second to last, and so on towards the middle. Both odd and "
                "even lengths are allowed, so 'a', 'abba' and 'babab' belong but 'ab' does not."
            ),
            control=(
                "Spring showers in the hills usually arrive in the early afternoon, when warm "
                "air rising from the valleys meets cooler air above the ridges. The rain tends "
                "to be short but heavy, and the sky often clears again before evening. Hikers "
                "are wise to start early and carry a light jacket in their bag."
            ),
        ),
        "abn": regex(
            r"(ab)+",
            name="abn",
            explanation=(
                "The strings consist of the two-character block 'ab' repeated one or more "
                "times, and nothing else. So 'ab', 'abab' and 'ababab' belong. Every string "
                "starts with 'a', ends with 'b', alternates between the two letters, and has "
                "even length; the empty string does not belong."
            ),
            control=(
                "Tomatoes ripen best on the vine in full sun, but picked fruit will keep "
                "ripening on a kitchen counter. Storing them in the fridge dulls their flavor "
                "and makes the flesh mealy. For sauces, very ripe or even slightly soft "
                "tomatoes are perfectly good choices."
            ),
        ),
        "even_parity": regex(
            r"(0|10*1)+",
            name="even_parity",
            explanation=(
                "The strings are non-empty sequences of the digits '0' and '1' in which the "
                "digit '1' occurs an even number of times (zero, two, four, and so on). The "
                "number of zeros and the positions of the digits do not matter. So '0', '11' "
                "and '0110' belong, while '1', '010' and the empty string do not."
            ),
            control=(
                "Autumn winds along the coast often pick up in the late afternoon, when the "
                "land cools faster than the sea. Sailors watch the clouds over the headland "
                "for an early sign of a change. By nightfall the gusts usually calm down, and "
                "the harbor becomes quiet again."
            ),
        ),
        "english": cfg(
            _ENGLISH,
            name="english",
            unambiguous=True,
            explanation=(
                "Each string is a simple English sentence: a noun phrase followed by a verb "
                "phrase, with words separated by single spaces and no punctuation or capitals. "
                "A noun phrase is a determiner (the, a, every), any number of adjectives (big, "
                "small, red, happy), and a noun (dog, cat, bird, child, tree), optionally "
                "followed by a preposition (near, with, under) and another noun phrase. A verb "
                "phrase is an intransitive verb (sleeps, runs, laughs) on its own, or a "
                "transitive verb (sees, chases, likes) followed by a noun phrase."
            ),
            control=(
                "Making a good cup of tea depends mostly on the water and the timing. Fresh, "
                "cold water should be brought just to the boil for black tea, but allowed to "
                "cool a little for green or white tea, which turn bitter when scalded. Black "
                "tea usually steeps for three to five minutes, green tea for two or three. A "
                "warmed pot keeps the temperature steady, and milk, if used, is a matter of "
                "taste rather than rule. Loose leaves need room to unfold, so a roomy "
                "infuser works better than a small ball."
            ),
        ),
    }


class _Zoo(Mapping[str, Grammar]):
    """A read-only ``name -> Grammar`` mapping whose ``KeyError`` lists the known names.

    >>> len(zoo) == len(ZOO_NAMES)
    True
    """

    def __init__(self, grammars: dict[str, Grammar]) -> None:
        self._grammars = dict(grammars)

    def __getitem__(self, name: str) -> Grammar:
        try:
            return self._grammars[name]
        except KeyError:
            raise KeyError(
                f"no zoo grammar named {name!r}; available: {', '.join(self._grammars)}"
            ) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._grammars)

    def __len__(self) -> int:
        return len(self._grammars)

    def __repr__(self) -> str:
        return f"<grammar zoo: {', '.join(self._grammars)}>"


#: The zoo grammars by name (read-only mapping).
zoo: Mapping[str, Grammar] = _Zoo(_build())

#: The zoo names in a fixed order.
ZOO_NAMES: tuple[str, ...] = tuple(zoo)


@overload
def resolve_grammar(grammar: Grammar | str) -> Grammar: ...
@overload
def resolve_grammar(grammar: None) -> None: ...
def resolve_grammar(grammar: Grammar | str | None) -> Grammar | None:
    """A :class:`Grammar` from what a caller gave: a Grammar, a zoo name, or None (kept).

    >>> resolve_grammar("dyck1") is zoo["dyck1"]
    True

    Raises:
        SurprisalError: an unknown zoo name (the message lists the known ones).
        TypeError: anything else.
    """
    if grammar is None or isinstance(grammar, Grammar):
        return grammar
    if isinstance(grammar, str):
        if grammar not in zoo:
            raise SurprisalError(
                f"no zoo grammar named {grammar!r}; give one of {', '.join(ZOO_NAMES)}, or a "
                "Grammar (grammar.cfg(...), grammar.regex(...), grammar.predicate(...))"
            )
        return zoo[grammar]
    raise TypeError(
        f"grammar must be a Grammar (grammar.cfg(...), grammar.regex(...), grammar.zoo[name]) "
        f"or a zoo name, got {type(grammar).__name__}"
    )
