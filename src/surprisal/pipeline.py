"""Streams in chunks, tokenized ahead on a worker thread while the current chunk scores.

:func:`score_iter` and :func:`surprisal.score_to_file` read their input as a stream. Here
the stream is cut into chunks of about ``chunk_tokens`` tokens (enough to fill several of
the device's batches, so batching and packing have room to work), or of ``chunk_size``
records when the caller fixes that, and each chunk is tokenized on a worker thread while
the one before it is scored: the Rust tokenizer releases the GIL, so the two overlap.
The worker encodes through :func:`surprisal.tokenize.encode_flat`, whose tokenizer copy is
never reconfigured, so sharing it with the scoring thread is safe.

Token counts are not known before tokenizing; a chunk is cut by characters, at the
characters-per-token ratio measured on the chunks so far (4 to start with).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from .errors import SurprisalError
from .tokenize import Encodings, encode_flat

__all__ = ["DEFAULT_CHUNK_TOKENS", "chunk_tokens_for", "prefetched"]

T = TypeVar("T")

DEFAULT_CHUNK_TOKENS = 8  # chunks of 8 device batches: packing finds its fits, and the
# worker's next chunk is ready long before this one is scored
# CPU budgets are small (512-2,048 tokens), and each chunk pays its own planning and
# packing: at 16k-token chunks score_to_file spent 7-15% longer than at 64k (2 cores,
# 20,000 texts, the near-free model of benchmarks/bench_host.py).
MIN_CHUNK_TOKENS = 65536
MAX_CHUNK_RECORDS = 100_000  # bounds memory when texts are tiny (or empty)


def chunk_tokens_for(batch_tokens: int) -> int:
    """Tokens per chunk for a device batch budget: ``DEFAULT_CHUNK_TOKENS`` batches, at
    least ``MIN_CHUNK_TOKENS``."""
    return max(MIN_CHUNK_TOKENS, DEFAULT_CHUNK_TOKENS * batch_tokens)


def _chunks(
    stream: Iterator[T],
    text_of: Callable[[T], str],
    chunk_tokens: int,
    chunk_size: int | None,
    ratio: list[float],
) -> Iterator[list[T]]:
    """``chunk_size`` records at a time, or (None) records up to about ``chunk_tokens``
    tokens, estimated from their characters at ``ratio[0]`` characters per token."""
    while True:
        chunk: list[T] = []
        chars = 0
        limit = chunk_size if chunk_size is not None else MAX_CHUNK_RECORDS
        for item in stream:
            chunk.append(item)
            chars += len(text_of(item))
            if len(chunk) >= limit or (chunk_size is None and chars >= chunk_tokens * ratio[0]):
                break
        if not chunk:
            return
        yield chunk


def prefetched(
    stream: Iterator[T],
    text_of: Callable[[T], str],
    tokenizer: Any,
    *,
    parse_special_tokens: bool,
    chunk_tokens: int,
    chunk_size: int | None = None,
    keep: Callable[[T], bool] | None = None,
) -> Iterator[tuple[list[T], list[T], Encodings | None]]:
    """``(chunk, kept, encodings)`` per chunk of ``stream``: the chunk's items, those that
    ``keep`` accepts (all without it), and the kept items' texts tokenized (None when a
    text cannot be tokenized: the scoring side reports it), one chunk ahead
    on a worker thread. An exception in the worker (reading the stream, a bad text) is
    raised here, at the chunk where it happened; closing this generator stops the worker."""
    out: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=1)  # one chunk ahead
    stop = threading.Event()
    ratio = [4.0]  # characters per token, updated from each chunk tokenized

    def put(item: tuple[str, Any]) -> bool:
        while not stop.is_set():
            try:
                out.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for chunk in _chunks(stream, text_of, chunk_tokens, chunk_size, ratio):
                kept = [x for x in chunk if keep is None or keep(x)]
                texts = [text_of(x) for x in kept]
                try:
                    encs = encode_flat(tokenizer, texts, parse_special_tokens=parse_special_tokens)
                except SurprisalError:  # a bad text: the scoring side reports it, in context
                    encs = None
                    texts = []
                n_tok = 0 if encs is None else int(encs.bounds[-1])
                n_chr = sum(len(t) for t in texts)
                if n_tok:
                    ratio[0] = max(0.5, n_chr / n_tok)
                if not put(("chunk", (chunk, kept, encs))):
                    return
            put(("end", None))
        except BaseException as exc:  # handed to the consumer, raised there
            put(("error", exc))

    worker = threading.Thread(target=work, name="surprisal-tokenize", daemon=True)
    worker.start()
    try:
        while True:
            kind, value = out.get()
            if kind == "end":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        stop.set()
        worker.join(timeout=1.0)  # a worker blocked reading the caller's stream ends later
