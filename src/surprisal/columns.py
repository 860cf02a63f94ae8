"""Every token of a call in flat arrays: the columns behind :class:`surprisal.Scores`.

A call's results are built as contiguous arrays over all its texts' tokens, text ``i``'s
tokens being rows ``bounds[i]:bounds[i + 1]``; each :class:`surprisal.TextScore` holds
views of them. Tables and files (``to_pandas``, the JSONL/CSV writers of
:mod:`surprisal.records`) are built from these arrays in bulk, never token by token in
Python. Dimension letters: n texts, N tokens of all texts, K top-k alternatives.

``bow`` has one more entry per text (the mass after its last token): text ``i``'s entries
are rows ``bounds[i] + i : bounds[i + 1] + i + 1``.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .fields import FIELDS

__all__ = ["Columns", "paused_gc"]


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """Python's cyclic garbage collector paused while a block builds many small containers
    (a list or tuple per token): none of them can form a cycle, but each allocation counts
    toward the collector's thresholds, and the full collections they trigger walk every
    object alive, which made building a million tokens' lists several times slower."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


@dataclass
class Columns:
    """The tokens of n texts as flat arrays (see the module docstring).

    Attributes:
        texts: (n,) the texts.
        bounds: (n + 1,) int64 offsets of each text's tokens.
        token_ids: (N,) int64.
        tokens: (N,) the tokenizer's strings.
        spans: (N, 2) int64 character offsets, each text's from its own 0.
        logprobs: (N,) float32 nats; NaN where a token was not scored.
        extras: the extras computed: ``entropy`` (N,), ``rank`` (N,), ``topk_ids`` and
            ``topk_logprobs`` (N, K), ``bow`` (N + n,).
        owner: the tuple of per-text objects made from these arrays (a result whose items
            were replaced does not use them).
    """

    texts: list[str]
    bounds: np.ndarray
    token_ids: np.ndarray
    tokens: list[str]
    spans: np.ndarray
    logprobs: np.ndarray
    extras: dict[str, np.ndarray]
    owner: tuple[Any, ...] | None = field(default=None, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def n_tokens(self) -> int:
        return int(self.bounds[-1])

    def lengths(self) -> np.ndarray:
        """(n,) tokens per text."""
        return np.diff(self.bounds)

    def text_index(self) -> np.ndarray:
        """(N,) the text each token belongs to."""
        return np.repeat(np.arange(len(self.texts)), self.lengths())

    def token_index(self) -> np.ndarray:
        """(N,) each token's index inside its text."""
        lens = self.lengths()
        return np.arange(self.n_tokens) - np.repeat(self.bounds[:-1], lens)

    def bow_rows(self) -> np.ndarray:
        """(N,) the rows of ``extras["bow"]`` that belong to tokens (the per-text entry
        after the last token left out)."""
        return np.arange(self.n_tokens) + self.text_index()

    def pieces(self) -> list[str]:
        """(N,) the text cut at the token spans (per text, ``"".join`` gives it back)."""
        if not self.texts:
            return []
        lens = np.fromiter((len(t) for t in self.texts), np.int64, len(self.texts))
        c0 = np.cumsum(lens) - lens  # each text's first character in the joined string
        glob = self.spans + c0[self.text_index()][:, None]
        big = "".join(self.texts)
        with paused_gc():
            return [big[a:b] for a, b in zip(glob[:, 0].tolist(), glob[:, 1].tolist(), strict=True)]

    def per_text(self, i: int) -> dict[str, Any]:
        """Text ``i``'s arrays (views), keyed as :class:`surprisal.TextScore`'s fields."""
        a, b = int(self.bounds[i]), int(self.bounds[i + 1])
        out: dict[str, Any] = {
            "text": self.texts[i],
            "token_ids": self.token_ids[a:b],
            "tokens": self.tokens[a:b],
            "spans": self.spans[a:b],
            "logprobs": self.logprobs[a:b],
        }
        for name, arr in self.extras.items():
            out[name] = arr[a + i : b + i + 1] if name == "bow" else arr[a:b]
        return out

    @classmethod
    def concat(cls, parts: Sequence[Columns]) -> Columns:
        """The texts of ``parts`` one after the other, in one set of arrays. Every part must
        hold the same extras (parts of one call do)."""
        if len(parts) == 1:
            return parts[0]
        names = list(parts[0].extras)
        if any(list(p.extras) != names for p in parts):
            raise ValueError("Columns.concat: the parts hold different extras")
        ends = np.cumsum([p.n_tokens for p in parts])
        starts = np.concatenate([[0], ends[:-1]])
        bounds = np.concatenate(
            [[0]] + [p.bounds[1:] + s for p, s in zip(parts, starts.tolist(), strict=True)]
        ).astype(np.int64)
        return cls(
            texts=[t for p in parts for t in p.texts],
            bounds=bounds,
            token_ids=np.concatenate([p.token_ids for p in parts]),
            tokens=[t for p in parts for t in p.tokens],
            spans=np.concatenate([p.spans for p in parts]),
            logprobs=np.concatenate([p.logprobs for p in parts]),
            extras={k: np.concatenate([p.extras[k] for p in parts]) for k in names},
        )

    @classmethod
    def of(cls, items: Sequence[Any]) -> Columns:
        """The columns of per-text results (objects with :class:`surprisal.TextScore`'s
        fields), concatenated. An extra is kept when every text has it."""
        lens = np.fromiter((len(t.token_ids) for t in items), np.int64, len(items))
        bounds = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)

        def cat(arrays: list[np.ndarray], empty: np.ndarray) -> np.ndarray:
            return np.concatenate(arrays) if arrays else empty

        extras: dict[str, np.ndarray] = {}
        for f in FIELDS[1:]:
            got = [getattr(t, f.name) for t in items]
            if items and all(g is not None for g in got):
                extras[f.name] = cat(got, np.zeros(0, f.dtype))
        return cls(
            texts=[t.text for t in items],
            bounds=bounds,
            token_ids=cat(
                [np.asarray(t.token_ids, np.int64) for t in items], np.zeros(0, np.int64)
            ),
            tokens=[s for t in items for s in t.tokens],
            spans=cat(
                [np.asarray(t.spans, np.int64).reshape(-1, 2) for t in items],
                np.zeros((0, 2), np.int64),
            ),
            logprobs=cat([np.asarray(t.logprobs) for t in items], np.zeros(0, np.float32)),
            extras=extras,
        )
