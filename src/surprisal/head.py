"""The fused, chunked LM head: hidden states in, per-position log-probabilities out.

Dimension letters: N scored positions, H hidden size, V vocabulary (rows of the head),
K top-k alternatives. Every number leaving this module is float32, natural log (nats).

The full ``(N, V)`` log-softmax never exists. Logits are made a chunk at a time in float32,
the model's own logit transforms are applied (bias, Cohere-style scale, Granite-style
divisor, Gemma-2 final softcap), and only reductions survive the chunk: the running
log-sum-exp, the target logit, and the optional extras.

Memory bound. With ``cap = chunk_bytes / 4`` float32 elements:

* float32 head weight: rows per chunk ``n_c = max(1, cap // V)``; one ``(n_c, V)`` float32
  buffer, made once per call (on CPU once per scoring run: :class:`Scratch`) and reused by
  every chunk, holds the logits (written by the matmul in place, transforms applied in
  place) and then, on CPU, their ``log_softmax``, also written in place (bit-identical to
  a separate output; elsewhere it goes to a second tensor). The extras add at most one
  temporary of that size, so the extra peak is about ``2 * chunk_bytes`` whatever N is.
  Reusing the buffer matters on CPU: a fresh ``(n_c, V)`` allocation per chunk is
  page-faulted in again each time, and ``log_softmax`` (one fused pass) takes about half
  the time of ``logsumexp``. One buffer instead of two gives twice the rows per matmul
  for the same memory, which the CPU's matmul runs faster: on 2 cores at V = 32,000,
  H = 256 and 800 positions, 126-132 µs per position with two 32 MiB buffers (262 rows),
  104-110 µs with one 64 MiB buffer (524 rows). ``benchmarks/bench_head.py`` has the head
  alone.
* bf16/fp16 head weight on CUDA (tensor cores): the weight is multiplied in its own dtype
  with float32 accumulation and float32 logits (``torch.mm(..., out_dtype=float32)``, the
  logits the model computes before its own rounding), never upcast, so the chunks are
  those of a float32 weight: ``n_c = max(1, cap // V)`` rows, extra peak about
  ``3 * chunk_bytes`` plus the ``(n_c, H)`` half-precision rows. The log-sum-exp and every
  reduction stay float32. At 256 MiB and V = 151,936 that is 441 rows per matmul, enough
  to keep the tensor cores busy (arithmetic intensity ~ n_c FLOP per weight byte).
* bf16/fp16 head weight elsewhere (CPU): the weight is upcast one vocabulary slice at a
  time, ``v_c = max(1, cap // H)`` rows (``v_c * H * 4 <= chunk_bytes``), and
  ``n_c = max(1, cap // v_c)``, so the extra peak is about ``4 * chunk_bytes``.

:func:`plain_head` is the twin that takes the model's own logits; it is the oracle in the
tests and the fallback when the fused head cannot prove itself on a probe.

:func:`fused_divergence` compares G conditions' next-token distributions with a reference's
at the same positions (KL, entropies), with the twin :func:`plain_divergence`. It holds
the ``G + 1`` conditions' logits in one chunk (``G + 1`` times fewer rows per chunk, the
same ~``4 * chunk_bytes`` peak) and needs the ``(G + 1) * N`` hidden states kept until it
runs: memory ``O((G + 1) N H)`` besides the head's bound, instead of ``O(N)`` results.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch

from ._compat import float32_matmul_supported, mm_float32
from .options import DEFAULT_CHUNK_BYTES

# CPU, float32 weight, log-probabilities only: the vocabulary is taken this many rows at a
# time (1 MiB of weight at H = 256, cache-sized), each slice against every position at
# once; see _head_slices.
SLICE = 1024
SLICE_MIN_POSITIONS = 64  # fewer positions: one full-vocabulary block is as fast


@dataclass(frozen=True)
class HeadSpec:
    """What turns a final hidden state into logits: ``z = transform(h @ W.T + b)``.

    Attributes:
        weight: (V, H) output embedding (may be tied to the input embedding).
        bias: (V,) or None.
        scale: multiply logits by this (Cohere ``logit_scale``), or None.
        divisor: divide logits by this (Granite ``logits_scaling``), or None.
        softcap: ``z = softcap * tanh(z / softcap)`` (Gemma-2 ``final_logit_softcapping``), or None.
        module: the head module itself, set when its weight cannot be read directly: offloaded
            by accelerate (a ``meta`` tensor until the module's hook loads it) or quantized
            (not a float tensor). Logits then come from calling the module a chunk of rows at
            a time, in the model's dtype, upcast to float32 before any reduction.
        vocab: V, the number of logits (from ``weight`` unless ``module`` says otherwise).
        device: where the logits are computed (the hook's execution device when offloaded).
        temperature: divide logits by this last, after every model transform: scoring then
            uses ``softmax(z / T)`` (``surprisal.score(..., temperature=T)``), or None.
    """

    weight: torch.Tensor
    bias: torch.Tensor | None = None
    scale: float | None = None
    divisor: float | None = None
    softcap: float | None = None
    module: Any = None
    vocab: int = 0
    device: torch.device | None = None
    temperature: float | None = None

    def __post_init__(self) -> None:
        if not self.vocab:
            object.__setattr__(self, "vocab", int(self.weight.shape[0]))
        if self.device is None:
            object.__setattr__(self, "device", self.weight.device)

    def transform(self, z: torch.Tensor, *, inplace: bool = False) -> torch.Tensor:
        """Apply the scalar logit transforms in float32, in the order the models apply them.

        ``inplace=True`` overwrites ``z`` (a float32 tensor the caller owns) with the same
        operations in the same order, so the result is bit-identical and no temporary of
        z's size is made."""
        if not inplace:
            if self.scale is not None:
                z = z * self.scale
            if self.divisor is not None:
                z = z / self.divisor
            if self.softcap is not None:
                z = torch.tanh(z / self.softcap) * self.softcap
            return self.tempered(z)
        if self.scale is not None:
            z.mul_(self.scale)
        if self.divisor is not None:
            z.div_(self.divisor)
        if self.softcap is not None:
            z.div_(self.softcap).tanh_().mul_(self.softcap)
        if self.temperature is not None:
            z.div_(self.temperature)
        return z

    def tempered(self, z: torch.Tensor) -> torch.Tensor:
        """``z / temperature`` (z unchanged without one): the only transform the plain path
        applies to the model's own logits, which already carry the model's transforms."""
        return z if self.temperature is None else z.to(torch.float32) / self.temperature


class Scratch:
    """Float32 ``(rows, V)`` buffers that :func:`fused_head` keeps between its calls, for one
    scoring run on CPU. A fresh allocation of that size is page-faulted in again on every
    call (measured: ~4,100 page faults and ~9 ms of system time per call of 3,300 positions
    at V = 32,000); reused, it is not. Not for CUDA, where the caching allocator already
    reuses the memory and a held buffer would only keep it from the next forward pass."""

    def __init__(self) -> None:
        self._buffers: dict[str, torch.Tensor] = {}

    def take(self, name: str, rows: int, cols: int, device: torch.device) -> torch.Tensor:
        """A contiguous ``(rows, cols)`` float32 view of the buffer ``name`` (made or grown
        as needed); its contents are whatever the last user left."""
        b = self._buffers.get(name)
        if b is None or b.shape[0] < rows or b.shape[1] != cols or b.device != device:
            b = torch.empty(rows, cols, dtype=torch.float32, device=device)
            self._buffers[name] = b
        return b[:rows]


HeadOut = dict[str, torch.Tensor]
"""Per-position results keyed by :data:`surprisal.fields.FIELDS` names: ``"logprobs"`` (N,)
always; ``"entropy"``, ``"rank"``, ``"topk_ids"``/``"topk_logprobs"`` (N, K) and ``"bow"``
when asked. float32 nats, int64 ids and ranks."""


def _chunks(n: int, v: int, h: int, full_vocab: bool, chunk_bytes: int) -> tuple[int, int]:
    """(rows, vocabulary rows) per chunk; see the memory bound in the module docstring."""
    cap = max(1, chunk_bytes // 4)
    if full_vocab:
        return max(1, cap // v), v
    v_c = min(v, max(1, cap // h))
    return max(1, cap // v_c), v_c


Matmul = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _mm_upcast(h: torch.Tensor, w_t: torch.Tensor) -> torch.Tensor:
    """(n, v) float32 ``h @ w_t`` with both operands in float32 (the exact CPU path)."""
    return h.to(torch.float32) @ w_t.to(torch.float32)


def _logits(
    h: torch.Tensor, w: torch.Tensor, bias: torch.Tensor | None, mm: Matmul = _mm_upcast
) -> torch.Tensor:
    """(n, v) float32 logits ``h @ w.T + bias`` before the scalar transforms."""
    z = mm(h, w.T)
    return z if bias is None else z + bias.to(torch.float32)


def _outputs(
    N: int, device: torch.device, entropy: bool, rank: bool, top_k: int, bow: bool
) -> HeadOut:
    """Empty result tensors for N positions, only for the fields asked for."""
    f32, i64 = torch.float32, torch.int64
    out: HeadOut = {"logprobs": torch.empty(N, dtype=f32, device=device)}
    if entropy:
        out["entropy"] = torch.empty(N, dtype=f32, device=device)
    if rank:
        out["rank"] = torch.empty(N, dtype=i64, device=device)
    if top_k:
        out["topk_ids"] = torch.empty(N, top_k, dtype=i64, device=device)
        out["topk_logprobs"] = torch.empty(N, top_k, dtype=f32, device=device)
    if bow:
        out["bow"] = torch.empty(N, dtype=f32, device=device)
    return out


def _reduce_block(
    z: torch.Tensor,  # (n, V) float32 transformed logits; overwritten on CPU (in place)
    t: torch.Tensor,  # (n,) targets
    n0: int,
    out: HeadOut,
    top_k: int,
    bow_mask: torch.Tensor | None,
) -> None:
    """Every reduction over one full-vocabulary block, written to rows ``n0:n0+n`` of ``out``.

    One fused ``log_softmax`` gives the log-probabilities: on CPU it is one vectorised pass,
    about half the time of ``logsumexp`` (max, subtract, exp, sum, log as separate passes),
    and it overwrites the logits in place, so the block needs no second buffer (the rank,
    which needs the logits, is counted first)."""
    V = z.shape[1]
    tt = t[:, None]
    sl = slice(n0, n0 + z.shape[0])
    if "rank" in out:
        out["rank"][sl] = (z > z.gather(1, tt)).sum(dim=1) + 1
    # In place on CPU (checked bit-identical in the tests); a new tensor on other devices.
    lp = torch.log_softmax(z, dim=1, out=z if z.device.type == "cpu" else None)  # (n, V)
    out["logprobs"][sl] = lp.gather(1, tt)[:, 0]
    if "topk_ids" in out:
        v, i = lp.topk(min(top_k, V), dim=1)
        k = v.shape[1]
        out["topk_ids"][sl, :k], out["topk_logprobs"][sl, :k] = i, v
        out["topk_ids"][sl, k:], out["topk_logprobs"][sl, k:] = -1, -math.inf
    if "entropy" in out:
        out["entropy"][sl] = -torch.exp(lp).mul_(lp).sum(dim=1)  # one (n, V) temporary
    if "bow" in out and bow_mask is not None:
        masked = lp.masked_fill_(~bow_mask[None, :], -math.inf)  # lp is no longer needed
        out["bow"][sl] = torch.logsumexp(masked, dim=1)


BlockLogits = Callable[[torch.Tensor, torch.Tensor | None], torch.Tensor]


def _writes_into_buffer(head: HeadSpec, mm: Matmul) -> bool:
    """Whether :func:`_block_logits` writes the logits into a given buffer (a float32
    weight multiplied in float32); the other paths make their own tensor."""
    return head.module is None and mm is _mm_upcast and head.weight.dtype == torch.float32


def _block_logits(head: HeadSpec, mm: Matmul = _mm_upcast) -> BlockLogits:
    """``(h, buf)`` -> (n, V) float32 logits of the (n, H) hidden rows before the scalar
    transforms: from the head module (offloaded or quantized: it makes the logits in the
    model's dtype), or from the weight with ``mm``, the float32 matmul for a float32 weight
    (written into ``buf``, an (n, V) float32 buffer reused across blocks, when given) or,
    on CUDA, the tensor-core one for a half weight (its own dtype in, float32 accumulate
    and out; ``buf`` unused)."""
    if head.module is not None:
        return lambda h, buf: head.module(h).to(device=head.device, dtype=torch.float32)
    w, bias = head.weight, head.bias
    if _writes_into_buffer(head, mm):
        return lambda h, buf: _mm_into(h.to(torch.float32), w, bias, buf)
    return lambda h, buf: _logits(h.to(w.dtype), w, bias, mm)


def _mm_into(
    h: torch.Tensor, w: torch.Tensor, bias: torch.Tensor | None, buf: torch.Tensor | None
) -> torch.Tensor:
    """(n, v) float32 ``h @ w.T + bias`` of a float32 (n, H) ``h`` and (v, H) ``w``, written
    into ``buf`` (a new tensor when None) by one ``mm``/``addmm``."""
    if bias is None:
        return torch.mm(h, w.T, out=buf)
    return torch.addmm(bias.to(torch.float32), h, w.T, out=buf)


def _head_full_vocab(
    hidden: torch.Tensor,  # (N, H)
    targets: torch.Tensor,  # (N,)
    head: HeadSpec,
    out: HeadOut,
    n_c: int,
    top_k: int,
    bow_mask: torch.Tensor | None,
    logits_of: BlockLogits,
    buffered: bool = True,
    scratch: Scratch | None = None,
) -> None:
    """(n_c, V) float32 logits per block (from ``logits_of``), every reduction fused on the
    block; the weight is never upcast as a whole. When ``logits_of`` writes into a buffer
    (``buffered``), the (n_c, V) float32 logits buffer is made once per call (or taken from
    ``scratch``, kept between calls) and reused by every block; on CPU the block's
    log-softmax overwrites it."""
    N = hidden.shape[0]
    rows, device = min(n_c, N), head.device
    assert device is not None
    bufs = Scratch() if scratch is None else scratch
    zbuf = bufs.take("logits", rows, head.vocab, device) if buffered else None
    for n0 in range(0, N, n_c):
        n = min(n_c, N - n0)
        buf = None if zbuf is None else zbuf[:n]
        z = head.transform(logits_of(hidden[n0 : n0 + n], buf), inplace=True)
        _reduce_block(z, targets[n0 : n0 + n], n0, out, top_k, bow_mask)
        del z


def _head_vocab_chunks(
    hidden: torch.Tensor,  # (N, H)
    targets: torch.Tensor,  # (N,)
    head: HeadSpec,
    out: HeadOut,
    n_c: int,
    v_c: int,
    top_k: int,
    bow_mask: torch.Tensor | None,
) -> None:
    """Half-precision weight without float32-output matmuls (CPU): the weight is upcast one
    (v_c, H) slice at a time and the reductions run online over the slices (running max,
    rescaled sums). No host-device synchronisation inside the loops."""
    f32, dev = torch.float32, head.device
    N, V = hidden.shape[0], head.vocab
    for n0 in range(0, N, n_c):
        h = hidden[n0 : n0 + n_c].to(f32)  # (n, H)
        t = targets[n0 : n0 + n_c]  # (n,)
        n = h.shape[0]
        m = torch.full((n,), -math.inf, dtype=f32, device=dev)  # running max
        s = torch.zeros(n, dtype=f32, device=dev)  # sum exp(z - m)
        ent = torch.zeros(n, dtype=f32, device=dev) if "entropy" in out else None
        bow = torch.zeros(n, dtype=f32, device=dev) if bow_mask is not None else None
        z_t = torch.zeros(n, dtype=f32, device=dev)
        greater = torch.zeros(n, dtype=torch.int64, device=dev) if "rank" in out else None
        zt_direct = None
        if greater is not None:
            # The target logit computed row-wise, to count larger logits chunk by chunk.
            zt_direct = _target_logits(h, t, head)
        tk_v = tk_i = None
        for v0 in range(0, V, v_c):
            v1 = min(V, v0 + v_c)
            w = head.weight[v0:v1]  # (v, H)
            b = None if head.bias is None else head.bias[v0:v1]
            z = head.transform(_logits(h, w, b))  # (n, v) float32
            in_chunk = (t >= v0) & (t < v1)  # (n,)
            col = (t - v0).clamp(0, v1 - v0 - 1)[:, None]  # (n, 1)
            z_t = torch.where(in_chunk, z.gather(1, col)[:, 0], z_t)
            m_new = torch.maximum(m, z.max(dim=1).values)
            alpha = torch.exp(m - m_new)  # rescale old sums; exp(-inf) = 0 on the first chunk
            e = torch.exp(z - m_new[:, None])  # (n, v)
            s = s * alpha + e.sum(dim=1)
            if ent is not None:
                ent = ent * alpha + (e * z).sum(dim=1)
            if bow is not None and bow_mask is not None:
                bow = bow * alpha + (e * bow_mask[v0:v1]).sum(dim=1)
            m = m_new
            if greater is not None and zt_direct is not None:
                gt = z > zt_direct[:, None]
                gt.scatter_(1, col, gt.gather(1, col) & ~in_chunk[:, None])  # not the target
                greater += gt.sum(dim=1)
            if top_k:
                cv, ci = z.topk(min(top_k, v1 - v0), dim=1)
                if tk_v is None or tk_i is None:
                    tk_v, tk_i = cv, ci + v0
                else:
                    allv, alli = torch.cat([tk_v, cv], 1), torch.cat([tk_i, ci + v0], 1)
                    tk_v, keep = allv.topk(min(top_k, allv.shape[1]), dim=1)
                    tk_i = alli.gather(1, keep)
            del z, e
        lse = m + torch.log(s)  # (n,)
        sl = slice(n0, n0 + n)
        out["logprobs"][sl] = z_t - lse
        if ent is not None:
            out["entropy"][sl] = lse - ent / s
        if greater is not None:
            out["rank"][sl] = greater + 1
        if tk_v is not None and tk_i is not None:
            kk = tk_v.shape[1]
            out["topk_ids"][sl, :kk] = tk_i
            out["topk_logprobs"][sl, :kk] = tk_v - lse[:, None]
            out["topk_ids"][sl, kk:] = -1  # vocabulary smaller than k
            out["topk_logprobs"][sl, kk:] = -math.inf
        if bow is not None:
            out["bow"][sl] = torch.log(bow) + m - lse


def _target_logits(h: torch.Tensor, t: torch.Tensor, head: HeadSpec) -> torch.Tensor:
    """(n,) float32 logit of each (n, H) float32 row's own target, transforms applied: one
    dot product per row, for the paths that never hold a row's whole vocabulary."""
    z = (h * head.weight[t].to(torch.float32)).sum(-1)
    if head.bias is not None:
        z = z + head.bias[t].to(torch.float32)
    return head.transform(z)


def _full_vocab_mm(head: HeadSpec) -> Matmul | None:
    """The matmul of the full-vocabulary blocks: on CUDA the tensor-core one for a half
    weight (its own dtype in, float32 out), else the float32 one (a float32 weight, or a
    head module, which makes its own logits); None for a half weight that must be upcast a
    vocabulary slice at a time instead."""
    w_dtype = head.weight.dtype
    assert head.device is not None
    if w_dtype != torch.float32 and float32_matmul_supported(head.device, w_dtype):
        return mm_float32
    if head.module is not None or w_dtype == torch.float32:
        return _mm_upcast
    return None


def _head_slices(
    hidden: torch.Tensor,  # (N, H)
    targets: torch.Tensor,  # (N,)
    head: HeadSpec,
    out: HeadOut,
    n_r: int,
    scratch: Scratch | None,
) -> None:
    """Log-probabilities only, float32 weight on CPU: the vocabulary a slice of
    :data:`SLICE` rows at a time, each slice against up to ``n_r`` positions at once.

    Per slice s the ``(n, SLICE)`` logits go into one reused buffer and one fused
    ``log_softmax`` overwrites them; its first column gives the slice's log-sum-exp,
    ``lse_s = z_0 - log_softmax(z)_0``, exact up to the float32 rounding of a log-probability
    of that size (``ulp(|z_0 - lse_s|)``, ~4e-6 for a gap of 40 nats). The total is
    ``logsumexp_s(lse_s)``, and the target's logit is one dot product per position (the
    model's transforms applied to it), so ``log p = z_t - lse``. Against full-vocabulary
    blocks (the weight streamed from memory once per block, the block's logits too large
    for any cache) a slice's weight and logits stay in cache: on 2 cores, 1,000
    positions, H = 256, float32, measured 1.5-1.9x faster at V = 50,257 and 151,936 (also
    at H = 896), equal at V <= 32,000; and the buffer is ``n * SLICE`` floats instead of
    ``chunk_bytes``."""
    f32, device = torch.float32, head.device
    assert device is not None
    N, V = hidden.shape[0], head.vocab
    w, b = head.weight, head.bias
    h = hidden.to(f32)
    zt = _target_logits(h, targets, head)  # (N,)
    n_slices = -(-V // SLICE)
    lse_s = torch.empty(N, n_slices, dtype=f32, device=device)
    rows = min(n_r, N)
    bufs = Scratch() if scratch is None else scratch
    flat = bufs.take("slice", 1, rows * SLICE, device)[0]  # views of it stay contiguous
    for si, v0 in enumerate(range(0, V, SLICE)):
        v1 = min(V, v0 + SLICE)
        ws, bs = w[v0:v1], None if b is None else b[v0:v1]  # views
        for n0 in range(0, N, rows):
            n = min(rows, N - n0)
            z = flat[: n * (v1 - v0)].view(n, v1 - v0)
            head.transform(_mm_into(h[n0 : n0 + n], ws, bs, z), inplace=True)
            z0 = z[:, 0].clone()
            lp = torch.log_softmax(z, dim=1, out=z)
            lse_s[n0 : n0 + n, si] = z0 - lp[:, 0]
    out["logprobs"][:] = zt - torch.logsumexp(lse_s, dim=1)


@torch.no_grad()  # scores, not a loss: the buffers are written in place (out=)
def fused_head(
    hidden: torch.Tensor,  # (N, H) any float dtype
    targets: torch.Tensor,  # (N,) int64
    head: HeadSpec,
    *,
    entropy: bool = False,
    rank: bool = False,
    top_k: int = 0,
    bow_mask: torch.Tensor | None = None,  # (V,) bool
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    scratch: Scratch | None = None,
) -> HeadOut:
    """Log-probabilities of ``targets`` under ``head`` without a full (N, V) tensor.

    Computes ``log_softmax(transform(hidden @ W.T + b))[i, targets[i]]`` in float32, chunked
    over positions and, for half-precision weights on CPU, over the vocabulary (online
    log-sum-exp). Dispatches to one of four paths: on CPU with a float32 weight, when only
    log-probabilities are asked for (at least :data:`SLICE_MIN_POSITIONS` positions), cache-
    sized vocabulary slices against every position, one log-sum-exp per slice
    (:func:`_head_slices`); full-vocabulary blocks whose logits come from the head module
    (offloaded/quantized), from a float32 weight, or from a half weight on CUDA multiplied
    on tensor cores with float32 accumulation and output; or vocabulary slices with an
    online log-sum-exp (a half weight elsewhere). ``scratch`` keeps the buffers between
    calls (see :class:`Scratch`).

    >>> from surprisal.testing import tiny_lm
    >>> lm = tiny_lm("llama")
    >>> h = torch.zeros(2, lm.head.weight.shape[1])
    >>> out = fused_head(h, torch.tensor([3, 5]), lm.head)
    >>> out["logprobs"].shape, out["logprobs"].dtype
    (torch.Size([2]), torch.float32)
    """
    N, H = hidden.shape
    device = head.device  # under a device_map the head may live on another device
    assert device is not None
    hidden, targets = hidden.to(device), targets.to(device)
    bow_mask = None if bow_mask is None else bow_mask.to(device)
    out = _outputs(N, device, entropy, rank, top_k, bow_mask is not None)
    extras = entropy or rank or top_k or bow_mask is not None
    if (
        device.type == "cpu"
        and head.module is None
        and head.weight.dtype == torch.float32
        and not extras
        and N >= SLICE_MIN_POSITIONS
        and head.vocab > SLICE
    ):
        _head_slices(hidden, targets, head, out, max(1, chunk_bytes // (4 * SLICE)), scratch)
        return out
    mm = _full_vocab_mm(head)
    if mm is not None:
        n_c, _ = _chunks(N, head.vocab, H, True, chunk_bytes)
        logits_of, buffered = _block_logits(head, mm), _writes_into_buffer(head, mm)
        _head_full_vocab(
            hidden, targets, head, out, n_c, top_k, bow_mask, logits_of, buffered, scratch
        )
        return out
    n_c, v_c = _chunks(N, head.vocab, H, False, chunk_bytes)
    _head_vocab_chunks(hidden, targets, head, out, n_c, v_c, top_k, bow_mask)
    return out


@torch.no_grad()
def shared_row_head(
    hidden: torch.Tensor,  # (H,) one hidden state, any float dtype
    targets: torch.Tensor,  # (M,) int64
    head: HeadSpec,
    *,
    entropy: bool = False,
    rank: bool = False,
    top_k: int = 0,
    bow_mask: torch.Tensor | None = None,  # (V,) bool
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
) -> HeadOut:
    """:func:`fused_head` for M positions that all read the same hidden state, with the
    row's logits made once instead of M times: the outputs of ``fused_head(hidden.expand(M,
    H), targets, ...)``. The engine uses it for the first token of every target after one
    shared prefix (they are all predicted from the prefix's last state): with 200 targets of
    16 tokens that is 6% of the head's work. A half-precision weight without float32-output
    matmuls (which :func:`fused_head` upcasts a vocabulary slice at a time) takes the
    expanded rows."""
    M = targets.shape[0]
    device = head.device
    assert device is not None
    mm = _full_vocab_mm(head)
    if mm is None:
        kw: dict[str, Any] = dict(entropy=entropy, rank=rank, top_k=top_k, bow_mask=bow_mask)
        return fused_head(hidden[None].expand(M, -1), targets, head, chunk_bytes=chunk_bytes, **kw)
    t = targets.to(device)
    logits_of = _block_logits(head, mm)
    z = head.transform(logits_of(hidden[None].to(device), None), inplace=True)[0]  # (V,)
    V = z.shape[0]
    lp = torch.log_softmax(z, dim=0)  # (V,)
    out: HeadOut = {"logprobs": lp[t]}
    if rank:  # larger logits than the target's: V minus those at most the target's
        le = torch.searchsorted(z.sort().values, z[t], right=True)
        out["rank"] = V - le + 1
    if top_k:
        v, i = lp.topk(min(top_k, V))
        k = v.shape[0]
        out["topk_ids"] = torch.full((M, top_k), -1, dtype=torch.int64, device=device)
        out["topk_logprobs"] = torch.full((M, top_k), -math.inf, device=device)
        out["topk_ids"][:, :k], out["topk_logprobs"][:, :k] = i, v
    if entropy:
        out["entropy"] = (-(lp.exp() * lp).sum()).expand(M).clone()
    if bow_mask is not None:
        b = torch.logsumexp(lp.masked_fill(~bow_mask.to(device), -math.inf), dim=0)
        out["bow"] = b.expand(M).clone()
    return out


def plain_head(
    logits: torch.Tensor,  # (N, V) the model's own logits, any float dtype
    targets: torch.Tensor,  # (N,) int64
    *,
    entropy: bool = False,
    rank: bool = False,
    top_k: int = 0,
    bow_mask: torch.Tensor | None = None,
) -> HeadOut:
    """The plain twin of :func:`fused_head`: a full float32 log-softmax of given logits."""
    z = logits.to(torch.float32)
    lp = torch.log_softmax(z, dim=-1)  # (N, V)
    out: HeadOut = {"logprobs": lp.gather(1, targets[:, None])[:, 0]}
    if entropy:
        out["entropy"] = -(lp.exp() * lp).sum(-1)
    if rank:
        zt = z.gather(1, targets[:, None])
        out["rank"] = (z > zt).sum(-1) + 1
    if top_k:
        k = min(top_k, z.shape[1])
        v, i = lp.topk(k, dim=1)
        if k < top_k:
            pad = top_k - k
            v = torch.cat([v, v.new_full((v.shape[0], pad), -math.inf)], 1)
            i = torch.cat([i, i.new_full((i.shape[0], pad), -1)], 1)
        out["topk_ids"], out["topk_logprobs"] = i, v
    if bow_mask is not None:
        out["bow"] = torch.logsumexp(lp.masked_fill(~bow_mask[None, :], -math.inf), dim=-1)
    return out


# ---------------------------------------------------------------- divergence between conditions


def _vocab_blocks(
    h: torch.Tensor,  # (n, H) float32
    head: HeadSpec,
    v_c: int,
) -> Iterator[torch.Tensor]:
    """Transformed float32 logits of ``h``, one vocabulary slice at a time: (n, v) each."""
    if head.module is not None:  # offloaded or quantized: the module makes the whole row
        yield head.transform(head.module(h).to(device=h.device, dtype=torch.float32))
        return
    V = head.vocab
    f32 = torch.float32
    for v0 in range(0, V, v_c):
        w = head.weight[v0 : v0 + v_c].to(f32)  # (v, H); a view when the weight is float32
        b = None if head.bias is None else head.bias[v0 : v0 + v_c]
        yield head.transform(_logits(h, w, b))


def fused_divergence(
    ref: torch.Tensor,  # (N, H) hidden states of the reference condition q, any float dtype
    others: torch.Tensor,  # (G, N, H) hidden states of G conditions p at the same positions
    targets: torch.Tensor,  # (N,) int64, the token that came at each position
    head: HeadSpec,
    *,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
) -> HeadOut:
    """How far each condition's next-token distribution is from the reference's, per position.

    With ``z`` the logits of a condition and ``w`` those of the reference at the same position
    (both after :meth:`HeadSpec.transform`), ``p = softmax(z)``, ``q = softmax(w)``:

    * ``kl``: ``KL(p || q) = sum_v p_v (z_v - w_v) - lse(z) + lse(w)``, nats, (G, N);
    * ``entropy``: ``H(p) = lse(z) - sum_v p_v z_v``, nats, (G, N);
    * ``entropy_ref``: ``H(q)``, nats, (N,);
    * ``logprobs``: ``log p(targets)``, (G, N), and ``logprobs_ref``: ``log q(targets)``, (N,),
      nats: the scores themselves, so that no other head needs to run on these rows.

    The sums are accumulated online over vocabulary slices (a running max rescales the
    partial sums, as for the log-sum-exp), so no (N, V) tensor exists. Memory: one chunk
    holds the logits of all ``G + 1`` conditions for its rows, so a chunk takes ``G + 1``
    times fewer rows than in :func:`fused_head` and the extra peak stays about
    ``4 * chunk_bytes``. What grows is upstream: the ``(G + 1) * N`` hidden states must be
    kept from the engine's passes until this call (``run_jobs(keep_hidden=True)``).
    Jensen-Shannon is not computed: its mixture ``(p + q) / 2`` needs both normalisers
    before the first slice, i.e. a second pass over the vocabulary.
    """
    G, N, H = others.shape
    assert ref.shape == (N, H), (ref.shape, others.shape)
    V = head.vocab
    device = head.device
    assert device is not None
    f32 = torch.float32
    weight_is_f32 = head.module is not None or head.weight.dtype == f32
    n_c, v_c = _chunks(N, V, H, weight_is_f32, chunk_bytes)
    n_c = max(1, n_c // (G + 1))  # G + 1 conditions' logits share one chunk
    out: HeadOut = {
        "kl": torch.empty(G, N, dtype=f32, device=device),
        "entropy": torch.empty(G, N, dtype=f32, device=device),
        "entropy_ref": torch.empty(N, dtype=f32, device=device),
        "logprobs": torch.empty(G, N, dtype=f32, device=device),
        "logprobs_ref": torch.empty(N, dtype=f32, device=device),
    }
    targets = targets.to(device)
    for n0 in range(0, N, n_c):
        n1 = min(N, n0 + n_c)
        n = n1 - n0
        hq = ref[n0:n1].to(device=device, dtype=f32)  # (n, H)
        hp = others[:, n0:n1].to(device=device, dtype=f32).reshape(G * n, H)  # (G*n, H)
        # Running max, sum of exp(. - max), and sum of exp(. - max) * logit, per row;
        # for p also the sum of exp(z - max) * (z - w).
        m_q = torch.full((n,), -math.inf, dtype=f32, device=device)
        s_q = torch.zeros(n, dtype=f32, device=device)
        a_q = torch.zeros(n, dtype=f32, device=device)
        m_p = torch.full((G, n), -math.inf, dtype=f32, device=device)
        s_p = torch.zeros(G, n, dtype=f32, device=device)
        a_p = torch.zeros(G, n, dtype=f32, device=device)
        c_p = torch.zeros(G, n, dtype=f32, device=device)
        t = targets[n0:n1]  # (n,)
        zt_q = torch.empty(n, dtype=f32, device=device)  # target logits
        zt_p = torch.empty(G, n, dtype=f32, device=device)
        v0 = 0
        for w, z in zip(_vocab_blocks(hq, head, v_c), _vocab_blocks(hp, head, v_c), strict=True):
            z = z.view(G, n, -1)  # (G, n, v)
            v1 = v0 + w.shape[1]
            idx = ((t >= v0) & (t < v1)).nonzero(as_tuple=True)[0]
            if idx.numel():
                zt_q[idx] = w[idx, t[idx] - v0]
                zt_p[:, idx] = z[:, idx, t[idx] - v0]
            v0 = v1
            mq_new = torch.maximum(m_q, w.max(dim=1).values)
            e = torch.exp(w - mq_new[:, None])  # (n, v)
            alpha = torch.exp(m_q - mq_new)  # exp(-inf) = 0 on the first slice
            s_q = s_q * alpha + e.sum(dim=1)
            a_q = a_q * alpha + (e * w).sum(dim=1)
            m_q = mq_new
            mp_new = torch.maximum(m_p, z.max(dim=2).values)
            e = torch.exp(z - mp_new[..., None])  # (G, n, v)
            alpha = torch.exp(m_p - mp_new)
            s_p = s_p * alpha + e.sum(dim=2)
            a_p = a_p * alpha + (e * z).sum(dim=2)
            c_p = c_p * alpha + (e * (z - w[None])).sum(dim=2)
            m_p = mp_new
            del e, z, w
        lse_q = m_q + torch.log(s_q)  # (n,)
        lse_p = m_p + torch.log(s_p)  # (G, n)
        out["entropy_ref"][n0:n1] = lse_q - a_q / s_q
        out["logprobs_ref"][n0:n1] = zt_q - lse_q
        out["logprobs"][:, n0:n1] = zt_p - lse_p
        out["entropy"][:, n0:n1] = lse_p - a_p / s_p
        # KL >= 0; float32 rounding can leave about -1e-7 where p == q.
        out["kl"][:, n0:n1] = (c_p / s_p - lse_p + lse_q[None]).clamp_min(0.0)
    return out


def plain_divergence(
    ref: torch.Tensor,  # (N, V) the model's own logits for the reference condition
    others: torch.Tensor,  # (G, N, V) the model's own logits for G conditions
    targets: torch.Tensor,  # (N,) int64
) -> HeadOut:
    """The plain twin of :func:`fused_divergence`: full float32 log-softmaxes of given logits."""
    lq = torch.log_softmax(ref.to(torch.float32), dim=-1)  # (N, V)
    lp = torch.log_softmax(others.to(torch.float32), dim=-1)  # (G, N, V)
    p = lp.exp()
    t = targets.to(lq.device)
    return {
        "logprobs_ref": lq.gather(1, t[:, None])[:, 0],
        "logprobs": lp.gather(2, t[None, :, None].expand(lp.shape[0], -1, 1))[..., 0],
        "kl": (p * (lp - lq[None])).sum(-1).clamp_min(0.0),
        "entropy": -(p * lp).sum(-1),
        "entropy_ref": -(lq.exp() * lq).sum(-1),
    }
