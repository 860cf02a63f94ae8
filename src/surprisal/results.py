"""Results: :class:`TextScore` per text, :class:`Scores` for a call, :class:`WordScore` per word.

Units: stored log-probabilities are natural logs (nats), float32. Surprisal is
``-logprob``; ``unit="bits"`` divides by ln 2 when a number is presented. A token that
could not be scored (no document-boundary token before a text's first token) is NaN and is
left out of sums and means, which count it in ``n_unscored``.

Per-token views (``surprisal``, ``probs``, ``token_score``) are float32 like the stored
log-probabilities; sums and means over tokens (``total``, ``mean``) are float64. The plain
data views (``to_records``, ``to_dict``, ``to_json``) are the records that
``surprisal score`` writes (:func:`surprisal.records.record`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, overload

import numpy as np

from ._versions import versions
from .columns import Columns, paused_gc
from .errors import SurprisalError
from .fields import FIELDS, Unit, convert
from .records import record, records_of
from .report.page import heatmap, notebook_html
from .words import Correction, Words, WordsList, words_of, words_of_all

Kind = Literal["surprisal", "logprob", "prob"]
NOTEBOOK_ROWS = 20  # texts drawn by _repr_html_: a notebook cell stays readable


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
        """(n,) float32 per-token surprisal, ``-logprob``, in ``unit`` (NaN where unscored)."""
        return np.asarray(convert(-self.logprobs.astype(np.float64), unit), dtype=np.float32)

    def probs(self) -> np.ndarray:
        """(n,) float32 probability of each token given everything before it,
        ``exp(logprob)`` (NaN where unscored)."""
        return np.exp(self.logprobs.astype(np.float64)).astype(np.float32)

    def token_score(self, unit: Unit = "nats", kind: Kind = "surprisal") -> list[tuple[str, float]]:
        """``(piece, value)`` per token, like minicons' ``token_score``: the text piece of
        each token with its surprisal (default), log-probability (both in ``unit``) or
        probability (``kind="prob"``, unitless). NaN where unscored.

        >>> from surprisal.testing import tiny_lm
        >>> import surprisal
        >>> ts = surprisal.score("The cat", model=tiny_lm("gpt2"))[0]
        >>> [p for p, _ in ts.token_score()]
        ['The', ' c', 'at']
        """
        if kind == "surprisal":
            v = self.surprisal(unit)
        elif kind == "logprob":
            v = np.asarray(convert(self.logprobs.astype(np.float64), unit), dtype=np.float32)
        elif kind == "prob":
            v = self.probs()
        else:
            raise SurprisalError(f"kind must be 'surprisal', 'logprob' or 'prob', got {kind!r}")
        return list(zip(self.pieces, v.tolist(), strict=True))

    def __repr__(self) -> str:
        unscored = f", {self.n_unscored} unscored" if self.n_unscored else ""
        return (
            f"TextScore({_short(self.text)!r}, {len(self)} tokens{unscored}, "
            f"total {self.total():.3f} nats, mean {self.mean():.3f} nats/token)"
        )

    def _repr_html_(self) -> str:

        return notebook_html(heatmap([_heat_row(self, 0)], value_label="surprisal"))

    def to_dict(
        self,
        unit: Unit = "nats",
        *,
        words: bool = False,
        correction: Literal["pimentel-meister"] | None = None,
    ) -> dict[str, Any]:
        """The text's record, as ``surprisal score`` writes it (:func:`surprisal.records.record`):
        text, pieces, spans, per-token surprisal in ``unit`` (None where unscored), totals,
        the extras computed, and with ``words`` the word-level surprisal."""
        return record(
            "0",
            0,
            self,
            unit,
            words or correction is not None,
            _extras(self),
            None,
            correction=correction,
        )

    def to_json(self, unit: Unit = "nats", **kw: Any) -> str:
        """:meth:`to_dict` as a JSON string (keywords as there)."""
        return json.dumps(self.to_dict(unit, **kw), ensure_ascii=False)

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
        versions: the versions of surprisal, torch and transformers that computed it.

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
    versions: dict[str, str] = field(default_factory=versions, compare=False, repr=False)
    flat: Columns | None = field(default=None, compare=False, repr=False)

    @classmethod
    def from_columns(cls, cols: Columns, **settings: Any) -> Scores:
        """A result whose per-text objects are views of ``cols`` (run settings as keywords)."""
        with paused_gc():  # a few objects per text, none of them in a cycle
            items = tuple(TextScore(**cols.per_text(i)) for i in range(len(cols)))
        cols.owner = items
        return cls(items=items, flat=cols, **settings)

    def columns(self) -> Columns:
        """Every token of the texts in flat arrays (:class:`surprisal.columns.Columns`): the
        arrays the call built, or, for a result put together otherwise (a slice, a concat),
        the per-text arrays concatenated."""
        if self.flat is not None and self.flat.owner is self.items:
            return self.flat
        return Columns.of(self.items)

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
            return replace(self, items=self.items[i], contexts=ctx, flat=None)
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
            flat=None,
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

    def probs(self) -> list[np.ndarray]:
        """Per-token probabilities of every text (a list of (n_i,) float32 arrays)."""
        return [t.probs() for t in self.items]

    def token_score(
        self, unit: Unit = "nats", kind: Kind = "surprisal"
    ) -> list[list[tuple[str, float]]]:
        """``(piece, value)`` pairs per text; see :meth:`TextScore.token_score`."""
        return [t.token_score(unit, kind) for t in self.items]

    def __repr__(self) -> str:
        n_tok = sum(len(t) for t in self.items)
        n_un = sum(t.n_unscored for t in self.items)
        total = float(self.total().sum()) if self.items else 0.0
        mean = total / (n_tok - n_un) if n_tok - n_un else float("nan")
        unscored = f" ({n_un} unscored)" if n_un else ""
        ctx = "" if self.contexts is None else ", with contexts"
        return (
            f"Scores({len(self)} texts, {n_tok} tokens{unscored}, total {total:.3f} nats, "
            f"mean {mean:.3f} nats/token, model={self.model!r}, "
            f"bos_policy={self.bos_policy!r}{ctx})"
        )

    def _repr_html_(self) -> str:

        rows = [_heat_row(t, i) for i, t in enumerate(self.items[:NOTEBOOK_ROWS])]
        head = f"<p>{_html_escape(repr(self))}</p>"
        body = heatmap(rows, value_label="surprisal", unit="nats")
        if len(self) > NOTEBOOK_ROWS:
            body += (
                f'<p class="note">Showing the first {NOTEBOOK_ROWS} of {len(self)} texts; '
                "s[a:b] shows others.</p>"
            )
        return notebook_html(head + body)

    def to_records(
        self,
        unit: Unit = "nats",
        *,
        words: bool = False,
        correction: Literal["pimentel-meister"] | None = None,
    ) -> list[dict[str, Any]]:
        """One record per text, as ``surprisal score`` writes them in JSONL
        (:func:`surprisal.records.record`; ids are the positions as strings).

        >>> from surprisal.testing import tiny_lm
        >>> import surprisal
        >>> r = surprisal.score(["a b", "c"], model=tiny_lm("gpt2")).to_records()
        >>> [x["id"] for x in r], sorted(r[0])[:4]
        (['0', '1'], ['id', 'index', 'mean', 'n_tokens'])
        """
        w = words or correction is not None
        if not w:
            c = self.columns()
            names = list(dict.fromkeys(f.extra for f in FIELDS if f.extra and f.name in c.extras))
            uniform = self.flat is c or all(_extras(t) == names for t in self.items)
            if uniform:
                n = len(self.items)
                return records_of(c, [str(i) for i in range(n)], range(n), unit, names, None)
        return [
            record(str(i), i, t, unit, w, _extras(t), None, correction=correction)
            for i, t in enumerate(self.items)
        ]

    def to_dict(self, unit: Unit = "nats", **kw: Any) -> dict[str, Any]:
        """The run settings and :meth:`to_records` (keywords as there) in one dict."""
        return {
            "model": self.model,
            "bos_policy": self.bos_policy,
            "max_length": self.max_length,
            "stride": self.stride,
            "unit": unit,
            "contexts": None if self.contexts is None else list(self.contexts),
            "versions": dict(self.versions),
            "records": self.to_records(unit, **kw),
        }

    def to_json(self, path: str | Any | None = None, unit: Unit = "nats", **kw: Any) -> str:
        """:meth:`to_dict` as a JSON string; also written to ``path`` (UTF-8) when given."""
        doc = json.dumps(self.to_dict(unit, **kw), ensure_ascii=False)
        if path is not None:
            from pathlib import Path

            Path(path).write_text(doc, encoding="utf-8")
        return doc

    def to_pandas(self, unit: Unit = "nats") -> Any:
        """Long format: one row per token (text_index, token_index, token_id, token, start,
        end, piece, logprob (nats), surprisal (``unit``), and extras when computed)."""

        with paused_gc():
            return self._to_pandas(unit)

    def _to_pandas(self, unit: Unit) -> Any:
        import pandas as pd

        c = self.columns()
        cols: dict[str, Any] = {
            "text_index": c.text_index(),
            "token_index": c.token_index(),
            "token_id": c.token_ids,
            "token": c.tokens,
            "start": c.spans[:, 0],
            "end": c.spans[:, 1],
            "piece": c.pieces(),
            "logprob": c.logprobs,
            "surprisal": convert(-c.logprobs.astype("float64"), unit),
        }
        for f in FIELDS[1:]:  # the extras computed, one column each
            v = c.extras.get(f.name)
            if v is not None:
                v = v[c.bow_rows()] if f.name == "bow" else v
                cols[f.name] = v.tolist() if v.ndim > 1 else v
        df = pd.DataFrame(cols, copy=False)
        df.attrs.update(model=self.model, bos_policy=self.bos_policy, unit=unit)
        return df


def _short(text: str, n: int = 40) -> str:
    return text if len(text) <= n else text[: n - 1] + "\u2026"


def _extras(ts: TextScore) -> list[str]:
    """The extras computed for ``ts`` (the ``extras=`` names)."""
    return list(
        dict.fromkeys(f.extra for f in FIELDS if f.extra and getattr(ts, f.name) is not None)
    )


def _heat_row(ts: TextScore, i: int, label: str | None = None) -> dict[str, Any]:
    return {
        "label": label if label is not None else f"{i}: {_short(ts.text, 60)}",
        "pieces": ts.pieces,
        "values": ts.surprisal().tolist(),
        "extra": {"total": f"{ts.total():.3f} nats", "tokens": str(len(ts))},
    }


def _html_escape(s: str) -> str:
    import html

    return html.escape(s)
