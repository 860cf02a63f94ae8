"""Version-dependent bits of torch and transformers, in one place.

transformers 5.x renamed ``torch_dtype=`` to ``dtype=`` and made every model use ``Cache``
objects; a later 5.x (5.24 has it) renamed the forward's ``past_key_values=`` to ``cache=``,
and the output field with it (the old names still work, with a ``FutureWarning`` on every
call). 4.x (>= 4.53) still works where the difference is cheap to bridge.
"""

from __future__ import annotations

import copy
import functools
import inspect
from typing import Any

import torch
import transformers

TRANSFORMERS_VERSION = tuple(int(p) for p in transformers.__version__.split(".")[:2] if p.isdigit())
_F32_MM: dict[tuple[str, torch.dtype], bool] = {}  # (device type, dtype) -> supported


def text_config(model: Any) -> Any:
    """The config of the model's language part: ``get_text_config()`` where transformers
    has it (a multimodal config nests the text model's), else the config itself."""
    cfg = model.config
    return cfg.get_text_config() if hasattr(cfg, "get_text_config") else cfg


def dtype_kwargs(dtype: torch.dtype | str | None) -> dict[str, Any]:
    """The ``from_pretrained`` dtype keyword: ``dtype=`` from 4.56 on, else ``torch_dtype=``."""
    if dtype is None:
        return {}
    if TRANSFORMERS_VERSION >= (4, 56):
        return {"dtype": dtype}
    return {"torch_dtype": dtype}


def cache_kwarg(model: Any) -> str:
    """The name under which ``model``'s forward takes a KV cache: ``cache`` (recent 5.x, such
    as 5.24) or ``past_key_values`` (earlier, and remote code written for it)."""
    return _cache_kwarg_of(model.__class__)


@functools.cache
def _cache_kwarg_of(cls: Any) -> str:
    # Read once per model class; the deprecation wrappers keep the signature (functools.wraps).
    params = inspect.signature(cls.forward).parameters
    return "cache" if "cache" in params else "past_key_values"


def output_cache(out: Any) -> Any:
    """The KV cache a forward returned, read under the name its output class declares
    (reading ``.past_key_values`` from an output that declares ``cache`` warns); None for a
    model whose output has no KV cache (RWKV returns its recurrent ``state``, OpenAI-GPT and
    RecurrentGemma nothing)."""
    fields = getattr(out, "__dataclass_fields__", {})
    for name in ("cache", "past_key_values"):
        if name in fields:
            return getattr(out, name)
    return None


def is_oom(exc: BaseException) -> bool:
    """True for an accelerator out-of-memory error (CUDA, MPS or XPU)."""
    oom_type = getattr(torch, "OutOfMemoryError", None) or getattr(
        torch.cuda, "OutOfMemoryError", None
    )
    if oom_type is not None and isinstance(exc, oom_type):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


class CacheNotExpandable(Exception):
    """A prefix cache that cannot be shared by a batch: recompute the prefix in every row.

    Raised by :func:`expand_cache` for recurrent state (Mamba, linear attention layers):
    transformers continues such a cache exactly one token at a time, so a multi-token text
    after a cached prefix would not get the numbers of the full sequence. Raised by the
    engine too for a model whose forward returns no KV cache at all (RWKV, OpenAI-GPT,
    RecurrentGemma).
    """


def expand_cache(cache: Any, batch_size: int) -> Any:
    """A copy of a batch-1 KV cache whose tensors are views expanded to ``batch_size`` rows.

    The prefix's keys and values are not copied here (``expand`` makes views); the model's
    own cache update concatenates the new tokens onto them, which is where the (B, P + T)
    tensors are made, so the prefix's cache is left as it was and serves the next batch.
    Unknown cache classes fall back to ``batch_repeat_interleave`` on a deep copy.

    Raises:
        CacheNotExpandable: the cache holds recurrent (SSM / linear attention) state, which
            transformers (5.x) continues exactly only one token at a time; the caller
            recomputes the prefix instead.
    """
    if isinstance(cache, tuple):  # legacy tuple-of-tuples format (transformers 4.x only)
        return tuple(tuple(t.expand(batch_size, *t.shape[1:]) for t in layer) for layer in cache)
    layers = getattr(cache, "layers", None)
    recurrent = hasattr(cache, "ssm_states") or (  # 4.x MambaCache, or 5.x linear layers
        layers is not None
        and any(hasattr(la, "conv_states") or hasattr(la, "recurrent_states") for la in layers)
    )
    if recurrent:
        kinds = sorted({type(la).__name__ for la in layers or [cache]})
        raise CacheNotExpandable(
            f"{type(cache).__name__} with {', '.join(kinds)} holds recurrent state, which "
            "transformers continues one token at a time; recompute the prefix per row"
        )
    new = copy.copy(cache)
    if layers is not None and all(hasattr(layer, "keys") for layer in layers):
        new_layers = []
        for layer in layers:
            nl = copy.copy(layer)
            for attr in ("keys", "values"):
                t = getattr(layer, attr, None)
                if isinstance(t, torch.Tensor) and t.dim() >= 1 and t.numel() > 0:
                    setattr(nl, attr, t.expand(batch_size, *t.shape[1:]))
            new_layers.append(nl)
        new.layers = new_layers
        return new
    if hasattr(cache, "key_cache") and hasattr(
        cache, "value_cache"
    ):  # transformers 4.x DynamicCache
        new.key_cache = [t.expand(batch_size, *t.shape[1:]) for t in cache.key_cache]
        new.value_cache = [t.expand(batch_size, *t.shape[1:]) for t in cache.value_cache]
        return new
    new = copy.deepcopy(cache)
    new.batch_repeat_interleave(batch_size)
    return new


def float32_matmul_supported(device: torch.device, dtype: torch.dtype) -> bool:
    """Whether ``torch.mm(a, b, out_dtype=torch.float32)`` runs for ``dtype`` operands on
    ``device``: half-precision inputs, float32 accumulation and output (tensor cores on
    CUDA, torch >= 2.8). Tried once per (device type, dtype); CPU builds lack the kernel."""
    key = (device.type, dtype)
    if key not in _F32_MM:
        ok = device.type == "cuda" and dtype in (torch.bfloat16, torch.float16)
        if ok:
            try:
                a = torch.ones((2, 8), dtype=dtype, device=device)
                ok = torch.mm(a, a.T, out_dtype=torch.float32).dtype == torch.float32
            except (TypeError, RuntimeError, NotImplementedError):
                ok = False
        _F32_MM[key] = ok
    return _F32_MM[key]


def mm_float32(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(n, v) float32 ``a @ b`` for half-precision ``a`` and ``b`` without upcasting them;
    only where :func:`float32_matmul_supported` says so."""
    return torch.mm(a, b, out_dtype=torch.float32)


def attention_with_lse(
    q: torch.Tensor,  # (B, h, Tq, d)
    k: torch.Tensor,  # (B, h, Tk, d)
    v: torch.Tensor,  # (B, h, Tk, d)
    causal: bool,
    scale: float,
) -> tuple[torch.Tensor, torch.Tensor] | None:
    """A fused attention kernel that also returns each query's float32 log-sum-exp of its
    scores: ``(out (B, h, Tq, d), lse (B, h, Tq))``. ``causal`` masks by index (query i
    sees keys 0..i; used with ``Tq == Tk`` only).

    CPU: the kernel ``scaled_dot_product_attention`` runs there. CUDA: the flash kernel for
    float16/bfloat16, else (or when it refuses the inputs) the memory-efficient kernel,
    whose log-sum-exp is padded to a multiple of 32 queries and is cut back here. None
    where this torch has no such kernel or every one refuses the inputs; the caller then
    computes the same thing with plain matmuls."""
    if (
        k.shape[:2] != q.shape[:2]
        or v.shape[:3] != k.shape[:3]
        or k.shape[3] != q.shape[3]
        or 0 in q.shape
        or 0 in k.shape
    ):
        # Not the documented layout (JetMoE passes more key heads than query heads): the
        # CPU kernel divides by the head ratio and dies with a floating-point exception
        # that takes the whole process down, so it is never called on such inputs.
        return None
    names: list[str] = []
    if q.device.type == "cpu":
        names.append("_scaled_dot_product_flash_attention_for_cpu")
    elif q.device.type == "cuda":
        if q.dtype in (torch.float16, torch.bfloat16):
            names.append("_scaled_dot_product_flash_attention")
        names.append("_scaled_dot_product_efficient_attention")
    Tq = q.shape[2]
    for name in names:
        op: Any = getattr(torch.ops.aten, name, None)
        if op is None:
            continue
        try:
            if name == "_scaled_dot_product_efficient_attention":  # (attn_bias, lse wanted)
                res = op(q, k, v, None, True, 0.0, causal, scale=scale)
            else:
                res = op(q, k, v, 0.0, causal, scale=scale)
        except (RuntimeError, TypeError, NotImplementedError):
            continue
        out, lse = res[0], res[1]
        if out.shape != q.shape[:3] + v.shape[3:] or lse.dim() != 3 or lse.shape[2] < Tq:
            continue  # not the layout documented here: do not guess
        return out, lse[..., :Tq].float()
    return None
