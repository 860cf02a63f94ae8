"""The scoring loop: jobs in, per-position float32 results out, in the caller's order.

Dimension letters: B batch rows, T time (padded row length), P shared-prefix length,
H hidden size, V vocabulary, N scored positions in a batch.

A :class:`Job` is one window of one text: ``ids`` fed to the model after an optional shared
prefix, of which ``ids[score_from:]`` are scored. Jobs are sorted by (prefix, length), cut
into batches by a token budget (``B * T <= batch_tokens``, ``B * P <= 8 * batch_tokens``),
and for each batch:

1. the prefix (if any) has been run once, its KV cache is expanded over the B rows;
2. the decoder body gives hidden states (B, T, H);
3. only the scored positions are gathered, (N, H), and sent through the fused head;
4. results land in the job's own slot, so the caller's order is restored for free.

On an accelerator out-of-memory error the budget halves and the batch is retried; no job
is dropped. :func:`run_jobs` with ``plain=True`` (or an LM whose fused head failed its
probe) takes the model's own logits instead of the fused head: the plain twin.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from . import masks
from ._compat import (
    CacheNotExpandable,
    cache_kwarg,
    expand_cache,
    is_oom,
    output_cache,
    text_config,
)
from ._progress import bar as progress_bar
from .errors import SurprisalError
from .fields import Extras
from .head import (
    HeadOut,
    Scratch,
    fused_head,
    plain_head,
    shared_row_head,
)
from .lm import LM
from .options import head_policy
from .prefix import right_aligned, shared_prefix, shared_prefix_ok
from .schedule import Job, PackIndex, next_batch


class JobResult:
    """One job's results: ``arrays`` maps field names (:data:`surprisal.fields.FIELDS`) to
    arrays over the job's scored tokens, (n,) or (n, K); ``tail_bow`` is the word-start mass
    after the job's last token, when the job asked for its tail; ``hidden`` is, with
    ``run_jobs(keep_hidden=True)``, what the head would read at each scored token: (n, H)
    hidden states (fused path) or (n, V) logits (plain path); the head is then not run
    and ``logprobs`` holds 0 placeholders.

    The results of one :func:`run_jobs` call share a few flat host arrays (``flat``): a job
    holds its rows ``at : at + n`` of them, and ``arrays`` (views) is made on first access,
    so that assembling a call's results costs a few array copies, not a dict per job."""

    __slots__ = ("_arrays", "at", "flat", "hidden", "n", "tail_bow")

    def __init__(
        self,
        arrays: dict[str, np.ndarray] | None = None,
        tail_bow: float | None = None,
        hidden: torch.Tensor | None = None,
        *,
        flat: dict[str, np.ndarray] | None = None,
        at: int = 0,
        n: int = 0,
    ) -> None:
        if (arrays is None) == (flat is None):
            raise TypeError("JobResult takes arrays or flat=, exactly one")
        self._arrays = arrays
        self.flat, self.at, self.n = flat, at, n
        self.tail_bow, self.hidden = tail_bow, hidden

    @property
    def arrays(self) -> dict[str, np.ndarray]:
        if self._arrays is None:
            assert self.flat is not None
            a, b = self.at, self.at + self.n
            self._arrays = {k: v[a:b] for k, v in self.flat.items()}
        return self._arrays

    @property
    def logprobs(self) -> np.ndarray:
        """(n,) float32 log-probabilities of the scored tokens, nats."""
        return self.arrays["logprobs"]


@dataclass
class RunStats:
    """What one call actually did: tokens fed to the model (padding included), tokens scored,
    prefix tokens encoded, forward calls and out-of-memory retries."""

    tokens_fed: int = 0
    tokens_scored: int = 0
    prefix_tokens: int = 0
    forward_calls: int = 0
    oom_retries: int = 0
    batch_tokens: int = 0

    def __add__(self, other: RunStats) -> RunStats:
        """Counts summed (two calls, or two ranks); ``batch_tokens`` is the larger budget."""
        return RunStats(
            tokens_fed=self.tokens_fed + other.tokens_fed,
            tokens_scored=self.tokens_scored + other.tokens_scored,
            prefix_tokens=self.prefix_tokens + other.prefix_tokens,
            forward_calls=self.forward_calls + other.forward_calls,
            oom_retries=self.oom_retries + other.oom_retries,
            batch_tokens=max(self.batch_tokens, other.batch_tokens),
        )


# On CPU a batch's activations should stay in cache: a hidden state of the batch takes at
# most CPU_STATE_BYTES in float32 (its MLP activations about 4x that), so 1,024 tokens for
# hidden size 768 and 2,048 (the cap) for 256. Measured on a 2-core EPYC with 32 MiB of L3
# (docs/benchmarks.md, "Token budget on CPU"): packed, GPT-2-small was 7% faster at 1,024
# tokens than at 2,048 and the 256-wide shapes 7-11% faster at 2,048 than at 4,096, while
# per-call overhead stays small next to a forward of 512 or more tokens.
CPU_STATE_BYTES = 4 * 2**20
CPU_BUDGET_RANGE = (512, 2048)


def default_batch_tokens(lm: LM) -> int:
    """A budget of tokens fed per batch (padding included), by device type and model width.

    CUDA: 32,768 (a few GB of activations for a 1B model; halves itself on OOM). CPU: the
    largest power of two with ``tokens * hidden_size * 4 bytes <= CPU_STATE_BYTES``, within
    ``CPU_BUDGET_RANGE`` (2,048 when the config names no hidden size).
    """
    if lm.device.type == "cuda":
        return 32768
    lo, hi = CPU_BUDGET_RANGE
    width = _hidden_size(lm.model)
    if width is None:
        return hi
    fit = CPU_STATE_BYTES // (4 * width)
    return max(lo, min(hi, 1 << max(0, fit.bit_length() - 1)))


def _hidden_size(model: Any) -> int | None:
    text_cfg = text_config(model)
    for attr in ("hidden_size", "n_embd", "d_model"):
        v = getattr(text_cfg, attr, None)
        if isinstance(v, int) and v > 0:
            return v
    return None


@dataclass
class _Prefix:
    cache: object
    last_hidden: torch.Tensor  # (H,) or, for the plain path, last logits (V,)
    length: int


@dataclass(frozen=True)
class _Flat:
    """Every job's token ids in one array: job ``i`` is ``tokens[offsets[i]:][:ends[i]]``,
    of which the first ``lengths[i]`` are fed (``ends[i] - lengths[i]`` is 1 for a job whose
    last id is a target only). Built once per call, so a batch is assembled by numpy
    indexing, never per token."""

    tokens: np.ndarray  # (sum of ends,) int64
    offsets: np.ndarray  # (n_jobs,) int64
    lengths: np.ndarray  # (n_jobs,) int64, ids fed
    ends: np.ndarray  # (n_jobs,) int64, ids in all (fed + target-only)
    score_from: np.ndarray  # (n_jobs,) int64
    tail: np.ndarray  # (n_jobs,) bool

    @classmethod
    def of(cls, jobs: Sequence[Job]) -> _Flat:
        ends = np.fromiter((len(j.ids) for j in jobs), np.int64, len(jobs))
        parts = [np.asarray(j.ids, dtype=np.int64) for j in jobs]
        tokens = np.concatenate(parts) if parts else np.zeros(0, np.int64)
        return cls(
            tokens=tokens,
            offsets=np.cumsum(ends) - ends,
            lengths=np.fromiter((j.fed for j in jobs), np.int64, len(jobs)),
            ends=ends,
            score_from=np.fromiter((j.score_from for j in jobs), np.int64, len(jobs)),
            tail=np.fromiter((j.tail for j in jobs), np.bool_, len(jobs)),
        )


def _ranks(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For segments of ``counts`` items laid end to end: each item's segment and its index
    inside the segment, both (sum(counts),)."""
    seg = np.repeat(np.arange(len(counts)), counts)
    return seg, np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)


@dataclass
class _Layout:
    """One batch as host arrays, ready to copy to the device in one go each."""

    ids: np.ndarray  # (B, T) token ids, padding where mask is 0
    mask: np.ndarray  # (B, T) 1 for real tokens
    pos: np.ndarray  # (B, T) position ids (after the prefix's P positions)
    src: np.ndarray  # (N,) flat index into the (B*T) hidden states; B*T = the prefix's last
    tgt: np.ndarray  # (N,) target ids (0 for a tail entry)
    counts: np.ndarray  # (b,) outputs per job, tail entry included

    @property
    def shape(self) -> tuple[int, int]:
        return self.ids.shape  # type: ignore[return-value]

    def __len__(self) -> int:
        """Jobs in the batch."""
        return len(self.counts)


def _layout(
    flat: _Flat,
    idx: np.ndarray,  # (b,) job indices of the batch
    place: list[tuple[int, int]] | None,
    P: int,
    pad: int,
    padding_side: str,
) -> _Layout:
    """Rows, positions and the scored-position index of a batch, vectorised over tokens.

    Padded (``place`` is None): one job per row, right- or left-aligned. Packed: jobs at the
    given (row, offset); position ids restart at 0 for each job, and a row's free tail gets
    positions 0.. too (one more sequence, never read), so no job attends across another.
    """
    L = flat.lengths[idx]  # (b,)
    T = int(L.max())
    if place is None:
        B = len(idx)
        rows = np.arange(B)
        cols = (T - L) if padding_side == "left" else np.zeros_like(L)
    else:
        pl = np.asarray(place, dtype=np.int64)  # (b, 2)
        rows, cols = pl[:, 0], pl[:, 1]
        B = int(rows.max()) + 1
    starts = rows * T + cols  # (b,) flat index of each job's first token
    job, within = _ranks(L)  # (n,), (n,)
    dest = starts[job] + within
    ids = np.full(B * T, pad, dtype=np.int64)
    ids[dest] = flat.tokens[flat.offsets[idx][job] + within]
    mask = np.zeros(B * T, dtype=np.int64)
    mask[dest] = 1
    if place is None:
        pos = np.zeros(B * T, dtype=np.int64)
        pos[dest] = P + within  # positions continue after the prefix
    else:
        used = np.bincount(rows, weights=L, minlength=B).astype(np.int64)  # (B,)
        pos = (np.arange(T)[None, :] - used[:, None]).reshape(-1)  # free tail: 0, 1, ...
        pos[dest] = within
    assert int(mask.sum()) == len(dest), "two jobs placed on the same positions"

    # Scored positions: token j of a job (j >= score_from) is predicted from its position
    # j - 1, or, for j == 0, from the prefix's last state (index B*T); a tail entry predicts
    # from the job's last token, with target 0.
    # A job whose last id is a target only scores it from its last fed position.
    sf, tail, E = flat.score_from[idx], flat.tail[idx], flat.ends[idx]
    n_scored = E - sf
    counts = n_scored + tail  # (b,)
    jo, k = _ranks(counts)  # (N,), (N,)
    j = sf[jo] + k  # token index inside the job; == E for a tail entry
    src = np.where(j == 0, B * T, starts[jo] + j - 1)
    is_tail = k >= n_scored[jo]
    tgt = flat.tokens[flat.offsets[idx][jo] + np.minimum(j, E[jo] - 1)]
    tgt[is_tail] = 0
    return _Layout(
        ids.reshape(B, T), mask.reshape(B, T), pos.reshape(B, T), src, tgt, counts.astype(int)
    )


def _to_device(a: np.ndarray, dev: torch.device) -> torch.Tensor:
    """A host array on ``dev``; on CUDA through pinned memory, without waiting for the copy
    (the host goes on preparing the next batch while the device works)."""
    t = torch.from_numpy(a)
    if dev.type == "cuda":
        return t.pin_memory().to(dev, non_blocking=True)
    return t.to(dev)


class _Results:
    """Head outputs kept on the device until the end of the run, then copied to the host in
    one transfer per field and cut into per-job arrays (views of those few host arrays)."""

    def __init__(self) -> None:
        self.parts: list[dict[str, torch.Tensor]] = []
        self.segments: list[tuple[object, int, bool]] = []  # (key, outputs, has tail)
        self.rows: dict[object, torch.Tensor] = {}  # keep_hidden: each job's head inputs

    def add(
        self,
        out: HeadOut,
        keys: Sequence[object],
        counts: Sequence[int],
        tails: Sequence[bool],
        rows: torch.Tensor | None = None,
    ) -> None:
        self.parts.append({k: v.detach() for k, v in out.items()})
        self.segments.extend(zip(keys, counts, tails, strict=True))
        if rows is not None:
            i = 0
            for key, n, tail in zip(keys, counts, tails, strict=True):
                self.rows[key] = rows[i : i + n - tail]
                i += n

    def collect(self) -> dict[object, JobResult]:
        if not self.parts:
            return {}
        names = list(self.parts[0])
        host = {
            k: torch.cat([p[k] for p in self.parts]).cpu().numpy()
            if len(self.parts) > 1
            else self.parts[0][k].cpu().numpy()
            for k in names
        }
        res: dict[object, JobResult] = {}
        i = 0
        rows = self.rows
        bow = host.get("bow")
        for key, n, tail in self.segments:
            m = n - tail
            tb = float(bow[i + m]) if tail and bow is not None else None
            res[key] = JobResult(None, tb, rows.get(key), flat=host, at=i, n=m)
            i += n
        return res


@torch.no_grad()
def _run_prefix(
    lm: LM, ids: Sequence[int], plain: bool, score_own: bool, chunk_bytes: int
) -> tuple[_Prefix, HeadOut | None]:
    """Run a shared prefix once: its KV cache, its last state, and optionally the head's
    outputs for its own tokens 1..P-1 (from the same forward: never encoded twice).

    Raises:
        CacheNotExpandable: the model's forward returns no KV cache (RWKV, OpenAI-GPT,
            RecurrentGemma); the caller recomputes the prefix in every row instead.
    """
    x = torch.tensor([list(ids)], dtype=torch.long, device=lm.device)  # (1, P)
    tgt = x[0, 1:]  # (P-1,)
    own = None
    out = (lm.model if plain else lm.body)(input_ids=x, use_cache=True)
    cache = output_cache(out)
    if cache is None:
        raise CacheNotExpandable(
            f"{type(lm.model).__name__} returns no KV cache; recompute the prefix per row"
        )
    if plain:
        if score_own:
            own = plain_head(lm.head.tempered(out.logits[0, :-1].float()), tgt)
        return _Prefix(cache, out.logits[0, -1].float(), len(ids)), own
    h = out.last_hidden_state[0]  # (P, H)
    if score_own:
        own = fused_head(h[:-1], tgt, lm.head, chunk_bytes=chunk_bytes)
    return _Prefix(cache, h[-1], len(ids)), own


_LEFT_OK = "_surprisal_left_padding_ok"  # the probe's verdict, cached on the LM object


@torch.no_grad()
def left_padding_ok(lm: LM) -> bool:
    """Whether padding before a text leaves its hidden states as they are alone: probed once
    (lazily, at the first left-padded batch), the verdict cached on the LM object. RWKV
    ignores the attention mask, so padding before a text enters its recurrence; such a
    model is then padded on the right (results do not depend on the side)."""
    ok = getattr(lm, _LEFT_OK, None)
    if ok is None:
        n, k = min(6, lm.max_length - 3), 3
        gen = torch.Generator().manual_seed(3)
        x = torch.randint(0, min(len(lm.tokenizer), lm.vocab_size), (1, n), generator=gen)
        pad = lm.boundary_id if lm.boundary_id is not None else 0
        ids = torch.cat([torch.full((1, k), pad), x], 1).to(lm.device)  # (1, k + n)
        mask = torch.cat([torch.zeros(1, k), torch.ones(1, n)], 1).long().to(lm.device)
        pos = torch.cat([torch.zeros(1, k), torch.arange(n)[None]], 1).long().to(lm.device)
        try:
            got = lm.body(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=False)
            want = lm.body(input_ids=x.to(lm.device), use_cache=False).last_hidden_state[0]
            err = float((got.last_hidden_state[0, k:] - want).abs().max())
            scale = max(1.0, float(want.abs().max()))
            ok = err <= (1e-3 if lm.dtype in (torch.float32, torch.float64) else 5e-2) * scale
        except Exception:  # a model that rejects the layout: pad on the right
            ok = False
        setattr(lm, _LEFT_OK, bool(ok))
    return bool(ok)


def _model_inputs(
    lm: LM, lay: _Layout, prefix: _Prefix | None, packed: bool
) -> tuple[dict[str, object], contextlib.AbstractContextManager[object]]:
    """Keyword arguments for the forward, and the context it runs in.

    Packed rows carry no mask (their restarting position ids tell the texts apart); on
    CUDA, rows without a prefix carry a 4D mask built on the device (:mod:`surprisal.masks`).
    A shared prefix is attended to through the shared-prefix attention of
    :mod:`surprisal.prefix` (one copy of its keys) or, for a model that failed that probe,
    through its KV cache expanded over the rows.
    """
    dev = lm.device
    B = lay.shape[0]
    pos = _to_device(lay.pos, dev)  # (B, T)
    kwargs: dict[str, object] = {"input_ids": _to_device(lay.ids, dev), "position_ids": pos}
    ctx: contextlib.AbstractContextManager[object] = contextlib.nullcontext()
    if prefix is None:
        if masks.enabled(lm):  # built on the device: transformers checks nothing (no sync)
            seq = _to_device(masks.sequence_ids(lay.mask, lay.pos, packed), dev)  # (B, T)
            kwargs["attention_mask"] = masks.mask_for(lm.model, seq, lm.dtype)
        elif not packed:
            kwargs["attention_mask"] = _to_device(lay.mask, dev)
        kwargs["use_cache"] = False
    elif shared_prefix_ok(lm):
        kwargs["use_cache"] = False
        aligned = right_aligned(lay.pos, lay.mask, prefix.length)  # on the host arrays
        ctx = shared_prefix(
            lm, prefix.cache, prefix.length, pos, _to_device(lay.mask, dev), aligned
        )
    else:
        attn = np.concatenate([np.ones((B, prefix.length), np.int64), lay.mask], 1)
        kwargs["attention_mask"] = _to_device(attn, dev)
        kwargs[cache_kwarg(lm.model)] = expand_cache(prefix.cache, B)
        kwargs["use_cache"] = True
    return kwargs, ctx


@torch.no_grad()
def _run_batch(
    lm: LM,
    lay: _Layout,
    prefix: _Prefix | None,
    extras: Extras,
    plain: bool,
    chunk_bytes: int,
    packed: bool = False,
    keep_hidden: bool = False,
    scratch: Scratch | None = None,
) -> tuple[HeadOut, torch.Tensor | None]:
    """One forward and the head: the head's outputs for ``lay.src`` (on the device);
    with ``keep_hidden``, placeholders and the rows the head would have read instead."""
    B, T = lay.shape
    kwargs, ctx = _model_inputs(lm, lay, prefix, packed)
    bow_mask = lm.bow_mask if extras.bow else None
    with ctx:  # (B, T, V) logits on the plain path, else (B, T, H) hidden states
        states = lm.model(**kwargs).logits if plain else lm.body(**kwargs).last_hidden_state
    flat = states.reshape(B * T, states.shape[-1])
    del states
    head_kw: dict[str, Any] = dict(
        entropy=extras.entropy,
        rank=extras.rank,
        top_k=extras.top_k,
        bow_mask=bow_mask,
        chunk_bytes=chunk_bytes,
    )
    if prefix is not None and not plain and not keep_hidden:
        first = lay.src == B * T  # (N,) positions predicted from the prefix's last state
        if int(first.sum()) > 1:
            return _shared_first_row(lm, lay, first, flat, prefix, head_kw, scratch), None
    src = _to_device(lay.src, lm.device)  # (N,)
    tgt = _to_device(lay.tgt, lm.device)  # (N,)
    if prefix is not None:
        flat = torch.cat([flat, prefix.last_hidden[None].to(flat.dtype)], 0)
    rows = flat[src.to(flat.device)]  # (N, H) or (N, V); the last device under a device_map
    del flat
    if plain:
        rows = lm.head.tempered(rows)  # the model's logits carry its own transforms
    if keep_hidden:
        return {"logprobs": torch.zeros(rows.shape[0], device=rows.device)}, rows
    if plain:
        V = rows.shape[-1]
        if bow_mask is not None and bow_mask.shape[0] != V:
            bow_mask = bow_mask[:V]
        return plain_head(
            rows,
            tgt.to(rows.device),
            entropy=extras.entropy,
            rank=extras.rank,
            top_k=extras.top_k,
            bow_mask=None if bow_mask is None else bow_mask.to(rows.device),
        ), None
    # fused_head moves the rows to the head's device
    return fused_head(rows, tgt, lm.head, scratch=scratch, **head_kw), None


def _shared_first_row(
    lm: LM,
    lay: _Layout,
    first: np.ndarray,  # (N,) bool: the output reads the prefix's last state
    flat: torch.Tensor,  # (B*T, H) the batch's hidden states
    prefix: _Prefix,
    head_kw: dict[str, Any],  # the head's keyword arguments (extras, chunk_bytes)
    scratch: Scratch | None,
) -> HeadOut:
    """The head's outputs for a batch after a shared prefix, with the prefix's last state
    (which predicts every job's first token) put through the head once, not once per job:
    :func:`fused_head` on the other positions, :func:`shared_row_head` on those, merged back
    into the layout's order."""
    dev = lm.device
    rest = ~first
    rows = flat[_to_device(lay.src[rest], dev).to(flat.device)]  # (N - M, H)
    tgt_rest, tgt_first = _to_device(lay.tgt[rest], dev), _to_device(lay.tgt[first], dev)
    out_rest = fused_head(rows, tgt_rest, lm.head, scratch=scratch, **head_kw)
    out_first = shared_row_head(prefix.last_hidden, tgt_first, lm.head, **head_kw)
    i_rest = _to_device(np.flatnonzero(rest), out_rest["logprobs"].device)
    i_first = _to_device(np.flatnonzero(first), out_rest["logprobs"].device)
    out: HeadOut = {}
    for name, a in out_rest.items():
        merged = a.new_empty((len(first), *a.shape[1:]))
        merged[i_rest], merged[i_first] = a, out_first[name]
        out[name] = merged
    return out


def _check_inputs(
    lm: LM, jobs: Sequence[Job], prefixes: Sequence[Sequence[int]], padding_side: str
) -> None:
    if padding_side not in ("right", "left"):
        raise SurprisalError(f"padding_side must be 'right' or 'left', got {padding_side!r}")
    for k in {j.prefix for j in jobs if j.prefix is not None}:
        if not prefixes[k]:  # core maps a context with no tokens to "no prefix"
            raise AssertionError(f"job on prefix {k}, which has no tokens")
    plens = [len(p) for p in prefixes]
    for job in jobs:
        if job.score_from == 0 and job.prefix is None and (len(job.ids) or job.tail):
            raise AssertionError("a job scoring its first token needs a prefix")
        if job.last_unfed and (job.fed < 1 or job.score_from < 1 or job.tail):
            raise AssertionError("a target-only last id needs a fed token before it, no tail")
        if job.prefix is not None and plens[job.prefix] + job.fed > lm.max_length:
            raise AssertionError(
                "prefix + job longer than the context; windowing should prevent this"
            )


class _Prefixes:
    """The shared prefix of the current run of batches: run once, kept while batches use it."""

    def __init__(
        self,
        lm: LM,
        prefixes: Sequence[Sequence[int]],
        plain: bool,
        want_own: bool,
        chunk_bytes: int,
        results: _Results,
        stats: RunStats,
    ) -> None:
        self.lm, self.prefixes, self.plain, self.want_own = lm, prefixes, plain, want_own
        self.chunk_bytes, self.results, self.stats = chunk_bytes, results, stats
        self.key: int | None = None
        self.state: _Prefix | None = None

    def get(self, pk: int | None) -> _Prefix | None:
        if pk is None:
            return None
        if self.key != pk or self.state is None:
            self.key, self.state = None, None  # free the old cache before building the next
            ids = self.prefixes[pk]
            state, own = _run_prefix(self.lm, ids, self.plain, self.want_own, self.chunk_bytes)
            self.key, self.state = pk, state
            if own is not None:
                self.results.add(own, [("prefix", pk)], [len(ids) - 1], [False])
            self.stats.prefix_tokens += len(ids)
            self.stats.tokens_fed += len(ids)
            self.stats.forward_calls += 1
        return self.state


def run_jobs(
    lm: LM,
    jobs: Sequence[Job],
    prefixes: Sequence[Sequence[int]] = (),
    *,
    extras: Extras | None = None,
    batch_tokens: int | None = None,
    padding_side: str = "right",
    plain: bool | None = None,
    progress: bool | None = None,
    chunk_bytes: int | None = None,
    stats: RunStats | None = None,
    prefix_scores: dict[int, JobResult] | None = None,
    pack: bool | None = None,
    keep_hidden: bool = False,
) -> list[JobResult]:
    """Score every job; results are returned in the order of ``jobs``.

    Args:
        lm: the model.
        jobs: windows to score; ``job.prefix`` indexes ``prefixes``.
        prefixes: shared prefixes (token ids); each is run through the model once.
        extras: optional outputs.
        batch_tokens: budget of padded tokens fed per batch (see schedule.next_batch).
        padding_side: "right" or "left"; results do not depend on it.
        plain: force the plain twin (default: the LM's choice).
        progress: a bar on stderr (default: on a terminal, for more than 8 batches).
        chunk_bytes: head chunk size (see :mod:`surprisal.head`).
        stats: filled with counts of what was done.
        prefix_scores: if given, filled with each run prefix's own token scores (tokens
            1..P-1 of the prefix, from the forward that builds its cache).
        pack: put several jobs in one row (jobs without a prefix), so no padding is fed;
            default: the LM's ``pack`` setting. Needs a model that passed the packing probe.
        keep_hidden: return, per job, what the head would read at each scored token
            (``JobResult.hidden``: (n, H) hidden states, or (n, V) logits on the plain path)
            *instead of* running the head (``logprobs`` 0 placeholders, no extras; a prefix's
            own scores are still computed): for callers that run one head of their own over
            rows from several calls (divergence, temperature search), so no head runs twice.

    The steps: check the inputs, flatten every job's ids into one array, sort the jobs by
    (prefix, -length), then per batch: lay it out (numpy), run the forward and the head
    (results stay on the device), and at the end copy the results to the host once.
    """
    extras = extras if extras is not None else Extras()
    _check_inputs(lm, jobs, prefixes, padding_side)
    budget, use_plain, use_pack, chunk = _options(lm, batch_tokens, plain, pack, chunk_bytes)
    stats = stats if stats is not None else RunStats()
    stats.batch_tokens = budget
    plens = [len(p) for p in prefixes]
    pad = lm.boundary_id if lm.boundary_id is not None else 0  # masked out, any id will do
    flat = _Flat.of(jobs)

    # Group by prefix (None first), longest first inside a group: little padding, and each
    # prefix's cache is alive for exactly one contiguous run of batches.
    live = [i for i in range(len(jobs)) if flat.lengths[i] > 0]
    live.sort(key=lambda i: (-1 if jobs[i].prefix is None else jobs[i].prefix, -flat.lengths[i]))
    scored_per_job = flat.ends - flat.score_from
    n_scored = int(scored_per_job[live].sum())
    # a pass of 8 batches or fewer shows no bar unless asked (see surprisal._progress)
    bar = progress_bar(progress, n_scored, small=int(flat.lengths[live].sum()) // budget <= 8)

    # The probe runs here, before the first batch is cut, when some job has a prefix.
    expanded_prefix = any(jobs[i].prefix is not None for i in live) and not shared_prefix_ok(lm)
    results = _Results()
    scratch = Scratch() if lm.device.type == "cpu" else None  # the head's buffers, kept
    cached = _Prefixes(lm, prefixes, use_plain, prefix_scores is not None, chunk, results, stats)
    pos = 0
    taken = bytearray(len(live))  # positions in live already scored (packing skips ahead)
    pack_index = PackIndex(live, jobs) if use_pack else None
    try:
        while pos < len(live):
            if taken[pos]:
                pos += 1
                continue
            sel, place = next_batch(
                live, pos, jobs, budget, plens, use_pack, taken, expanded_prefix, pack_index
            )
            idx = np.asarray([live[q] for q in sel], dtype=np.int64)
            pk = jobs[int(idx[0])].prefix
            try:
                prefix_state = cached.get(pk)
                P = prefix_state.length if prefix_state is not None else 0
                # After a shared prefix rows are always padded on the right: left padding
                # would sit between the prefix and the text and eat a sliding attention
                # window (Mistral, Gemma-2/3) or add to ALiBi distances (MPT).
                # A model that ignores the attention mask (RWKV) reads left padding as
                # text: such a model is padded on the right, where padding follows the text.
                left = padding_side == "left" and pk is None and left_padding_ok(lm)
                side = "left" if left else "right"
                lay = _layout(flat, idx, place, P, pad, side)
                out, rows = _run_batch(
                    lm,
                    lay,
                    prefix_state,
                    extras,
                    use_plain,
                    chunk,
                    place is not None,
                    keep_hidden,
                    scratch,
                )
            except Exception as exc:
                P = plens[pk] if pk is not None else 0
                budget = _halve_on_oom(lm, exc, budget, int(flat.lengths[idx[0]]), len(idx), P)
                stats.oom_retries += 1
                continue
            results.add(out, idx.tolist(), lay.counts.tolist(), flat.tail[idx].tolist(), rows)
            scored = int(scored_per_job[idx].sum())
            stats.forward_calls += 1
            stats.tokens_fed += lay.ids.size
            stats.tokens_scored += scored
            if bar is not None:
                bar.update(scored)
            for q in sel:
                taken[q] = 1
    finally:
        if bar is not None:
            bar.close()
    return _per_job(results.collect(), flat, prefix_scores)


def _options(
    lm: LM,
    batch_tokens: int | None,
    plain: bool | None,
    pack: bool | None,
    chunk_bytes: int | None,
) -> tuple[int, bool, bool, int]:
    """(budget, plain, pack, chunk bytes) for this call, defaults from the LM and device."""
    budget = int(batch_tokens or default_batch_tokens(lm))
    if budget < 1:
        raise SurprisalError(
            f"batch_tokens must be a positive number of tokens, got {batch_tokens}"
        )
    policy = head_policy(
        lm, None if plain is None else ("plain" if plain else "fused"), chunk_bytes
    )
    use_pack = lm.pack if pack is None else bool(pack)
    if use_pack and not lm.can_pack:
        raise SurprisalError(
            f"pack=True, but {type(lm.model).__name__} with attention "
            f"{lm.attn_implementation!r} failed the packing probe (sequences in one row "
            "attended to each other); use pack=False"
        )
    use_plain, chunk = policy
    return budget, use_plain, use_pack, chunk


def _halve_on_oom(lm: LM, exc: Exception, budget: int, length: int, n_jobs: int, P: int) -> int:
    """The halved budget after an accelerator out-of-memory error; any other error, or an
    out-of-memory error on a single window, is raised."""
    if not is_oom(exc):
        raise exc
    if lm.device.type == "cuda":
        torch.cuda.empty_cache()
    gc.collect()
    if n_jobs == 1:
        raise SurprisalError(
            f"out of memory on a single window of {length} tokens (prefix {P}); use a smaller "
            "max_length, a lower precision (dtype='bfloat16') or a device with more memory"
        ) from exc
    return max(1, budget // 2)


def _per_job(
    by_key: dict[object, JobResult],
    flat: _Flat,
    prefix_scores: dict[int, JobResult] | None,
) -> list[JobResult]:
    """The collected results in the order of the jobs (an empty job gets empty arrays), and
    each prefix's own scores into ``prefix_scores``."""
    if prefix_scores is not None:
        for key, r in by_key.items():
            if isinstance(key, tuple):
                prefix_scores[key[1]] = r
    empty = JobResult({"logprobs": np.zeros(0, np.float32)})
    return [
        by_key.get(i, empty) if flat.lengths[i] > 0 else empty for i in range(len(flat.lengths))
    ]
