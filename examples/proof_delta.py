"""Explanation deltas on a worked proof: the tokens that become predictable once a hint is given.

A proof's interesting parts are the ones a reader could not predict. A good hint is a short
piece of information that, once known, makes those parts predictable. This script measures
that with ``surprisal.delta``: every proof is scored without a prefix, after a hint and
after an unrelated control remark, and the per-token reduction
``ln p(token | hint, ...) - ln p(token | ...)`` shows *where* the hint helped.

No real model can be downloaded here, so by default the script trains a tiny model (about
80 s on 2 CPU cores: measured 81 s wall, 54 s CPU, with another job running) on a
synthetic corpus of short proofs that ``k(k+1)`` or ``k(k-1)`` is even. Each proof uses
one of four methods (consecutive integers, parity cases, induction, contradiction); half
of the documents start with a hint naming the method, a quarter with a remark that says
nothing about it, a quarter with neither. After training, a hint determines the method and
a remark does not, so the expected picture is: the hint lowers the surprisal of the tokens
where the method shows, the control does not (it can still help where any first line
helps, e.g. on ``Claim``). With ``--model`` the same measurement runs on a real model you
have locally (no training).

    python examples/proof_delta.py               # trains a tiny model (about 80 s on 2 CPU cores)
    python examples/proof_delta.py --fast        # fewer training steps (for CI), about 11 s
    python examples/proof_delta.py --model PATH_OR_ID [--method induction]

Numbers are printed as measured, in bits (``-log2 p``; the library's own unit is nats).
The HTML heatmap (``--out``, default ``proof_delta.html``) colours every token by its
reduction: blue where the hint helped, orange where it hurt.
"""

from __future__ import annotations

import argparse
import random
import sys
import time

import numpy as np

import surprisal

METHODS = ("pair", "cases", "induction", "contradiction")
HINTS = {
    "pair": "Hint: consecutive numbers.",
    "cases": "Hint: parity cases.",
    "induction": "Hint: induction.",
    "contradiction": "Hint: contradiction.",
}
REMARKS = ("Remark: a classic.", "Remark: short.", "Remark: textbook.", "Remark: folklore.")
CONTROL = "Remark: folklore."  # seen in training, says nothing about the method
VARIABLES = "nmxt"


def proof(method: str, v: str, sign: str) -> str:
    """A claim and its proof by ``method``, for the variable ``v`` and ``v+1`` or ``v-1``."""
    w = f"{v}{sign}1"
    claim = f"Claim: {v}({w}) is even."
    if method == "pair":
        body = f"Proof: {v} and {w} are consecutive, so one of them is even."
    elif method == "cases":
        body = f"Proof: if {v} is even we are done; if {v} is odd then {w} is even."
    elif method == "induction":
        body = f"Proof: true for {v} = 1, and each step adds 2{v}, which is even."
    elif method == "contradiction":
        body = f"Proof: if {v}({w}) were odd, {v} and {w} would both be odd."
    else:
        raise ValueError(f"unknown method {method!r}; choose from {METHODS}")
    return f"{claim}\n{body}"


def corpus(n: int, seed: int) -> list[str]:
    """Training documents: half with the method's hint first, a quarter with a remark."""
    rng = random.Random(seed)
    docs = []
    for _ in range(n):
        method = rng.choice(METHODS)
        text = proof(method, rng.choice(VARIABLES), rng.choice("+-"))
        r = rng.random()
        if r < 0.5:
            docs.append(f"{HINTS[method]}\n{text}")
        elif r < 0.75:
            docs.append(f"{rng.choice(REMARKS)}\n{text}")
        else:
            docs.append(text)
    return docs


def trained_tiny_model(steps: int, seed: int) -> surprisal.LM:
    import torch

    from surprisal.testing import tiny_lm, train_tiny

    torch.set_num_threads(1)  # a model this small trains fastest on one thread
    lm = tiny_lm("gpt2", max_positions=128, seed=seed)
    t0 = time.perf_counter()
    train_tiny(lm, corpus(3000, seed), steps=steps, batch_size=16, lr=3e-3, seed=seed)
    print(f"trained a tiny GPT-2 for {steps} steps in {time.perf_counter() - t0:.1f} s")
    return lm


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="a local path or hub id (skips training)")
    parser.add_argument("--method", default="cases", choices=METHODS, help="proofs to explain")
    parser.add_argument("--fast", action="store_true", help="fewer training steps (for CI)")
    parser.add_argument("--steps", type=int, default=None, help="training steps (tiny model)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="proof_delta.html", help="HTML heatmap ('' for none)")
    args = parser.parse_args(argv)

    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()

    if args.model:
        lm = surprisal.load(args.model)
        print(f"model: {args.model}")
    else:
        steps = args.steps or (150 if args.fast else 1500)
        lm = trained_tiny_model(steps, args.seed)

    hint = HINTS[args.method]
    targets = [proof(args.method, v, s) for v in VARIABLES for s in "+-"]
    d = surprisal.delta(targets, explanation=hint, control=CONTROL, model=lm)

    print(f"\nexplanation: {hint!r}   control: {CONTROL!r}   {len(targets)} proofs")
    print("\n== summary (bits) ==")
    print(d.summary(unit="bits", n_boot=2000, seed=args.seed))

    print("\n== per proof (bits): S(t), S(t | hint), S(t | control), reduction ==")
    base, cond = d.base.total("bits"), d.conditioned.total("bits")
    assert d.controlled is not None
    ctrl = d.controlled.total("bits")
    red = d.reduction / np.log(2)
    for i, t in enumerate(targets):
        first = t.split("\n")[0]
        print(f"  {first:<26} {base[i]:7.2f} {cond[i]:7.2f} {ctrl[i]:7.2f}  {red[i]:+7.2f}")

    i = 0
    ts = d.base[i]
    per_tok = d.per_token(i, unit="bits")
    per_ctl = d.controlled[i].logprobs - ts.logprobs
    print(f"\n== per-token reduction of proof {i} (bits; + = the prefix helped) ==")
    print(f"  {'piece':>10} {'S(tok)':>7} {'S(tok|hint)':>11} {'hint':>7} {'control':>8}")
    s0, s1 = ts.surprisal("bits"), d.conditioned[i].surprisal("bits")
    for j, piece in enumerate(ts.pieces):
        print(
            f"  {piece!r:>10} {s0[j]:7.2f} {s1[j]:11.2f} {per_tok[j]:+7.2f} "
            f"{per_ctl[j] / np.log(2):+8.2f}"
        )

    print(f"\n== tokens of proof {i} that became most predictable given the hint ==")
    text = ts.text
    for j in np.argsort(-per_tok, kind="stable")[:5]:
        a, b = ts.spans[j]
        left, tok, right = text[max(0, a - 15) : a], text[a:b], text[b : b + 10]
        shown = "".join([left, "[", tok, "]", right]).replace("\n", "⏎")
        print(f"  {per_tok[j]:+6.2f} bits  ...{shown}...")

    r = surprisal.rank_explanations(
        targets, candidates=[HINTS[m] for m in METHODS], control=CONTROL, model=lm, n_boot=1000
    )
    print("\n== all four hints ranked by mean reduction on these proofs (nats) ==")
    for rank, (k, s) in enumerate(zip(r.order, r.summaries, strict=True), 1):
        red_k = s.reduction
        print(
            f"  #{rank} {HINTS[METHODS[k]]:<28} mean {red_k.mean:+6.2f} "
            f"[{red_k.ci_low:+.2f}, {red_k.ci_high:+.2f}] nats"
        )

    if args.out:
        d.to_html(args.out, unit="bits")
        print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
