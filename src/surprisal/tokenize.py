"""Text to token ids and character spans, and sequences to scoring windows.

Every text is tokenized on its own, without the tokenizer's special tokens; the library
adds the document-boundary token itself (see ``LM.bos_policy``), so it is never doubled.
A context and a target are tokenized separately and joined at the id level, so a target's
tokens are the same with and without context.

Spans partition the text: token i covers ``text[spans[i, 0]:spans[i, 1]]``, the spans are
contiguous, start at 0 and end at ``len(text)``. Whitespace the tokenizer folds into a
token (``Ġcat`` = `` cat``) belongs to that token; characters no token claims (a normalizer
dropped them) go to the token before them (or the first token). When tokens claim the same
characters (the byte-fallback pieces of one emoji, or a SentencePiece ``▁`` the tokenizer
prepended before ``The``), the last of them gets the characters and the others an empty
span: ``["▁", "The"]`` has pieces ``["", "The"]``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from .errors import SurprisalError

__all__ = ["WORD_START", "Encoded", "Window", "check_texts", "encode", "windows"]

# First characters of a vocabulary string that mark the start of a new word: byte-level
# BPE's space/newline/tab/CR (Ġ Ċ ĉ č), SentencePiece's ▁, and raw whitespace.
WORD_START = ("Ġ", "▁", " ", "Ċ", "ĉ", "\n", "\t", "\r", "č")


@dataclass(frozen=True)
class Encoded:
    """One tokenized text: ids (n,), spans (n, 2) character offsets, token strings."""

    text: str
    ids: list[int]
    spans: np.ndarray  # (n, 2) int64
    tokens: list[str]


def check_texts(texts: object, what: str = "texts", offset: int = 0) -> list[str]:
    """Validate the user's texts: a str (one text) or a sequence of str."""
    if isinstance(texts, str):
        return [texts]
    if texts is None or not isinstance(texts, Iterable) or isinstance(texts, (bytes, dict)):
        raise TypeError(f"{what} must be a string or a list of strings, got {type(texts).__name__}")
    out = list(texts)
    for i, t in enumerate(out):
        if not isinstance(t, str):
            raise TypeError(
                f"{what}[{i + offset}] is {type(t).__name__} ({t!r:.40}); every item must be a "
                "str. Convert or drop it before scoring."
            )
    return out


def _partition(offsets: Sequence[tuple[int, int]], n_chars: int) -> np.ndarray:
    """Turn the tokenizer's (start, end) offsets into contiguous spans covering [0, n_chars)."""
    n = len(offsets)
    spans = np.zeros((n, 2), dtype=np.int64)
    if n == 0:
        return spans
    prev_end = 0
    for i, (_, end) in enumerate(offsets):
        if i + 1 < n and int(offsets[i + 1][0]) < int(end):
            # The next token claims these characters too: this one is a marker the tokenizer
            # added (a leading "▁") or an early byte of a multi-byte character. It gets an
            # empty span; the characters go to the last token that claims them.
            end = prev_end
        end = max(int(end), prev_end)
        spans[i, 0] = prev_end
        spans[i, 1] = end
        prev_end = end
    spans[-1, 1] = n_chars  # trailing characters no token claimed
    return spans


def encode(tokenizer: object, texts: Sequence[str]) -> list[Encoded]:
    """Tokenize texts (batched, no special tokens) with exact character spans."""
    if not texts:
        return []
    enc = tokenizer(  # type: ignore[operator]
        list(texts), add_special_tokens=False, return_offsets_mapping=True
    )
    out = []
    for text, ids, offsets in zip(texts, enc["input_ids"], enc["offset_mapping"], strict=True):
        ids = [int(i) for i in ids]
        tokens = tokenizer.convert_ids_to_tokens(ids)  # type: ignore[attr-defined]
        out.append(Encoded(text, ids, _partition(offsets, len(text)), list(tokens)))
    return out


@dataclass(frozen=True)
class Window:
    """A slice of a token sequence fed to the model in one piece.

    ``ids[score_from:]`` are scored, each predicted from the position before it;
    ``ids[:score_from]`` are context only. ``offset`` is where ``ids`` starts in the full
    sequence, so scored token ``ids[j]`` is sequence position ``offset + j``.
    """

    ids: list[int]
    score_from: int
    offset: int


def windows(seq: Sequence[int], first_scored: int, max_length: int, stride: int) -> list[Window]:
    """Cut a sequence into model-sized windows; every token from ``first_scored`` on is scored once.

    The first window is ``seq[:max_length]``. Each later window starts ``stride`` tokens after
    the previous one and scores only the tokens the previous one did not reach, so every
    scored token sees at least ``max_length - stride`` tokens of context (or all of them).

    >>> [(w.offset, w.score_from, len(w.ids)) for w in windows(list(range(10)), 1, 4, 2)]
    [(0, 1, 4), (2, 2, 4), (4, 2, 4), (6, 2, 4)]
    """
    if not 1 <= stride <= max_length - 1:
        raise SurprisalError(
            f"stride must be between 1 and max_length - 1 = {max_length - 1}, got {stride}"
        )
    n = len(seq)
    if n <= max_length:
        return [Window(list(seq), first_scored, 0)]
    out = [Window(list(seq[:max_length]), first_scored, 0)]
    done = max_length  # tokens [0, done) are scored (or context-only)
    start = 0
    while done < n:
        start += stride
        end = min(start + max_length, n)
        if end <= done:  # cannot happen with 1 <= stride < max_length, kept as a guard
            raise AssertionError("window made no progress")
        first = max(done, first_scored)
        out.append(Window(list(seq[start:end]), first - start, start))
        done = end
    return out
