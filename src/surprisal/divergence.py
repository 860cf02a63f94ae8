"""How far an explanation moves the whole next-token distribution: per target position,
``KL(p(. | e, t<j) || p(. | t<j))`` and the entropies with and without it, in nats, from one
divergence-head call over the positions every condition scores (:class:`Divergences`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch

from .core import check_finite
from .head import fused_divergence, fused_head, plain_divergence, plain_head
from .lm import LM
from .options import RunOptions, head_policy
from .results import Scores


@dataclass(frozen=True)
class Divergences:
    """How the explanation (and the control) moved the whole next-token distribution, per
    target position: one float32 array per target, aligned with ``Delta.per_token(i)``,
    nats, NaN where the target's token is not scored without the explanation (no boundary
    token before its first token).

    Attributes:
        kl: ``KL(p(. | e, t<j) || p(. | t<j))`` per position.
        entropy_base: ``H(p(. | t<j))``, the entropy without the explanation.
        entropy_conditioned: ``H(p(. | e, t<j))``.
        control_kl: ``KL(p(. | c, t<j) || p(. | t<j))``, or None without a control.
        entropy_controlled: ``H(p(. | c, t<j))``, or None.
    """

    kl: tuple[np.ndarray, ...]
    entropy_base: tuple[np.ndarray, ...]
    entropy_conditioned: tuple[np.ndarray, ...]
    control_kl: tuple[np.ndarray, ...] | None = None
    entropy_controlled: tuple[np.ndarray, ...] | None = None


def first_targets(div: Divergences, n: int) -> Divergences:
    """The divergences of the first ``n`` texts (the targets, before any negatives)."""
    return Divergences(
        *(None if f is None else f[:n] for f in fields_of(div))  # type: ignore[arg-type]
    )


def fields_of(div: Divergences) -> tuple[Any, ...]:
    """The fields of ``div`` in order, without copying the arrays."""
    return (
        div.kl,
        div.entropy_base,
        div.entropy_conditioned,
        div.control_kl,
        div.entropy_controlled,
    )


def divergence_head(
    lm: LM,
    opts: RunOptions,
    scores: Sequence[Scores],  # base, then each prefix's; log-probs are placeholders
    hidden: Sequence[Sequence[torch.Tensor | None]],  # the same, per text (n_i, H) or (n_i, V)
) -> tuple[list[Scores], Divergences]:
    """Score every condition and compare each prefix's next-token distributions with the
    base ones in one divergence-head call over the positions scored in every condition
    (the few others, a first token without a boundary, go through the plain scoring head)."""
    K, n = len(scores), len(scores[0])
    G = K - 1
    scored = [[~np.isnan(sc[i].logprobs) for i in range(n)] for sc in scores]
    joint = [np.logical_and.reduce([sc[i] for sc in scored]) for i in range(n)]
    ids = [torch.from_numpy(ts.token_ids) for ts in scores[0]]
    use_plain, chunk = head_policy(lm, opts.head)

    def rows(k: int, masks: Sequence[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor] | None:
        """Condition k's kept rows and target ids at ``masks``, all texts concatenated."""
        hs, ts = [], []
        for h, m, t in zip(hidden[k], masks, ids, strict=True):
            if h is not None and m.any():
                hs.append(h[torch.from_numpy(m).to(h.device)])
                ts.append(t[torch.from_numpy(m)])
        return (torch.cat(hs), torch.cat(ts)) if hs else None

    def scatter(values: np.ndarray, masks: Sequence[np.ndarray], into: list[np.ndarray]) -> None:
        at = 0
        for a, m in zip(into, masks, strict=True):
            c = int(m.sum())
            a[m] = values[at : at + c]
            at += c

    def nan_arrays() -> list[np.ndarray]:
        return [np.full(len(ts), np.nan, dtype=np.float32) for ts in scores[0]]

    lps = [nan_arrays() for _ in range(K)]
    stats = {k: [nan_arrays() for _ in range(g)] for k, g in (("kl", G), ("entropy", G))}
    ent_ref = nan_arrays()
    ref = rows(0, joint)
    if ref is not None:
        others = [rows(k, joint) for k in range(1, K)]
        stacked = torch.stack([o[0] for o in others if o is not None])  # (G, M, H|V)
        if use_plain:
            out = plain_divergence(ref[0], stacked, ref[1])
        else:
            out = fused_divergence(ref[0], stacked, ref[1], lm.head, chunk_bytes=chunk)
        host = {k: v.cpu().numpy() for k, v in out.items()}
        scatter(host["logprobs_ref"], joint, lps[0])
        scatter(host["entropy_ref"], joint, ent_ref)
        for g in range(G):
            scatter(host["logprobs"][g], joint, lps[g + 1])
            scatter(host["kl"][g], joint, stats["kl"][g])
            scatter(host["entropy"][g], joint, stats["entropy"][g])
    for k in range(K):  # tokens scored in this condition only
        left = [sc & ~j for sc, j in zip(scored[k], joint, strict=True)]
        got = rows(k, left)
        if got is not None:
            if use_plain:
                lp = plain_head(got[0], got[1].to(got[0].device))["logprobs"]
            else:
                lp = fused_head(got[0], got[1], lm.head, chunk_bytes=chunk)["logprobs"]
            scatter(lp.cpu().numpy(), left, lps[k])
    check_finite(
        [a[m] for lp, sc in zip(lps, scored, strict=True) for a, m in zip(lp, sc, strict=True)], lm
    )
    new = [
        replace(sc, items=tuple(replace(ts, logprobs=a) for ts, a in zip(sc, lp, strict=True)))
        for sc, lp in zip(scores, lps, strict=True)
    ]
    kl, ent = stats["kl"], stats["entropy"]
    return new, Divergences(
        kl=tuple(kl[0]),
        entropy_base=tuple(ent_ref),
        entropy_conditioned=tuple(ent[0]),
        control_kl=tuple(kl[1]) if G > 1 else None,
        entropy_controlled=tuple(ent[1]) if G > 1 else None,
    )
