"""Word-level surprisal: which tokens make a word, and the beginning-of-word corrections.

A word's surprisal is the sum of its tokens' surprisals, in nats, plus (optionally) a
correction for where the word begins and ends. Dimension letters: n tokens of a text,
m words, V vocabulary.

Segmentation
------------
* default: **whitespace words**, maximal runs of non-whitespace characters. A token
  belongs to the word holding its first non-whitespace character; whitespace-only tokens
  go to the next word (or the last word at the end of the text), so the words' surprisals
  add up to the text's total.
* ``words=[...]``: **your segmentation**, a list of strings that appear in the text in
  order (punctuation split off, a corpus's own tokenization). Characters between them
  belong to no word; a token lying entirely between two words goes to the next one. A token
  that covers characters of two words (``"don't"`` as ``do`` + ``n't`` when the tokenizer
  has one token ``n't``... or ``mat.`` as one token) cannot be shared out: both words get
  NaN, never a guess.
* ``correction="wordsprobability"``: the ``wordsprobability`` package's segmentation, a
  word begins at each token whose vocabulary string starts with ``Ġ`` (and at the first
  token); see below.

Corrections
-----------
A word's probability is the probability of its tokens *and* of the word ending where it
ends (Pimentel & Meister 2024, "How to Compute the Probability of a Word"):
``log p(w) = sum log p(tokens) + log P_bow(end) - log P_bow(start)``, where
``P_bow(i)`` is the probability that the token at position ``i`` begins a new word.

* ``"pimentel-meister"`` (this package's rule, from the ``bow`` extra): ``P_bow`` is the
  mass of tokens whose string starts with a whitespace marker (:data:`WORD_START`: ``Ġ``,
  ``▁``, ``Ċ`` newline, ``ĉ`` tab, ``č`` CR, or a literal space/tab/newline/CR) plus EOS;
  the end term is applied to every word (after the last token: the mass after the text, EOS
  included); the start term ``- log P_bow(start)`` only where the word's first token carries
  such a marker, so the text's first word (no marker) has **no** start term.
* ``"wordsprobability"``: the convention of the ``wordsprobability`` 0.17 package
  (Pimentel & Meister's code), matched to 1e-3 nats per word on GPT-2-style tokenizers:
  ``P_bow`` is the mass of ``Ġ``-tokens plus EOS only (newline, tab and CR tokens do **not**
  begin words: they stay inside the word before them); the first word gets the term
  ``+ log P_bos``, the mass of everything that does not begin with ``Ġ`` after BOS (as the
  package computes it: vocabulary minus ``Ġ``-tokens minus ids past the tokenizer's base
  vocabulary, with EOS counted twice). These masses are not in the ``bow`` extra, so the
  model is passed (``model=lm``) and run once more per text, plainly. The package scores
  each line of a multi-line input as its own document and strips each; here a text is one
  document and must not start or end with whitespace, so pass lines as separate texts.
"""

from __future__ import annotations

import math
import string
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol, overload

import numpy as np

from .errors import SurprisalError
from .tokenize import WORD_START

if TYPE_CHECKING:
    from .lm import LM


class TextScore(Protocol):
    """What word aggregation reads of a scored text (:class:`surprisal.TextScore` has it)."""

    @property
    def text(self) -> str: ...
    @property
    def tokens(self) -> list[str]: ...
    @property
    def token_ids(self) -> np.ndarray: ...  # (n,) int64
    @property
    def spans(self) -> np.ndarray: ...  # (n, 2) character offsets
    @property
    def logprobs(self) -> np.ndarray: ...  # (n,) nats
    @property
    def bow(self) -> np.ndarray | None: ...  # (n + 1,) nats, or None
    def __len__(self) -> int: ...


Correction = Literal["pimentel-meister", "wordsprobability"]
CORRECTIONS = ("pimentel-meister", "wordsprobability")
LN2 = math.log(2.0)


def _convert(x: np.ndarray, unit: str) -> np.ndarray:
    if unit == "nats":
        return x
    if unit == "bits":
        return (x / LN2).astype(x.dtype)
    raise SurprisalError(f"unit must be 'nats' or 'bits', got {unit!r}")


@dataclass(frozen=True)
class Word:
    """One word: its text, character span, token range ``[start, end)`` and surprisal (nats)."""

    text: str
    span: tuple[int, int]
    token_range: tuple[int, int]
    surprisal_nats: float


@dataclass(frozen=True, eq=False, repr=False)
class Words(Sequence[Word]):
    """The words of one text with their surprisal; indexes and iterates as :class:`Word`.

    Attributes:
        words: the words' strings.
        spans: (m, 2) character offsets of the words in the text.
        token_ranges: (m, 2) the tokens ``[start, end)`` assigned to each word.
        surprisal_nats: (m,) float32 surprisal of each word, nats (NaN when a token in it
            is NaN, or when a token is shared with another word of a given segmentation).
        correction: None, "pimentel-meister" or "wordsprobability".

    >>> from surprisal.testing import tiny_lm
    >>> import surprisal
    >>> w = surprisal.score(["The cat sat."], model=tiny_lm("gpt2"))[0].words()
    >>> len(w), w[1].text, w.surprisal().dtype
    (3, 'cat', dtype('float32'))
    """

    words: list[str]
    spans: np.ndarray
    token_ranges: np.ndarray
    surprisal_nats: np.ndarray
    correction: str | None = None

    @overload
    def __getitem__(self, i: int) -> Word: ...
    @overload
    def __getitem__(self, i: slice) -> list[Word]: ...
    def __getitem__(self, i: int | slice) -> Word | list[Word]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if not -len(self) <= i < len(self):
            raise IndexError(f"word index {i} out of range for {len(self)} words")
        i %= len(self)
        a, b = (int(v) for v in self.spans[i])
        t0, t1 = (int(v) for v in self.token_ranges[i])
        return Word(self.words[i], (a, b), (t0, t1), float(self.surprisal_nats[i]))

    def __len__(self) -> int:
        return len(self.words)

    def __iter__(self) -> Iterator[Word]:
        return (self[i] for i in range(len(self)))

    def surprisal(self, unit: Literal["nats", "bits"] = "nats") -> np.ndarray:
        """(m,) float32 per-word surprisal in ``unit``."""
        return _convert(self.surprisal_nats, unit)

    def total(self, unit: Literal["nats", "bits"] = "nats") -> float:
        """Summed word surprisal (NaN words skipped), in ``unit``."""
        return float(np.nansum(self.surprisal(unit).astype(np.float64)))

    def to_pandas(self, unit: Literal["nats", "bits"] = "nats") -> Any:
        """One row per word: word_index, word, start, end, token_start, token_end, surprisal."""
        return _frame([self], unit, with_text_index=False)

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{w!r} {s:.2f}" for w, s in zip(self.words[:5], self.surprisal_nats[:5], strict=True)
        )
        more = f", ... ({len(self) - 5} more)" if len(self) > 5 else ""
        return f"Words({len(self)} words, nats, correction={self.correction!r}: {shown}{more})"


#: The name kept from earlier releases.
WordScore = Words


@dataclass(frozen=True, eq=False, repr=False)
class WordsList(Sequence[Words]):
    """The :class:`Words` of every text of a :class:`~surprisal.Scores`, in its order."""

    items: tuple[Words, ...]

    @overload
    def __getitem__(self, i: int) -> Words: ...
    @overload
    def __getitem__(self, i: slice) -> tuple[Words, ...]: ...
    def __getitem__(self, i: int | slice) -> Words | tuple[Words, ...]:
        return self.items[i]

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[Words]:
        return iter(self.items)

    def surprisal(self, unit: Literal["nats", "bits"] = "nats") -> list[np.ndarray]:
        """Per-word float32 surprisal of every text, in ``unit`` (a list of (m_i,) arrays)."""
        return [w.surprisal(unit) for w in self.items]

    def to_pandas(self, unit: Literal["nats", "bits"] = "nats") -> Any:
        """Long format: one row per word, with ``text_index`` first."""
        return _frame(list(self.items), unit, with_text_index=True)

    def __repr__(self) -> str:
        n = sum(len(w) for w in self.items)
        corr = self.items[0].correction if self.items else None
        return f"WordsList({len(self)} texts, {n} words, correction={corr!r})"


def _frame(items: list[Words], unit: Literal["nats", "bits"], *, with_text_index: bool) -> Any:
    import pandas as pd  # a core dependency; imported here to keep `import surprisal` cheap

    cols: dict[str, list[Any]] = {
        k: []
        for k in (
            "text_index",
            "word_index",
            "word",
            "start",
            "end",
            "token_start",
            "token_end",
            "surprisal",
        )
    }
    for ti, w in enumerate(items):
        m = len(w)
        cols["text_index"] += [ti] * m
        cols["word_index"] += list(range(m))
        cols["word"] += list(w.words)
        cols["start"] += w.spans[:, 0].tolist()
        cols["end"] += w.spans[:, 1].tolist()
        cols["token_start"] += w.token_ranges[:, 0].tolist()
        cols["token_end"] += w.token_ranges[:, 1].tolist()
        cols["surprisal"] += w.surprisal(unit).tolist()
    if not with_text_index:
        del cols["text_index"]
    df = pd.DataFrame(cols)
    df["surprisal"] = df["surprisal"].astype(np.float32)
    df.attrs.update(unit=unit, correction=items[0].correction if items else None)
    return df


# --------------------------------------------------------------------------------------
# segmentation: characters -> words, tokens -> words
# --------------------------------------------------------------------------------------


def _word_spans(text: str) -> list[tuple[int, int]]:
    """Maximal runs of non-whitespace characters."""
    out = []
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        j = i
        while j < n and not text[j].isspace():
            j += 1
        out.append((i, j))
        i = j
    return out


def _given_spans(text: str, given: Sequence[str], where: str) -> list[tuple[int, int]]:
    """Character spans of user-given words, found left to right."""
    if isinstance(given, str) or not isinstance(given, Sequence):
        raise TypeError(f"words for {where} must be a list of strings, got {type(given).__name__}")
    out, pos = [], 0
    for j, w in enumerate(given):
        if not isinstance(w, str):
            raise TypeError(f"word {j} for {where} must be a string, got {type(w).__name__}")
        if not w:
            raise SurprisalError(f"word {j} for {where} is empty; drop empty words")
        a = text.find(w, pos)
        if a < 0:
            raise SurprisalError(
                f"word {j} {w!r} for {where} does not appear in the text after character "
                f"{pos} ({text[pos : pos + 30]!r}...): words must be substrings of the text, "
                "in order"
            )
        out.append((a, a + len(w)))
        pos = a + len(w)
    return out


def _assign(
    spans: np.ndarray, wspans: list[tuple[int, int]], n_chars: int
) -> tuple[np.ndarray, np.ndarray]:
    """Token ranges (m, 2) of words given as character spans, and a (m,) bool mask of words
    that share a token with another word."""
    m, n = len(wspans), len(spans)
    owner = np.full(n_chars, -1, dtype=np.int64)  # word of each character, -1 between words
    for w, (a, b) in enumerate(wspans):
        owner[a:b] = w
    tok_word = np.full(n, -1, dtype=np.int64)
    shared = np.zeros(m, dtype=bool)
    for i, (a, b) in enumerate(spans):
        hit = owner[a:b]
        hit = hit[hit >= 0]
        if hit.size:
            tok_word[i] = hit[0]
            if hit[-1] != hit[0]:  # the token covers characters of several words
                shared[hit[0] : hit[-1] + 1] = True
    # tokens between words: to the next word, else (at the end) to the previous one
    nxt = -1
    for i in range(n - 1, -1, -1):
        if tok_word[i] >= 0:
            nxt = tok_word[i]
        elif nxt >= 0:
            tok_word[i] = nxt
    prev = -1
    for i in range(n):
        if tok_word[i] >= 0:
            prev = tok_word[i]
        elif prev >= 0:
            tok_word[i] = prev
    ranges = np.zeros((m, 2), dtype=np.int64)
    for w in range(m):
        idx = np.flatnonzero(tok_word == w)
        if idx.size:
            ranges[w] = (idx[0], idx[-1] + 1)
        else:  # inside a token that begins in an earlier word (so already marked shared)
            a, b = wspans[w]
            first = int(np.flatnonzero((spans[:, 0] < b) & (spans[:, 1] > a))[0])
            ranges[w] = (first, first + 1)
    return ranges, shared


def _wordsprobability_spans(ts: TextScore, where: str) -> tuple[list[tuple[int, int]], np.ndarray]:
    """The package's words: a new word at each ``Ġ`` token and at the first token."""
    if ts.text != ts.text.strip():
        raise SurprisalError(
            f"{where} starts or ends with whitespace; the wordsprobability convention scores "
            "stripped texts: pass text.strip()"
        )
    n = len(ts)
    starts = [i for i in range(n) if i == 0 or ts.tokens[i].startswith("Ġ")]
    bounds = [*starts, n]
    ranges = np.array([(bounds[k], bounds[k + 1]) for k in range(len(starts))], dtype=np.int64)
    spans = []
    for a, b in ranges:
        c0 = int(ts.spans[a][0]) + (1 if ts.tokens[a].startswith("Ġ") else 0)
        spans.append((c0, int(ts.spans[b - 1][1])))
    return spans, ranges.reshape(-1, 2)


# --------------------------------------------------------------------------------------
# the wordsprobability masses: a plain pass of the model
# --------------------------------------------------------------------------------------


def _wordsprobability_masses(lm: LM, ts: TextScore, where: str) -> tuple[np.ndarray, float]:
    """``log P_bow`` at every position (n + 1,) and ``log P_bos`` at the first, in nats, with
    the ``wordsprobability`` 0.17 vocabulary split (``models/bow_lm.py``: ``bow_fix``,
    ``bos_fix``)."""
    import torch

    tok = lm.tokenizer
    bos, eos = tok.bos_token_id, tok.eos_token_id
    if bos is None or eos is None:
        raise SurprisalError(
            "the wordsprobability convention needs a tokenizer with BOS and EOS tokens "
            f"(got bos={bos}, eos={eos}); use correction='pimentel-meister'"
        )
    ids = [int(bos), *ts.token_ids.tolist(), int(eos)]
    if len(ids) > lm.max_length:
        raise SurprisalError(
            f"{where} has {len(ts)} tokens; the wordsprobability masses are computed in one "
            f"window of at most {lm.max_length - 2}: split the text"
        )
    with torch.no_grad():
        x = torch.tensor([ids], device=lm.device)
        logits = lm.model(input_ids=x, use_cache=False).logits[0, :-1]  # (n + 1, V)
        logp = torch.log_softmax(logits.double(), dim=-1).cpu()
    V = logp.shape[-1]
    vocab = tok.get_vocab()
    bow = torch.zeros(V, dtype=torch.float64)
    useless = torch.zeros(V, dtype=torch.float64)
    eos_m = torch.zeros(V, dtype=torch.float64)
    bow_ids = [i for w, i in vocab.items() if w and w[0] == "Ġ" and i < V]
    if not bow_ids:
        raise SurprisalError(
            "the wordsprobability convention is defined for GPT-2-style byte-level tokenizers "
            "(word starts marked 'Ġ'); this tokenizer has none: use "
            "correction='pimentel-meister'"
        )
    bow[bow_ids] = 1.0
    useless[tok.vocab_size :] = 1.0
    eos_m[int(eos)] = 1.0
    # bow_fix: Ġ-tokens + EOS; bos_fix: mid + punct + EOS, with mid = 1 - bow - punct - useless
    # (punctuation cancels; EOS is in mid as well, so it counts twice, as in the package)
    p = logp.exp()  # (n + 1, V)
    log_bow = torch.log(p @ (bow + eos_m)).numpy()
    punct = torch.zeros(V, dtype=torch.float64)
    punct_ids = [i for w, i in vocab.items() if w and w[0] in string.punctuation and i < V]
    punct[punct_ids] = 1.0
    punct[int(eos)] = 0.0
    bos_w = (1.0 - bow - punct - useless) + punct + eos_m
    log_bos = float(torch.log(p[0] @ bos_w))
    return log_bow, log_bos


# --------------------------------------------------------------------------------------
# the verb
# --------------------------------------------------------------------------------------


def words_of(
    ts: TextScore,
    correction: Correction | None = None,
    *,
    words: Sequence[str] | None = None,
    model: LM | None = None,
    where: str = "the text",
) -> Words:
    """Word-level surprisal of one scored text; see the module docstring for the conventions.

    Args:
        ts: the text's scores (with ``extras=["bow"]`` for ``"pimentel-meister"``).
        correction: None, ``"pimentel-meister"`` or ``"wordsprobability"``.
        words: your own segmentation: strings that appear in the text in order.
        model: the :class:`~surprisal.LM` that scored ``ts``, for ``"wordsprobability"``.
        where: how errors name the text ("text 3").

    Returns:
        :class:`Words`, surprisal in nats (float32).
    """
    if correction not in (None, *CORRECTIONS):
        raise SurprisalError(
            f"correction must be None, 'pimentel-meister' or 'wordsprobability', got {correction!r}"
        )
    if correction is not None and words is not None:
        raise SurprisalError(
            f"correction={correction!r} defines word boundaries by the tokenizer's word-start "
            "markers, which a given segmentation overrides: pass words=... without a "
            "correction, or a correction without words"
        )
    if correction == "pimentel-meister" and ts.bow is None:
        raise SurprisalError(
            "the Pimentel-Meister correction needs beginning-of-word masses: score with "
            "surprisal.score(..., extras=['bow'])"
        )
    if correction == "wordsprobability" and model is None:
        raise SurprisalError(
            "correction='wordsprobability' needs masses the 'bow' extra does not hold "
            "(Ġ-tokens only, and the first word's term): pass the model, "
            "words(correction='wordsprobability', model=lm)"
        )
    text = ts.text
    lp = ts.logprobs.astype(np.float64)
    if correction == "wordsprobability":
        assert model is not None
        wspans, ranges = _wordsprobability_spans(ts, where)
        shared = np.zeros(len(wspans), dtype=bool)
        log_bow, log_bos = _wordsprobability_masses(model, ts, where)
    else:
        wspans = _word_spans(text) if words is None else _given_spans(text, words, where)
        ranges, shared = _assign(ts.spans, wspans, len(text))
    m = len(wspans)
    surp = np.zeros(m, dtype=np.float64)
    for w in range(m):
        a, b = int(ranges[w, 0]), int(ranges[w, 1])
        s = -lp[a:b].sum()
        if correction == "pimentel-meister":
            assert ts.bow is not None
            bow = ts.bow.astype(np.float64)
            s -= bow[b]
            if ts.tokens[a].startswith(WORD_START):  # the same markers as LM.bow_mask
                s += bow[a]
        elif correction == "wordsprobability":
            s += (log_bos if a == 0 else log_bow[a]) - log_bow[b]
        surp[w] = np.nan if shared[w] else s
    return Words(
        words=[text[a:b] for a, b in wspans],
        spans=np.array(wspans, dtype=np.int64).reshape(m, 2),
        token_ranges=np.asarray(ranges, dtype=np.int64).reshape(m, 2),
        surprisal_nats=surp.astype(np.float32),
        correction=correction,
    )


def words_of_all(
    items: Sequence[TextScore],
    correction: Correction | None = None,
    *,
    words: Sequence[Sequence[str]] | None = None,
    model: LM | None = None,
) -> WordsList:
    """:func:`words_of` for every text; ``words`` has one list of words per text."""
    if words is not None and len(words) != len(items):
        raise SurprisalError(
            f"words needs one list of words per text: got {len(words)} lists for {len(items)} texts"
        )
    return WordsList(
        tuple(
            words_of(
                ts,
                correction,
                words=None if words is None else words[i],
                model=model,
                where=f"text {i}",
            )
            for i, ts in enumerate(items)
        )
    )
