"""Conditions: one validation and one prefix builder for membership, generation (and delta)."""

from __future__ import annotations

import pytest

from surprisal import flags, grammar
from surprisal.conditions import CONDITION_NAMES, Conditions
from surprisal.errors import SurprisalError
from surprisal.testing import tiny_lm


def test_prefixes_in_fixed_order() -> None:
    c = Conditions(shots=["ab", ""], control="Rain.", explanation="Pairs of a and b.")
    assert list(c.prefixes()) == list(CONDITION_NAMES)
    assert c.prefixes() == {
        "none": None,
        "explanation": "Pairs of a and b.\n",
        "control": "Rain.\n",
        "shots": "ab\n\n",  # an empty example is allowed (Dyck has the empty string)
    }
    assert c.shots == ("ab", "") and c.names == CONDITION_NAMES
    assert Conditions().prefixes() == {"none": None}


def test_separator_and_shot_end() -> None:
    assert Conditions().separator == flags.DEFAULT_SEPARATOR == "\n"
    c = Conditions(explanation="E.", shots=("x", "y"), separator=" | ", shot_end="<end>")
    assert c.prefixes() == {"none": None, "explanation": "E. | ", "shots": "x<end>y<end>"}
    assert Conditions(shots=("x",), separator="; ").prefixes()["shots"] == "x; "


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"explanation": ""}, SurprisalError, "explanation must be a non-empty string"),
        ({"control": " \n"}, SurprisalError, "control must be a non-empty string"),
        ({"explanation": 3}, TypeError, "explanation must be a str or None"),
        ({"control": ["a"]}, TypeError, "control must be a str or None"),
        ({"shots": "ab"}, TypeError, r"pass \('ab',\) for one example"),
        ({"shots": 3}, TypeError, "shots must be a sequence"),
        ({"shots": ["a", 1]}, TypeError, "every shot must be a str"),
        ({"separator": None}, TypeError, "separator must be a str"),
        ({"shot_end": ""}, SurprisalError, "shot_end must be non-empty"),
        ({"shot_end": 1}, TypeError, "shot_end must be a str or None"),
    ],
)
def test_one_validation(kwargs: dict, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        Conditions(**kwargs)


def test_frozen() -> None:
    c = Conditions(explanation="E.")
    with pytest.raises(AttributeError):
        c.explanation = "F."  # type: ignore[misc]


@pytest.fixture(scope="module")
def lm():
    return tiny_lm("gpt2", max_positions=256)


G = grammar.zoo["anbn"]


@pytest.mark.parametrize("blank", ["", "   "])
def test_membership_and_generation_both_reject_a_blank_explanation(lm, blank: str) -> None:
    # generation used to accept an empty explanation that membership rejected
    with pytest.raises(SurprisalError, match="explanation must be a non-empty string"):
        grammar.membership(G, model=lm, n=4, max_len=6, explanation=blank)
    with pytest.raises(SurprisalError, match="explanation must be a non-empty string"):
        grammar.generation(G, model=lm, n=2, max_new_tokens=2, explanation=blank)
    with pytest.raises(TypeError, match="control must be a str"):
        grammar.generation(G, model=lm, n=2, max_new_tokens=2, control=1)  # type: ignore[arg-type]
    with pytest.raises(SurprisalError, match="shots must be >= 0"):
        grammar.generation(G, model=lm, n=2, max_new_tokens=2, shots=-1)


@pytest.mark.slow
def test_membership_and_generation_share_the_prefixes(lm) -> None:
    kw = {"explanation": G.explanation, "control": G.control, "shots": 2, "max_len": 12}
    m = grammar.membership(G, model=lm, n=3, **kw)
    g = grammar.generation(G, model=lm, n=2, max_new_tokens=2, **kw)
    for result in (m, g):
        assert result.conditions == CONDITION_NAMES
        assert result.prefixes["none"] == ""
        assert result.prefixes["explanation"] == G.explanation + "\n"
        assert result.prefixes["control"] == G.control + "\n"
    # the shots: members, each followed by the end marker; membership keeps them apart from
    # its candidates, generation counts them as known
    for result in (m, g):
        shots = result.prefixes["shots"].split("\n")[:-1]
        assert len(shots) == 2 and all(G.accepts(s) for s in shots)
    assert not set(m.prefixes["shots"].split("\n")) & set(m.texts)
    assert set(g.prefixes["shots"].split("\n")[:-1]) <= g.known
