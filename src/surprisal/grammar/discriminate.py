"""Does the model know the grammar? Membership discrimination with and without an explanation.

For every candidate string ``s`` (members and guaranteed non-members) and every condition
``c`` (``none``, ``explanation``, ``control``, ``shots``), the score is the total
log-probability, in nats, of ``render(s) + end`` after the condition's prefix:

* ``none``: ``[boundary] + tokens(render(s) + end)``
* ``explanation``: ``[boundary] + tokens(explanation + "\\n") + tokens(render(s) + end)``
* ``control``: the same with the control text
* ``shots``: ``[boundary] + tokens(k example members, each followed by end) + ...``

The end marker (default a newline) is scored too: membership depends on where a string
stops. Each prefix is encoded once and shared by every string (one engine call in all).

Metrics, per condition: ROC-AUC of the log-probability (members should score higher),
minimal-pair accuracy (a member beats its one-edit non-member), accuracy at a threshold
chosen on a held-out calibration split (never on the test strings), and the same for the
length-normalised mean and SLOR. Lifts (explanation − none, explanation − control) come
with seeded, stratified bootstrap CIs.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from .. import stats as _stats
from ..core import RunOptions, run
from ..errors import SurprisalError
from ..lm import LM, resolve_model
from ..tokenize import check_texts
from .base import Grammar
from .prompts import end_marker, grammar_conditions

__all__ = ["Membership", "membership"]

ScoreKind = Literal["logprob", "mean", "slor"]


@dataclass(frozen=True)
class Membership:
    """Scores of members and non-members under each condition, and what they tell.

    Attributes:
        grammar: the grammar's name (or "given" for user strings).
        conditions: the condition names, "none" first.
        prefixes: the prefix text of each condition ("" for none).
        texts: the candidate strings (rendered, without the end marker).
        labels: (n,) 1 for members, 0 for non-members.
        kinds: "member", "edit" (one edit from a member), "random" or "given".
        lengths: (n,) length in grammar symbols (characters for user strings).
        test: (n,) True for strings in the test split (thresholds come from the others).
        pairs: (m, 2) indices (member, its one-edit non-member) of minimal pairs.
        logprob: condition -> (n,) total log-probability of string + end marker, nats.
        n_tokens: condition -> (n,) tokens scored (end marker included).
        unigram_logprob: (n,) log-probability under a unigram model of the calibration
            members' tokens (add-one smoothed), nats; the SLOR baseline.
        end: the end marker text.
        seed, n_boot: for the bootstrap CIs.
    """

    grammar: str
    conditions: tuple[str, ...]
    prefixes: dict[str, str]
    texts: tuple[str, ...]
    labels: np.ndarray
    kinds: tuple[str, ...]
    lengths: np.ndarray
    test: np.ndarray
    pairs: np.ndarray
    logprob: dict[str, np.ndarray]
    n_tokens: dict[str, np.ndarray]
    unigram_logprob: np.ndarray
    end: str
    seed: int = 0
    n_boot: int = 2000

    def scores(self, condition: str, kind: ScoreKind = "logprob") -> np.ndarray:
        """(n,) membership scores: total log-prob, per-token mean, or SLOR, in nats."""
        lp = self.logprob[condition]
        if kind == "logprob":
            return lp
        if kind == "mean":
            return lp / self.n_tokens[condition]
        if kind == "slor":
            return (lp - self.unigram_logprob) / self.n_tokens[condition]
        raise SurprisalError(f"kind must be 'logprob', 'mean' or 'slor', got {kind!r}")

    def _auc(self, x: np.ndarray, sel: np.ndarray | None = None) -> float:
        lab = self.labels if sel is None else self.labels[sel]
        x = x if sel is None else x[sel]
        if lab.min(initial=1) == 1 or lab.max(initial=0) == 0:
            return float("nan")
        return _stats.roc_auc(x[lab == 1], x[lab == 0])

    def _pair_acc(self, x: np.ndarray, pairs: np.ndarray | None = None) -> float:
        p = self.pairs if pairs is None else pairs
        if len(p) == 0:
            return float("nan")
        return _stats.pair_accuracy(x[p[:, 0]], x[p[:, 1]])

    def _accuracy(self, x: np.ndarray) -> float:
        cal = ~self.test
        if (
            self.labels[cal].min(initial=1) == self.labels[cal].max(initial=0)
            or not self.test.any()
        ):
            return float("nan")
        thr = _stats.best_threshold(x[cal], self.labels[cal])
        return _stats.accuracy_at(x[self.test], self.labels[self.test], thr)

    def auc_of(self, kind: ScoreKind = "logprob") -> dict[str, float]:
        """ROC-AUC per condition for a score kind."""
        return {c: self._auc(self.scores(c, kind)) for c in self.conditions}

    @property
    def auc(self) -> dict[str, float]:
        """ROC-AUC of the total log-probability, per condition (0.5 = chance)."""
        return self.auc_of("logprob")

    @property
    def pair_accuracy(self) -> dict[str, float]:
        """Fraction of minimal pairs where the member scores higher, per condition."""
        return {c: self._pair_acc(self.scores(c)) for c in self.conditions}

    @property
    def accuracy(self) -> dict[str, float]:
        """Test-split accuracy at the threshold chosen on the calibration split, per condition."""
        return {c: self._accuracy(self.scores(c)) for c in self.conditions}

    @property
    def lift(self) -> dict[str, dict[str, float]]:
        """AUC and pair-accuracy lifts of the explanation over "none" and over "control",
        each ``{"auc": .., "auc_ci_low": .., "auc_ci_high": .., "pair_accuracy": .., ...}``."""
        out: dict[str, dict[str, float]] = {}
        if "explanation" not in self.conditions:
            return out
        for base in ("none", "control"):
            if base not in self.conditions:
                continue
            a, b = self.scores(base), self.scores("explanation")
            lift, lo, hi = _stats.auc_lift_ci(a, b, self.labels, n_boot=self.n_boot, seed=self.seed)
            row = {"auc": lift, "auc_ci_low": lo, "auc_ci_high": hi}
            if len(self.pairs):
                p = self.pairs

                def pa(ga: np.ndarray, ba: np.ndarray, gb: np.ndarray, bb: np.ndarray) -> float:
                    return _stats.pair_accuracy(gb, bb) - _stats.pair_accuracy(ga, ba)

                row["pair_accuracy"] = pa(a[p[:, 0]], a[p[:, 1]], b[p[:, 0]], b[p[:, 1]])
                lo2, hi2 = _stats.paired_bootstrap_ci(
                    pa,
                    a[p[:, 0]],
                    a[p[:, 1]],
                    b[p[:, 0]],
                    b[p[:, 1]],
                    n_boot=self.n_boot,
                    seed=self.seed,
                )
                row["pair_accuracy_ci_low"], row["pair_accuracy_ci_high"] = lo2, hi2
            out[f"explanation-{base}"] = row
        return out

    def by_length(self) -> Any:
        """AUC and pair accuracy per string length and condition (a pandas DataFrame)."""
        import pandas as pd

        rows = []
        good_len = self.lengths[self.pairs[:, 0]] if len(self.pairs) else np.zeros(0)
        for L in sorted(set(self.lengths.tolist())):
            sel = self.lengths == L
            psel = self.pairs[good_len == L] if len(self.pairs) else self.pairs
            for c in self.conditions:
                x = self.scores(c)
                rows.append(
                    {
                        "length": L,
                        "condition": c,
                        "n_members": int((self.labels[sel] == 1).sum()),
                        "n_nonmembers": int((self.labels[sel] == 0).sum()),
                        "auc": self._auc(x, sel),
                        "n_pairs": len(psel),
                        "pair_accuracy": self._pair_acc(x, psel),
                    }
                )
        return pd.DataFrame(rows)

    def table(self) -> Any:
        """One row per condition: AUC (log-prob, mean, SLOR), pair accuracy, accuracy."""
        import pandas as pd

        rows = []
        for c in self.conditions:
            rows.append(
                {
                    "condition": c,
                    "auc": self._auc(self.scores(c)),
                    "auc_mean": self._auc(self.scores(c, "mean")),
                    "auc_slor": self._auc(self.scores(c, "slor")),
                    "pair_accuracy": self._pair_acc(self.scores(c)),
                    "accuracy": self._accuracy(self.scores(c)),
                }
            )
        return pd.DataFrame(rows)

    def to_pandas(self) -> Any:
        """Long format: one row per (string, condition) with label, kind, length, split,
        log-probability (nats), tokens, mean and SLOR."""
        import pandas as pd

        frames = []
        for c in self.conditions:
            frames.append(
                pd.DataFrame(
                    {
                        "text": list(self.texts),
                        "label": self.labels,
                        "kind": list(self.kinds),
                        "length": self.lengths,
                        "test": self.test,
                        "condition": c,
                        "logprob": self.logprob[c],
                        "n_tokens": self.n_tokens[c],
                        "mean": self.scores(c, "mean"),
                        "slor": self.scores(c, "slor"),
                    }
                )
            )
        return pd.concat(frames, ignore_index=True)

    def __str__(self) -> str:
        n1 = int(self.labels.sum())
        lines = [
            f"grammar {self.grammar}: {n1} members, {len(self.labels) - n1} non-members, "
            f"{len(self.pairs)} minimal pairs"
        ]
        auc, pa, acc = self.auc, self.pair_accuracy, self.accuracy
        for c in self.conditions:
            lines.append(
                f"  {c:<12} AUC {auc[c]:.3f}   pair accuracy {pa[c]:.3f}   accuracy {acc[c]:.3f}"
            )
        for k, v in self.lift.items():
            s = f"  lift {k}: AUC {v['auc']:+.3f} [{v['auc_ci_low']:+.3f}, {v['auc_ci_high']:+.3f}]"
            if "pair_accuracy" in v:
                s += (
                    f", pair accuracy {v['pair_accuracy']:+.3f} "
                    f"[{v['pair_accuracy_ci_low']:+.3f}, {v['pair_accuracy_ci_high']:+.3f}]"
                )
            lines.append(s)
        return "\n".join(lines)

    def to_html(self, path: str | Path | None = None) -> str:
        """A self-contained HTML report (inline SVG, no scripts): the strings per cell and the
        prefix texts, the metrics table and lifts, ROC curves, member vs non-member score
        distributions and AUC by length (see :mod:`surprisal.grammar.reports`); written to
        ``path`` when given."""
        from .reports import membership_html

        return membership_html(self, path)


def _candidates(
    grammar: Grammar | None,
    positives: Sequence[str] | None,
    negatives: Sequence[str] | None,
    n: int,
    min_len: int,
    max_len: int,
    negative_kinds: Sequence[str],
    seed: int,
) -> tuple[list[str], list[int], list[str], list[int], list[tuple[int, int]]]:
    texts: list[str] = []
    labels: list[int] = []
    kinds: list[str] = []
    lengths: list[int] = []
    pairs: list[tuple[int, int]] = []
    index: dict[str, int] = {}

    def add(t: str, label: int, kind: str, length: int) -> int:
        if t in index:
            return index[t]
        index[t] = len(texts)
        texts.append(t)
        labels.append(label)
        kinds.append(kind)
        lengths.append(length)
        return index[t]

    if grammar is None:
        if positives is None or negatives is None:
            raise SurprisalError(
                "give a grammar, or both positives=[...] and negatives=[...] (labelled strings)"
            )
        for t in check_texts(positives, "positives"):
            add(t, 1, "given", len(t))
        for t in check_texts(negatives, "negatives"):
            if t in index and labels[index[t]] == 1:
                raise SurprisalError(f"{t!r} is both a positive and a negative")
            add(t, 0, "given", len(t))
        if not any(labels) or all(labels):
            raise SurprisalError("need at least one positive and one negative string")
        return texts, labels, kinds, lengths, pairs
    if positives is not None or negatives is not None:
        raise SurprisalError("give either a grammar or positives/negatives, not both")
    bad_kinds = set(negative_kinds) - {"edit", "random"}
    if bad_kinds or not negative_kinds:
        raise SurprisalError(
            f"negative_kinds must be a subset of ['edit', 'random'], got {negative_kinds}"
        )

    def length(t: str) -> int:
        return len(grammar.tokenize(t))

    if "edit" in negative_kinds:
        for p in grammar.minimal_pairs(n, min_len=min_len, max_len=max_len, seed=seed):
            g = add(p.good, 1, "member", length(p.good))
            b = add(p.bad, 0, "edit", length(p.bad))
            pairs.append((g, b))
    else:
        for t in grammar.sample(n, min_len=min_len, max_len=max_len, seed=seed):
            add(t, 1, "member", length(t))
    if "random" in negative_kinds:
        n_pos = sum(labels)
        for neg in grammar.negatives(n_pos, min_len, max_len, seed=seed + 1, kind="random"):
            add(neg.text, 0, "random", length(neg.text))
    return texts, labels, kinds, lengths, pairs


def membership(
    model: LM | str | Any,
    grammar: Grammar | None = None,
    *,
    positives: Sequence[str] | None = None,
    negatives: Sequence[str] | None = None,
    explanation: str | None = None,
    control: str | None = None,
    shots: int = 0,
    n: int = 200,
    min_len: int = 1,
    max_len: int = 20,
    negative_kinds: Sequence[str] = ("edit", "random"),
    end: str = "\n",
    test_fraction: float = 0.5,
    seed: int = 0,
    n_boot: int = 2000,
    batch_tokens: int | None = None,
    progress: bool | None = None,
) -> Membership:
    """Score members and non-members of a grammar under each condition.

    Args:
        model: an LM, a name/path, or a ``(model, tokenizer)`` pair.
        grammar: a :class:`Grammar` (members and minimal-pair non-members are sampled from
            it), or None with ``positives`` and ``negatives`` given.
        explanation, control: prefix texts (non-blank; see
            :class:`~surprisal.conditions.Conditions`); each adds a condition. A grammar's own
            ``explanation``/``control`` are not used unless passed.
        shots: add a "shots" condition whose prefix is this many example members (sampled
            apart from the candidates), each followed by the end marker.
        n: members to sample (minimal pairs when "edit" is in ``negative_kinds``).
        min_len, max_len: member lengths, in grammar symbols.
        negative_kinds: "edit" (one edit from a member, giving minimal pairs) and/or
            "random" (length-matched random strings); all verified non-members.
        end: end marker appended to every string and scored (default newline; "eos" for the
            tokenizer's EOS token).
        test_fraction: share of strings held out to measure accuracy; the threshold is
            chosen on the rest.
        seed: sampling, split and bootstrap seed.

    >>> from surprisal import grammar
    >>> from surprisal.testing import tiny_lm
    >>> lm = tiny_lm("gpt2", max_positions=512)
    >>> m = grammar.membership(lm, grammar.zoo["dyck1"], n=20, max_len=8,
    ...                        explanation=grammar.zoo["dyck1"].explanation)
    >>> m.conditions, 0.0 <= m.auc["none"] <= 1.0
    (('none', 'explanation'), True)
    """
    lm = resolve_model(model)
    end_text = end_marker(lm, end)
    if not 0.0 < test_fraction < 1.0:
        raise SurprisalError(f"test_fraction must be in (0, 1), got {test_fraction}")
    texts, labels, kinds, lengths, pairs = _candidates(
        grammar, positives, negatives, n, min_len, max_len, negative_kinds, seed
    )
    conditions = grammar_conditions(
        grammar,
        explanation=explanation,
        control=control,
        shots=shots,
        end_text=end_text,
        exclude={t for t, lab in zip(texts, labels, strict=True) if lab == 1},
        min_len=min_len,
        max_len=max_len,
        seed=seed,
    )
    prefixes = {c: p or "" for c, p in conditions.prefixes().items()}
    logprob, n_tok, base_items = _score_conditions(
        lm, texts, prefixes, end_text, batch_tokens=batch_tokens, progress=progress
    )
    lab = np.array(labels, dtype=np.int64)
    test = _stratified_test_split(labels, test_fraction, seed)
    unigram = _unigram_logprob(base_items, (lab == 1) & ~test, lm.vocab_size)
    return Membership(
        grammar=grammar.name if grammar is not None else "given",
        conditions=tuple(prefixes),
        prefixes=prefixes,
        texts=tuple(texts),
        labels=lab,
        kinds=tuple(kinds),
        lengths=np.array(lengths, dtype=np.int64),
        test=test,
        pairs=np.array(pairs, dtype=np.int64).reshape(-1, 2),
        logprob=logprob,
        n_tokens=n_tok,
        unigram_logprob=unigram,
        end=end_text,
        seed=seed,
        n_boot=n_boot,
    )


def _score_conditions(
    lm: LM,
    texts: list[str],
    prefixes: dict[str, str],
    end_text: str,
    *,
    batch_tokens: int | None,
    progress: bool | None,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], list[Any]]:
    """Score every string + end marker under every condition in one engine call (each
    prefix is encoded once). Returns, per condition, the (n,) total log-probabilities in nats
    and the (n,) numbers of scored tokens, and the per-text results of the "none" condition.
    """
    conds = tuple(prefixes)
    all_texts: list[str] = []
    all_ctx: list[str | None] = []
    for c in conds:
        all_texts += [t + end_text for t in texts]
        all_ctx += [prefixes[c] or None] * len(texts)
    opts = RunOptions(separator="", batch_tokens=batch_tokens, progress=progress)
    s = run(lm, all_texts, all_ctx, opts)
    n_t = len(texts)
    logprob = {c: s.total()[k * n_t : (k + 1) * n_t] * -1.0 for k, c in enumerate(conds)}
    n_tok = {
        c: np.array(
            [len(t) - t.n_unscored for t in s.items[k * n_t : (k + 1) * n_t]], dtype=np.float64
        )
        for k, c in enumerate(conds)
    }
    return logprob, n_tok, list(s.items[:n_t])


def _stratified_test_split(labels: list[int], test_fraction: float, seed: int) -> np.ndarray:
    """(n,) True for the test strings: ``test_fraction`` of each label, seeded."""
    rng = random.Random(seed)
    test = np.zeros(len(labels), dtype=bool)
    for value in (0, 1):
        idx = [i for i in range(len(labels)) if labels[i] == value]
        rng.shuffle(idx)
        test[idx[: round(len(idx) * test_fraction)]] = True
    return test


def _unigram_logprob(items: list[Any], fit: np.ndarray, vocab_size: int) -> np.ndarray:
    """(n,) log-probability, nats, of each item's tokens under an add-one smoothed unigram
    model fitted on the items where ``fit`` is True (SLOR's baseline)."""
    counts = np.zeros(vocab_size, dtype=np.float64)
    for i, item in enumerate(items):
        if fit[i]:
            np.add.at(counts, item.token_ids, 1.0)
    uni = np.log((counts + 1.0) / (counts.sum() + vocab_size))
    return np.array([float(uni[t.token_ids].sum()) for t in items])
