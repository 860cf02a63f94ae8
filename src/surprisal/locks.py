"""Forward calls serialized for models that keep per-call state on their own modules.

Most models keep every per-call state in their inputs and outputs (a cache object), so
threads can share one loaded model. A few write it to attributes of their layers during a
forward: RecurrentGemma stores its recurrent and convolution states on each recurrent
block, even with ``use_cache=False``, so two threads' forwards overwrite each other's
state (shape errors, or one call's numbers computed from another call's state). For such a
model every forward of the model and of its decoder body holds one re-entrant lock (a
copied or unpickled model gets a fresh one).

>>> from surprisal.testing import tiny_lm
>>> serialize_forwards(tiny_lm("gpt2").model)  # state in its inputs and outputs: no lock
False
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

# Attributes that hold per-call state on a module (transformers 5.x: RecurrentGemma's
# recurrent blocks and their RG-LRU).
STATE_ATTRIBUTES = ("recurrent_states", "conv1d_state")

_SERIALIZED: weakref.WeakKeyDictionary[Any, _Serial] = weakref.WeakKeyDictionary()
_INSTALL = threading.Lock()


class _Serial:
    """The lock of one model, as a pair of hooks (bound methods of one object, so that a
    copied or pickled model gets one fresh lock for both)."""

    def __init__(self) -> None:
        self.lock = threading.RLock()

    def acquire(self, *_: Any) -> None:
        self.lock.acquire()

    def release(self, *_: Any) -> None:
        self.lock.release()

    def __getstate__(self) -> dict[str, Any]:
        return {}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.lock = threading.RLock()


def holds_state(model: Any) -> bool:
    """Whether a module of ``model`` keeps per-call state (:data:`STATE_ATTRIBUTES`)."""
    return any(any(hasattr(m, a) for a in STATE_ATTRIBUTES) for m in model.modules())


def serialize_forwards(model: Any, *parts: Any) -> bool:
    """For a model that :func:`holds_state`, make each forward of ``model`` and of
    ``parts`` (its decoder body, called on its own) hold one re-entrant lock, installed once
    per model; returns whether the model's forwards are serialized. A forward that raises
    still releases the lock."""
    with _INSTALL:
        if model in _SERIALIZED:
            return True
        if not holds_state(model):
            return False
        serial = _SERIALIZED[model] = _Serial()
        for m in {id(x): x for x in (model, *parts)}.values():
            m.register_forward_pre_hook(serial.acquire)
            m.register_forward_hook(serial.release, always_call=True)
        return True
