"""Temperature calibration: the ``T`` under which a model's ``softmax(z / T)`` best fits texts.

Dimension letters: N scored tokens, H hidden size, V vocabulary.

The mean surprisal (nats per token) of texts under ``softmax(z / T)`` is
``f(T) = mean_i [lse(z_i / T) - z_i[t_i] / T]``: convex in ``1 / T``, so one bounded
1-D search finds its minimum. The model runs once; the head inputs of every scored token
are kept (``run_jobs(keep_hidden=True)``) and only the head is re-evaluated for each ``T``.

``T > 1``: the model is over-confident on these texts (its distributions are too peaked);
``T < 1``: it hedges more than it needs to. See docs/concepts.md.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np
import torch

from .core import contexts_for, run
from .errors import NonFiniteError, SurprisalError
from .head import fused_head, plain_head
from .lm import LM, resolve_model
from .options import DEFAULT_SEPARATOR, RunOptions, head_policy
from .tokenize import check_texts


@dataclass(frozen=True)
class Calibration:
    """The temperature that minimises mean surprisal on some texts.

    Attributes:
        temperature: the fitted ``T`` (scores use ``softmax(z / T)``).
        mean_surprisal_before: mean surprisal per scored token at ``T = 1``, nats.
        mean_surprisal_after: the same at the fitted ``T``, nats (never above ``before``
            when 1 lies inside ``bounds``).
        n_tokens: scored tokens the mean is over.
        bounds: the search interval for ``T``.
    """

    temperature: float
    mean_surprisal_before: float
    mean_surprisal_after: float
    n_tokens: int
    bounds: tuple[float, float]

    def __repr__(self) -> str:
        return (
            f"Calibration(temperature={self.temperature:.4g}: mean surprisal "
            f"{self.mean_surprisal_before:.4f} -> {self.mean_surprisal_after:.4f} nats/token "
            f"over {self.n_tokens} tokens)"
        )


def _bounds(bounds: object) -> tuple[float, float]:
    try:
        lo, hi = (float(b) for b in bounds)  # type: ignore[attr-defined]
    except (TypeError, ValueError):
        raise TypeError(f"bounds must be two numbers (low, high), got {bounds!r}") from None
    if not (0 < lo < hi and math.isfinite(hi)):
        raise SurprisalError(f"bounds must satisfy 0 < low < high < inf, got ({lo}, {hi})")
    return lo, hi


def calibrate_temperature(
    texts: str | Sequence[str],
    *,
    model: LM | str | Any,
    context: str | Sequence[str | None] | None = None,
    bounds: tuple[float, float] = (0.05, 20.0),
    separator: str = DEFAULT_SEPARATOR,
    add_bos: bool | None = None,
    max_length: int | None = None,
    stride: int | None = None,
    batch_tokens: int | None = None,
    pack: bool | None = None,
    head: Literal["auto", "fused", "plain"] = "auto",
    device: str | torch.device | None = None,
    dtype: str | torch.dtype | None = None,
) -> Calibration:
    """The temperature ``T`` minimising the mean surprisal per token of ``texts``.

    A bounded search (``scipy.optimize.minimize_scalar``, over ``log T``) on the head alone:
    the model body runs once. Every scored token of every text counts once.

    >>> import surprisal
    >>> from surprisal.demo import load_demo
    >>> c = surprisal.calibrate_temperature(["The cat sat on the mat."], model=load_demo())
    >>> 0.9 < c.temperature < 1.1, c.mean_surprisal_after <= c.mean_surprisal_before
    (True, True)

    Args:
        texts: the texts the model should fit.
        model, context, separator, add_bos, max_length, stride, batch_tokens, pack, head,
            device, dtype: as in :func:`surprisal.score`.
        bounds: ``(low, high)``, the interval searched for ``T``.

    Returns:
        :class:`Calibration`: ``temperature`` and the mean surprisal before and after (nats).
        Score with it through ``surprisal.score(..., temperature=c.temperature)``.
    """
    from scipy.optimize import minimize_scalar

    items = check_texts(texts)
    lo, hi = _bounds(bounds)
    opts = RunOptions(
        separator=separator,
        add_bos=add_bos,
        max_length=max_length,
        stride=stride,
        batch_tokens=batch_tokens,
        pack=pack,
        head=head,
    )
    lm = resolve_model(model, device=device, dtype=dtype)
    hidden: list[torch.Tensor | None] = []  # the head is not run here: logprobs mark scored
    s = run(lm, items, contexts_for(context, len(items)), opts, hidden=hidden)
    rows, tgts = [], []
    for ts, h in zip(s, hidden, strict=True):
        ok = ~np.isnan(ts.logprobs)
        if h is None or not ok.any():
            continue
        m = torch.from_numpy(ok).to(h.device)
        rows.append(h[m])
        tgts.append(torch.from_numpy(ts.token_ids[ok]).to(h.device))
    if not rows:
        raise SurprisalError("no scored tokens in texts; give texts with at least one token")
    x = torch.cat(rows)  # (N, H) hidden states, or (N, V) logits on the plain path
    t = torch.cat(tgts)  # (N,)
    use_plain, chunk = head_policy(lm, opts.head)

    def mean_surprisal(log_t: float) -> float:
        T = math.exp(log_t)
        if use_plain:
            lp = plain_head(x.to(torch.float32) / T, t)["logprobs"]
        else:
            lp = fused_head(x, t, replace(lm.head, temperature=T), chunk_bytes=chunk)["logprobs"]
        return float(-lp.double().mean())

    with torch.no_grad():
        before = mean_surprisal(0.0)  # T = 1
        if not math.isfinite(before):
            raise NonFiniteError(
                f"non-finite surprisal with {lm.dtype} weights; the model overflowed. Load it "
                "in float32 or bfloat16 (dtype='float32').",
                [],
            )
        res = minimize_scalar(
            mean_surprisal,
            bounds=(math.log(lo), math.log(hi)),
            method="bounded",
            options={"xatol": 1e-5},  # in log T: T to about 0.001 %
        )
    T = math.exp(float(res.x))
    if min(T / lo, hi / T) < 1.001:
        warnings.warn(
            f"calibrate_temperature: the optimum T={T:.4g} is at the edge of bounds=({lo}, {hi});"
            " widen bounds",
            stacklevel=2,
        )
    return Calibration(T, before, float(res.fun), int(t.shape[0]), (lo, hi))
