"""Results: :class:`TextScore` per text, :class:`Scores` for a call, :class:`WordScore` per word.

Units: stored log-probabilities are natural logs (nats), float32. Surprisal is
``-logprob``; ``unit="bits"`` divides by ln 2 when a number is presented. A token that
could not be scored (no document-boundary token before a text's first token) is NaN and is
left out of sums and means, which count it in ``n_unscored``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, overload

import numpy as np

from .errors import SurprisalError
from .fields import FIELDS
from .words import Correction, Words, WordScore, WordsList, words_of, words_of_all

__all__ = ["Scores", "TextScore", "Unit", "WordScore", "convert"]

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
class TextScore:
    """The scores of one text.

    Attributes:
        text: the text as given.
        token_ids: (n,) the text's tokens (the boundary token is not among them).
        tokens: the tokenizer's strings for them (``Ġcat``, ``▁cat``, ``<0xF0>``...).
        spans: (n, 2) character offsets; they partition the text (see ``surprisal.tokenize``).
        logprobs: (n,) float32 natural-log probability of each token given all before it
            (the boundary token and any context included); NaN if it could not be scored.
        entropy, rank, topk_ids, topk_logprobs: optional extras, (n,) or (n, k), nats.
        bow: optional (n + 1,) log-probability that the token at each position starts a new
            word (the last entry: after the text's last token, EOS included), nats.
    """

    text: str
    token_ids: np.ndarray
    tokens: list[str]
    spans: np.ndarray
    logprobs: np.ndarray
    entropy: np.ndarray | None = None
    rank: np.ndarray | None = None
    topk_ids: np.ndarray | None = None
    topk_logprobs: np.ndarray | None = None
    bow: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.token_ids)

    @property
    def pieces(self) -> list[str]:
        """The text cut at the token spans; ``"".join(pieces) == text``."""
        return [self.text[a:b] for a, b in self.spans]

    @property
    def n_unscored(self) -> int:
        """How many tokens are NaN (could not be scored)."""
        return int(np.isnan(self.logprobs).sum())

    def surprisal(self, unit: Unit = "nats") -> np.ndarray:
        """Per-token surprisal, ``-logprob``, in ``unit``."""
        return convert(-self.logprobs.astype(np.float64), unit)  # type: ignore[no-any-return]

    def total(self, unit: Unit = "nats") -> float:
        """Summed surprisal of the scored tokens: ``-log p(text | boundary, context)``."""
        return float(convert(0.0 - np.nansum(self.logprobs.astype(np.float64)), unit)) + 0.0

    def mean(self, unit: Unit = "nats") -> float:
        """Mean surprisal per scored token; NaN for a text with no scored token."""
        n = len(self) - self.n_unscored
        return float("nan") if n == 0 else self.total(unit) / n

    def perplexity(self) -> float:
        """``exp(mean surprisal in nats)``; NaN for a text with no scored token."""
        return math.exp(self.mean("nats")) if len(self) - self.n_unscored else float("nan")

    def words(
        self,
        correction: Correction | None = None,
        *,
        words: Sequence[str] | None = None,
        model: Any = None,
    ) -> Words:
        """Word-level surprisal (nats): whitespace words, or your own ``words=[...]``, with an
        optional beginning-of-word correction (``"pimentel-meister"`` needs
        ``extras=["bow"]``; ``"wordsprobability"`` needs ``model=lm``). The conventions are
        spelled out in :mod:`surprisal.words`."""
        return words_of(self, correction, words=words, model=model)


@dataclass(frozen=True)
class Scores(Sequence[TextScore]):
    """The scores of a list of texts, in the caller's order.

    Attributes:
        items: one :class:`TextScore` per text.
        model: the model's name or path.
        bos_policy: ``"bos"``, ``"eos"`` or ``"none"`` (see :class:`surprisal.LM`).
        max_length, stride: the window settings used for long texts.
        contexts: the context each text was scored after, or None.
        stats: what the run did (tokens fed, scored, prefix tokens...).

    >>> from surprisal.testing import tiny_lm
    >>> import surprisal
    >>> s = surprisal.score(["The cat sat.", "A dog."], model=tiny_lm("gpt2"))
    >>> len(s), s[0].pieces[:2]
    (2, ['The', ' c'])
    >>> bool((s.total() > 0).all())
    True
    """

    items: tuple[TextScore, ...]
    model: str = ""
    bos_policy: str = "bos"
    max_length: int = 0
    stride: int = 0
    contexts: tuple[str | None, ...] | None = None
    stats: Any = field(default=None, compare=False, repr=False)
    prefix_scores: dict[str, TextScore] | None = field(default=None, compare=False, repr=False)

    @overload
    def __getitem__(self, i: int) -> TextScore: ...
    @overload
    def __getitem__(self, i: slice) -> Scores: ...
    def __getitem__(self, i: int | slice) -> TextScore | Scores:
        """One :class:`TextScore`, or a :class:`Scores` of a slice (same run settings)."""
        if isinstance(i, slice):
            ctx = None if self.contexts is None else self.contexts[i]
            if ctx is not None and all(c is None for c in ctx):
                ctx = None
            return replace(self, items=self.items[i], contexts=ctx)
        return self.items[i]

    @classmethod
    def concat(cls, parts: Sequence[Scores], order: Sequence[int] | None = None) -> Scores:
        """The texts of ``parts`` one after the other, or, with ``order``, placed so that the
        k-th text of the concatenation lands at position ``order[k]``. Run settings come from
        the first part; ``stats`` are summed."""
        if not parts:
            raise SurprisalError("concat needs at least one Scores")
        items = [t for p in parts for t in p.items]
        has_ctx = any(p.contexts is not None for p in parts)
        ctx: list[str | None] = [c for p in parts for c in (p.contexts or (None,) * len(p.items))]
        if order is not None:
            if sorted(order) != list(range(len(items))):
                raise SurprisalError(
                    f"order must be a permutation of range({len(items)}), got {list(order)[:10]}"
                )
            placed_i: list[Any] = [None] * len(items)
            placed_c: list[str | None] = [None] * len(items)
            for k, dst in enumerate(order):
                placed_i[dst], placed_c[dst] = items[k], ctx[k]
            items, ctx = placed_i, placed_c
        stats = [p.stats for p in parts if p.stats is not None]
        total = stats[0] if stats else None
        for st in stats[1:]:
            total = total + st
        return replace(
            parts[0],
            items=tuple(items),
            contexts=tuple(ctx) if has_ctx else None,
            stats=total,
            prefix_scores=None,
        )

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[TextScore]:
        return iter(self.items)

    def total(self, unit: Unit = "nats") -> np.ndarray:
        """(n_texts,) summed surprisal of each text's scored tokens."""
        return np.array([t.total(unit) for t in self.items], dtype=np.float64)

    def mean(self, unit: Unit = "nats") -> np.ndarray:
        """(n_texts,) mean surprisal per scored token (NaN for texts with none)."""
        return np.array([t.mean(unit) for t in self.items], dtype=np.float64)

    def perplexity(self) -> np.ndarray:
        """(n_texts,) per-text perplexity, ``exp(mean surprisal in nats)``."""
        return np.array([t.perplexity() for t in self.items], dtype=np.float64)

    def corpus_perplexity(self) -> float:
        """Perplexity of all texts together: exp(total surprisal / total scored tokens)."""
        n = sum(len(t) - t.n_unscored for t in self.items)
        return math.exp(float(self.total().sum()) / n) if n else float("nan")

    def surprisal(self, unit: Unit = "nats") -> list[np.ndarray]:
        """Per-token surprisal of every text, in ``unit`` (a list of (n_i,) arrays)."""
        return [t.surprisal(unit) for t in self.items]

    def words(
        self,
        correction: Correction | None = None,
        *,
        words: Sequence[Sequence[str]] | None = None,
        model: Any = None,
    ) -> WordsList:
        """Word-level surprisal of every text (``words``: one list of words per text); see
        :meth:`TextScore.words` and :mod:`surprisal.words`."""
        return words_of_all(self.items, correction, words=words, model=model)

    def to_pandas(self, unit: Unit = "nats") -> Any:
        """Long format: one row per token (text_index, token_index, token_id, token, start,
        end, piece, logprob (nats), surprisal (``unit``), and extras when computed)."""
        try:
            import pandas as pd
        except ImportError:  # pragma: no cover - depends on the environment
            raise ImportError(
                "to_pandas needs pandas: pip install 'surprisal-lm[pandas]'"
            ) from None
        cols: dict[str, list[Any]] = {
            k: []
            for k in (
                "text_index",
                "token_index",
                "token_id",
                "token",
                "start",
                "end",
                "piece",
                "logprob",
            )
        }
        extra_cols: dict[str, list[Any]] = {}
        for ti, t in enumerate(self.items):
            n = len(t)
            cols["text_index"] += [ti] * n
            cols["token_index"] += list(range(n))
            cols["token_id"] += t.token_ids.tolist()
            cols["token"] += list(t.tokens)
            cols["start"] += t.spans[:, 0].tolist()
            cols["end"] += t.spans[:, 1].tolist()
            cols["piece"] += t.pieces
            cols["logprob"] += t.logprobs.tolist()
            for f in FIELDS[1:]:  # the extras computed, one column each
                v = getattr(t, f.name)
                if v is not None:
                    extra_cols.setdefault(f.name, []).extend(v[:n].tolist())
        df = pd.DataFrame(cols)
        df["surprisal"] = convert(-df["logprob"].astype("float64"), unit)
        for k, v in extra_cols.items():
            df[k] = v
        df.attrs.update(model=self.model, bos_policy=self.bos_policy, unit=unit)
        return df
