"""Formal grammars and the grammar-explanation experiment.

Grammars (:func:`cfg`, :func:`regex`, :func:`predicate`, the built-in :data:`zoo`) give exact
membership, sampling of members and guaranteed non-members (minimal pairs).
:func:`membership` asks whether a model tells members from non-members, with and without a
natural-language explanation of the grammar in context; :func:`generation` asks whether
what it generates belongs to the grammar.

One module per idea: :mod:`.base` (the :class:`Grammar` class, minimal pairs, negatives),
:mod:`.sampling` (length-spread sampling), :mod:`.context_free` (:func:`cfg`),
:mod:`.regular` (:func:`regex`), :mod:`.predicates` (:func:`predicate`), :mod:`.catalog`
(the zoo), :mod:`.prompts` (end markers and few-shot examples), :mod:`.discriminate`
(:func:`membership`), :mod:`.membership_result` (its result), :mod:`.chance` (gaps above
chance), :mod:`.specificity` (:func:`specificity`: models x grammars) and :mod:`.generate`
(:func:`generation`). No module is named like a
function, so ``import surprisal.grammar.discriminate as m; m.Membership`` works.

>>> from surprisal import grammar
>>> g = grammar.zoo["dyck1"]
>>> g.accepts("(()())"), g.accepts("(()")
(True, False)
"""

from .base import EDIT_KINDS, Grammar, MinimalPair, Negative
from .catalog import ZOO_NAMES, zoo
from .context_free import cfg
from .discriminate import membership
from .generate import Generation, generation
from .membership_result import Membership
from .predicates import predicate
from .regular import regex
from .specificity_result import Specificity, specificity

__all__ = [
    "EDIT_KINDS",
    "ZOO_NAMES",
    "Generation",
    "Grammar",
    "Membership",
    "MinimalPair",
    "Negative",
    "Specificity",
    "cfg",
    "generation",
    "membership",
    "predicate",
    "regex",
    "specificity",
    "zoo",
]
