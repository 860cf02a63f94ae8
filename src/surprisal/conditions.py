"""The prefixes an experiment compares: none, an explanation, a control, few-shot examples.

An experiment scores (or samples) the same strings after several *conditions*, each a
prefix read before the string:

* ``none``: no prefix (only the boundary token);
* ``explanation``: ``explanation + separator``;
* ``control``: ``control + separator`` — an irrelevant text of about the explanation's length,
  the baseline for "any prefix at all";
* ``shots``: the examples, each followed by ``shot_end`` (the separator unless given; the
  grammar experiments pass their end marker, so examples look like the strings scored).

:class:`Conditions` validates these once, for :func:`surprisal.grammar.membership` and
:func:`surprisal.grammar.generation` alike: an explanation or control must be a non-blank
``str`` (``None`` leaves the condition out), shots a sequence of ``str``.

>>> c = Conditions(explanation="Brackets are balanced.", shots=("()", "(())"))
>>> c.prefixes()
{'none': None, 'explanation': 'Brackets are balanced.\\n', 'shots': '()\\n(())\\n'}
>>> c.names
('none', 'explanation', 'shots')
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .errors import SurprisalError
from .flags import DEFAULT_SEPARATOR

__all__ = ["CONDITION_NAMES", "Conditions", "check_prefix_text"]

#: Every condition name, in the fixed order results list them.
CONDITION_NAMES: tuple[str, ...] = ("none", "explanation", "control", "shots")


@dataclass(frozen=True)
class Conditions:
    """The conditions of one experiment and the text of their prefixes.

    Attributes:
        explanation: text that describes what is scored (``None``: no such condition).
        control: an irrelevant text of similar length (``None``: no such condition).
        shots: example strings for a few-shot prefix (empty: no such condition). Any
            iterable of ``str`` is accepted and kept as a tuple; an example may be ``""``.
        separator: put after the explanation and the control (default ``"\\n"``,
            :data:`surprisal.flags.DEFAULT_SEPARATOR`).
        shot_end: put after each example (``None``: the separator).

    Raises ``TypeError`` for a value of the wrong type and
    :class:`~surprisal.errors.SurprisalError` for a blank explanation or control or an
    empty ``shot_end``.

    >>> Conditions(explanation="  ")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    surprisal.errors.SurprisalError: explanation must be a non-empty string (explanation ...
    """

    explanation: str | None = None
    control: str | None = None
    shots: tuple[str, ...] = ()
    separator: str = DEFAULT_SEPARATOR
    shot_end: str | None = None

    def __post_init__(self) -> None:
        for field in ("explanation", "control"):
            check_prefix_text(field, getattr(self, field))
        object.__setattr__(self, "shots", _check_shots(self.shots))
        if not isinstance(self.separator, str):
            raise TypeError(
                f"separator must be a str such as '\\n', got {type(self.separator).__name__}"
            )
        if self.shot_end is not None:
            if not isinstance(self.shot_end, str):
                raise TypeError(
                    f"shot_end must be a str or None, got {type(self.shot_end).__name__}"
                )
            if not self.shot_end:
                raise SurprisalError(
                    "shot_end must be non-empty, or None to end each example with the separator"
                )

    @property
    def names(self) -> tuple[str, ...]:
        """The conditions present, ``"none"`` first, in the order of :data:`CONDITION_NAMES`."""
        return tuple(self.prefixes())

    def prefixes(self) -> dict[str, str | None]:
        """``{condition: prefix text}`` for the conditions present, in a fixed order
        (``none``, ``explanation``, ``control``, ``shots``); ``none`` maps to ``None``.

        >>> Conditions(control="It rained.", separator=" ").prefixes()
        {'none': None, 'control': 'It rained. '}
        """
        out: dict[str, str | None] = {"none": None}
        if self.explanation is not None:
            out["explanation"] = self.explanation + self.separator
        if self.control is not None:
            out["control"] = self.control + self.separator
        if self.shots:
            end = self.separator if self.shot_end is None else self.shot_end
            out["shots"] = "".join(s + end for s in self.shots)
        return out


def check_prefix_text(field: str, value: object, *, required: bool = False) -> None:
    """The one check of a prefix text: a non-blank ``str``, or None unless ``required``."""
    if value is None and not required:
        return
    if not isinstance(value, str):
        raise TypeError(
            f"{field} must be a str{'' if required else ' or None'}, got "
            f"{type(value).__name__}; pass the text itself"
        )
    if not value.strip():
        raise SurprisalError(
            f"{field} must be a non-empty string ({field} is empty: {value!r}); "
            + (
                "give the text whose effect you want to measure"
                if required
                else f"pass None to leave the {field} condition out"
            )
        )


def _check_shots(shots: Iterable[str]) -> tuple[str, ...]:
    if isinstance(shots, str):
        raise TypeError(
            f"shots must be a sequence of example strings, got the str {shots!r}; "
            f"pass ({shots!r},) for one example"
        )
    try:
        out = tuple(shots)
    except TypeError:
        raise TypeError(
            f"shots must be a sequence of example strings, got {type(shots).__name__}"
        ) from None
    for s in out:
        if not isinstance(s, str):
            raise TypeError(f"every shot must be a str, got {s!r} ({type(s).__name__})")
    return out
