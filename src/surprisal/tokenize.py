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

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import chain

import numpy as np

from .errors import SurprisalError

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
    """Validate the user's texts: a str (one text) or a sequence of str, each valid Unicode.

    A lone surrogate (``"\\ud800"``: half of a UTF-16 pair, not a character) cannot be
    tokenized; it raises :class:`SurprisalError` naming the text and the position, rather
    than being replaced silently (replace it yourself if U+FFFD is what you mean).
    """
    if isinstance(texts, str):
        _check_unicode([texts], what, offset, single=True)
        return [texts]
    if isinstance(texts, np.ndarray) and texts.ndim == 0:
        raise TypeError(
            f"{what} must be a string or a list of strings, got a 0-d numpy array "
            f"({texts!r:.40}); pass {what}.item() for one text or {what}.tolist() for several"
        )
    if texts is None or not isinstance(texts, Iterable) or isinstance(texts, (bytes, dict)):
        raise TypeError(
            f"{what} must be a string or a list of strings, got {type(texts).__name__} "
            f"({texts!r:.40})"
        )
    try:
        out = list(texts)
    except TypeError as exc:
        raise TypeError(
            f"{what} must be a string or a list of strings, got {type(texts).__name__} "
            f"that cannot be iterated ({exc})"
        ) from None
    for i, t in enumerate(out):
        if not isinstance(t, str):
            raise TypeError(
                f"{what}[{i + offset}] is {type(t).__name__} ({t!r:.40}); every item must be a "
                "str. Convert or drop it before scoring."
            )
    _check_unicode(out, what, offset)
    return out


_SURROGATE = re.compile(r"[\ud800-\udfff]")


def _check_unicode(texts: Sequence[str], what: str, offset: int, single: bool = False) -> None:
    """Raise SurprisalError at the first lone surrogate, naming the text and the position."""
    for i, t in enumerate(texts):
        m = _SURROGATE.search(t)
        if m is not None:
            name = what if single else f"{what}[{i + offset}]"
            raise SurprisalError(
                f"{name} has a lone surrogate U+{ord(m.group()):04X} at character {m.start()} "
                f"({t[max(0, m.start() - 10) : m.start()]!r} before it): not a Unicode "
                "character, so it cannot be tokenized. Fix the decoding that produced it, or "
                "replace it: re.sub('[\\ud800-\\udfff]', '\\ufffd', text)"
            )


def _partition_many(
    offsets: Sequence[Sequence[tuple[int, int]]], n_chars: Sequence[int]
) -> list[np.ndarray]:
    """Turn each text's (start, end) token offsets from the tokenizer into contiguous spans
    covering ``[0, n_chars)``, for many texts at once, vectorised over all their tokens.

    Token i's end is its own end unless the next token claims some of the same characters
    (a marker the tokenizer added, such as a leading ``▁``, or an early byte of a multi-byte
    character): then it gets an empty span and the characters go to the last token that
    claims them. Ends never go backwards (a running maximum), each span starts where the
    one before it ended, and the last one ends at the text's end (trailing characters no
    token claimed). Texts are laid end to end, each shifted past the previous one's length,
    so one running maximum over the concatenation serves all of them."""
    lens = np.fromiter((len(o) for o in offsets), np.int64, len(offsets))
    total = int(lens.sum())
    if total == 0:
        return [np.zeros((0, 2), np.int64) for _ in offsets]
    pairs = chain.from_iterable(chain.from_iterable(offsets))  # C-level iteration
    flat = np.fromiter(pairs, np.int64, 2 * total).reshape(total, 2)
    starts, ends = flat[:, 0], flat[:, 1]
    text_of = np.repeat(np.arange(len(offsets)), lens)
    last = np.cumsum(lens) - 1  # each text's last token (texts without tokens: not used)
    claimed = np.zeros(total, bool)
    claimed[:-1] = starts[1:] < ends[:-1]
    claimed[last[lens > 0]] = False  # the next token belongs to another text
    shift = np.concatenate([[0], np.cumsum(np.asarray(n_chars, np.int64) + 1)])[:-1]
    cand = np.where(claimed, 0, ends) + shift[text_of]
    cand = np.maximum(cand, shift[text_of])  # a text's ends start from its own 0
    run = np.maximum.accumulate(cand) - shift[text_of]
    spans = np.empty((total, 2), np.int64)
    spans[:, 1] = run
    spans[1:, 0] = run[:-1]
    first = np.cumsum(lens) - lens
    spans[first[lens > 0], 0] = 0
    spans[last[lens > 0], 1] = np.asarray(n_chars, np.int64)[lens > 0]
    return np.split(spans, np.cumsum(lens)[:-1])


def encode(
    tokenizer: object, texts: Sequence[str], *, parse_special_tokens: bool = False
) -> list[Encoded]:
    """Tokenize texts (batched, no special tokens added) with exact character spans.

    By default a special token's string inside a text (``"<|endoftext|>"``, ``"<s>"``) is
    plain text, tokenized character by character like any other, so a text cannot put a
    document boundary in the middle of itself. ``parse_special_tokens=True`` turns such
    strings into the special tokens instead (what ``tokenizer(text)`` does).
    """
    if not texts:
        return []
    _check_unicode(texts, "a text to tokenize", 0, single=True)
    enc = tokenizer(  # type: ignore[operator]
        list(texts),
        add_special_tokens=False,
        return_offsets_mapping=True,
        split_special_tokens=not parse_special_tokens,
        # For this call only: no "Token indices sequence length is longer than the specified
        # maximum ... indexing errors" message, since long texts are scored in windows. It
        # is not marked as shown either, so the caller's own tokenizer calls still get it.
        verbose=False,
    )
    ids_all = [list(map(int, ids)) for ids in enc["input_ids"]]
    spans = _partition_many(enc["offset_mapping"], [len(t) for t in texts])
    # A fast tokenizer's encodings carry the token strings already (made in Rust); a slow
    # one is asked id by id.
    encodings = getattr(enc, "encodings", None)
    if encodings is not None and len(encodings) == len(texts):
        tokens_all = [list(e.tokens) for e in encodings]
    else:
        tokens_all = [list(tokenizer.convert_ids_to_tokens(ids)) for ids in ids_all]  # type: ignore[attr-defined]
    return [
        Encoded(text, ids, sp, toks)
        for text, ids, sp, toks in zip(texts, ids_all, spans, tokens_all, strict=True)
    ]


@dataclass(frozen=True)
class Window:
    """A slice of a token sequence fed to the model in one piece.

    ``ids[score_from:]`` are scored, each predicted from the position before it;
    ``ids[:score_from]`` are context only. ``offset`` is where ``ids`` starts in the full
    sequence, so scored token ``ids[j]`` is sequence position ``offset + j``. With
    ``last_unfed`` the last id is a target only (never fed: nothing is predicted from it),
    so the window feeds ``len(ids) - 1`` tokens.
    """

    ids: list[int]
    score_from: int
    offset: int
    last_unfed: bool = False


def windows(seq: Sequence[int], first_scored: int, max_length: int, stride: int) -> list[Window]:
    """Cut a sequence into model-sized windows; every token from ``first_scored`` on is scored once.

    The rule (M = ``max_length``): the first window feeds ``seq[:M]`` and scores the tokens
    ``seq[first_scored : M + 1]``, each with all the tokens before it: M inputs predict M
    tokens, the last of which is never fed (``last_unfed``). The tokens after it are cut
    into as few runs of at most ``stride`` tokens as possible, of near-equal length; each
    run is scored by a full window of M tokens that ends at the run's last token. So every
    token sees at least ``M - stride`` tokens of context, and the runs being balanced, the
    least context any of them gets is as large as that many windows allow (the last window
    is never short). When ``first_scored > M`` (a long context before the text) every
    scored token is in such a run.

    >>> [(w.offset, w.score_from, len(w.ids)) for w in windows(list(range(10)), 1, 4, 2)]
    [(0, 1, 5), (3, 2, 4), (5, 2, 4), (6, 3, 4)]
    >>> [(w.offset, w.score_from, w.ids, w.last_unfed) for w in windows([0, 1, 2, 3, 4], 1, 4, 2)]
    [(0, 1, [0, 1, 2, 3, 4], True)]
    """
    if not 1 <= stride <= max_length - 1:
        raise SurprisalError(
            f"stride must be between 1 and max_length - 1 = {max_length - 1}, got {stride}"
        )
    n, M = len(seq), max_length
    if n <= M:
        return [Window(list(seq), first_scored, 0)]
    if first_scored >= n:  # nothing to score: the last full window, as context only
        return [Window(list(seq[n - M :]), M, n - M)]
    out = []
    if first_scored <= M:  # M fed tokens predict seq[1 .. M]
        out.append(Window(list(seq[: M + 1]), first_scored, 0, last_unfed=True))
    base = max(first_scored, M + 1)  # tokens [base, n) are scored by full windows ending at them
    if base >= n:
        return out
    runs = -(-(n - base) // stride)  # ceil: as few windows as the stride allows
    q, r = divmod(n - base, runs)  # the first r runs get q + 1 tokens, the others q
    a = base
    for k in range(runs):
        b = a + q + (1 if k < r else 0)
        out.append(Window(list(seq[b - M : b]), a - (b - M), b - M))
        a = b
    return out
