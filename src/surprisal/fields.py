"""The per-position fields, declared once and looped over by every layer.

A scored position yields a log-probability and, when asked, extras. :mod:`surprisal.head`
computes them as tensors (a ``dict`` keyed by :attr:`Field.name`), :mod:`surprisal.engine`
cuts them per job into numpy arrays, :mod:`surprisal.core` assembles them per text, and
:class:`surprisal.TextScore` stores them under the same names; its pandas, JSON and CSV
views loop over :data:`FIELDS` too. Adding a per-position quantity is one line here plus
its computation in the head.

Shapes: (n,) per text, or (n, K) for the top-k fields; ``bow`` has one more entry on a
:class:`surprisal.TextScore`, the mass after the text's last token.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from .errors import SurprisalError

Unit = Literal["nats", "bits"]
LN2 = math.log(2.0)


def convert(x: Any, unit: str) -> Any:
    """Nats to ``unit`` ("nats" or "bits")."""
    if unit == "nats":
        return x
    if unit == "bits":
        return x / LN2
    raise SurprisalError(f"unit must be 'nats' or 'bits', got {unit!r}")


@dataclass(frozen=True)
class Field:
    """One per-position quantity.

    Attributes:
        name: the attribute of :class:`surprisal.TextScore` and the key in head and job results.
        dtype: numpy dtype of the stored array (float32 for nats, int64 for ids and ranks).
        fill: the value at a position that was not scored (NaN, or -1 for integers).
        topk: (n, K) rather than (n,).
        extra: the ``extras=`` name that asks for it; None for the log-probability itself.
        doc: what the number means, with its unit.
    """

    name: str
    dtype: type
    fill: float
    topk: bool = False
    extra: str | None = None
    doc: str = ""


FIELDS: tuple[Field, ...] = (
    Field("logprobs", np.float32, math.nan, doc="log p(token | everything before), nats"),
    Field("entropy", np.float32, math.nan, extra="entropy", doc="entropy of p(. | before), nats"),
    Field("rank", np.int64, -1, extra="rank", doc="1 + tokens with a larger logit"),
    Field("topk_ids", np.int64, -1, topk=True, extra="topk", doc="the K most likely tokens"),
    Field(
        "topk_logprobs", np.float32, -math.inf, topk=True, extra="topk", doc="their logprobs, nats"
    ),
    Field("bow", np.float32, math.nan, extra="bow", doc="log mass of word-start tokens, nats"),
)
EXTRAS: tuple[str, ...] = tuple(dict.fromkeys(f.extra for f in FIELDS if f.extra))


@dataclass(frozen=True)
class Extras:
    """Which optional per-position fields to compute, in the same head pass."""

    entropy: bool = False
    rank: bool = False
    top_k: int = 0
    bow: bool = False

    def wants(self, f: Field) -> bool:
        """Whether field ``f`` is computed under these extras."""
        if f.extra is None:
            return True
        if f.extra == "topk":
            return self.top_k > 0
        return bool(getattr(self, f.extra))

    @property
    def fields(self) -> tuple[Field, ...]:
        """The fields computed, in :data:`FIELDS` order."""
        return tuple(f for f in FIELDS if self.wants(f))


def parse_extras(extras: Collection[str] | str | None, top_k: int) -> Extras:
    """``extras=`` as users give it (names, or one comma-separated string) to :class:`Extras`."""
    if extras is None:
        extras = ()
    if isinstance(extras, str):
        extras = [e.strip() for e in extras.split(",") if e.strip()]
    bad = sorted(set(extras) - set(EXTRAS))
    if bad:
        raise SurprisalError(f"unknown extras {bad}; choose from {list(EXTRAS)}")
    if isinstance(top_k, bool):
        raise TypeError("top_k must be an int, got bool")
    top_k = operator.index(top_k)  # a TypeError naming the type for floats, strings...
    if "topk" in extras and top_k < 1:
        raise SurprisalError(f"top_k must be at least 1 when 'topk' is asked, got {top_k}")
    return Extras(
        entropy="entropy" in extras,
        rank="rank" in extras,
        top_k=top_k if "topk" in extras else 0,
        bow="bow" in extras,
    )
