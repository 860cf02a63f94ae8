"""Control prefixes for the explanation-level null (``delta(..., controls=K)``).

An explanation is a sample, not a constant: any prefix moves the targets' surprisal
somewhat, so "the explanation carries information" means its reduction is above what
matched prefixes that carry none give (see docs/concepts.md). Two kinds are generated,
seeded:

* **token shuffles** of the explanation: its own tokens in a random order, decoded to text
  (so the same tokens and, up to re-tokenization at the seams, the same length; their
  order, and with it the explanation's meaning, is gone);
* **neutral passages**: sentences from a small corpus shipped with the package
  (``surprisal/data/neutral.txt``, written for it, MIT like the package), cut to the
  explanation's token length.

Half of ``K`` (rounded up) are shuffles, the rest neutral passages; an explanation of fewer
than 2 tokens has no shuffle distinct from itself, so all its controls are neutral.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Sequence
from importlib import resources
from typing import Any

from .conditions import check_prefix_text
from .errors import SurprisalError

__all__ = ["DEFAULT_CONTROLS", "make_controls", "neutral_sentences"]

#: The default number of controls where one is asked for without a number (CLI
#: ``--controls``): a rank p is at least ``1 / (K + 1)``, so ``p < 0.05`` needs ``K >= 20``;
#: with 39 the smallest p is 0.025 and e may share the top with one control and still pass.
DEFAULT_CONTROLS = 39

_SHUFFLE_TRIES = 20  # reshuffles before accepting one that equals the original order


@functools.cache
def neutral_sentences() -> tuple[str, ...]:
    """The neutral corpus: one sentence per non-comment line of ``data/neutral.txt``."""
    text = resources.files("surprisal").joinpath("data/neutral.txt").read_text(encoding="utf-8")
    return tuple(
        line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")
    )


def _ids(tokenizer: Any, text: str) -> list[int]:
    return [int(i) for i in tokenizer(text, add_special_tokens=False)["input_ids"]]


def _decode(tokenizer: Any, ids: Sequence[int]) -> str:
    return str(tokenizer.decode(list(ids), skip_special_tokens=False))


def _shuffle(tokenizer: Any, ids: list[int], rng: random.Random) -> str:
    perm = ids[:]
    for _ in range(_SHUFFLE_TRIES):
        rng.shuffle(perm)
        if perm != ids:
            break
    return _decode(tokenizer, perm)


def _neutral(tokenizer: Any, length: int, rng: random.Random) -> str:
    sents = list(neutral_sentences())
    rng.shuffle(sents)
    ids: list[int] = []
    k = 0
    while len(ids) < length:
        ids += _ids(tokenizer, (" " if ids else "") + sents[k % len(sents)])
        k += 1
    return _decode(tokenizer, ids[:length])


def make_controls(tokenizer: Any, explanation: str, k: int, *, seed: int = 0) -> list[str]:
    """``k`` control texts for ``explanation``: ``ceil(k / 2)`` token shuffles, then
    ``floor(k / 2)`` neutral passages of its token length, seeded by ``seed``.

    >>> from surprisal.testing import tiny_tokenizer
    >>> tok = tiny_tokenizer()
    >>> c = make_controls(tok, "The cat sat on the mat.", 4, seed=0)
    >>> len(c), sorted(tok("The cat sat on the mat.")["input_ids"]) == sorted(
    ...     tok(c[0])["input_ids"])
    (4, True)
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 2:
        raise SurprisalError(f"controls must be an int >= 2 or a list of texts, got {k!r}")
    ids = _ids(tokenizer, explanation)
    if not ids:
        raise SurprisalError("the explanation has no tokens; controls need at least one")
    rng = random.Random(seed)
    n_shuffle = (k + 1) // 2 if len(ids) >= 2 and len(set(ids)) >= 2 else 0
    out = [_shuffle(tokenizer, ids, rng) for _ in range(n_shuffle)]
    out += [_neutral(tokenizer, len(ids), rng) for _ in range(k - n_shuffle)]
    return [t if t.strip() else "." for t in out]  # a blank prefix is no prefix


def check_controls(controls: object, tokenizer: Any, explanation: str, seed: int) -> list[str]:
    """``controls=`` as users give it (None, an int ``K >= 2``, or a list of texts) to the
    control texts (empty for None)."""
    if controls is None:
        return []
    if isinstance(controls, bool):
        raise TypeError("controls must be an int K >= 2, a list of texts, or None; got a bool")
    if isinstance(controls, int):
        return make_controls(tokenizer, explanation, controls, seed=seed)
    if isinstance(controls, str) or not isinstance(controls, Sequence):
        raise TypeError(
            f"controls must be an int K >= 2, a list of texts, or None; got "
            f"{type(controls).__name__}"
        )
    texts = list(controls)
    for i, t in enumerate(texts):
        check_prefix_text(f"controls[{i}]", t, required=True)
    if len(texts) < 2:
        raise SurprisalError(f"controls needs at least 2 texts for a null, got {len(texts)}")
    return texts
