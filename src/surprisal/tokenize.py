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
import threading
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any

import numpy as np

from .columns import paused_gc
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
    """:func:`_partition_flat` for offsets given per text (lists of ``(start, end)`` pairs);
    one (n_i, 2) array of spans per text."""
    lens = np.fromiter((len(o) for o in offsets), np.int64, len(offsets))
    total = int(lens.sum())
    if total == 0:
        return [np.zeros((0, 2), np.int64) for _ in offsets]
    pairs = chain.from_iterable(chain.from_iterable(offsets))  # C-level iteration
    flat = np.fromiter(pairs, np.int64, 2 * total).reshape(total, 2)
    spans = _partition_flat(flat, lens, np.asarray(n_chars, np.int64))
    return np.split(spans, np.cumsum(lens)[:-1])


def _partition_flat(flat: np.ndarray, lens: np.ndarray, n_chars: np.ndarray) -> np.ndarray:
    """Turn every text's (start, end) token offsets from the tokenizer, (sum(lens), 2) laid
    end to end, into contiguous spans covering each text's ``[0, n_chars)``, vectorised over
    all their tokens.

    Token i's end is its own end unless the next token claims some of the same characters
    (a marker the tokenizer added, such as a leading ``▁``, or an early byte of a multi-byte
    character): then it gets an empty span and the characters go to the last token that
    claims them. Ends never go backwards (a running maximum), each span starts where the
    one before it ended, and the last one ends at the text's end (trailing characters no
    token claimed). Texts are laid end to end, each shifted past the previous one's length,
    so one running maximum over the concatenation serves all of them."""
    total = len(flat)
    if total == 0:
        return np.zeros((0, 2), np.int64)
    starts, ends = flat[:, 0], flat[:, 1]
    text_of = np.repeat(np.arange(len(lens)), lens)
    last = np.cumsum(lens) - 1  # each text's last token (texts without tokens: not used)
    claimed = np.zeros(total, bool)
    claimed[:-1] = starts[1:] < ends[:-1]
    claimed[last[lens > 0]] = False  # the next token belongs to another text
    shift = np.concatenate([[0], np.cumsum(n_chars + 1)])[:-1][text_of]
    cand = np.where(claimed, 0, ends) + shift
    cand = np.maximum(cand, shift)  # a text's ends start from its own 0
    run = np.maximum.accumulate(cand) - shift
    spans = np.empty((total, 2), np.int64)
    spans[:, 1] = run
    spans[1:, 0] = run[:-1]
    first = np.cumsum(lens) - lens
    spans[first[lens > 0], 0] = 0
    spans[last[lens > 0], 1] = n_chars[lens > 0]
    return spans


@dataclass(frozen=True)
class Encodings:
    """Many tokenized texts as flat arrays: text ``i``'s tokens are ``ids[bounds[i]:
    bounds[i + 1]]``, their character spans (partitioning the text) the same rows of
    ``spans``, and their strings the same items of ``tokens``."""

    texts: list[str]
    ids: np.ndarray  # (N,) int64, every text's tokens laid end to end
    spans: np.ndarray  # (N, 2) int64 character offsets, each text's from its own 0
    bounds: np.ndarray  # (n_texts + 1,) int64
    tokens: list[str]  # (N,) the tokenizer's strings for the ids

    def __len__(self) -> int:
        return len(self.texts)

    def lengths(self) -> np.ndarray:
        """(n_texts,) tokens per text."""
        return np.diff(self.bounds)

    def __getitem__(self, i: int) -> Encoded:
        a, b = int(self.bounds[i]), int(self.bounds[i + 1])
        return Encoded(self.texts[i], self.ids[a:b].tolist(), self.spans[a:b], self.tokens[a:b])


# A private copy of each fast tokenizer's Rust backend, configured once for scoring (no
# truncation, no padding, special-token strings split or parsed) and never changed after:
# the caller's tokenizer is not reconfigured per call, and threads can share the copy
# (concurrent encodes only read it; reconfiguring a tokenizer while another thread encodes
# with it raises "Already borrowed"). Held weakly: it goes with the tokenizer.
_BACKENDS: weakref.WeakKeyDictionary[Any, dict[tuple[bool, int], Any]] = weakref.WeakKeyDictionary()
_VOCABS: weakref.WeakKeyDictionary[Any, tuple[int, np.ndarray]] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def _backend(tokenizer: Any, split_special: bool) -> Any | None:
    """The private backend copy for ``tokenizer`` (None: no Rust backend, or one that cannot
    be copied, such as a custom Python pre-tokenizer; the tokenizer's own call is used)."""
    bt = getattr(tokenizer, "backend_tokenizer", None)
    if bt is None or not hasattr(bt, "encode_batch"):
        return None
    key = (split_special, len(tokenizer))  # tokens added since: a new copy
    with _LOCK:
        try:
            per = _BACKENDS.setdefault(tokenizer, {})
        except TypeError:  # not weak-referenceable
            return None
        if key not in per:
            try:
                own = type(bt).from_str(bt.to_str())
                own.no_truncation()
                own.no_padding()
                own.encode_special_tokens = split_special
            except Exception:  # a component that does not serialise
                return None
            per[key] = own
        return per[key]


def _vocab(tokenizer: Any) -> np.ndarray:
    """Every id's token string, (len(tokenizer),) object array (cached per tokenizer)."""
    n = len(tokenizer)
    with _LOCK:
        got = _VOCABS.get(tokenizer)
        if got is not None and got[0] == n:
            return got[1]
    arr = np.empty(n, dtype=object)
    arr[:] = tokenizer.convert_ids_to_tokens(list(range(n)))
    with _LOCK:
        _VOCABS[tokenizer] = (n, arr)
    return arr


def encode_flat(
    tokenizer: object, texts: Sequence[str], *, parse_special_tokens: bool = False
) -> Encodings:
    """Tokenize texts (no special tokens added) into flat arrays with exact character spans.

    A fast tokenizer's Rust ``encode_batch`` is called directly (it uses the cores the
    tokenizer's own ``TOKENIZERS_PARALLELISM`` allows and releases the GIL, so another
    thread can score meanwhile); ids and offsets go to numpy in bulk and the spans are
    computed over all tokens at once. Other tokenizers are called as ``tokenizer(texts)``.
    Special-token strings inside a text are plain text unless ``parse_special_tokens``
    (see :func:`encode`).
    """
    texts = list(texts)
    _check_unicode(texts, "a text to tokenize", 0, single=True)
    n_chars = np.fromiter((len(t) for t in texts), np.int64, len(texts))
    if not texts:
        z = np.zeros(0, np.int64)
        return Encodings([], z, z.reshape(0, 2), np.zeros(1, np.int64), [])
    with paused_gc():  # a tuple per token's offsets, none of them in a cycle
        return _encode_flat(tokenizer, texts, n_chars, parse_special_tokens)


def _encode_flat(
    tokenizer: Any, texts: list[str], n_chars: np.ndarray, parse_special_tokens: bool
) -> Encodings:
    bt = _backend(tokenizer, not parse_special_tokens)
    if bt is not None:
        encs = bt.encode_batch(texts, add_special_tokens=False)
        lens = np.fromiter((len(e) for e in encs), np.int64, len(encs))
        total = int(lens.sum())
        ids = np.fromiter(chain.from_iterable(e.ids for e in encs), np.int64, total)
        pairs = chain.from_iterable(chain.from_iterable(e.offsets for e in encs))
        offsets = np.fromiter(pairs, np.int64, 2 * total).reshape(total, 2)
        tokens = _vocab(tokenizer)[ids].tolist()
    else:
        enc = tokenizer(  # type: ignore[operator]
            texts,
            add_special_tokens=False,
            return_offsets_mapping=True,
            split_special_tokens=not parse_special_tokens,
            # For this call only: no "Token indices sequence length is longer than the
            # specified maximum ... indexing errors" message, since long texts are scored in
            # windows; the caller's own tokenizer calls still get it.
            verbose=False,
        )
        per_text = [list(map(int, i)) for i in enc["input_ids"]]
        lens = np.fromiter((len(i) for i in per_text), np.int64, len(per_text))
        total = int(lens.sum())
        ids = np.fromiter(chain.from_iterable(per_text), np.int64, total)
        pairs = chain.from_iterable(chain.from_iterable(enc["offset_mapping"]))
        offsets = np.fromiter(pairs, np.int64, 2 * total).reshape(total, 2)
        tokens = list(tokenizer.convert_ids_to_tokens(ids.tolist()))  # type: ignore[attr-defined]
    spans = _partition_flat(offsets, lens, n_chars)
    bounds = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
    return Encodings(texts, ids, spans, bounds, tokens)


def encode(
    tokenizer: object, texts: Sequence[str], *, parse_special_tokens: bool = False
) -> list[Encoded]:
    """Tokenize texts (batched, no special tokens added) with exact character spans.

    By default a special token's string inside a text (``"<|endoftext|>"``, ``"<s>"``) is
    plain text, tokenized character by character like any other, so a text cannot put a
    document boundary in the middle of itself. ``parse_special_tokens=True`` turns such
    strings into the special tokens instead (what ``tokenizer(text)`` does). The flat form
    is :func:`encode_flat`.
    """
    if not texts:
        return []
    flat = encode_flat(tokenizer, texts, parse_special_tokens=parse_special_tokens)
    return [flat[i] for i in range(len(flat))]


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
