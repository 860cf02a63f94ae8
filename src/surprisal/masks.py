"""Attention masks built on the device, so that a forward never waits for the device.

Given a 2D padding mask, or packed rows told apart by their position ids, transformers
checks the mask's values before each forward (``fast_all(padding_mask)`` to skip the mask,
``find_packed_sequence_indices(...).all()`` to detect packing): each check copies a value
to the host, so the host waits for the device's queue to drain on every batch and at most
one batch is ever queued. A 4D mask is used as given, unchecked. Here it is computed on
the device from one small array per batch, each token's sequence number in its row (-1
for padding), with no value read back:

    mask[b, 0, q, k] = seq[b, k] == seq[b, q] >= 0 and k <= q,  or q == k

(a padding position attends to itself only, so no row is all masked: an all-masked row
would give NaN states, and NaN values times zero weights still poison the sums).

It is used on CUDA for the rows without a shared prefix, with the ``sdpa`` and ``eager``
attention implementations (boolean for sdpa, additive for eager), on models with no
sliding-window layers (whose masks transformers builds per layer type), and only once the
model has passed :func:`probe`: a padded and a packed batch give the same hidden states
with this mask as with transformers' own. Dimension letters: B rows, T row length.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

import numpy as np
import torch

from ._compat import text_config

__all__ = ["DEVICES", "device_mask", "enabled", "mask_for", "probe", "sequence_ids", "supports"]

IMPLEMENTATIONS = ("sdpa", "eager")
DEVICES = ("cuda",)  # where a check's wait costs a queued batch (tests add "cpu")
_PROBED: weakref.WeakKeyDictionary[Any, bool] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def enabled(lm: Any) -> bool:
    """Whether ``lm``'s rows without a prefix get device-built masks: on ``DEVICES``, once
    its model passed :func:`probe` (run once per model, remembered beside it)."""
    if lm.device.type not in DEVICES:
        return False
    with _LOCK:
        got = _PROBED.get(lm.model)
        if got is None:
            got = _PROBED[lm.model] = probe(lm.body, lm.model, lm.device, lm.dtype)
        return got


def supports(model: Any) -> bool:
    """Whether ``model``'s attention takes a 4D mask as it is: sdpa or eager attention, and
    no sliding-window layers."""
    impl = getattr(model.config, "_attn_implementation", None)
    if impl not in IMPLEMENTATIONS:
        return False
    cfg = text_config(model)
    if getattr(cfg, "sliding_window", None) or getattr(cfg, "attention_chunk_size", None):
        return False
    types = getattr(cfg, "layer_types", None)
    return not types or all(t == "full_attention" for t in types)


def sequence_ids(mask: np.ndarray, pos: np.ndarray, packed: bool) -> np.ndarray:
    """(B, T) int32: each token's sequence number in its row, -1 for padding. Packed rows
    start a new sequence wherever the position ids restart at 0 (their free tail included:
    it is one more sequence, never read); padded rows hold one sequence each."""
    if not packed:
        return np.where(mask > 0, 0, -1).astype(np.int32)
    starts = pos == 0
    return (np.cumsum(starts, axis=1) - 1).astype(np.int32)


def device_mask(seq: torch.Tensor, dtype: torch.dtype, additive: bool) -> torch.Tensor:
    """(B, 1, T, T) attention mask from ``seq`` (B, T) on its device: boolean (True:
    attend), or additive in ``dtype`` (0 or the dtype's minimum) for eager attention."""
    T = seq.shape[1]
    q, k = seq[:, :, None], seq[:, None, :]  # (B, T, 1), (B, 1, T)
    causal = torch.ones(T, T, dtype=torch.bool, device=seq.device).tril_()
    eye = torch.eye(T, dtype=torch.bool, device=seq.device)
    m = ((q == k) & (k >= 0) & causal) | eye  # (B, T, T)
    m = m[:, None]  # (B, 1, T, T)
    if not additive:
        return m
    out = torch.zeros(m.shape, dtype=dtype, device=seq.device)
    return out.masked_fill_(~m, torch.finfo(dtype).min)


def mask_for(model: Any, seq: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """:func:`device_mask` in the form ``model``'s attention implementation takes."""
    additive = getattr(model.config, "_attn_implementation", None) == "eager"
    return device_mask(seq, dtype, additive)


@torch.no_grad()
def probe(body: Any, model: Any, device: torch.device, dtype: torch.dtype) -> bool:
    """True when a padded and a packed batch give the same hidden states at every real
    token with the device-built mask as with transformers' own masks (on ``device``)."""
    if not supports(model):
        return False
    ids = torch.tensor([[5, 6, 7, 8, 9, 10], [11, 12, 13, 0, 0, 0]], device=device)
    mask = np.array([[1] * 6, [1, 1, 1, 0, 0, 0]])
    pos = np.array([[0, 1, 2, 3, 4, 5], [0, 1, 2, 0, 0, 0]])
    packed_ids = torch.tensor([[5, 6, 7, 8, 11, 12, 13, 0]], device=device)
    packed_pos = np.array([[0, 1, 2, 3, 0, 1, 2, 0]])
    try:
        for x, m, p, packed in (
            (ids, mask, pos, False),
            (packed_ids, np.ones_like(packed_pos), packed_pos, True),
        ):
            p_t = torch.from_numpy(p).to(device)
            theirs = body(
                input_ids=x,
                position_ids=p_t,
                attention_mask=None if packed else torch.from_numpy(m).to(device),
                use_cache=False,
            ).last_hidden_state
            seq = torch.from_numpy(sequence_ids(m, p, packed)).to(device)
            ours = body(
                input_ids=x,
                position_ids=p_t,
                attention_mask=mask_for(model, seq, dtype),
                use_cache=False,
            ).last_hidden_state
            real = torch.from_numpy(m > 0).to(device)
            if packed:
                real[0, -1] = False  # the free tail is never read
            a, b = theirs[real].float(), ours[real].float()
            tol = 1e-4 if dtype == torch.float32 else 2e-2
            if not torch.allclose(a, b, rtol=tol, atol=tol * max(1.0, float(a.abs().max()))):
                return False
    except Exception:  # a model whose forward does not take a 4D mask
        return False
    return True
