"""What the grammar experiments put around strings: the end marker and the conditions.

Both :func:`~surprisal.grammar.membership` and :func:`~surprisal.grammar.generation` end each
string with an *end marker* (a newline by default, or the tokenizer's EOS token) and compare
the conditions of a :class:`~surprisal.conditions.Conditions` (none, explanation, control,
few-shot examples drawn from the grammar, each followed by the end marker).

>>> from surprisal import grammar
>>> c = grammar_conditions(grammar.zoo["anbn"], explanation="a^n b^n.", shots=2,
...                        end_text="\\n", exclude=set(), min_len=2, max_len=4, seed=0)
>>> c.names, sorted(c.shots)
(('none', 'explanation', 'shots'), ['aabb', 'ab'])
"""

from __future__ import annotations

from ..conditions import Conditions
from ..errors import SurprisalError
from ..lm import LM
from .base import Grammar, check_int


def end_marker(lm: LM, end: str) -> str:
    """The text that ends every string: ``end`` itself, or the EOS token for ``"eos"``."""
    if end == "eos":
        tok = lm.tokenizer
        if tok.eos_token is None:
            raise SurprisalError("end='eos' needs a tokenizer with an EOS token; use end='\\n'")
        return str(tok.eos_token)
    if not isinstance(end, str):
        raise TypeError(f"end must be a str such as '\\n' or 'eos', got {type(end).__name__}")
    if not end:
        raise SurprisalError(f"end must be a non-empty string or 'eos', got {end!r}")
    return end


def shot_examples(
    grammar: Grammar, k: int, exclude: set[str], min_len: int, max_len: int, seed: int
) -> list[str]:
    """``k`` members of the grammar that are not in ``exclude`` (for few-shot prefixes)."""
    want = k + len(exclude)
    try:
        avail = sum(grammar.count(L) for L in range(min_len, max_len + 1))
        want = min(want, avail)
    except SurprisalError:  # a grammar that cannot count: sample what we want, the error says
        pass
    pool = grammar.sample(want, min_len, max_len, seed=seed)
    examples = [t for t in pool if t not in exclude][:k]
    if len(examples) < k:
        raise SurprisalError(
            f"grammar {grammar.name!r} has only {len(examples)} members of length "
            f"[{min_len}, {max_len}] apart from the {len(exclude)} candidates, but shots={k}; "
            "lower shots or n, or widen the length range"
        )
    return examples


def grammar_conditions(
    grammar: Grammar | None,
    *,
    explanation: str | None,
    control: str | None = None,
    shots: int = 0,
    end_text: str,
    exclude: set[str],
    min_len: int,
    max_len: int,
    seed: int,
) -> Conditions:
    """The conditions of a grammar experiment; ``shots`` examples are drawn from ``grammar``
    apart from ``exclude`` (seeded by ``seed + 7``) and each ends with ``end_text``."""
    check_int("shots", shots, minimum=0)
    conditions = Conditions(explanation=explanation, control=control, shot_end=end_text)
    if not shots:
        return conditions
    if grammar is None:
        raise SurprisalError(
            "shots needs a grammar to draw examples from (got given positives only; put "
            "examples into the explanation instead)"
        )
    examples = shot_examples(grammar, shots, exclude, min_len, max_len, seed + 7)
    return Conditions(
        explanation=explanation, control=control, shots=tuple(examples), shot_end=end_text
    )
