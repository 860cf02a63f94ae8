"""The fused, chunked LM head: hidden states in, per-position log-probabilities out.

Dimension letters: N scored positions, H hidden size, V vocabulary (rows of the head),
K top-k alternatives. Every number leaving this module is float32, natural log (nats).

The full ``(N, V)`` log-softmax never exists. Logits are made a chunk at a time in float32,
the model's own logit transforms are applied (bias, Cohere-style scale, Granite-style
divisor, Gemma-2 final softcap), and only reductions survive the chunk: the running
log-sum-exp, the target logit, and the optional extras.

Memory bound. With ``cap = chunk_bytes / 4`` float32 elements:

* float32 head weight: rows per chunk ``n_c = max(1, cap // V)``; one chunk holds an
  ``(n_c, V)`` logits tensor plus at most two temporaries of the same size, so the extra
  peak is about ``3 * chunk_bytes`` whatever N is.
* bf16/fp16 head weight: the weight is upcast one vocabulary slice at a time,
  ``v_c = max(1, cap // H)`` rows (``v_c * H * 4 <= chunk_bytes``), and
  ``n_c = max(1, cap // v_c)``,
  so the extra peak is about ``4 * chunk_bytes``.

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
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch

__all__ = [
    "HeadOut",
    "HeadSpec",
    "fused_divergence",
    "fused_head",
    "plain_divergence",
    "plain_head",
]

DEFAULT_CHUNK_BYTES = 256 * 2**20  # 256 MiB of float32 logits per chunk (GPU)
CPU_CHUNK_BYTES = 32 * 2**20  # CPU: the peak stays small; 166 rows of a 50k vocab per matmul


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

    def transform(self, z: torch.Tensor) -> torch.Tensor:
        """Apply the scalar logit transforms in float32, in the order the models apply them."""
        if self.scale is not None:
            z = z * self.scale
        if self.divisor is not None:
            z = z / self.divisor
        if self.softcap is not None:
            z = torch.tanh(z / self.softcap) * self.softcap
        return self.tempered(z)

    def tempered(self, z: torch.Tensor) -> torch.Tensor:
        """``z / temperature`` (z unchanged without one): the only transform the plain path
        applies to the model's own logits, which already carry the model's transforms."""
        return z if self.temperature is None else z.to(torch.float32) / self.temperature


HeadOut = dict[str, torch.Tensor]
"""Per-position results keyed by :data:`surprisal.fields.FIELDS` names: ``"logprobs"`` (N,)
always; ``"entropy"``, ``"rank"``, ``"topk_ids"``/``"topk_logprobs"`` (N, K) and ``"bow"``
when asked. float32 nats, int64 ids and ranks."""


def _chunks(n: int, v: int, h: int, weight_is_f32: bool, chunk_bytes: int) -> tuple[int, int]:
    cap = max(1, chunk_bytes // 4)
    if weight_is_f32:
        return max(1, cap // v), v
    v_c = min(v, max(1, cap // h))
    return max(1, cap // v_c), v_c


def _logits(h: torch.Tensor, w: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """(n, v) float32 logits ``h @ w.T + bias`` before the scalar transforms."""
    if bias is None:
        return h @ w.T
    return torch.addmm(bias.to(torch.float32), h, w.T)


def _reduce_block(
    z: torch.Tensor,  # (n, V) float32 transformed logits
    t: torch.Tensor,  # (n,) targets
    n0: int,
    out: HeadOut,
    top_k: int,
    bow_mask: torch.Tensor | None,
) -> None:
    """Every reduction over one full-vocabulary block, written to rows ``n0:n0+n`` of ``out``."""
    V = z.shape[1]
    zt = z.gather(1, t[:, None])  # (n, 1)
    lse = torch.logsumexp(z, dim=1, keepdim=True)  # (n, 1)
    sl = slice(n0, n0 + z.shape[0])
    out["logprobs"][sl] = (zt - lse)[:, 0]
    if "rank" in out:
        out["rank"][sl] = (z > zt).sum(dim=1) + 1
    if "topk_ids" in out:
        v, i = z.topk(min(top_k, V), dim=1)
        k = v.shape[1]
        out["topk_ids"][sl, :k], out["topk_logprobs"][sl, :k] = i, v - lse
        out["topk_ids"][sl, k:], out["topk_logprobs"][sl, k:] = -1, -math.inf
    if "bow" in out and bow_mask is not None:
        masked = z.masked_fill(~bow_mask[None, :], -math.inf)
        out["bow"][sl] = (torch.logsumexp(masked, dim=1, keepdim=True) - lse)[:, 0]
        del masked
    if "entropy" in out:
        p = torch.exp(z - lse)  # (n, V) probabilities
        out["entropy"][sl] = lse[:, 0] - (p * z).sum(dim=1)
        del p


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
) -> HeadOut:
    """Log-probabilities of ``targets`` under ``head`` without a full (N, V) tensor.

    Computes ``log_softmax(transform(hidden @ W.T + b))[i, targets[i]]`` in float32, chunked
    over positions and, for half-precision weights, over the vocabulary (online log-sum-exp).
    """
    N, H = hidden.shape
    V = head.vocab
    device = head.device  # under a device_map the head may live on another device
    assert device is not None
    hidden, targets = hidden.to(device), targets.to(device)
    bow_mask = None if bow_mask is None else bow_mask.to(device)
    f32 = torch.float32
    weight_is_f32 = head.module is not None or head.weight.dtype == f32
    n_c, v_c = _chunks(N, V, H, weight_is_f32, chunk_bytes)
    out_lp = torch.empty(N, dtype=f32, device=device)
    out_ent = torch.empty(N, dtype=f32, device=device) if entropy else None
    out_rank = torch.empty(N, dtype=torch.int64, device=device) if rank else None
    out_tk_ids = torch.empty(N, top_k, dtype=torch.int64, device=device) if top_k else None
    out_tk_lp = torch.empty(N, top_k, dtype=f32, device=device) if top_k else None
    out_bow = torch.empty(N, dtype=f32, device=device) if bow_mask is not None else None
    outs: HeadOut = {"logprobs": out_lp}
    for name, t in (
        ("entropy", out_ent),
        ("rank", out_rank),
        ("topk_ids", out_tk_ids),
        ("topk_logprobs", out_tk_lp),
        ("bow", out_bow),
    ):
        if t is not None:
            outs[name] = t
    if head.module is not None:
        # Offloaded or quantized head: the module makes each (n, V) block of logits.
        for n0 in range(0, N, n_c):
            z = head.module(hidden[n0 : n0 + n_c]).to(device=device, dtype=f32)
            _reduce_block(head.transform(z), targets[n0 : n0 + n_c], n0, outs, top_k, bow_mask)
            del z
        return outs
    w_rows = head.weight if weight_is_f32 else None
    target_logit_direct = None
    if v_c == V and w_rows is not None:
        # One vocabulary chunk: fused reductions (logsumexp, topk) on each (n, V) block.
        for n0 in range(0, N, n_c):
            z = head.transform(_logits(hidden[n0 : n0 + n_c].to(f32), w_rows, head.bias))
            _reduce_block(z, targets[n0 : n0 + n_c], n0, outs, top_k, bow_mask)
            del z
        return outs

    for n0 in range(0, N, n_c):
        h = hidden[n0 : n0 + n_c].to(f32)  # (n, H)
        t = targets[n0 : n0 + n_c]  # (n,)
        n = h.shape[0]
        m = torch.full((n,), -math.inf, dtype=f32, device=device)  # running max
        s = torch.zeros(n, dtype=f32, device=device)  # sum exp(z - m)
        ent_acc = torch.zeros(n, dtype=f32, device=device) if entropy else None  # sum e^(z-m) z
        bow_acc = torch.zeros(n, dtype=f32, device=device) if bow_mask is not None else None
        z_t = torch.empty(n, dtype=f32, device=device)
        greater = torch.zeros(n, dtype=torch.int64, device=device) if rank else None
        tk_v = tk_i = None
        if rank:
            # The target logit computed row-wise, to count larger logits chunk by chunk.
            w_t = head.weight[t].to(f32)  # (n, H)
            zt = (h * w_t).sum(-1)
            if head.bias is not None:
                zt = zt + head.bias[t].to(f32)
            target_logit_direct = head.transform(zt)
        for v0 in range(0, V, v_c):
            v1 = min(V, v0 + v_c)
            w = w_rows[v0:v1] if w_rows is not None else head.weight[v0:v1].to(f32)  # (v, H)
            z = h @ w.T  # (n, v) float32
            if head.bias is not None:
                z = z + head.bias[v0:v1].to(f32)
            z = head.transform(z)
            in_chunk = (t >= v0) & (t < v1)
            if bool(in_chunk.any()):
                idx = in_chunk.nonzero(as_tuple=True)[0]
                z_t[idx] = z[idx, t[idx] - v0]
            m_new = torch.maximum(m, z.max(dim=1).values)
            alpha = torch.exp(m - m_new)  # rescale old sums; exp(-inf) = 0 on the first chunk
            e = torch.exp(z - m_new[:, None])  # (n, v)
            s = s * alpha + e.sum(dim=1)
            if ent_acc is not None:
                ent_acc = ent_acc * alpha + (e * z).sum(dim=1)
            if bow_acc is not None and bow_mask is not None:
                bow_acc = bow_acc * alpha + (e * bow_mask[v0:v1]).sum(dim=1)
            m = m_new
            if greater is not None and target_logit_direct is not None:
                gt = z > target_logit_direct[:, None]
                if bool(in_chunk.any()):
                    gt[idx, t[idx] - v0] = False  # never count the target itself
                greater += gt.sum(dim=1)
            if top_k:
                k = min(top_k, v1 - v0)
                cv, ci = z.topk(k, dim=1)
                ci = ci + v0
                if tk_v is None or tk_i is None:
                    tk_v, tk_i = cv, ci
                else:
                    allv = torch.cat([tk_v, cv], dim=1)
                    alli = torch.cat([tk_i, ci], dim=1)
                    tk_v, pos = allv.topk(min(top_k, allv.shape[1]), dim=1)
                    tk_i = alli.gather(1, pos)
            del z, e
        lse = m + torch.log(s)  # (n,)
        out_lp[n0 : n0 + n] = z_t - lse
        if out_ent is not None and ent_acc is not None:
            out_ent[n0 : n0 + n] = lse - ent_acc / s
        if out_rank is not None and greater is not None:
            out_rank[n0 : n0 + n] = greater + 1
        if (
            out_tk_ids is not None
            and out_tk_lp is not None
            and tk_v is not None
            and tk_i is not None
        ):
            kk = tk_v.shape[1]
            out_tk_ids[n0 : n0 + n, :kk] = tk_i
            out_tk_lp[n0 : n0 + n, :kk] = tk_v - lse[:, None]
            if kk < top_k:  # vocabulary smaller than k
                out_tk_ids[n0 : n0 + n, kk:] = -1
                out_tk_lp[n0 : n0 + n, kk:] = -math.inf
        if out_bow is not None and bow_acc is not None:
            out_bow[n0 : n0 + n] = torch.log(bow_acc) + m - lse
    return outs


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
