"""Temperature calibration: the ``T`` under which a model's ``softmax(z / T)`` best fits texts.

Dimension letters: N scored tokens, H hidden size, V vocabulary.

The mean surprisal (nats per token) of texts under ``softmax(z / T)`` is
``f(T) = mean_i [lse(z_i / T) - z_i[t_i] / T]``: convex in ``1 / T``, so one bounded
1-D search finds its minimum. The model runs once; the head inputs of every scored token
are kept (``run_jobs(keep_hidden=True)``) and only the head is re-evaluated for each ``T``.

``T > 1``: the model is over-confident on these texts (its distributions are too peaked);
``T < 1``: it hedges more than it needs to. See docs/concepts.md.

Uncertainty: texts are the sampling unit (tokens of one text are not independent), so the
interval resamples texts: each text's summed surprisal is evaluated on a grid of ``log T``
around the fit, and each bootstrap resample's minimum is read off the grid (parabolic
refinement). The held-out check fits ``T`` on a seeded half of the texts and reports the
other half's mean surprisal at ``T = 1`` and at that ``T``: a ``T`` that does not lower
the held-out surprisal does not generalise.

Texts sampled from a model and decoded usually do not re-tokenize to the sampled tokens;
pass the sampled ids as ``token_ids=`` so they are scored on their own tokens.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np
import torch

from .core import contexts_for, run, run_token_ids
from .errors import NonFiniteError, SurprisalError
from .flags import DEFAULT_SEPARATOR
from .head import fused_head, plain_head
from .lm import LM, resolve_model
from .options import RunOptions, head_policy
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
        ci_low, ci_high: bootstrap interval of ``T`` over texts (percentile, ``level``);
            NaN with fewer than 2 texts or ``n_boot=0``.
        level: of the interval.
        n_texts: texts with at least one scored token.
        held_out_temperature: ``T`` fitted on a seeded half of the texts (None with fewer
            than 2 texts).
        held_out_before, held_out_after: the other half's mean surprisal per token at
            ``T = 1`` and at ``held_out_temperature``, nats (None likewise).
    """

    temperature: float
    mean_surprisal_before: float
    mean_surprisal_after: float
    n_tokens: int
    bounds: tuple[float, float]
    ci_low: float = math.nan
    ci_high: float = math.nan
    level: float = 0.95
    n_texts: int = 0
    held_out_temperature: float | None = None
    held_out_before: float | None = None
    held_out_after: float | None = None

    def __repr__(self) -> str:
        ci = (
            f" [{self.level:.0%} CI {self.ci_low:.4g}, {self.ci_high:.4g} over {self.n_texts} "
            "texts]"
            if math.isfinite(self.ci_low)
            else ""
        )
        held = (
            f"; held out: T={self.held_out_temperature:.4g} fitted on half the texts moves the "
            f"other half {self.held_out_before:.4f} -> {self.held_out_after:.4f}"
            if self.held_out_temperature is not None
            else ""
        )
        return (
            f"Calibration(temperature={self.temperature:.4g}{ci}: mean surprisal "
            f"{self.mean_surprisal_before:.4f} -> {self.mean_surprisal_after:.4f} nats/token "
            f"over {self.n_tokens} tokens{held})"
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
    texts: str | Sequence[str] | None = None,
    *,
    model: LM | str | Any,
    token_ids: Sequence[Sequence[int]] | None = None,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
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
        token_ids: instead of ``texts``, pre-tokenized sequences (as
            ``surprisal.score(token_ids=...)``): for samples from a model, scored on their
            own tokens (decoded text rarely re-tokenizes to them).
        n_boot: bootstrap resamples of texts for the interval of ``T`` (0: none).
        level: the interval's level.
        seed: seeds the bootstrap and the held-out split.
        model, context, separator, add_bos, max_length, stride, batch_tokens, pack, head,
            device, dtype: as in :func:`surprisal.score`.
        bounds: ``(low, high)``, the interval searched for ``T``.

    Returns:
        :class:`Calibration`: ``temperature`` and the mean surprisal before and after (nats).
        Score with it through ``surprisal.score(..., temperature=c.temperature)``.
    """
    from scipy.optimize import minimize_scalar

    if (texts is None) == (token_ids is None):
        raise SurprisalError("give texts or token_ids (exactly one)")
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
    if token_ids is not None:
        if context is not None:
            raise SurprisalError("context= is not supported with token_ids=")
        s = run_token_ids(lm, token_ids, opts, hidden=hidden)
    else:
        items = check_texts(texts)
        s = run(lm, items, contexts_for(context, len(items)), opts, hidden=hidden)
    rows, tgts = [], []
    owner: list[np.ndarray] = []
    for ts, h in zip(s, hidden, strict=True):
        ok = ~np.isnan(ts.logprobs)
        if h is None or not ok.any():
            continue
        m = torch.from_numpy(ok).to(h.device)
        rows.append(h[m])
        tgts.append(torch.from_numpy(ts.token_ids[ok]).to(h.device))
        owner.append(np.full(int(ok.sum()), len(owner), dtype=np.int64))
    if not rows:
        raise SurprisalError("no scored tokens in texts; give texts with at least one token")
    x = torch.cat(rows)  # (N, H) hidden states, or (N, V) logits on the plain path
    t = torch.cat(tgts)  # (N,)
    text_of = np.concatenate(owner)  # (N,) which text each token is from
    n_texts = len(rows)
    use_plain, chunk = head_policy(lm, opts.head)

    def per_text(log_t: float) -> np.ndarray:
        """(n_texts,) summed surprisal of each text at T = exp(log_t), nats."""
        T = math.exp(log_t)
        if use_plain:
            lp = plain_head(x.to(torch.float32) / T, t)["logprobs"]
        else:
            lp = fused_head(x, t, replace(lm.head, temperature=T), chunk_bytes=chunk)["logprobs"]
        return -np.bincount(text_of, weights=lp.double().cpu().numpy(), minlength=n_texts)

    counts = np.bincount(text_of, minlength=n_texts).astype(np.float64)  # (n_texts,)

    def mean_surprisal(log_t: float, which: np.ndarray | None = None) -> float:
        v = per_text(log_t)
        if which is None:
            return float(v.sum() / counts.sum())
        return float(v[which].sum() / counts[which].sum())

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
                f"calibrate_temperature: the optimum T={T:.4g} is at the edge of bounds="
                f"({lo}, {hi}); widen bounds",
                stacklevel=2,
            )
        ci = (math.nan, math.nan)
        if n_texts >= 2 and n_boot > 0:
            ci = _bootstrap_t(per_text, counts, math.log(T), (lo, hi), n_boot, level, seed)
        held: tuple[float | None, float | None, float | None] = (None, None, None)
        if n_texts >= 2:
            perm = np.random.default_rng(seed).permutation(n_texts)
            fit, other = perm[: n_texts // 2], perm[n_texts // 2 :]
            r2 = minimize_scalar(
                lambda v: mean_surprisal(v, fit),
                bounds=(math.log(lo), math.log(hi)),
                method="bounded",
                options={"xatol": 1e-5},
            )
            held = (
                math.exp(float(r2.x)),
                mean_surprisal(0.0, other),
                mean_surprisal(float(r2.x), other),
            )
    return Calibration(
        T,
        before,
        float(res.fun),
        int(t.shape[0]),
        (lo, hi),
        ci_low=ci[0],
        ci_high=ci[1],
        level=float(level),
        n_texts=n_texts,
        held_out_temperature=held[0],
        held_out_before=held[1],
        held_out_after=held[2],
    )


_GRID = 81  # grid points in log T for the bootstrap, over log T_hat +- _HALF_WIDTH
_HALF_WIDTH = 1.0  # in log T: T_hat / e .. T_hat * e


def _bootstrap_t(
    per_text: Any,
    counts: np.ndarray,
    log_t: float,
    bounds: tuple[float, float],
    n_boot: int,
    level: float,
    seed: int,
) -> tuple[float, float]:
    """Percentile interval of the fitted ``T`` over resampled texts: every text's summed
    surprisal on a grid of ``log T`` (one head pass per grid point), each resample's
    minimum from the grid refined by a parabola through its three nearest points. A
    resample whose minimum falls outside the grid is clipped to the grid's edge (only
    when ``T`` is very uncertain; the interval then reaches the edge)."""
    a = max(math.log(bounds[0]), log_t - _HALF_WIDTH)
    b = min(math.log(bounds[1]), log_t + _HALF_WIDTH)
    grid = np.linspace(a, b, _GRID)
    table = np.stack([per_text(float(g)) for g in grid], axis=1)  # (n_texts, G)
    rng = np.random.default_rng(seed)
    n = counts.shape[0]
    w = np.zeros((n_boot, n))
    np.add.at(w, (np.arange(n_boot)[:, None], rng.integers(0, n, size=(n_boot, n))), 1.0)
    f = (w @ table) / (w @ counts)[:, None]  # (B, G) mean surprisal per resample
    j = np.clip(f.argmin(axis=1), 1, _GRID - 2)
    rows = np.arange(n_boot)
    y0, y1, y2 = f[rows, j - 1], f[rows, j], f[rows, j + 1]
    den = y0 - 2.0 * y1 + y2
    with np.errstate(divide="ignore", invalid="ignore"):
        shift = np.where(den > 0, 0.5 * (y0 - y2) / den, 0.0)
    h = grid[1] - grid[0]
    est = np.clip(grid[j] + np.clip(shift, -1.0, 1.0) * h, grid[0], grid[-1])
    alpha = 1.0 - level
    q = np.quantile(np.exp(est), [alpha / 2.0, 1.0 - alpha / 2.0])
    return float(q[0]), float(q[1])
