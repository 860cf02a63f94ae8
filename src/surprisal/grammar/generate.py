"""Does the model *generate* the grammar? Sample strings after each condition and check them.

For each condition (``none``, ``explanation``, ``control``, ``shots``) the prefix
``[boundary] + tokens(prefix)`` is run once; its KV cache is expanded over a batch of
samples, and tokens are drawn one at a time at ``temperature`` until the end marker (a
newline by default; EOS always ends a sample too) or ``max_new_tokens``. The text before
the end marker is the generated string; it is valid when the grammar accepts it. A string
that never reached the end marker is invalid ("unterminated").

Rates per condition, each with a seeded bootstrap CI over samples:

* ``valid_rate``: share of samples that are members;
* ``distinct_rate``: distinct valid strings / samples;
* ``novel_rate``: valid strings not among the ``known`` strings (the shots, plus what the
  caller passes, e.g. a training set) / samples.
"""

from __future__ import annotations

import html as _html
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import stats as _stats
from .._compat import expand_cache, output_cache
from .._deprecation import renamed_keyword
from .._sampling import draw_tokens
from ..errors import SurprisalError
from ..lm import LM, resolve_model
from ..report.grammar import generation_html, generation_sections
from ..report.page import notebook_html
from ..tokenize import encode
from .base import Grammar
from .prompts import end_marker, grammar_conditions
from .signature import REMOVED_IN, model_and_grammar


@dataclass(frozen=True)
class Generation:
    """Generated strings per condition and their validity.

    Attributes:
        grammar: the grammar's name.
        conditions: condition names, "none" first.
        prefixes: each condition's prefix text.
        samples: condition -> the generated strings (end marker removed).
        terminated: condition -> (n,) bool, the end marker was produced.
        valid: condition -> (n,) bool, the grammar accepts the string (and it terminated).
        known: strings that do not count as novel.
    """

    grammar: str
    conditions: tuple[str, ...]
    prefixes: dict[str, str]
    samples: dict[str, list[str]]
    terminated: dict[str, np.ndarray]
    valid: dict[str, np.ndarray]
    known: frozenset[str]
    seed: int = 0
    n_boot: int = 2000

    def _rates(self, c: str) -> dict[str, np.ndarray]:
        v = self.valid[c]
        seen: set[str] = set()
        first_valid = np.zeros(len(v), dtype=bool)
        for i, (s, ok) in enumerate(zip(self.samples[c], v, strict=True)):
            if ok and s not in seen:
                seen.add(s)
                first_valid[i] = True
        novel = np.array(
            [bool(ok) and s not in self.known for s, ok in zip(self.samples[c], v, strict=True)]
        )
        return {
            "valid": v.astype(float),
            "distinct": first_valid.astype(float),
            "novel": novel.astype(float),
        }

    def _rate(self, name: str) -> dict[str, float]:
        return {
            c: float(self._rates(c)[name].mean()) if self._defined(name, c) else float("nan")
            for c in self.conditions
        }

    def _defined(self, name: str, c: str) -> bool:
        """Whether a rate means anything: novelty is undefined (NaN, printed n/a) when every
        sample is the empty string (no string was generated to be new), and every rate is
        undefined without samples."""
        s = self.samples[c]
        return bool(s) and not (name == "novel" and all(x == "" for x in s))

    @property
    def valid_rate(self) -> dict[str, float]:
        """Share of samples the grammar accepts, per condition."""
        return self._rate("valid")

    @property
    def empty_rate(self) -> dict[str, float]:
        """Share of samples that ended at once (the empty string), per condition. Grammars
        whose language holds the empty string (Dyck) count such samples as valid: read
        ``valid_rate`` beside this."""
        return {
            c: float(
                np.mean(
                    [
                        s == "" and bool(t)
                        for s, t in zip(self.samples[c], self.terminated[c], strict=True)
                    ]
                )
            )
            for c in self.conditions
        }

    @property
    def distinct_rate(self) -> dict[str, float]:
        """Distinct valid strings per sample, per condition."""
        return self._rate("distinct")

    @property
    def novel_rate(self) -> dict[str, float]:
        """Valid strings not among the known ones, per sample, per condition; NaN where
        every sample is empty (nothing was generated that could be new)."""
        return self._rate("novel")

    def ci(self, rate: str = "valid") -> dict[str, tuple[float, float]]:
        """Wilson 95% CI of a rate ("valid", "distinct" or "novel") per condition: each
        sample is a 0/1 outcome, so the rate is a proportion (the interval never collapses
        to a point at 0/n or n/n, as a bootstrap of 0/1 values does)."""
        if rate not in ("valid", "distinct", "novel"):
            raise SurprisalError(f"rate must be 'valid', 'distinct' or 'novel', got {rate!r}")
        out = {}
        for c in self.conditions:
            x = self._rates(c)[rate]
            defined = self._defined(rate, c)
            out[c] = _stats.proportion_ci(int(x.sum()), len(x)) if defined else (np.nan, np.nan)
        return out

    def __str__(self) -> str:
        lines = [f"generation from grammar {self.grammar}:"]
        vci = self.ci("valid")
        for c in self.conditions:
            lo, hi = vci[c]
            lines.append(
                f"  {c:<12} valid {self.valid_rate[c]:.3f} [{lo:.3f}, {hi:.3f}]   "
                f"distinct {self.distinct_rate[c]:.3f}   novel {_na(self.novel_rate[c])}   "
                f"empty {self.empty_rate[c]:.3f}"
            )
        lines += [
            "  valid: share of samples that reached the end marker and that the grammar accepts",
            "  (the empty string counts as valid when the language holds it, e.g. Dyck: see",
            "  empty, the share that ended at once); distinct: distinct valid strings / samples;",
            "  novel: valid strings not among the known ones (shots, known=) / samples",
        ]
        return "\n".join(lines)

    def to_html(self, path: str | Path | None = None) -> str:
        """A self-contained HTML report (no scripts): the rates per condition with their CIs
        and meaning, the prefixes and samples (see :mod:`surprisal.grammar.reports`);
        written to ``path`` when given."""

        return generation_html(self, path)

    def __repr__(self) -> str:
        n = {c: len(self.samples[c]) for c in self.conditions}
        valid = ", ".join(f"{c} {self.valid_rate[c]:.2f}" for c in self.conditions)
        return (
            f"Generation({self.grammar!r}, {sum(n.values())} samples over "
            f"{len(self.conditions)} conditions, valid rate {valid})"
        )

    def to_dict(self) -> dict[str, Any]:
        """Rates per condition (valid, empty, distinct, novel) with the valid rate's Wilson
        CI, and the samples; plain JSON-ready values (an undefined novel rate is None)."""
        return {
            "grammar": self.grammar,
            "conditions": list(self.conditions),
            "prefixes": dict(self.prefixes),
            "n_samples": {c: len(self.samples[c]) for c in self.conditions},
            "valid_rate": self.valid_rate,
            "valid_ci": {c: list(v) for c, v in self.ci("valid").items()},
            "empty_rate": self.empty_rate,
            "distinct_rate": self.distinct_rate,
            "novel_rate": {c: (None if v != v else v) for c, v in self.novel_rate.items()},
            "samples": {c: list(self.samples[c]) for c in self.conditions},
        }

    def to_json(self) -> str:
        """:meth:`to_dict` as a JSON string."""
        import json

        return json.dumps(self.to_dict(), ensure_ascii=False)

    def _repr_html_(self) -> str:

        body = "".join(f"<h3>{_html.escape(h)}</h3>{b}" for h, b in generation_sections(self))
        return notebook_html(f"<p>{_html.escape(repr(self))}</p>{body}")

    def to_pandas(self) -> Any:
        """One row per sample: condition, text, terminated, valid, novel."""
        import pandas as pd

        rows = []
        for c in self.conditions:
            for s, t, v in zip(self.samples[c], self.terminated[c], self.valid[c], strict=True):
                rows.append(
                    {
                        "condition": c,
                        "text": s,
                        "terminated": bool(t),
                        "valid": bool(v),
                        "novel": bool(v) and s not in self.known,
                    }
                )
        return pd.DataFrame(rows)


def _na(v: float) -> str:
    """A rate to 3 decimals, or ``n/a`` when it is undefined (NaN)."""
    return "n/a" if v != v else f"{v:.3f}"


@torch.no_grad()
def _sample(
    lm: LM,
    prefix_ids: list[int],
    n: int,
    *,
    end_text: str,
    max_new_tokens: int,
    temperature: float,
    batch_size: int,
    generator: torch.Generator,
) -> tuple[list[str], list[bool]]:
    """Draw n continuations of one prefix, run once; stop each at the end marker."""
    tok = lm.tokenizer
    dev = lm.device
    x = torch.tensor([prefix_ids], dtype=torch.long, device=dev)  # (1, P)
    out = lm.model(input_ids=x, use_cache=True)
    cache0, last0 = output_cache(out), out.logits[0, -1].float()  # (V,)
    P = len(prefix_ids)
    texts: list[str] = []
    done_flags: list[bool] = []

    def draw(logits: torch.Tensor) -> torch.Tensor:  # (B, V) -> (B,)
        probs = torch.softmax(logits / temperature, dim=-1)  # (B, V)
        return torch.multinomial(probs.cpu(), 1, generator=generator)[:, 0]

    for b0 in range(0, n, batch_size):
        B = min(batch_size, n - b0)
        drawn = draw_tokens(
            lm.model,
            expand_cache(cache0, B),
            last0[None].expand(B, -1),  # (B, V)
            torch.ones((B, P), dtype=torch.long, device=dev),
            torch.full((B,), P, dtype=torch.long, device=dev),
            max_new_tokens=max_new_tokens,
            draw=draw,
            eos_id=tok.eos_token_id,  # the document ended: so did the string
            stop=lambda i, ids: end_text in tok.decode(ids),
        )
        for gen_i, finished_i in zip(drawn.ids, drawn.finished, strict=True):
            s = tok.decode(gen_i)
            if end_text != tok.eos_token and end_text in s:
                s = s[: s.index(end_text)]
            texts.append(s)
            done_flags.append(finished_i)
    return texts, done_flags


def _enough_tokens(lm: LM, grammar: Grammar, max_len: int) -> int:
    """New tokens enough for ``max_len`` symbols (the longest symbol, each with a separator)
    and an end marker."""
    sym_tokens = max(
        len(lm.tokenizer(s, add_special_tokens=False)["input_ids"]) for s in grammar.alphabet
    )
    sep_tokens = (
        len(lm.tokenizer(grammar.separator, add_special_tokens=False)["input_ids"])
        if grammar.separator
        else 0
    )
    return max_len * (sym_tokens + sep_tokens) + 4


@renamed_keyword("temperature", "sampling_temperature", removed_in=REMOVED_IN)
def generation(
    grammar: Grammar | str,
    /,
    *legacy: Any,
    model: LM | str | Any = None,
    explanation: str | None = None,
    control: str | None = None,
    shots: int = 0,
    n: int = 100,
    min_len: int = 1,
    max_len: int = 20,
    max_new_tokens: int | None = None,
    sampling_temperature: float = 1.0,
    end: str = "\n",
    known: Iterable[str] = (),
    seed: int = 0,
    batch_size: int = 64,
    n_boot: int = 2000,
) -> Generation:
    """Sample ``n`` strings per condition and check them against the grammar.

    Args:
        grammar: the grammar whose membership decides validity (a Grammar or a zoo name).
        model: an LM, a name/path, or a ``(model, tokenizer)`` pair (keyword-only; the old
            ``generation(lm, g)`` form warns until 0.3.0).
        explanation, control: prefix texts (non-blank; see
            :class:`~surprisal.conditions.Conditions`); each adds a condition.
        shots: add a "shots" condition with this many example members as the prefix, each
            followed by the end marker.
        n: samples per condition.
        min_len, max_len: lengths of the shot examples, in symbols.
        max_new_tokens: cut-off per sample (default: enough for ``max_len`` symbols).
        sampling_temperature: the temperature tokens are sampled at (> 0); not the scoring
            ``temperature`` of :func:`surprisal.score`.
            Its old name ``temperature=`` still works and warns until 0.3.0.
        end: the end marker that stops a sample (newline by default, or "eos").
        known: strings that do not count as novel (the shots are added).
        seed: seeds sampling (CPU generator) and the bootstrap.

    >>> from surprisal import grammar
    >>> from surprisal.testing import tiny_lm
    >>> g = grammar.generation(grammar.zoo["abn"], model=tiny_lm("gpt2"), n=4, max_new_tokens=5)
    >>> len(g.samples["none"]), 0.0 <= g.valid_rate["none"] <= 1.0
    (4, True)
    """
    model, g = model_and_grammar("generation", grammar, legacy, model, stacklevel=4)
    if g is None:
        raise SurprisalError("generation() needs a grammar: a Grammar or a zoo name")
    grammar = g
    lm = resolve_model(model)
    end_text = end_marker(lm, end)
    if not sampling_temperature > 0:
        raise SurprisalError(f"sampling_temperature must be > 0, got {sampling_temperature}")
    if n < 1:
        raise SurprisalError(f"n must be at least 1, got {n}")
    conditions = grammar_conditions(
        grammar,
        explanation=explanation,
        control=control,
        shots=shots,
        end_text=end_text,
        exclude=set(),
        min_len=min_len,
        max_len=max_len,
        seed=seed,
    )
    prefixes = {c: p or "" for c, p in conditions.prefixes().items()}
    known_set = set(known) | set(conditions.shots)
    max_new = max_new_tokens or _enough_tokens(lm, grammar, max_len)
    gen = torch.Generator().manual_seed(seed)
    boundary = [lm.boundary_id] if lm.boundary_id is not None else []
    samples: dict[str, list[str]] = {}
    terminated: dict[str, np.ndarray] = {}
    valid: dict[str, np.ndarray] = {}
    for c, text in prefixes.items():
        ids = boundary + (
            encode(lm.tokenizer, [text], parse_special_tokens=lm.parse_special_tokens)[0].ids
            if text
            else []
        )
        if not ids:
            raise SurprisalError(
                "the 'none' condition needs a boundary token (BOS or EOS) to start from"
            )
        if len(ids) + max_new > lm.max_length:
            raise SurprisalError(
                f"prefix of condition {c!r} ({len(ids)} tokens) plus {max_new} new tokens exceeds "
                f"the model's context of {lm.max_length}"
            )
        strs, done = _sample(
            lm,
            ids,
            n,
            end_text=end_text,
            max_new_tokens=max_new,
            temperature=sampling_temperature,
            batch_size=batch_size,
            generator=gen,
        )
        # accepts() is False (no error) for text that is not over the alphabet
        ok = [bool(d) and grammar.accepts(s) for s, d in zip(strs, done, strict=True)]
        samples[c] = strs
        terminated[c] = np.array(done, dtype=bool)
        valid[c] = np.array(ok, dtype=bool)
    return Generation(
        grammar=grammar.name,
        conditions=tuple(prefixes),
        prefixes=prefixes,
        samples=samples,
        terminated=terminated,
        valid=valid,
        known=frozenset(known_set),
        seed=seed,
        n_boot=n_boot,
    )
