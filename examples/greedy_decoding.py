"""What greedy decoding does to a model's own text, on the demo model.

Continues prompts made of strings from the grammar zoo (the demo model's training domain)
at temperatures 0 (greedy), 0.7, 1.0 and 1.3 and measures the text it wrote: repetition
(seq-rep-n, Welleck et al. 2020), how often a continuation ends in an exact loop, and the
entropy and surprisal of every generated token (nats, at T = 1). The "reference" is more
strings of the same grammar: text from the true distribution, scored after the same
prompt (the comparison of Holtzman et al. 2020). It prints what it found, whatever that is.

    python examples/greedy_decoding.py            # 14 prompts x 4 samples, 48 tokens
    python examples/greedy_decoding.py --quick    # 7 prompts x 2 samples, 24 tokens (CI)
    python examples/greedy_decoding.py --model gpt2 --out ''   # any model (same prompts)

Runtime with ``--quick``: a few seconds on 2 CPU cores after the imports.
"""

from __future__ import annotations

import argparse
import time

import torch

import surprisal
from surprisal import grammar

TEMPERATURES = (0.0, 0.7, 1.0, 1.3)


def prompts_and_references(per_grammar: int, seed: int) -> tuple[list[str], list[str]]:
    """Per zoo grammar and prompt: eight distinct member strings (2 to 20 symbols), one per
    line; the first two are the prompt, the other six the reference continuation (cut to
    as many tokens as are generated, so it can be shorter than the continuations)."""
    prompts, refs = [], []
    for k, (_, g) in enumerate(sorted(grammar.zoo.items())):
        for i in range(per_grammar):
            s = g.sample(8, 2, 20, seed=seed + 100 * k + i)
            prompts.append(s[0] + "\n" + s[1] + "\n")
            refs.append("\n".join(s[2:]) + "\n")
    return prompts, refs


def ci(e: tuple[float, float, float]) -> str:
    return f"{e[0]:.3f} [{e[1]:.3f}, {e[2]:.3f}]"


def compare(name: str, a: tuple[float, float, float], b: tuple[float, float, float]) -> str:
    """A sentence on greedy (a) against T = 1 (b), from the CIs alone."""
    if a[1] > b[2]:
        verdict = "greedy is higher (the 95% CIs do not overlap)"
    elif a[2] < b[1]:
        verdict = "greedy is lower (the 95% CIs do not overlap)"
    else:
        verdict = "the 95% CIs overlap: no clear difference here"
    return f"  {name}: greedy {ci(a)} vs T=1 {ci(b)}: {verdict}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", "--fast", action="store_true", help="7 prompts x 2 samples (CI)")
    ap.add_argument("--model", default=None, help="local path or hub id (default: the demo)")
    ap.add_argument("--out", default="greedy_decoding.html", help="HTML report ('' for none)")
    ap.add_argument("--max-new-tokens", type=int, default=None, help="default 48 (--quick: 24)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    torch.set_num_threads(1)  # a model this small runs as fast on one thread, on a busy CPU faster
    t0 = time.perf_counter()
    if args.model:
        lm = surprisal.load(args.model)
    else:
        from surprisal.demo import load_demo

        lm = load_demo(device="cpu")
    prompts, refs = prompts_and_references(1 if args.quick else 2, args.seed)
    samples, new = (2, 24) if args.quick else (4, 48)
    new = args.max_new_tokens or new
    d = surprisal.decoding(
        prompts,
        model=lm,
        temperatures=TEMPERATURES,
        samples=samples,
        max_new_tokens=new,
        seed=args.seed,
        reference=refs,
    )
    print(f"model: {d.model}")
    print(d.summary())
    print("\nwhat this run found (greedy T=0 against sampling at T=1; CIs over prompts):")
    print(compare("seq-rep-4", d.seq_rep[4][0.0], d.seq_rep[4][1.0]))
    print(compare("loop rate", d.loop_rate[0.0], d.loop_rate[1.0]))
    print(compare("mean entropy (nats)", d.mean_entropy[0.0], d.mean_entropy[1.0]))
    print(compare("mean surprisal (nats)", d.mean_surprisal[0.0], d.mean_surprisal[1.0]))
    print(
        f"  reference strings: seq-rep-4 {ci(d.seq_rep[4]['reference'])}, loop rate "
        f"{ci(d.loop_rate['reference'])}, surprisal - entropy {ci(d.mean_gap['reference'])}"
    )
    gaps = ", ".join(f"T={t:g} {d.mean_gap[t][0]:+.3f}" for t in d.temperatures)
    print(f"  surprisal - entropy per token (0 = typical): {gaps}")
    print("\nprompt 0, first sample, at each temperature:")
    print(f"  prompt    {prompts[0]!r}")
    for c in d.conditions:
        r = 0
        loop = d.loops[c][r]
        tag = f"  [loop: period {loop.period}, {loop.length} tokens]" if loop else ""
        name = c if isinstance(c, str) else f"T={c:g}"
        print(f"  {name:<9} {d.texts[c][r]!r}{tag}")
    if args.out:
        d.to_html(args.out)
        print(f"\nwrote {args.out}")
    print(f"done in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
