"""The grammar-explanation experiment, at small scale.

Question: can explanations of a grammar, seen in training only as *separate* documents
(never next to an example string), change how a model treats the grammar's strings?

Two tiny models are trained with the same seed, the same number of steps and the same
hyper-parameters:

* model A on grammar strings only (one member per document, ending with a newline);
* model B on the same strings plus documents that explain the grammar in words: the zoo's
  explanation, each of its sentences, and paraphrases of it. No document holds both an
  explanation and a string.

Each model is then measured with ``surprisal.grammar.membership`` (does it give members a
higher log-probability than near-miss non-members? with no prefix, with the explanation in
context and with an unrelated control text in context) and with
``surprisal.grammar.generation`` (are the strings it samples members?). Finally B is
compared with A on the same candidate strings, with bootstrap CIs over strings (AUC, pair
accuracy) or samples (valid rate).

The CIs cover the choice of test strings and samples for the trained models at hand; they
do not cover training randomness. ``--seeds`` repeats the whole comparison with other
training seeds so that this variation can be seen too.

    python examples/grammar_explanation_experiment.py            # dyck2, 2 seeds, 5 min or more
    python examples/grammar_explanation_experiment.py --fast     # small, for CI, about 10 s
    python examples/grammar_explanation_experiment.py --grammar anbn --seeds 3

The script prints the numbers as measured and draws no conclusion from them.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from dataclasses import dataclass

import numpy as np

from surprisal import LM, grammar, stats
from surprisal.grammar import Generation, Grammar, Membership

PARAPHRASES = {
    "dyck2": [
        "A string of round and square brackets is well nested when every bracket that opens "
        "is later closed by a bracket of the same kind, and no two pairs cross.",
        "Think of a stack: push on '(' or '[', and on ')' or ']' pop the top, which must be "
        "the matching opener. The stack must be empty at the end.",
        "In a well nested string '(' pairs with ')' and '[' pairs with ']'. Pairs may sit side "
        "by side or one inside another, but never overlap: '([)]' is wrong, '([])' is right.",
        "Each closing bracket must match the latest unmatched opening bracket, and nothing may "
        "stay open at the end of the string.",
    ],
    "dyck1": [
        "Every '(' must be closed by a later ')', and a ')' may never close a bracket that was "
        "not opened.",
        "Count the open brackets from left to right: the count never goes negative and ends "
        "at zero.",
        "Balanced strings of parentheses, such as '()', '(())' and '()()', but not ')(' or '(()'.",
    ],
    "anbn": [
        "Every valid string is a block of a's followed by a block of b's of exactly the same "
        "length, like 'aabb'.",
        "Count the a's at the start and the b's after them: the counts are equal and at least "
        "one, and an 'a' never follows a 'b'.",
        "Strings such as 'ab', 'aabb' and 'aaabbb': n copies of a, then n copies of b.",
    ],
}


def explanation_documents(g: Grammar) -> list[str]:
    """The zoo explanation, each of its sentences, and the paraphrases: one per document."""
    sentences = [s for s in re.split(r"(?<=[.])\s+", g.explanation) if s]
    return [g.explanation, *sentences, *PARAPHRASES[g.name]]


@dataclass
class Setup:
    steps: int
    batch_size: int
    n_train: int
    n_candidates: int
    n_samples: int
    max_len: int
    explanation_share: float
    n_boot: int


def training_sets(g: Grammar, s: Setup, seed: int) -> tuple[list[str], list[str], list[str]]:
    """(training strings, documents of A, documents of B)."""
    avail = sum(g.count(L) for L in range(1, s.max_len + 1))
    strings = g.sample(min(s.n_train, avail), min_len=1, max_len=s.max_len, seed=1000 + seed)
    docs_a = [t + "\n" for t in strings]
    expl = explanation_documents(g)
    k = max(len(expl), round(len(docs_a) * s.explanation_share / (1 - s.explanation_share)))
    docs_b = docs_a + [expl[i % len(expl)] for i in range(k)]
    return strings, docs_a, docs_b


def train(docs: list[str], s: Setup, seed: int) -> LM:
    from surprisal.testing import tiny_lm, train_tiny

    # Llama-style rotary positions: the strings read the same at any offset, so an
    # explanation in front of them does not move them to untrained absolute positions.
    lm = tiny_lm("llama", max_positions=512, seed=seed)
    return train_tiny(lm, docs, steps=s.steps, batch_size=s.batch_size, lr=3e-3, seed=seed)


def measure(lm: LM, g: Grammar, s: Setup, known: list[str]) -> tuple[Membership, Generation]:
    m = grammar.membership(
        lm,
        g,
        explanation=g.explanation,
        control=g.control,
        n=s.n_candidates,
        max_len=s.max_len,
        seed=0,  # the same candidate strings for every model
        n_boot=s.n_boot,
    )
    gen = grammar.generation(
        lm,
        g,
        explanation=g.explanation,
        control=g.control,
        n=s.n_samples,
        max_len=s.max_len,
        known=known,
        seed=0,
        n_boot=s.n_boot,
    )
    return m, gen


def _diff_rate_ci(a: np.ndarray, b: np.ndarray, n_boot: int, seed: int) -> tuple[float, float]:
    """Percentile bootstrap CI of mean(b) - mean(a) for two independent samples."""
    rng = np.random.default_rng(seed)
    ia = rng.integers(0, len(a), size=(n_boot, len(a)))
    ib = rng.integers(0, len(b), size=(n_boot, len(b)))
    diffs = b[ib].mean(axis=1) - a[ia].mean(axis=1)
    lo, hi = np.quantile(diffs, [0.025, 0.975])
    return float(lo), float(hi)


def _valid_nonempty(gen: Generation, c: str) -> np.ndarray:
    """(n,) 1.0 for samples that are valid and not empty (the empty string is a member of
    some grammars, e.g. Dyck, and a model that stops at once would score it as valid)."""
    return np.array(
        [bool(v) and s != "" for s, v in zip(gen.samples[c], gen.valid[c], strict=True)],
        dtype=float,
    )


def _fmt(x: float, lo: float, hi: float) -> str:
    mark = "*" if lo > 0 or hi < 0 else " "
    return f"{x:+.3f} [{lo:+.3f}, {hi:+.3f}]{mark}"


def compare(
    ma: Membership, mb: Membership, ga: Generation, gb: Generation, n_boot: int
) -> dict[str, dict[str, float]]:
    """B minus A, per condition, with 95% CIs; prints one line per metric and condition."""
    assert ma.texts == mb.texts, "both models must be measured on the same strings"
    out: dict[str, dict[str, float]] = {}
    pairs = ma.pairs
    print(f"  {'B - A':<12} {'AUC':<24}  {'pair accuracy':<24}  valid non-empty rate")
    for c in ma.conditions:
        a, b = ma.scores(c), mb.scores(c)
        auc, auc_lo, auc_hi = stats.auc_lift_ci(a, b, ma.labels, n_boot=n_boot, seed=0)

        def pa(ga_: np.ndarray, ba: np.ndarray, gb_: np.ndarray, bb: np.ndarray) -> float:
            return stats.pair_accuracy(gb_, bb) - stats.pair_accuracy(ga_, ba)

        cols = (a[pairs[:, 0]], a[pairs[:, 1]], b[pairs[:, 0]], b[pairs[:, 1]])
        pair = pa(*cols)
        pair_lo, pair_hi = stats.paired_bootstrap_ci(pa, *cols, n_boot=n_boot, seed=0)
        va, vb = _valid_nonempty(ga, c), _valid_nonempty(gb, c)
        valid = float(vb.mean() - va.mean())
        v_lo, v_hi = _diff_rate_ci(va, vb, n_boot, seed=0)
        print(
            f"  {c:<12} {_fmt(auc, auc_lo, auc_hi)}  {_fmt(pair, pair_lo, pair_hi)}  "
            f"{_fmt(valid, v_lo, v_hi)}"
        )
        out[c] = {"auc": auc, "pair_accuracy": pair, "valid_nonempty_rate": valid}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--grammar", default="dyck2", choices=sorted(PARAPHRASES))
    parser.add_argument("--fast", action="store_true", help="small and quick (for CI)")
    parser.add_argument("--seeds", type=int, default=None, help="training seeds (default 2)")
    parser.add_argument("--steps", type=int, default=None, help="training steps per model")
    args = parser.parse_args(argv)

    import torch
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    torch.set_num_threads(1)  # models this small train fastest on one thread

    if args.fast:
        setup = Setup(120, 8, 300, 40, 32, 10, 0.1, 500)
    else:
        setup = Setup(1000, 16, 400, 150, 150, 12, 0.1, 2000)
    if args.steps:
        setup.steps = args.steps
    n_seeds = args.seeds or (1 if args.fast else 2)
    g = grammar.zoo[args.grammar]
    print(f"grammar {g.name}: {g.explanation}")
    print(
        f"setup: {setup.steps} steps, batch {setup.batch_size}, tiny Llama; "
        f"{setup.explanation_share:.0%} of B's documents are explanations; "
        f"{n_seeds} training seed(s)"
    )
    print("'*' marks a 95% CI that excludes 0\n")

    t0 = time.perf_counter()
    rows = []
    for seed in range(n_seeds):
        strings, docs_a, docs_b = training_sets(g, setup, seed)
        print(f"==== training seed {seed} ====")
        print(
            f"A: {len(docs_a)} string documents; B: the same plus "
            f"{len(docs_b) - len(docs_a)} explanation documents"
        )
        results = {}
        for name, docs in (("A", docs_a), ("B", docs_b)):
            t = time.perf_counter()
            lm = train(docs, setup, seed)
            m, gen = measure(lm, g, setup, known=strings)
            results[name] = (m, gen)
            print(f"\n-- model {name} (trained and measured in {time.perf_counter() - t:.0f} s)")
            print(m)
            print(gen)
            ne = {c: float(_valid_nonempty(gen, c).mean()) for c in gen.conditions}
            print("  valid non-empty: " + ", ".join(f"{c} {v:.3f}" for c, v in ne.items()))
        (ma, ga), (mb, gb) = results["A"], results["B"]
        seen = len(set(ma.texts) & set(strings))
        print(
            f"\n-- B vs A, same {len(ma.texts)} candidate strings "
            f"({seen} of them are training strings)"
        )
        rows.append(compare(ma, mb, ga, gb, setup.n_boot))
        print()

    if n_seeds > 1:
        print(f"==== B - A, mean over {n_seeds} training seeds (per-seed values in brackets) ====")
        for c in rows[0]:
            cells = []
            for metric in ("auc", "pair_accuracy", "valid_nonempty_rate"):
                vals = [r[c][metric] for r in rows]
                cells.append(
                    f"{metric} {np.mean(vals):+.3f} ({', '.join(f'{v:+.3f}' for v in vals)})"
                )
            print(f"  {c:<12} " + "   ".join(cells))
    print(f"\ndone in {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
