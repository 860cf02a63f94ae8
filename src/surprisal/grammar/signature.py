"""How the grammar verbs take their model: ``membership(g, model=lm)``, as every verb does.

The form before 0.2.0, ``membership(lm, g)`` (model first, positional), still works for one
minor version with a :class:`FutureWarning` (see docs/stability.md).
"""

from __future__ import annotations

from typing import Any

from .._deprecation import warn_deprecated
from ..errors import SurprisalError
from ..lm import LM
from .base import Grammar
from .catalog import resolve_grammar

REMOVED_IN = "0.3.0"


def _looks_like_model(x: object) -> bool:
    return isinstance(x, LM | tuple) or (hasattr(x, "config") and hasattr(x, "forward"))


def model_and_grammar(
    verb: str, grammar: Any, legacy: tuple[Any, ...], model: Any, *, stacklevel: int = 3
) -> tuple[Any, Grammar | None]:
    """``(model, grammar)`` from a grammar verb's arguments: ``verb(g, model=lm)``, or the
    deprecated ``verb(lm, g)`` / ``verb(lm, positives=...)`` with a FutureWarning."""
    if len(legacy) > 1:
        raise TypeError(f"{verb}() takes at most 2 positional arguments ({1 + len(legacy)} given)")
    old = bool(legacy) or (model is None and _looks_like_model(grammar))
    if old:
        if model is not None:
            raise TypeError(
                f"{verb}() got a model both positionally and as model=; "
                f"call {verb}(grammar, model=lm)"
            )
        warn_deprecated(
            f"{verb}(model, grammar), the model passed by position",
            f"{verb}(grammar, model=model), as every verb takes model=",
            REMOVED_IN,
            stacklevel=stacklevel + 1,
        )
        return grammar, resolve_grammar(legacy[0] if legacy else None)
    if model is None:
        raise SurprisalError(
            f"{verb}() needs model=: {verb}(grammar, model=lm), with lm a surprisal.LM, a "
            "name or path, or a (model, tokenizer) pair"
        )
    return model, resolve_grammar(grammar)
