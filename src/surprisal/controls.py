"""Control prefixes for the explanation-level null (``delta(..., controls=K)``).

An explanation is a sample, not a constant: any prefix moves the targets' surprisal
somewhat, so "the explanation carries information" means its reduction is above what
matched prefixes that carry none give (see docs/concepts.md). Two kinds are generated,
seeded:

* **token shuffles** of the explanation: the token ids of ``explanation + separator`` in a
  random order (the separator's last token kept last), scored as ids, not re-tokenized: the
  same tokens and exactly the same length; their order, and with it the meaning, is gone;
* **neutral passages**: sentences from a small corpus shipped with the package
  (``surprisal/data/neutral.txt``, written for it, MIT like the package), cut to exactly
  the explanation's token count (the same last token).

Generated controls are scored as token ids, so each has exactly the explanation's prefix
length: on a model with absolute positions a prefix one token longer moves every target
to other positions, an effect of its own. Their ``text`` is the decoded ids.

Half of ``K`` (rounded up) are shuffles, the rest neutral passages; an explanation of fewer
than 2 tokens has no shuffle distinct from itself, so all its controls are neutral.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Sequence
from importlib import resources
from typing import Any, NamedTuple

from .conditions import check_prefix_text
from .errors import SurprisalError

__all__ = ["DEFAULT_CONTROLS", "Control", "make_controls", "neutral_sentences"]

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


class Control(NamedTuple):
    """One control prefix: its text and, when generated, the exact token ids scored
    (separator included); ``ids`` None: ``text + separator`` is tokenized like any
    prefix."""

    text: str
    ids: list[int] | None = None


def _shuffle(ids: list[int], keep_last: bool, rng: random.Random) -> list[int]:
    body, tail = (ids[:-1], ids[-1:]) if keep_last else (ids, [])
    perm = body[:]
    for _ in range(_SHUFFLE_TRIES):
        rng.shuffle(perm)
        if perm != body:
            break
    return perm + tail


def _neutral(tokenizer: Any, length: int, rng: random.Random) -> list[int]:
    sents = list(neutral_sentences())
    rng.shuffle(sents)
    ids: list[int] = []
    k = 0
    while len(ids) < length:
        ids += _ids(tokenizer, (" " if ids else "") + sents[k % len(sents)])
        k += 1
    return ids[:length]


def make_controls(
    tokenizer: Any, explanation: str, k: int, *, seed: int = 0, separator: str = "\n"
) -> list[Control]:
    """``k`` controls for ``explanation``: ``ceil(k / 2)`` token shuffles, then
    ``floor(k / 2)`` neutral passages, each exactly as many tokens as
    ``explanation + separator``, seeded by ``seed``.

    >>> from surprisal.testing import tiny_tokenizer
    >>> tok = tiny_tokenizer()
    >>> c = make_controls(tok, "The cat sat on the mat.", 4, seed=0)
    >>> ids = tok("The cat sat on the mat.\\n")["input_ids"]
    >>> len(c), sorted(c[0].ids) == sorted(ids), [len(x.ids) == len(ids) for x in c]
    (4, True, [True, True, True, True])
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 2:
        raise SurprisalError(f"controls must be an int >= 2 or a list of texts, got {k!r}")
    ids = _ids(tokenizer, explanation + separator)
    if not ids:
        raise SurprisalError("the explanation has no tokens; controls need at least one")
    rng = random.Random(seed)
    keep = bool(separator) and len(ids) > 1
    body = ids[:-1] if keep else ids
    n_shuffle = (k + 1) // 2 if len(set(body)) >= 2 else 0
    out = [_shuffle(ids, keep, rng) for _ in range(n_shuffle)]
    tail = ids[-1:] if keep else []
    out += [_neutral(tokenizer, len(body), rng) + tail for _ in range(k - n_shuffle)]
    return [Control(_decode(tokenizer, c), c) for c in out]


def control_prefixes(
    controls: Sequence[Control], separator: str, taken: Sequence[str] = ()
) -> tuple[list[str], dict[str, list[int]]]:
    """The controls as engine prefixes: a key per control (``text + separator``, or the
    decoded ids, made unique against ``taken`` and each other) and the ids of the
    generated ones, by key."""
    keys: list[str] = []
    ids: dict[str, list[int]] = {}
    seen = set(taken)
    for c in controls:
        if c.ids is None:
            key = c.text + separator
        else:
            key = c.text
            while key in seen:  # two id sequences that decode alike: keep both
                key += "\u200b"
            ids[key] = c.ids
        seen.add(key)
        keys.append(key)
    return keys, ids


def check_controls(
    controls: object, tokenizer: Any, explanation: str, seed: int, separator: str
) -> list[Control]:
    """``controls=`` as users give it (None, an int ``K >= 2``, or a list of texts) to the
    controls (empty for None)."""
    if controls is None:
        return []
    if isinstance(controls, bool):
        raise TypeError("controls must be an int K >= 2, a list of texts, or None; got a bool")
    if isinstance(controls, int):
        return make_controls(tokenizer, explanation, controls, seed=seed, separator=separator)
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
    return [Control(t) for t in texts]
