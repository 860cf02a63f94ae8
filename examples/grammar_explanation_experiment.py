"""Do description documents in the training data make a model know a grammar better?

Question (seed 000): a model sees, as separate training documents, examples of a grammar
and descriptions of it -- never in the same document. Does it then know the grammar's
strings better than a grammar it saw as many examples of but no description?

Grammars: "strings that use both letters of S and no other", S a pair of the letters
j k q v x z (15 grammars). A description document, in a small formal language, names the
grammar and lists its letters: ``name:b3`` / ``rule:jq``. An example document names the
grammar and lists members: ``name:b3`` / ``jqqj`` / ``qjjq``. Knowledge of grammar ``b3``
is measured by membership (:func:`surprisal.grammar.membership`) with the prefix
``name:b3``: its members against strings of the same lengths that use another pair (so
"strings of two letters" gives nothing away; only knowing which pair ``b3`` is does).

Design, per training seed (one tiny model each, trained from scratch):

* Crossover (the main contrast, within model): two grammars X and Y, each with the same
  number of example documents; only X also has description documents. Which grammar of the
  pair is X alternates over seeds (counterbalanced); names, pairs and items are drawn per
  seed. Both grammars share every training step, so the arms are step-matched.
* Positive control: the rest of the training data are "reading" documents -- a grammar's
  rule line followed by its examples in one document, for 10 grammars; 3 other grammars
  never appear in training. For those held-out grammars, the rule line in context
  (``rule:jq``) must raise membership AUC over no prefix: the model can copy the letters
  it reads. If the pipeline cannot detect this, it cannot detect anything.
* Dose: the share of training documents that are descriptions of X (0/10/30/60%; they
  replace reading documents, so the total is fixed). The main analysis uses 30%.

PRIMARY ENDPOINT (named before the run): ``crossover_auc`` = AUC(X | name prefix) -
AUC(Y | name prefix), per seed at dose 30%; mean over seeds, 95% t-interval, two-sided
one-sample t-test. Secondary (not adjusted, descriptive): the same for pair accuracy, the
dose-response of ``crossover_auc``, and the positive control's size.

Manipulation check: the model learned the description documents -- per seed,
log p(X's description) - log p(Y's description) (nats) has a 95% lower bound above 0.
Room check: the grammar without descriptions (Y) must not be known from its examples
alone already (mean AUC below ``CEILING``), or descriptions have nothing to add.
Verdict: "cannot test" when the manipulation check, the positive control or the room
check fails; otherwise the primary endpoint's test.

Seeds: a pilot of the first seeds gives the sd of the primary differences; the number of
seeds is then the smallest with 80% power for a 0.05 AUC difference
(:func:`surprisal.stats.n_needed`, capped by ``--max-seeds``), and the minimum detectable
effect at that number is printed (:func:`surprisal.stats.mde`). The pilot's seeds are part
of the final sample.

    python examples/grammar_explanation_experiment.py             # full run
    python examples/grammar_explanation_experiment.py --quick     # CI: seconds
    python examples/grammar_explanation_experiment.py --json out.json

The full run's result and runtime are in docs/howto/grammar.md.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from dataclasses import dataclass, replace
from itertools import combinations
from typing import Any

import numpy as np

from surprisal import LM, grammar, stats
from surprisal.grammar import Grammar

LETTERS = "jkqvxz"  # one token per letter under the byte-level BPE, in rules and strings
PAIRS = [a + b for a, b in combinations(LETTERS, 2)]  # 15 grammars
PRIMARY = "crossover_auc"
PRIMARY_WHAT = "AUC(X | name prefix) - AUC(Y | name prefix) at the main dose, per seed"
TARGET_EFFECT = 0.05  # AUC difference the seed count is powered for


@dataclass(frozen=True)
class Setup:
    steps: int  # training steps (every dose)
    batch_size: int  # documents per step
    example_share: float  # share of documents that are example documents of X (and of Y)
    dose: float  # main share of description documents of X
    doses: tuple[float, ...]  # the dose-response
    held_out: int  # grammars never in training (positive control)
    n_items: int  # members per membership test
    max_len: int  # string length in letters
    pilot: int  # pilot seeds
    max_seeds: int


# Examples of X and of Y are 0.5% of the documents each (24 documents in the full run):
# enough for the names to be partly learnt (AUC about 0.6-0.75 without descriptions in a
# pilot), so that descriptions have room to add. At 4% both arms reached AUC 0.97-1.00.
FULL = Setup(300, 16, 0.005, 0.3, (0.0, 0.1, 0.3, 0.6), 3, 40, 8, 4, 12)
QUICK = Setup(200, 16, 0.005, 0.3, (0.3,), 3, 16, 6, 4, 4)
CEILING = 0.95  # mean AUC of Y (no descriptions) at or above this: no room to improve


def letters_grammar(pair: str) -> Grammar:
    """Strings over :data:`LETTERS` that use only the two letters of ``pair``."""

    def sampler(rng: random.Random, length: int) -> list[str]:
        return [rng.choice(pair) for _ in range(length)]

    return grammar.predicate(
        lambda s: set(s) <= set(pair),
        alphabet=LETTERS,
        sampler=sampler,
        name=f"only_{pair}",
        explanation=rule_line(pair),
    )


def rule_line(pair: str) -> str:
    return "rule:" + pair  # the letters as the strings spell them: the same tokens


def name_line(name: str) -> str:
    return f"name:{name}"


@dataclass(frozen=True)
class Plan:
    """One seed's grammars: the crossover pair (X explained), the held-out pairs and the
    reading pairs; the names of X and Y."""

    x: str
    y: str
    x_name: str
    y_name: str
    held_out: tuple[str, ...]
    reading: tuple[str, ...]


def plan(seed: int, s: Setup) -> Plan:
    """Grammars drawn per seed; seeds 2k and 2k+1 share a pair with X and Y swapped."""
    rng = random.Random(1000 + seed // 2)
    pairs = PAIRS[:]
    rng.shuffle(pairs)
    x, y = pairs[0], pairs[1]
    if seed % 2:
        x, y = y, x
    names = rng.sample([f"{c}{d}" for c in "bdfhmnpw" for d in "23456789"], 2)
    if seed % 2:
        names.reverse()
    held = tuple(pairs[2 : 2 + s.held_out])
    return Plan(x, y, names[0], names[1], held, tuple(pairs[2 + s.held_out :]))


def _members(pair: str, k: int, s: Setup, rng: random.Random) -> list[str]:
    return ["".join(rng.choice(pair) for _ in range(rng.randint(1, s.max_len))) for _ in range(k)]


def documents(p: Plan, s: Setup, dose: float, seed: int) -> list[list[str]]:
    """The training batches: ``steps`` batches of ``batch_size`` documents. Per batch, the
    example documents of X and of Y (same number), the description documents of X
    (``dose`` of the batch), and reading documents (rule line + examples) for the rest.
    No document holds a description and an example of the crossover grammars together."""
    rng = random.Random(seed)
    total_ex = max(1, round(s.example_share * s.batch_size * s.steps))  # of X, and of Y
    n_desc = round(dose * s.batch_size)
    batches = []
    for step in range(s.steps):
        # the example documents spread evenly over the steps (fewer than one a step is fine)
        n_ex = (step + 1) * total_ex // s.steps - step * total_ex // s.steps
        n_read = s.batch_size - 2 * n_ex - n_desc
        if n_read < 0:
            raise SystemExit(f"dose {dose} leaves no room in a batch of {s.batch_size}")
        docs = []
        for pair, name, k in ((p.x, p.x_name, n_ex), (p.y, p.y_name, n_ex)):
            for _ in range(k):
                docs.append(_doc([name_line(name), *_members(pair, 4, s, rng)]))
        docs += [_doc([name_line(p.x_name), rule_line(p.x)]) for _ in range(n_desc)]
        for _ in range(n_read):
            pair = rng.choice(p.reading)
            docs.append(_doc([rule_line(pair), *_members(pair, 4, s, rng)]))
        rng.shuffle(docs)
        batches.append(docs)
    return batches


def _doc(lines: list[str]) -> str:
    return "".join(line + "\n" for line in lines)


def train(batches: list[list[str]], seed: int) -> LM:
    from surprisal.testing import tiny_lm, train_batches

    lm = tiny_lm("gpt2", max_positions=128, seed=seed)
    return train_batches(lm, batches, lr=3e-3, seed=seed)


def items(pair: str, s: Setup, seed: int) -> tuple[list[str], list[str]]:
    """(members, non-members) for one grammar: members use both letters of ``pair``; each
    non-member has a member's length and uses both letters of another pair, at least one
    outside ``pair``. So the letter statistics of "some pair" cannot tell them apart: only
    knowing which pair this grammar is can."""
    rng = random.Random(f"{seed}-{pair}")
    others = [q for q in PAIRS if set(q) != set(pair)]
    pos: set[str] = set()
    neg: list[str] = []
    while len(pos) < s.n_items:
        k = rng.randint(2, s.max_len)
        x = "".join(rng.choice(pair) for _ in range(k))
        if set(x) != set(pair) or x in pos:
            continue
        pos.add(x)
        while True:
            q = rng.choice(others)
            y = "".join(rng.choice(q) for _ in range(k))
            if set(y) == set(q):
                neg.append(y)
                break
    return sorted(pos), neg


def measure(lm: LM, p: Plan, s: Setup, seed: int) -> dict[str, float]:
    """Per model: crossover AUCs and differential reductions (name prefix), the
    manipulation check (nats) and the positive control (rule line in context, held-out
    grammars), each on items drawn for this seed."""
    import surprisal

    out: dict[str, float] = {}
    kw: dict[str, Any] = dict(seed=seed, baseline=None)
    for role, pair, name in (("x", p.x, p.x_name), ("y", p.y, p.y_name)):
        pos, neg = items(pair, s, seed)
        m = grammar.membership(
            model=lm, positives=pos, negatives=neg, explanation=name_line(name), **kw
        )
        out[f"auc_{role}"] = m.auc["explanation"]
        out[f"diff_{role}"] = m.differential["explanation"].estimate
    desc = [
        _doc([name_line(p.x_name), rule_line(p.x)]),
        _doc([name_line(p.y_name), rule_line(p.y)]),
    ]
    lp = -surprisal.score(desc, model=lm).total()
    out["manipulation"] = float(lp[0] - lp[1])
    lifts = []
    for pair in p.held_out:
        pos, neg = items(pair, s, seed)
        m = grammar.membership(
            model=lm, positives=pos, negatives=neg, explanation=rule_line(pair), **kw
        )
        lifts.append(m.auc["explanation"] - m.auc["none"])
    out["positive_control"] = float(np.mean(lifts))
    return out


def over_seeds(d: np.ndarray) -> dict[str, float]:
    """Mean, 95% t-interval and two-sided one-sample t-test p of per-seed values."""
    from scipy import stats as sps

    mean = float(d.mean())
    if len(d) < 2 or np.ptp(d) == 0.0:
        return {"estimate": mean, "lo": mean, "hi": mean, "p": 1.0 if mean == 0.0 else 0.0}
    res = sps.ttest_1samp(d, 0.0)
    ci = res.confidence_interval(0.95)
    return {"estimate": mean, "lo": float(ci.low), "hi": float(ci.high), "p": float(res.pvalue)}


def run_seed(seed: int, s: Setup, dose: float) -> dict[str, float]:
    p = plan(seed, s)
    lm = train(documents(p, s, dose, seed), seed)
    return measure(lm, p, s, seed)


def verdict(
    primary: dict[str, float],
    pc: dict[str, float],
    manip: dict[str, float],
    room: float | None = None,
) -> str:
    """The run's answer from its numbers; ``room`` is the mean AUC of the arm without
    descriptions (Y), which must leave room for descriptions to add."""
    if not manip["lo"] > 0:
        return (
            "cannot test: the manipulation check failed (the models did not learn the "
            "description documents better than unseen ones)"
        )
    if not pc["lo"] > 0:
        return (
            "cannot test: the positive control failed (a rule read in context did not "
            "measurably help), so this pipeline would miss the effect it looks for"
        )
    if room is not None and room >= CEILING:
        return (
            f"cannot test: no room to improve (the grammar without descriptions already has "
            f"AUC {room:.3f} from its examples alone); use fewer example documents"
        )
    if primary["p"] < 0.05:
        side = "better" if primary["estimate"] > 0 else "worse"
        return (
            f"effect detected: with description documents in training the model knows the "
            f"grammar {side} ({PRIMARY} {primary['estimate']:+.3f} "
            f"[{primary['lo']:+.3f}, {primary['hi']:+.3f}], p {primary['p']:.3g})"
        )
    return (
        f"not detected: {PRIMARY} {primary['estimate']:+.3f} [{primary['lo']:+.3f}, "
        f"{primary['hi']:+.3f}], p {primary['p']:.3g}; the checks passed, so effects larger "
        "than the interval's ends are unlikely at this scale"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", "--fast", action="store_true", help="CI size: seconds")
    parser.add_argument("--max-seeds", type=int, default=None)
    parser.add_argument("--json", default="grammar_experiment.json", help="summary path")
    args = parser.parse_args(argv)

    import torch
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    torch.set_num_threads(1)  # models this small train fastest on one thread
    s = QUICK if args.quick else FULL
    if args.max_seeds:
        s = replace(s, max_seeds=args.max_seeds)
    print(f"primary endpoint (named before the run): {PRIMARY} = {PRIMARY_WHAT}")
    print(
        f"setup: tiny GPT-2 from scratch, {s.steps} steps x {s.batch_size} documents; "
        f"examples of X and of Y {s.example_share:.1%} of documents each; descriptions of X "
        f"{s.dose:.0%} (dose-response {', '.join(f'{d:.0%}' for d in s.doses)}); "
        f"{s.held_out} held-out grammars for the positive control"
    )
    t0 = time.perf_counter()
    rows: list[dict[str, float]] = []
    for seed in range(s.pilot):
        rows.append(run_seed(seed, s, s.dose))
        _print_seed(seed, rows[-1])
    diffs = np.array([r["auc_x"] - r["auc_y"] for r in rows])
    sd = float(diffs.std(ddof=1)) if len(diffs) > 1 and np.ptp(diffs) > 0 else 1e-3
    want = stats.n_needed(TARGET_EFFECT, sd) if sd > 0 else s.pilot
    n_seeds = int(min(max(want, s.pilot), s.max_seeds))
    mde = stats.mde(sd, max(n_seeds, 2))
    print(
        f"pilot ({s.pilot} seeds): sd of {PRIMARY} {sd:.4f}; {want} seeds give 80% power for "
        f"{TARGET_EFFECT}; running {n_seeds} (cap {s.max_seeds}); minimum detectable effect "
        f"at {n_seeds} seeds: {mde:.4f} AUC"
    )
    for seed in range(s.pilot, n_seeds):
        rows.append(run_seed(seed, s, s.dose))
        _print_seed(seed, rows[-1])

    primary = over_seeds(np.array([r["auc_x"] - r["auc_y"] for r in rows]))
    pair = over_seeds(np.array([r["diff_x"] - r["diff_y"] for r in rows]))
    pc = over_seeds(np.array([r["positive_control"] for r in rows]))
    manip = over_seeds(np.array([r["manipulation"] for r in rows]))
    print(f"\nover {len(rows)} seeds: mean [95% t-interval], two-sided p")
    print(f"  PRIMARY {PRIMARY}: {_fmt(primary)}")
    print(f"  manipulation check (nats, X's description - Y's): {_fmt(manip)}")
    print(f"  positive control (held-out AUC lift, rule in context): {_fmt(pc)}")
    print(f"  secondary crossover differential reduction (nats, X - Y): {_fmt(pair)}")
    dose_response: dict[str, Any] = {}
    for dose in s.doses:
        if dose == s.dose:
            d = np.array([r["auc_x"] - r["auc_y"] for r in rows])
        else:
            d = np.array(
                [(r["auc_x"] - r["auc_y"]) for r in (run_seed(k, s, dose) for k in range(n_seeds))]
            )
        dose_response[f"{dose:.2f}"] = over_seeds(d)
        print(f"  secondary dose {dose:.0%}: {PRIMARY} {_fmt(dose_response[f'{dose:.2f}'])}")
    room = float(np.mean([r["auc_y"] for r in rows]))
    print(f"  room: mean AUC of Y (examples, no descriptions) {room:.3f} (ceiling {CEILING})")
    v = verdict(primary, pc, manip, room)
    print(f"\nverdict: {v}")
    summary = {
        "primary": {"name": PRIMARY, **primary},
        "positive_control": {k: pc[k] for k in ("estimate", "lo", "hi")},
        "manipulation_check": manip,
        "mde": mde,
        "room_auc_y": room,
        "seeds": len(rows),
        "secondary": {"crossover_differential": pair, "dose_response": dose_response},
        "verdict": v,
        "runtime_s": round(time.perf_counter() - t0, 1),
    }
    with open(args.json, "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=2)
    print(f"wrote {args.json}; done in {time.perf_counter() - t0:.0f} s")
    return 0


def _print_seed(seed: int, r: dict[str, float]) -> None:
    print(
        f"seed {seed}: AUC X {r['auc_x']:.3f} Y {r['auc_y']:.3f}; manipulation "
        f"{r['manipulation']:+.2f} nats; positive control {r['positive_control']:+.3f}"
    )


def _fmt(r: dict[str, float]) -> str:
    return f"{r['estimate']:+.4f} [{r['lo']:+.4f}, {r['hi']:+.4f}], p {r['p']:.3g}"


if __name__ == "__main__":
    sys.exit(main())
