"""Run options: how texts go through the model, declared once.

:class:`RunOptions` holds what every verb takes (separator, extras, windows, batching,
head, temperature); :data:`RUN_FLAGS` declares which of them the command line exposes and
how (``surprisal score --help``), so the CLI's flags and the Python keywords cannot drift
apart; :func:`head_policy` is the one place that decides which head runs and its chunk size.
"""

from __future__ import annotations

import copy
import math
import operator
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple, Protocol, TypeVar

import numpy as np

from .errors import SurprisalError
from .fields import Extras, parse_extras
from .flags import DEFAULT_SEPARATOR, HEADS


class Model(Protocol):
    """What options read of a :class:`surprisal.LM` (a protocol, so that this module, which
    the head and the CLI import, needs neither torch nor the LM at import time)."""

    @property
    def max_length(self) -> int: ...
    @property
    def add_bos(self) -> bool: ...
    @property
    def boundary_id(self) -> int | None: ...
    @property
    def bos_policy(self) -> str: ...
    @property
    def fused(self) -> bool: ...
    @property
    def device(self) -> Any: ...  # torch.device
    @property
    def head(self) -> Any: ...  # HeadSpec


M = TypeVar("M", bound=Model)

DEFAULT_CHUNK_BYTES = 256 * 2**20  # 256 MiB of float32 logits per head chunk (GPU)
# CPU: one 64 MiB buffer, 333 rows of a 50k vocab per matmul (the memory two 32 MiB ones had)
CPU_CHUNK_BYTES = 64 * 2**20


def _opt_int(name: str, v: object, least: int) -> int | None:
    """None, or an int of at least ``least``; 0 is an error, never "not given"."""
    if v is None:
        return None
    if isinstance(v, bool):
        raise TypeError(f"{name} must be an int or None, got bool")
    try:
        i = operator.index(v)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"{name} must be an int or None, got {type(v).__name__}") from None
    if i < least:
        raise SurprisalError(f"{name} must be at least {least}, got {i}")
    return i


def _temperature(t: object) -> float | None:
    """None, or a finite float > 0."""
    if t is None:
        return None
    if isinstance(t, bool) or not isinstance(t, int | float | np.floating | np.integer):
        raise TypeError(f"temperature must be a float or None, got {type(t).__name__}")
    t = float(t)
    if not (math.isfinite(t) and t > 0):
        raise SurprisalError(
            f"temperature must be a finite number > 0 (1.0 = the model as trained), got {t}"
        )
    return t


def tempered(lm: M, temperature: float | None) -> M:
    """``lm`` scoring under ``softmax(z / temperature)``: a shallow copy whose head carries
    the temperature (the model, tokenizer and caches are shared; ``lm`` is not changed)."""
    if temperature is None or temperature == lm.head.temperature:
        return lm
    out = copy.copy(lm)
    out.temperature = temperature  # type: ignore[attr-defined]  # LM.head applies it
    return out


def _choice(name: str, v: object, choices: Sequence[object]) -> None:
    if v not in choices:
        raise SurprisalError(f"{name} must be one of {', '.join(map(repr, choices))}, got {v!r}")


@dataclass(frozen=True)
class RunOptions:
    """How texts are run through the model; every public verb takes these keywords.

    Validated on construction (a zero or negative number is an error, never "not given").
    See :func:`surprisal.score` for what each option means.
    """

    separator: str = DEFAULT_SEPARATOR
    extras: Extras = field(default_factory=Extras)
    add_bos: bool | None = None
    max_length: int | None = None
    stride: int | None = None
    truncate_context: Literal["error", "left"] = "error"
    batch_tokens: int | None = None
    padding_side: Literal["right", "left"] = "right"
    pack: bool | None = None
    head: Literal["auto", "fused", "plain"] = "auto"
    progress: bool | None = None
    temperature: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.separator, str):
            raise TypeError(f"separator must be a str, got {type(self.separator).__name__}")
        if not isinstance(self.extras, Extras):
            raise TypeError("extras must be parsed with surprisal.fields.parse_extras")
        for name in ("add_bos", "pack", "progress"):
            v = getattr(self, name)
            if v is not None and not isinstance(v, bool):
                raise TypeError(f"{name} must be True, False or None, got {type(v).__name__}")
        object.__setattr__(self, "max_length", _opt_int("max_length", self.max_length, 2))
        object.__setattr__(self, "stride", _opt_int("stride", self.stride, 1))
        object.__setattr__(self, "batch_tokens", _opt_int("batch_tokens", self.batch_tokens, 1))
        _choice("truncate_context", self.truncate_context, ("error", "left"))
        _choice("padding_side", self.padding_side, ("right", "left"))
        _choice("head", self.head, HEADS)
        object.__setattr__(self, "temperature", _temperature(self.temperature))

    @classmethod
    def make(
        cls,
        *,
        separator: str = DEFAULT_SEPARATOR,
        extras: Collection[str] | str | None = None,
        top_k: int = 5,
        add_bos: bool | None = None,
        max_length: int | None = None,
        stride: int | None = None,
        truncate_context: Literal["error", "left"] = "error",
        batch_tokens: int | None = None,
        padding_side: Literal["right", "left"] = "right",
        pack: bool | None = None,
        head: Literal["auto", "fused", "plain"] = "auto",
        progress: bool | None = None,
        temperature: float | None = None,
    ) -> RunOptions:
        """Options from the public keywords (``extras`` as names, ``top_k``). Every verb
        passes its keywords here by name, so a renamed or dropped keyword is a type error
        (mypy) or an unknown name (ruff), never an option silently left at its default."""
        return cls(
            separator=separator,
            extras=parse_extras(extras, top_k),
            add_bos=add_bos,
            max_length=max_length,
            stride=stride,
            truncate_context=truncate_context,
            batch_tokens=batch_tokens,
            padding_side=padding_side,
            pack=pack,
            head=head,
            progress=progress,
            temperature=temperature,
        )

    def resolve(self, lm: Model) -> Resolved:
        """The window length, stride and boundary token for ``lm``."""
        M = self.max_length or lm.max_length
        if lm.max_length < M:
            raise SurprisalError(
                f"max_length={M} exceeds the model's context of {lm.max_length} tokens"
            )
        st = self.stride or max(1, M // 2)
        if not 1 <= st <= M - 1:
            raise SurprisalError(f"stride must be between 1 and max_length - 1 = {M - 1}, got {st}")
        use_bos = lm.add_bos if self.add_bos is None else self.add_bos
        boundary = [lm.boundary_id] if (use_bos and lm.boundary_id is not None) else []
        return Resolved(M, st, boundary, lm.bos_policy if boundary else "none")


@dataclass(frozen=True)
class Resolved:
    max_length: int
    stride: int
    boundary: list[int]
    policy: str


class HeadPolicy(NamedTuple):
    """Which head scores a call's positions, and its chunk size."""

    plain: bool  # the plain twin (the model's own logits, a full float32 log-softmax)
    chunk_bytes: int  # float32 logits per head chunk


def head_policy(lm: Model, head: str | None = "auto", chunk_bytes: int | None = None) -> HeadPolicy:
    """The one place that decides the head: ``"auto"`` (or None) takes the fused head unless
    the LM failed its probe, ``"fused"``/``"plain"`` force one; the chunk size is by device
    (a cache-sized buffer on CPU) unless given."""
    _choice("head", "auto" if head is None else head, HEADS)
    plain = head == "plain" or (head in ("auto", None) and not lm.fused)
    chunk = chunk_bytes or (CPU_CHUNK_BYTES if lm.device.type == "cpu" else DEFAULT_CHUNK_BYTES)
    return HeadPolicy(plain, int(chunk))
