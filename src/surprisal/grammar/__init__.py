"""Formal grammars and the grammar-explanation experiment.

Grammars (:func:`cfg`, :func:`regex`, :func:`predicate`, the built-in :data:`zoo`) give exact
membership, sampling of members and guaranteed non-members (minimal pairs).
:func:`membership` asks whether a model tells members from non-members, with and without a
natural-language explanation of the grammar in context; :func:`generation` asks whether
what it generates belongs to the grammar.

>>> from surprisal import grammar
>>> g = grammar.zoo["dyck1"]
>>> g.accepts("(()())"), g.accepts("(()")
(True, False)
"""

from .generation import Generation, generation
from .grammars import EDIT_KINDS, Grammar, MinimalPair, Negative, cfg, predicate, regex
from .membership import Membership, membership
from .zoo import ZOO_NAMES, zoo

__all__ = [
    "EDIT_KINDS",
    "ZOO_NAMES",
    "Generation",
    "Grammar",
    "Membership",
    "MinimalPair",
    "Negative",
    "cfg",
    "generation",
    "membership",
    "predicate",
    "regex",
    "zoo",
]
