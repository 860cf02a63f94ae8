"""Shared-prefix attention: many rows attend to one copy of a prefix's keys and values.

Dimension letters: B rows, T row length (the targets), P prefix length, Hq query heads,
Hkv key/value heads (``G = Hq // Hkv`` queries per key head), d head size.

A KV-cache loop expands the prefix's cache over the B rows of a batch; every layer then
concatenates the rows' new keys onto it, which makes ``B * P`` keys and values per layer
(copies, and an attention mask of ``B * T * (P + T)``). Here, as in Hydragen (Juravsky et
al., 2024), attention is split in two exact parts merged by their log-sum-exps:

* prefix part: the queries of **all** rows against the one ``(Hkv, P, d)`` copy of the
  prefix's keys, as one batched matmul ``(Hkv, B*G*T, d) @ (Hkv, d, P)``, no expansion;
* suffix part: each row's queries against its own T keys, causal, ``(B, Hq, T, T)``;
* ``out = (e^{lse_p} o_p + e^{lse_s} o_s) / (e^{lse_p} + e^{lse_s})``, computed as
  ``lerp(o_s, o_p, sigmoid(lse_p - lse_s))``.

When every row is its real tokens first and then padding, at positions ``P, P+1, ...``
(the engine's layout after a prefix, checked on its host arrays), without logit
softcapping and without a sliding window that cuts anything, both parts run in one of
PyTorch's fused attention kernels, which return the log-sum-exps the merge needs
(:func:`surprisal._compat.attention_with_lse`: the fused CPU kernel; on CUDA the flash
kernel for half precision, else the memory-efficient one): the suffix part is then plain
causal attention by index. Measured on 2 cores (Llama 4 x 256, 108 rows of 24 tokens
after 301 prefix tokens): 33 ms per layer with the matmul parts, 10 ms fused; the CUDA
kernels are unmeasured, and checked by the probe below like the rest. The matmul parts
stay for every other case and as the fallback.

The model runs with ``use_cache=False`` and position ids ``P, P+1, ...`` for the rows, and
its attention modules call :data:`ATTENTION_NAME`, registered with transformers'
``AttentionInterface``, for that forward only. The choice is per call, not a switch of the
shared config: the model's configs answer ``_attn_implementation`` from the calling
thread's prefix state (:func:`_select_per_call`, installed once per model), so a thread
scoring without a prefix on the same model at the same time still gets the model's own
attention, and the config reads the same before, during and after. Logit
softcapping (Gemma-2), the scale each model passes, grouped-query heads and sliding-window
layers (whose cache keeps only the last ``window - 1`` prefix keys) are handled; every
model is checked once against the expanded-cache path (:func:`shared_prefix_ok`) and uses
that path when the check fails.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ._compat import attention_with_lse, cache_kwarg, expand_cache, output_cache

ATTENTION_NAME = "surprisal_shared_prefix"
# The prefix part's float32 scores are made a block of query rows at a time, at most this
# many elements: 2**23 float32 = 32 MiB whatever B, T and P are.
SCORE_ELEMENTS = 2**23
_ATTR = "_surprisal_shared_prefix_ok"  # the probe's verdict, cached on the LM object


@dataclass(frozen=True)
class _Shared:
    keys: list[torch.Tensor]  # per layer (1, Hkv, Lc, d): the prefix's last Lc keys
    values: list[torch.Tensor]  # per layer (1, Hkv, Lc, d)
    length: int  # P, the prefix's length; its keys sit at positions P - Lc .. P - 1
    qpos: torch.Tensor  # (B, T) position ids of the rows' tokens
    valid: torch.Tensor  # (B, T) bool, real tokens (not padding)
    aligned: bool = False  # checked on the host: each row real tokens first, at P, P+1, ...
    configs: frozenset[int] = frozenset()  # id() of the running model's configs


_STATE: contextvars.ContextVar[_Shared | None] = contextvars.ContextVar(
    "surprisal_shared_prefix", default=None
)


def _cache_layers(cache: Any) -> tuple[list[torch.Tensor], list[torch.Tensor]] | None:
    """Per-layer (keys, values) of a batch-1 cache, or None for a layout we do not know."""
    if isinstance(cache, tuple):  # legacy tuple-of-tuples (transformers 4.x)
        return [layer[0] for layer in cache], [layer[1] for layer in cache]
    layers = getattr(cache, "layers", None)
    if layers is None or not all(
        isinstance(getattr(x, "keys", None), torch.Tensor) for x in layers
    ):
        return None
    return [x.keys for x in layers], [x.values for x in layers]


def _softcap(s: torch.Tensor, softcap: float | None) -> torch.Tensor:
    return s if softcap is None else torch.tanh(s / softcap) * softcap


def _group_queries(q: torch.Tensor, Hkv: int) -> torch.Tensor:
    """(B, Hq, T, d) queries -> (Hkv, B*G*T, d): every row's queries of one key head side by
    side, so all rows meet the one copy of the prefix's keys in one batched product."""
    B, Hq, T, d = q.shape
    G = Hq // Hkv
    return q.reshape(B, Hkv, G, T, d).permute(1, 0, 2, 3, 4).reshape(Hkv, B * G * T, d)


def _ungroup(
    out: torch.Tensor, lse: torch.Tensor, B: int, Hq: int, T: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The inverse of :func:`_group_queries` for the prefix part's (Hkv, B*G*T, d) output
    and (Hkv, B*G*T) log-sum-exps: (B, Hq, T, d) and (B, Hq, T)."""
    Hkv, d = out.shape[0], out.shape[-1]
    G = Hq // Hkv
    o = out.reshape(Hkv, B, G, T, d).permute(1, 0, 2, 3, 4).reshape(B, Hq, T, d)
    return o, lse.reshape(Hkv, B, G, T).permute(1, 0, 2, 3).reshape(B, Hq, T)


def _prefix_part(
    q: torch.Tensor,  # (B, Hq, T, d)
    k: torch.Tensor,  # (1, Hkv, Lc, d)
    v: torch.Tensor,  # (1, Hkv, Lc, d)
    scaling: float,
    softcap: float | None,
    visible: torch.Tensor | None,  # (B, T, Lc) bool, or None when every key is visible
) -> tuple[torch.Tensor, torch.Tensor]:
    """Attention of every query to the prefix: (B, Hq, T, d) output and (B, Hq, T) float32 lse."""
    B, Hq, T, _ = q.shape
    Hkv, Lc = k.shape[1], k.shape[2]
    G = Hq // Hkv
    qg = _group_queries(q, Hkv)  # (Hkv, B*G*T, d)
    kt = k[0].transpose(1, 2)  # (Hkv, d, Lc), a view: the prefix's keys are never copied
    out = torch.empty_like(qg)  # (Hkv, B*G*T, d)
    lse = torch.empty(Hkv, B * G * T, dtype=torch.float32, device=q.device)
    if visible is not None:  # (B, T, Lc) -> the (B, G, T) row order of qg
        vis = visible[:, None].expand(B, G, T, Lc).reshape(B * G * T, Lc)
    rows = max(1, SCORE_ELEMENTS // max(1, Hkv * Lc))
    for r0 in range(0, B * G * T, rows):
        s = _softcap(torch.bmm(qg[:, r0 : r0 + rows], kt).float() * scaling, softcap)
        if visible is not None:
            s = s.masked_fill(~vis[None, r0 : r0 + rows], -math.inf)
        m = torch.logsumexp(s, dim=-1)  # (Hkv, rows)
        # A query that sees no prefix key (sliding window) gets weight 0 in the merge.
        m_safe = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
        p = torch.exp(s - m_safe[..., None]).to(v.dtype)
        out[:, r0 : r0 + rows] = torch.bmm(p, v[0])
        lse[:, r0 : r0 + rows] = m
    return _ungroup(out, lse, B, Hq, T)


def _suffix_part(
    q: torch.Tensor,  # (B, Hq, T, d)
    k: torch.Tensor,  # (B, Hkv, T, d)
    v: torch.Tensor,  # (B, Hkv, T, d)
    scaling: float,
    softcap: float | None,
    visible: torch.Tensor,  # (B, T, T) bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """Causal attention of each row to its own tokens: (B, Hq, T, d) and (B, Hq, T) lse."""
    B, Hq, T, d = q.shape
    G = Hq // k.shape[1]
    qg = q.reshape(B, k.shape[1], G * T, d)  # heads of one key head side by side
    s = _softcap(torch.matmul(qg, k.transpose(2, 3)).float() * scaling, softcap)
    s = s.reshape(B, Hq, T, T).masked_fill(~visible[:, None], -math.inf)
    lse = torch.logsumexp(s, dim=-1)  # (B, Hq, T); finite: a query always sees itself
    p = torch.exp(s - lse[..., None]).to(v.dtype).reshape(B, k.shape[1], G * T, T)
    return torch.matmul(p, v).reshape(B, Hq, T, d), lse


def _fused_parts(
    q: torch.Tensor,  # (B, Hq, T, d)
    k: torch.Tensor,  # (B, Hkv, T, d)
    v: torch.Tensor,  # (B, Hkv, T, d)
    kp: torch.Tensor,  # (1, Hkv, Lc, d)
    vp: torch.Tensor,  # (1, Hkv, Lc, d)
    scaling: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor] | None:
    """Both parts from the fused attention kernel, for right-padded rows at positions
    P, P+1, ... without softcapping or a window that cuts anything: (o_p, lse_p, o_s, lse_s)
    as :func:`_prefix_part` and :func:`_suffix_part` return them, or None without the kernel."""
    B, Hq, T, _ = q.shape
    Hkv = kp.shape[1]
    G = Hq // Hkv
    qg = _group_queries(q, Hkv)[None]  # (1, Hkv, B*G*T, d)
    pre = attention_with_lse(qg, kp.to(q.dtype), vp.to(q.dtype), False, scaling)
    if pre is None:
        return None
    if G > 1:  # the kernel wants as many key heads as query heads
        k, v = k.repeat_interleave(G, 1), v.repeat_interleave(G, 1)
    # Causal by index is the visibility rule here: a real token's earlier keys are all
    # real (padding only follows them), and padding queries are never read.
    suf = attention_with_lse(q, k, v, True, scaling)
    if suf is None:
        return None
    o_p, lse_p = _ungroup(pre[0][0], pre[1][0], B, Hq, T)
    return o_p, lse_p, suf[0], suf[1]


def shared_prefix_attention(
    module: torch.nn.Module,
    query: torch.Tensor,  # (B, Hq, T, d)
    key: torch.Tensor,  # (B, Hkv, T, d), the rows' own keys only (no cache)
    value: torch.Tensor,  # (B, Hkv, T, d)
    attention_mask: torch.Tensor | None,
    scaling: float | None = None,
    dropout: float = 0.0,
    softcap: float | None = None,
    sliding_window: int | None = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """An ``AttentionInterface`` function: the rows' queries against the shared prefix of
    the current :func:`shared_prefix` context plus their own causal past. Returns the
    (B, T, Hq, d) output, as every transformers attention function does."""
    st = _STATE.get()
    if st is None:
        raise RuntimeError(f"{ATTENTION_NAME} attention runs only inside surprisal.prefix")
    if dropout:
        raise RuntimeError(f"{ATTENTION_NAME} is for inference (dropout must be 0)")
    scale = float(scaling) if scaling is not None else query.shape[-1] ** -0.5
    layer = int(getattr(module, "layer_idx", None) or 0)
    kp, vp = st.keys[layer], st.values[layer]  # (1, Hkv, Lc, d)
    Lc = kp.shape[2]
    qpos, valid = st.qpos.to(query.device), st.valid.to(query.device)  # (B, T) each
    T = qpos.shape[1]
    vis_p = None
    if sliding_window is not None:
        ppos = torch.arange(st.length - Lc, st.length, device=qpos.device)  # (Lc,)
        if int(qpos.max()) - sliding_window >= st.length - Lc:  # some prefix key falls out
            vis_p = ppos[None, None, :] > qpos[:, :, None] - sliding_window  # (B, T, Lc)
    parts = None
    window_cuts = sliding_window is not None and (vis_p is not None or sliding_window < T)
    if st.aligned and softcap is None and not window_cuts:
        parts = _fused_parts(query, key, value, kp, vp, scale)
    if parts is None:
        # Suffix: a key is seen when it is a real token at or before the query (by
        # position), inside the window; the query always sees itself (a padding row stays
        # finite).
        kpos = qpos[:, None, :]  # (B, 1, T) key positions
        vis_s = (kpos <= qpos[:, :, None]) & valid[:, None, :]
        if sliding_window is not None:
            vis_s &= kpos > qpos[:, :, None] - sliding_window
        vis_s |= torch.eye(T, dtype=torch.bool, device=qpos.device)[None]
        parts = (
            *_prefix_part(query, kp, vp, scale, softcap, vis_p),
            *_suffix_part(query, key, value, scale, softcap, vis_s),
        )
    o_p, lse_p, o_s, lse_s = parts
    # e^lse_p / (e^lse_p + e^lse_s): the prefix's share; 0 where no prefix key is seen
    # (lse_p = -inf); lse_s is finite, a query always sees itself.
    w_p = torch.sigmoid(lse_p - lse_s)[..., None]  # (B, Hq, T, 1) float32
    out = torch.lerp(o_s.float(), o_p.float(), w_p).to(query.dtype)  # (B, Hq, T, d)
    return out.transpose(1, 2).contiguous(), None


def _register() -> bool:
    try:
        from transformers import AttentionInterface
    except ImportError:  # transformers too old for attention interfaces
        return False
    AttentionInterface.register(ATTENTION_NAME, shared_prefix_attention)
    return True


def right_aligned(
    pos: torch.Tensor | np.ndarray, valid: torch.Tensor | np.ndarray, length: int
) -> bool:
    """Whether every row holds its real tokens first, then only padding, at positions
    ``length, length + 1, ...``: then causal attention by index is exactly the visibility
    rule for every real token. Host arrays (numpy, or CPU tensors); a tensor on a device
    gives False, since reading it would wait for the device (the engine passes its host
    layout instead)."""
    if isinstance(pos, torch.Tensor) or isinstance(valid, torch.Tensor):
        if pos.device.type != "cpu" or valid.device.type != "cpu":  # type: ignore[union-attr]
            return False
        pos, valid = np.asarray(pos), np.asarray(valid)
    valid = valid.astype(bool, copy=False)
    want = length + np.arange(pos.shape[1])[None, :]
    return bool((valid[:, 1:] <= valid[:, :-1]).all()) and bool(((pos == want) | ~valid).all())


# Config class -> its subclass whose ``_attn_implementation`` is chosen per call; and one
# lock for installing it on a model (two threads may meet a model's first prefix at once).
_PER_CALL: dict[type, type] = {}
_INSTALL = threading.Lock()


def _rebuild(cls: Any, state: dict[str, Any]) -> Any:
    """A config of class ``cls`` with attributes ``state`` (how the subclass pickles)."""
    obj = cls.__new__(cls)
    vars(obj).update(state)
    return obj


def _per_call_class(cls: type) -> type:
    """A subclass of config class ``cls`` whose ``_attn_implementation`` reads
    :data:`ATTENTION_NAME` while the calling thread runs a shared-prefix forward of a model
    holding this config object, and the stored value otherwise (setting it sets the stored
    value, as before). It pickles as ``cls``."""
    sub = _PER_CALL.get(cls)
    if sub is not None:
        return sub
    stored = getattr(cls, "_attn_implementation", None)  # the descriptor, read on the class
    if not isinstance(stored, property) or stored.fget is None:  # the probe then fails
        raise RuntimeError(f"{cls.__name__}._attn_implementation is not a property")
    fget = stored.fget

    def read(self: Any) -> Any:
        st = _STATE.get()
        if st is not None and id(self) in st.configs:
            return ATTENTION_NAME
        return fget(self)

    def reduce_ex(self: Any, protocol: Any) -> Any:
        # Pickled and copied as the original class: pickle cannot name this one.
        return (_rebuild, (cls, dict(vars(self))))

    sub = type(
        cls.__name__,
        (cls,),
        {
            "__module__": cls.__module__,
            "__qualname__": cls.__qualname__,
            "__doc__": cls.__doc__,
            "_attn_implementation": property(read, stored.fset),
            "__reduce_ex__": reduce_ex,
        },
    )
    _PER_CALL[cls] = sub
    return sub


def _model_configs(model: Any) -> list[Any]:
    """Every config object ``model``'s modules read (the top one, its sub-configs, and any
    held by a module), each once."""
    from transformers import PretrainedConfig

    found: dict[int, Any] = {}

    def add(cfg: Any) -> None:
        if isinstance(cfg, PretrainedConfig) and id(cfg) not in found:
            found[id(cfg)] = cfg
            for key in getattr(cfg, "sub_configs", None) or {}:
                add(getattr(cfg, key, None))

    add(model.config)
    for m in model.modules():
        add(getattr(m, "config", None))
    return list(found.values())


def _select_per_call(model: Any) -> frozenset[int]:
    """Make ``model``'s configs choose their attention per call (once per model; a no-op
    for configs already made so) and return their ids for the prefix state.

    The configs' values and behaviour are unchanged outside a shared-prefix forward of
    this thread: the class swap only adds the per-call choice."""
    with _INSTALL:
        configs = _model_configs(model)
        for cfg in configs:
            cls = type(cfg)
            if cls not in _PER_CALL.values():
                cfg.__class__ = _per_call_class(cls)
        return frozenset(id(c) for c in configs)


@contextlib.contextmanager
def shared_prefix(
    lm: Any,
    cache: Any,
    length: int,
    position_ids: torch.Tensor,  # (B, T)
    mask: torch.Tensor,  # (B, T) 1 for real tokens
    aligned: bool,
) -> Iterator[None]:
    """Run ``lm``'s forward (with ``use_cache=False``) attending to ``cache``, a batch-1
    cache of ``length`` prefix tokens, without expanding it over the rows.

    ``aligned``: whether the rows are right-padded at positions ``length, length + 1, ...``
    (:func:`right_aligned` of the caller's host arrays: checking the tensors here would
    wait for the device), which lets the fused attention kernels run."""
    layers = _cache_layers(cache)
    if layers is None:
        raise RuntimeError("unknown KV cache layout; check shared_prefix_ok(lm) first")
    configs = _select_per_call(lm.model)
    token = _STATE.set(
        _Shared(layers[0], layers[1], length, position_ids, mask.bool(), aligned, configs)
    )
    try:
        yield
    finally:
        _STATE.reset(token)


@torch.no_grad()
def _probe(lm: Any) -> bool:
    """Shared-prefix attention against the expanded-cache path on seeded random ids: two
    rows (one padded) after a 9-token prefix; True when the hidden states agree."""

    P, T = min(9, lm.max_length // 2), min(5, lm.max_length // 2)
    gen = torch.Generator().manual_seed(2)
    hi = min(len(lm.tokenizer), lm.vocab_size)
    pre = torch.randint(0, hi, (1, P), generator=gen).to(lm.device)
    ids = torch.randint(0, hi, (2, T), generator=gen).to(lm.device)
    mask = torch.ones((2, T), dtype=torch.long)
    mask[1, T - 2 :] = 0
    pos = torch.arange(P, P + T)[None].expand(2, T)
    # Checked on the host, as the engine checks its layout: on every device the probe then
    # runs the attention path the engine's batches take (the fused kernels, where they run).
    aligned = right_aligned(pos, mask, P)
    mask, pos = mask.to(lm.device), pos.to(lm.device)
    cache = output_cache(lm.body(input_ids=pre, use_cache=True))
    if _cache_layers(cache) is None:  # no KV cache (RWKV...) or recurrent state (Mamba)
        return False
    want = lm.body(
        input_ids=ids,
        attention_mask=torch.cat([torch.ones((2, P), dtype=torch.long, device=lm.device), mask], 1),
        position_ids=pos,
        use_cache=True,
        **{cache_kwarg(lm.model): expand_cache(cache, 2)},
    ).last_hidden_state
    cache = output_cache(lm.body(input_ids=pre, use_cache=True))  # the first was extended
    with shared_prefix(lm, cache, P, pos, mask, aligned):
        got = lm.body(input_ids=ids, position_ids=pos, use_cache=False).last_hidden_state
    keep = mask.bool()
    err = float((got[keep] - want[keep]).abs().max())
    scale = max(1.0, float(want[keep].abs().max()))
    return err <= (1e-3 if lm.dtype in (torch.float32, torch.float64) else 5e-2) * scale


def shared_prefix_ok(lm: Any) -> bool:
    """Whether ``lm`` uses shared-prefix attention: probed once (lazily, at the first batch
    with a prefix), the verdict cached on the LM object."""
    ok = getattr(lm, _ATTR, None)
    if ok is None:
        try:
            ok = _register() and _probe(lm)
        except Exception:  # a model that rejects the switch or the layout: expanded cache
            ok = False
        setattr(lm, _ATTR, bool(ok))
    return bool(ok)
