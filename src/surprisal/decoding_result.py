"""The result of :func:`surprisal.decoding`: continuations per temperature and their metrics.

Every metric is computed per continuation (a prompt x sample row), averaged over the
samples of a prompt, and then summarised over prompts with a 95% CI
(:func:`surprisal.stats.bootstrap_ci` of the mean): the prompt is the unit, since the
samples of one prompt are not independent of each other. A continuation where a metric is
undefined (NaN: seq-rep-n of fewer than n tokens, the entropy of an empty continuation)
is left out of its prompt's mean, and a prompt with no defined value is left out of the
CI; the CIs of shares (seq-rep-n, distinct-n, loop rate) are clipped to [0, 1]. Keys
of the per-condition dicts are the temperatures (floats) and, with a reference,
the string ``"reference"``.
"""

from __future__ import annotations

import functools
import html as _html
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import stats as _stats
from .formatting import num, temperature_label
from .repetition import Loop, distinct, find_loop, seq_rep
from .report.decoding import decoding_html, decoding_sections
from .report.page import notebook_html

Condition = float | str
Estimate = tuple[float, float, float]  # (estimate, CI low, CI high)

#: seq-rep-n and distinct-n are reported for n = 1 .. MAX_N.
MAX_N = 4


def _nanmean_rows(x: np.ndarray) -> np.ndarray:
    """Mean over the last axis ignoring NaN; NaN where a row has no value (no warning)."""
    ok = np.isfinite(x)
    n = ok.sum(axis=-1)
    s = np.where(ok, x, 0.0).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, s / np.maximum(n, 1), np.nan)


def _padded(rows: list[np.ndarray], width: int) -> np.ndarray:
    """(n, width) float64, NaN after each row's end."""
    out = np.full((len(rows), width), np.nan)
    for i, r in enumerate(rows):
        out[i, : len(r)] = r
    return out


@dataclass(frozen=True)
class Decoding:
    """Continuations of prompts at several temperatures, with repetition, loop, entropy
    and surprisal metrics (entropy and surprisal in nats, at temperature 1).

    Attributes:
        model, bos_policy: the model's name and boundary policy.
        prompts: the prompts; ``reference``: the human continuations, or None.
        temperatures: the temperatures generated at (0 = greedy).
        samples, max_new_tokens, seed, stop_at_eos: the generation settings.
        prompt_ids: each prompt's ids, boundary token included.
        token_ids: condition -> the generated ids, one list per prompt x sample (row
            ``i * samples + j``; prompt excluded). The reference has one row per prompt.
        tokens, pieces, texts: the same rows as vocabulary strings, as each token decoded
            on its own, and as decoded text (display only).
        entropy_tokens: condition -> per row, (L,) float32 entropy (nats) of the
            next-token distribution at each generated position.
        surprisal_tokens: condition -> per row, (L,) float32 surprisal (nats) of each
            generated token.
        ended: condition -> (rows,) bool, the continuation stopped at EOS.

    >>> import surprisal
    >>> from surprisal.testing import tiny_lm
    >>> d = surprisal.decoding("A", model=tiny_lm("gpt2"), temperatures=(0.0,), samples=1,
    ...                        max_new_tokens=12)
    >>> est, lo, hi = d.seq_rep[4][0.0]
    >>> 0.0 <= est <= 1.0, lo <= est <= hi
    (True, True)
    """

    model: str
    bos_policy: str
    prompts: tuple[str, ...]
    reference: tuple[str, ...] | None
    temperatures: tuple[float, ...]
    samples: int
    max_new_tokens: int
    seed: int
    stop_at_eos: bool
    prompt_ids: list[list[int]]
    token_ids: dict[Condition, list[list[int]]]
    tokens: dict[Condition, list[list[str]]]
    pieces: dict[Condition, list[list[str]]]
    texts: dict[Condition, list[str]]
    entropy_tokens: dict[Condition, list[np.ndarray]]
    surprisal_tokens: dict[Condition, list[np.ndarray]]
    ended: dict[Condition, np.ndarray]
    loop_min_repeats: int = 3
    loop_min_tokens: int = 8
    n_boot: int = 2000
    level: float = 0.95

    # ------------------------------------------------------------------ structure

    @property
    def conditions(self) -> tuple[Condition, ...]:
        """The temperatures, then ``"reference"`` when there is one."""
        return (*self.temperatures, *(("reference",) if self.reference is not None else ()))

    def _k(self, c: Condition) -> int:
        """Rows per prompt: ``samples`` for a temperature, 1 for the reference."""
        return 1 if c == "reference" else self.samples

    def _per_prompt(self, c: Condition, per_row: np.ndarray) -> np.ndarray:
        """(prompts,) the mean of each prompt's rows, NaN rows left out."""
        return _nanmean_rows(np.asarray(per_row, np.float64).reshape(len(self.prompts), -1))

    def _estimate(self, per_prompt: np.ndarray, share: bool = False) -> Estimate:
        """Mean over prompts with a bootstrap CI; NaN prompts left out. A ``share`` (a
        value in [0, 1]) has its CI clipped to [0, 1]: the mean lies there, so clipping
        never loses coverage (a t or bootstrap-t interval of a few prompts can reach
        past the ends)."""
        x = per_prompt[np.isfinite(per_prompt)]
        if x.size == 0:
            return (math.nan, math.nan, math.nan)
        lo, hi = _stats.bootstrap_ci(x, n_boot=self.n_boot, seed=self.seed, level=self.level)
        if share:
            lo, hi = max(0.0, lo), min(1.0, hi)
        return (float(x.mean()), float(lo), float(hi))

    def _summarise(
        self, per_row: dict[Condition, np.ndarray], share: bool = False
    ) -> dict[Condition, Estimate]:
        return {c: self._estimate(self._per_prompt(c, per_row[c]), share) for c in self.conditions}

    # ------------------------------------------------------------------ repetition

    @functools.cached_property
    def loops(self) -> dict[Condition, list[Loop | None]]:
        """condition -> per row, the :class:`~surprisal.repetition.Loop` the continuation
        ends in, or None (definition: :mod:`surprisal.repetition`)."""
        return {
            c: [
                find_loop(r, min_repeats=self.loop_min_repeats, min_tokens=self.loop_min_tokens)
                for r in self.token_ids[c]
            ]
            for c in self.conditions
        }

    @functools.cached_property
    def loop_rate(self) -> dict[Condition, Estimate]:
        """condition -> share of continuations that end in a loop, ``(estimate, lo, hi)``."""
        return self._summarise(
            {c: np.array([lp is not None for lp in v], float) for c, v in self.loops.items()},
            share=True,
        )

    @functools.cached_property
    def loop_period(self) -> dict[Condition, np.ndarray]:
        """condition -> (rows,) the loop's period in tokens, NaN where there is no loop."""
        return {
            c: np.array([math.nan if lp is None else lp.period for lp in v], float)
            for c, v in self.loops.items()
        }

    @functools.cached_property
    def seq_rep(self) -> dict[int, dict[Condition, Estimate]]:
        """n -> condition -> Welleck et al.'s seq-rep-n, ``(estimate, lo, hi)``, n = 1..4."""
        return {
            n: self._summarise(
                {c: np.array([seq_rep(r, n) for r in self.token_ids[c]]) for c in self.conditions},
                share=True,
            )
            for n in range(1, MAX_N + 1)
        }

    @functools.cached_property
    def distinct(self) -> dict[int, dict[Condition, Estimate]]:
        """n -> condition -> distinct-n over the samples of each prompt (pooled n-grams),
        ``(estimate, lo, hi)`` over prompts. Greedy's samples are one continuation
        repeated, so its distinct-n is that of one continuation divided by ``samples``."""
        out: dict[int, dict[Condition, Estimate]] = {}
        for n in range(1, MAX_N + 1):
            out[n] = {}
            for c in self.conditions:
                k = self._k(c)
                rows = self.token_ids[c]
                per = np.array(
                    [distinct(rows[i * k : (i + 1) * k], n) for i in range(len(self.prompts))]
                )
                out[n][c] = self._estimate(per, share=True)
        return out

    # ------------------------------------------------------------------ information

    def _curve(self, per_token: dict[Condition, list[np.ndarray]]) -> dict[Condition, np.ndarray]:
        out = {}
        for c in self.conditions:
            rows = per_token[c]
            width = max((len(r) for r in rows), default=0)
            m = _padded(rows, width).reshape(len(self.prompts), self._k(c), width)
            out[c] = _nanmean_rows(_nanmean_rows(m.transpose(0, 2, 1)).T)  # (width,)
        return out

    def _mean(self, per_token: dict[Condition, list[np.ndarray]]) -> dict[Condition, Estimate]:
        return self._summarise(
            {
                c: np.array([float(np.mean(r)) if len(r) else math.nan for r in per_token[c]])
                for c in self.conditions
            }
        )

    @functools.cached_property
    def gap_tokens(self) -> dict[Condition, list[np.ndarray]]:
        """condition -> per row, surprisal - entropy (nats) of each generated token; near 0
        for "typical" tokens (Meister et al. 2023)."""
        return {
            c: [
                s - e for s, e in zip(self.surprisal_tokens[c], self.entropy_tokens[c], strict=True)
            ]
            for c in self.conditions
        }

    @functools.cached_property
    def entropy(self) -> dict[Condition, np.ndarray]:
        """condition -> (positions,) mean entropy (nats) of the next-token distribution at
        each generated position (mean over a prompt's samples, then over prompts)."""
        return self._curve(self.entropy_tokens)

    @functools.cached_property
    def surprisal(self) -> dict[Condition, np.ndarray]:
        """condition -> (positions,) mean surprisal (nats) of the generated token at each
        position, at temperature 1."""
        return self._curve(self.surprisal_tokens)

    @functools.cached_property
    def gap(self) -> dict[Condition, np.ndarray]:
        """condition -> (positions,) mean surprisal - entropy (nats) at each position."""
        return self._curve(self.gap_tokens)

    @functools.cached_property
    def mean_entropy(self) -> dict[Condition, Estimate]:
        """condition -> mean entropy per token (nats), ``(estimate, lo, hi)``."""
        return self._mean(self.entropy_tokens)

    @functools.cached_property
    def mean_surprisal(self) -> dict[Condition, Estimate]:
        """condition -> mean surprisal per generated token (nats), ``(estimate, lo, hi)``."""
        return self._mean(self.surprisal_tokens)

    @functools.cached_property
    def mean_gap(self) -> dict[Condition, Estimate]:
        """condition -> mean surprisal - entropy per token (nats), ``(estimate, lo, hi)``."""
        return self._mean(self.gap_tokens)

    @functools.cached_property
    def length(self) -> dict[Condition, float]:
        """condition -> mean continuation length in tokens (``max_new_tokens`` unless
        ``stop_at_eos`` ended some early)."""
        return {c: float(np.mean([len(r) for r in self.token_ids[c]])) for c in self.conditions}

    # ------------------------------------------------------------------ views

    def metrics(self) -> Any:
        """One row per condition x metric: ``condition``, ``temperature`` (NaN for the
        reference), ``metric``, ``estimate``, ``ci_low``, ``ci_high`` (CIs over prompts)."""
        import pandas as pd

        rows = []
        for name, table in self.tables():
            for c in self.conditions:
                est, lo, hi = table[c]
                temp = math.nan if isinstance(c, str) else c
                rows.append((temperature_label(c), temp, name, est, lo, hi))
        cols = ["condition", "temperature", "metric", "estimate", "ci_low", "ci_high"]
        return pd.DataFrame(rows, columns=cols)

    def tables(self) -> list[tuple[str, dict[Condition, Estimate]]]:
        out = [(f"seq-rep-{n}", self.seq_rep[n]) for n in range(1, MAX_N + 1)]
        out.append(("loop rate", self.loop_rate))
        out += [(f"distinct-{n}", self.distinct[n]) for n in range(1, MAX_N + 1)]
        out += [
            ("entropy (nats)", self.mean_entropy),
            ("surprisal (nats)", self.mean_surprisal),
            ("surprisal - entropy", self.mean_gap),
        ]
        return out

    def median_loop_period(self, c: Condition) -> float:
        """Median period (tokens) of the loops at condition ``c``; NaN without loops."""
        p = self.loop_period[c]
        p = p[np.isfinite(p)]
        return float(np.median(p)) if p.size else math.nan

    def summary(self) -> str:
        """A plain-text table: each metric per condition with its CI over prompts."""

        def cell(e: Estimate) -> str:
            est, lo, hi = e
            return "n/a" if math.isnan(est) else f"{est:.3f} [{lo:.3f}, {hi:.3f}]"

        conds = self.conditions
        width = 24
        head = f"{'metric':<20}" + "".join(f"{temperature_label(c):>{width}}" for c in conds)
        lines = [
            f"decoding: {len(self.prompts)} prompts x {self.samples} samples, "
            f"{self.max_new_tokens} new tokens, model {self.model!r}",
            f"estimate [{self.level:.0%} CI over prompts; samples of a prompt averaged first]",
            head,
        ]
        for name, table in self.tables():
            lines.append(f"{name:<20}" + "".join(f"{cell(table[c]):>{width}}" for c in conds))
        per = "".join(f"{self.median_loop_period(c):>{width}.3g}" for c in conds)
        lines.append(f"{'loop period (med.)':<20}{per}")
        lines.append(
            f"{'length (tokens)':<20}" + "".join(f"{self.length[c]:>{width}.1f}" for c in conds)
        )
        lines += [
            "seq-rep-n: 1 - unique/all n-grams of a continuation (Welleck et al. 2020); "
            "distinct-n: unique/all n-grams pooled over a prompt's samples;",
            f"loop: the continuation ends in an exact cycle seen >= {self.loop_min_repeats} "
            f"times over >= {self.loop_min_tokens} tokens; entropy and surprisal at T=1, nats",
        ]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        temps = ", ".join(f"{t:g}" for t in self.temperatures)
        rep4 = "/".join(f"{self.seq_rep[4][c][0]:.2f}" for c in self.conditions)
        loops = "/".join(f"{self.loop_rate[c][0]:.2f}" for c in self.conditions)
        ref = ", with reference" if self.reference is not None else ""
        return (
            f"Decoding({len(self.prompts)} prompts x {self.samples} samples, "
            f"{self.max_new_tokens} new tokens, temperatures ({temps}){ref}: "
            f"seq-rep-4 {rep4}, loop rate {loops}, model={self.model!r})"
        )

    def to_pandas(self) -> Any:
        """Long format, one row per prompt x sample x condition x position: ``condition``,
        ``temperature`` (NaN for the reference), ``prompt_index``, ``sample``,
        ``position`` (0 = the first generated token), ``token_id``, ``token``,
        ``entropy``, ``surprisal``, ``gap`` (nats, T = 1) and ``in_loop`` (the token lies
        in the loop the continuation ends in)."""
        import pandas as pd

        cols: dict[str, list[Any]] = {
            k: []
            for k in (
                "condition",
                "temperature",
                "prompt_index",
                "sample",
                "position",
                "token_id",
                "token",
                "entropy",
                "surprisal",
                "gap",
                "in_loop",
            )
        }
        for c in self.conditions:
            k = self._k(c)
            temp = math.nan if isinstance(c, str) else c
            for r, ids in enumerate(self.token_ids[c]):
                n = len(ids)
                loop = self.loops[c][r]
                start = n - loop.length if loop is not None else n
                cols["condition"] += [temperature_label(c)] * n
                cols["temperature"] += [temp] * n
                cols["prompt_index"] += [r // k] * n
                cols["sample"] += [r % k] * n
                cols["position"] += list(range(n))
                cols["token_id"] += list(ids)
                cols["token"] += list(self.tokens[c][r])
                cols["entropy"] += self.entropy_tokens[c][r].tolist()
                cols["surprisal"] += self.surprisal_tokens[c][r].tolist()
                cols["gap"] += self.gap_tokens[c][r].tolist()
                cols["in_loop"] += [p >= start for p in range(n)]
        df = pd.DataFrame(cols)
        df.attrs.update(model=self.model, unit="nats", samples=self.samples)
        return df

    def to_dict(self) -> dict[str, Any]:
        """Settings, every metric per condition (``[estimate, lo, hi]``; NaN as None) and
        the generated ids, as plain JSON-ready values; conditions keyed ``"T=0.7"``."""
        return {
            "model": self.model,
            "bos_policy": self.bos_policy,
            "prompts": list(self.prompts),
            "reference": None if self.reference is None else list(self.reference),
            "temperatures": list(self.temperatures),
            "samples": self.samples,
            "max_new_tokens": self.max_new_tokens,
            "seed": self.seed,
            "stop_at_eos": self.stop_at_eos,
            "level": self.level,
            "metrics": {
                name: {temperature_label(c): [num(v) for v in table[c]] for c in self.conditions}
                for name, table in self.tables()
            },
            "token_ids": {
                temperature_label(c): [list(r) for r in self.token_ids[c]] for c in self.conditions
            },
        }

    def to_json(self, path: str | Path | None = None) -> str:
        """:meth:`to_dict` as a JSON string; also written to ``path`` (UTF-8) when given."""
        import json

        doc = json.dumps(self.to_dict(), ensure_ascii=False)
        if path is not None:
            Path(path).write_text(doc, encoding="utf-8")
        return doc

    def to_html(self, path: str | Path | None = None) -> str:
        """A self-contained HTML report (inline SVG, no scripts): the summary table,
        repetition and loop rate against temperature with CIs, entropy, surprisal and
        their gap along the position for each temperature (and the reference), and the
        first continuations coloured by surprisal. Written to ``path`` when given."""
        return decoding_html(self, path)

    def _repr_html_(self) -> str:
        body = "".join(
            f"<h3>{_html.escape(h)}</h3>{b}" for h, b in decoding_sections(self, max_rows=4)
        )
        return notebook_html(f"<p>{_html.escape(repr(self))}</p>{body}")
