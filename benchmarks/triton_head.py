"""A fused Triton LM head that never writes the logits: an evaluation prototype (issue 13).

Dimension letters: N scored positions, H hidden size, V vocabulary, S vocabulary splits.

:func:`fused_logprobs` computes, per position, ``log p(target) = z_t - logsumexp(z)`` with
``z = transform(h @ W.T + b)``, the quantity of :func:`surprisal.head.fused_head`, with one
Triton kernel in which each ``(BLOCK_N, BLOCK_V)`` logits tile lives in registers only:

* grid ``(ceil(N / BLOCK_N), S)``: a program owns BLOCK_N rows and one of S contiguous
  ranges of the vocabulary (S > 1 when ceil(N / BLOCK_N) alone gives the multiprocessors
  fewer than about two programs each; each range is a whole number of BLOCK_V tiles);
* per vocabulary tile: ``tl.dot`` over H in BLOCK_H steps, inputs in their own dtype (bf16,
  fp16 or float32; float32 as IEEE, no TF32), float32 accumulation; then, on the tile in
  float32 and in :meth:`surprisal.head.HeadSpec.transform`'s order: bias, scale, divisor,
  softcap (``c * tanh(z / c)``), temperature;
* an online log-sum-exp: running max ``m`` and ``s = sum exp(z - m)``, rescaled by
  ``exp(m_old - m_new)`` whenever the max grows; the target logit picked when its tile
  passes (column id == the row's target);
* out: ``m``, ``s``, ``z_t`` per (split, row), 3 * S * N float32; the S partial sums are
  merged on the host side of the kernel (a few (S, N) torch ops) into ``z_t - lse``.

Cost model (N rows, V x H weight of ``itemsize`` bytes, logits in float32):

* FLOPs: ``2 N V H``, the same as every head.
* fused kernel: W is read ``ceil(N / BLOCK_N) * V * H * itemsize`` bytes (mostly from L2:
  the programs walk the vocabulary in step, so HBM sees about one pass per wave), the
  hidden states ``ceil(V / BLOCK_V) * N * H * itemsize`` (likewise L2), and ``3 S N * 4``
  bytes are written. The ``(N, V)`` logits are never written.
* the chunked path (``fused_head`` on CUDA with a bf16 weight): the same matmul, plus its
  float32 logits written once (``N V * 4`` bytes), the in-place transforms read and
  rewrite them, ``log_softmax`` reads them (2-3 passes) and writes a second ``(n_c, V)``
  buffer. For Qwen2.5-0.5B (V = 151,936, H = 896) and N = 16,384: 4.5 TFLOP (~6 ms at
  ~750 TFLOP/s) against ~10 GB per pass over the logits (~2 ms each at 4.8 TB/s, 4-5
  passes): the fused kernel could roughly halve the head's time, *if* its matmul runs
  near the tensor cores' rate.

Not adopted by the library: its speed is unmeasured (no GPU was lent when it was written;
``bash benchmarks/gpu_check.sh`` measures it), it serves only the log-probabilities (no
entropy, rank, top-k or word-start mass), and a fast path must first prove on a GPU that it
is faster and as exact as the chunked head. Its exactness is tested on CPU with Triton's
interpreter (``TRITON_INTERPRET=1``; ``tests/test_triton_head.py``) and on CUDA in bf16
(``tests/test_gpu.py``).

Triton is imported lazily: this module imports without it, and :func:`fused_logprobs` says
how to install it. On CPU, set ``TRITON_INTERPRET=1`` before the first call (the kernel is
defined then): the interpreter runs the same kernel with numpy, slowly. It multiplies
bf16/fp16 tiles after an exact upcast to float32 (its own ``tl.dot`` misreads bf16), which
is the arithmetic of a tensor core that accumulates in float32. Use triton >= 3.8 there:
3.6's interpreter fails on a runtime loop bound under numpy 2.4 (any kernel with one).

Usage: ``fused_logprobs(hidden, weight, targets, softcap=30.0)`` -> (N,) float32 nats.
"""

from __future__ import annotations

import functools
import math
import os
from typing import Any

import torch

from surprisal.errors import SurprisalError
from surprisal.head import HeadSpec

__all__ = ["fused_logprobs", "head_logprobs"]

_HALF = (torch.bfloat16, torch.float16)
# (BLOCK_N, BLOCK_V, BLOCK_H, num_warps, num_stages): a 128 x 128 float32 tile is 64 KiB of
# registers over 8 warps, the usual Hopper bf16 GEMM tile. Built for sm_90 on a CPU (triton
# 3.6 and 3.8, bf16, ptxas -v): wgmma, a 3-stage cp.async pipeline in 96 KiB of shared
# memory, 209-250 registers a thread, no spills. The interpreter wants few, larger numpy
# ops, and 32 x 64 tiles keep the ragged edges of the small test shapes exercised.
GPU_BLOCKS = (128, 128, 64, 8, 3)
INTERPRETER_BLOCKS = (32, 64, 32, 1, 1)


@functools.cache
def _kernel() -> tuple[Any, bool]:
    """(the jitted kernel, whether it runs in the interpreter), defined on first use so that
    ``TRITON_INTERPRET`` is read then and triton is only needed by a caller."""
    try:
        import triton
        import triton.language as tl
    except ImportError:
        raise ImportError(
            "fused_logprobs needs triton: pip install triton (it comes with CUDA builds of "
            "torch); on CPU also set TRITON_INTERPRET=1 before the first call"
        ) from None
    interpreted = os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")

    @triton.jit
    def lse_target_kernel(
        h_ptr,  # (N, H) hidden states
        w_ptr,  # (V, H) head weight, same dtype as h
        b_ptr,  # (V,) bias (unread without HAS_BIAS)
        t_ptr,  # (N,) int64 targets
        m_ptr,  # (S, N) float32 out: running max
        s_ptr,  # (S, N) float32 out: sum exp(z - m)
        zt_ptr,  # (S, N) float32 out: target logit (0 where the target is in another split)
        N,
        V,
        H,
        v_per,  # vocabulary rows per split, a multiple of BLOCK_V
        stride_hn,
        stride_hh,
        stride_wv,
        stride_wh,
        scale,
        divisor,
        softcap,
        temperature,
        HAS_BIAS: tl.constexpr,
        HAS_SCALE: tl.constexpr,
        HAS_DIVISOR: tl.constexpr,
        HAS_SOFTCAP: tl.constexpr,
        HAS_TEMPERATURE: tl.constexpr,
        UPCAST: tl.constexpr,  # multiply tiles as float32 (the interpreter's bf16 dot)
        DOT_PRECISION: tl.constexpr,  # "ieee" for float32 inputs: no TF32 rounding
        BLOCK_N: tl.constexpr,
        BLOCK_V: tl.constexpr,
        BLOCK_H: tl.constexpr,
    ):
        pid_n = tl.program_id(0)
        pid_v = tl.program_id(1)
        rows = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)  # (BLOCK_N,)
        row_ok = rows < N
        tgt = tl.load(t_ptr + rows, mask=row_ok, other=-1)  # (BLOCK_N,)
        h_row = h_ptr + rows[:, None].to(tl.int64) * stride_hn  # (BLOCK_N, 1) pointers
        m = tl.full((BLOCK_N,), float("-inf"), tl.float32)
        s = tl.zeros((BLOCK_N,), tl.float32)
        zt = tl.zeros((BLOCK_N,), tl.float32)
        v_lo = pid_v * v_per
        v_hi = tl.minimum(v_lo + v_per, V)
        for v0 in tl.range(v_lo, v_hi, BLOCK_V):
            cols = v0 + tl.arange(0, BLOCK_V)  # (BLOCK_V,)
            col_ok = cols < v_hi
            w_col = w_ptr + cols[None, :].to(tl.int64) * stride_wv  # (1, BLOCK_V) pointers
            z = tl.zeros((BLOCK_N, BLOCK_V), tl.float32)
            for k0 in tl.range(0, H, BLOCK_H):
                ks = k0 + tl.arange(0, BLOCK_H)
                k_ok = ks < H
                h = tl.load(
                    h_row + ks[None, :] * stride_hh,
                    mask=row_ok[:, None] & k_ok[None, :],
                    other=0.0,
                )  # (BLOCK_N, BLOCK_H)
                w = tl.load(
                    w_col + ks[:, None] * stride_wh,
                    mask=k_ok[:, None] & col_ok[None, :],
                    other=0.0,
                )  # (BLOCK_H, BLOCK_V): W.T's tile
                if UPCAST:
                    h = h.to(tl.float32)
                    w = w.to(tl.float32)
                z = tl.dot(h, w, z, input_precision=DOT_PRECISION)
            # HeadSpec.transform's order, in float32 on the tile.
            if HAS_BIAS:
                z += tl.load(b_ptr + cols, mask=col_ok, other=0.0).to(tl.float32)[None, :]
            if HAS_SCALE:
                z = z * scale
            if HAS_DIVISOR:
                z = z / divisor
            if HAS_SOFTCAP:
                x = z / softcap
                e = tl.exp(-2.0 * tl.abs(x))  # tanh(|x|) = (1 - e) / (1 + e), no overflow
                th = (1.0 - e) / (1.0 + e)
                z = tl.where(x < 0, -th, th) * softcap
            if HAS_TEMPERATURE:
                z = z / temperature
            z = tl.where(col_ok[None, :], z, float("-inf"))
            hit = (cols[None, :] == tgt[:, None]) & col_ok[None, :]
            zt += tl.sum(tl.where(hit, z, 0.0), axis=1)
            m_new = tl.maximum(m, tl.max(z, axis=1))  # finite: every tile has a valid column
            s = s * tl.exp(m - m_new) + tl.sum(tl.exp(z - m_new[:, None]), axis=1)
            m = m_new
        out = pid_v * N + rows
        tl.store(m_ptr + out, m, mask=row_ok)
        tl.store(s_ptr + out, s, mask=row_ok)
        tl.store(zt_ptr + out, zt, mask=row_ok)

    return lse_target_kernel, interpreted


def _scalar(name: str, value: float | None) -> float:
    """A transform's float (1.0 when absent, the kernel then skips it); nonzero and finite."""
    if value is None:
        return 1.0
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a float or None, got {type(value).__name__}")
    if not math.isfinite(value) or (value == 0 and name != "scale"):
        raise SurprisalError(f"{name} must be finite and nonzero, got {value}; or pass None")
    return float(value)


def fused_logprobs(
    hidden: torch.Tensor,  # (N, H) float32, bf16 or fp16
    weight: torch.Tensor,  # (V, H) same float dtypes
    targets: torch.Tensor,  # (N,) integer token ids
    bias: torch.Tensor | None = None,  # (V,)
    softcap: float | None = None,
    scale: float | None = None,
    *,
    divisor: float | None = None,
    temperature: float | None = None,
    blocks: tuple[int, int, int, int, int] | None = None,
    split_v: int | None = None,
) -> torch.Tensor:
    """(N,) float32 ``log_softmax(transform(hidden @ weight.T + bias))[i, targets[i]]``, nats.

    One Triton kernel; the ``(N, V)`` logits never exist. ``hidden`` is cast to the weight's
    dtype (as :func:`surprisal.head.fused_head` does); the products accumulate in float32.

    Args:
        hidden: (N, H) hidden states of the scored positions.
        weight: (V, H) output embedding.
        targets: (N,) token ids; a target outside ``[0, V)`` gives NaN, never a number.
        bias: (V,) logit bias, or None.
        softcap: ``z = softcap * tanh(z / softcap)`` (Gemma-2), or None.
        scale: multiply the logits by this (Cohere), or None.
        divisor: divide the logits by this (Granite), or None.
        temperature: divide the logits by this last, or None.
        blocks: ``(BLOCK_N, BLOCK_V, BLOCK_H, num_warps, num_stages)``, powers of two >= 16
            for the blocks; default :data:`GPU_BLOCKS` on CUDA, :data:`INTERPRETER_BLOCKS`
            in the interpreter.
        split_v: S, the number of vocabulary ranges run by separate programs; default 1 in
            the interpreter and, on CUDA, enough for about two programs per multiprocessor.

    Returns:
        (N,) float32 log-probabilities, natural log.
    """
    if not isinstance(hidden, torch.Tensor) or not isinstance(weight, torch.Tensor):
        raise TypeError("hidden and weight must be torch tensors")
    if not isinstance(targets, torch.Tensor):
        raise TypeError(f"targets must be a torch tensor, got {type(targets).__name__}")
    if hidden.ndim != 2 or weight.ndim != 2 or hidden.shape[1] != weight.shape[1]:
        raise SurprisalError(
            f"hidden must be (N, H) and weight (V, H), got {tuple(hidden.shape)} and "
            f"{tuple(weight.shape)}; gather the scored positions into one (N, H) matrix first"
        )
    N, H = hidden.shape
    V = weight.shape[0]
    if targets.shape != (N,):
        raise SurprisalError(
            f"targets must be ({N},), one per hidden row; got {tuple(targets.shape)}"
        )
    if targets.is_floating_point() or targets.is_complex() or targets.dtype == torch.bool:
        raise TypeError(f"targets must hold integer token ids, got {targets.dtype}")
    if weight.dtype not in (torch.float32, *_HALF) or not hidden.is_floating_point():
        raise TypeError(
            f"weight must be float32, bfloat16 or float16 and hidden a float tensor; got "
            f"{weight.dtype} and {hidden.dtype}"
        )
    if bias is not None and bias.shape != (V,):
        raise SurprisalError(f"bias must be ({V},), got {tuple(bias.shape)}")
    dev = weight.device
    if hidden.device != dev or targets.device != dev or (bias is not None and bias.device != dev):
        raise SurprisalError(f"hidden, targets and bias must be on the weight's device {dev}")
    kernel, interpreted = _kernel()
    if dev.type != "cuda" and not interpreted:
        raise SurprisalError(
            f"the Triton kernel runs on CUDA tensors, got {dev}; to run it on CPU set "
            "TRITON_INTERPRET=1 in the environment before the first call"
        )
    bn, bv, bh, warps, stages = blocks or (INTERPRETER_BLOCKS if interpreted else GPU_BLOCKS)
    for b in (bn, bv, bh):
        if b < 16 or b & (b - 1):
            raise SurprisalError(f"blocks must be powers of two >= 16 (tl.dot), got {blocks}")
    out = torch.full((N,), math.nan, dtype=torch.float32, device=dev)
    if N == 0 or V == 0:
        return out
    hidden = hidden.to(weight.dtype)
    targets = targets.to(torch.int64).contiguous()
    tiles = -(-V // bv)
    if split_v is None:
        sms = 1 if interpreted else torch.cuda.get_device_properties(dev).multi_processor_count
        split_v = -(-2 * sms // -(-N // bn))
    split_v = max(1, min(int(split_v), tiles))
    v_per = -(-tiles // split_v) * bv
    S = -(-V // v_per)  # every range holds at least one column
    m = torch.empty(S, N, dtype=torch.float32, device=dev)
    s, zt = torch.empty_like(m), torch.empty_like(m)
    kernel[(-(-N // bn), S)](
        hidden,
        weight,
        bias if bias is not None else weight,  # never read without HAS_BIAS
        targets,
        m,
        s,
        zt,
        N,
        V,
        H,
        v_per,
        hidden.stride(0),
        hidden.stride(1),
        weight.stride(0),
        weight.stride(1),
        _scalar("scale", scale),
        _scalar("divisor", divisor),
        _scalar("softcap", softcap),
        _scalar("temperature", temperature),
        HAS_BIAS=bias is not None,
        HAS_SCALE=scale is not None,
        HAS_DIVISOR=divisor is not None,
        HAS_SOFTCAP=softcap is not None,
        HAS_TEMPERATURE=temperature is not None,
        UPCAST=interpreted and weight.dtype != torch.float32,
        DOT_PRECISION="ieee" if weight.dtype == torch.float32 else "tf32",
        BLOCK_N=bn,
        BLOCK_V=bv,
        BLOCK_H=bh,
        num_warps=warps,
        num_stages=stages,
    )
    top = m.amax(dim=0)  # (N,) merge the S ranges' online sums
    lse = top + torch.log((s * torch.exp(m - top)).sum(dim=0))
    ok = (targets >= 0) & (targets < V)
    return torch.where(ok, zt.sum(dim=0) - lse, out)


def head_logprobs(
    hidden: torch.Tensor,  # (N, H)
    targets: torch.Tensor,  # (N,)
    head: HeadSpec,
    **kw: Any,
) -> torch.Tensor:
    """:func:`fused_logprobs` for a :class:`surprisal.head.HeadSpec` (the weight it holds,
    its bias and transforms); ``kw`` goes to :func:`fused_logprobs` (``blocks``, ``split_v``).

    A head read through its module (offloaded by accelerate or quantized) has no weight to
    hand to a kernel: use :func:`surprisal.head.fused_head` for it."""
    if head.module is not None:
        raise SurprisalError(
            "this head is offloaded or quantized (HeadSpec.module is set): its weight cannot "
            "be read by a kernel; use surprisal.head.fused_head"
        )
    return fused_logprobs(
        hidden.to(head.device),
        head.weight,
        targets.to(head.device),
        head.bias,
        head.softcap,
        head.scale,
        divisor=head.divisor,
        temperature=head.temperature,
        **kw,
    )
