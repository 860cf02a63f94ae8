"""Quickstart: per-token surprisal, words and perplexity of a few texts.

Runs offline in about 7 s on 2 CPU cores. It uses the small demo model that ships with the package
(``surprisal.demo.load_demo``: a ~1M-parameter GPT-2 trained on the grammar zoo and a few
English sentences) and falls back to a random-weight tiny model
(``surprisal.testing.tiny_lm``) when the demo model is not available; with the fallback the
numbers only show the API, not anything about language.

    python examples/quickstart.py            # the demo model (or the fallback)
    python examples/quickstart.py --model gpt2   # any local path or hub id you have
    python examples/quickstart.py --fast     # the same, fewer texts (for CI), about 6 s

Surprisal is -log p of a token given everything before it. The library stores natural-log
probabilities (nats); this script prints bits (nats / ln 2).
"""

from __future__ import annotations

import argparse
import math
import sys

import surprisal

TEXTS = [
    "([])[]",  # a member of the Dyck language over () and [] (the demo model knows it)
    "([)][]",  # not a member: the brackets cross
    "The cat sat on the mat.",
    "The mat sat on the cat.",
]


def load_model(name: str | None) -> tuple[surprisal.LM, str]:
    """The LM to use and a line saying which one it is."""
    if name:
        return surprisal.load(name), f"model: {name}"
    try:
        from surprisal.demo import load_demo

        return load_demo(device="cpu"), "model: the shipped demo model (surprisal.demo)"
    except (ImportError, surprisal.SurprisalError) as err:
        from surprisal.testing import tiny_lm

        why = f"demo model unavailable ({type(err).__name__})"
        return tiny_lm("gpt2"), f"model: random-weight tiny GPT-2 ({why}; numbers are arbitrary)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="local path or hub id (default: demo)")
    parser.add_argument("--fast", action="store_true", help="fewer texts (for CI)")
    args = parser.parse_args(argv)

    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # no "Loading weights" bar in the output
    lm, which = load_model(args.model)
    print(which)
    head = "fused" if lm.fused else "plain"
    print(f"bos_policy={lm.bos_policy!r}, context={lm.max_length} tokens, {head} head")
    texts = TEXTS[:3] if args.fast else TEXTS

    s = surprisal.score(texts, model=lm)

    print("\n== per-token surprisal (bits) of text 0 ==")
    t = s[0]
    bits = t.surprisal("bits")
    for piece, token, b in zip(t.pieces, t.tokens, bits, strict=True):
        print(f"  {piece!r:>12}  token {token!r:<10} {b:6.2f} bits")
    print(f"  total {t.total('bits'):.2f} bits = {t.total():.2f} nats over {len(t)} tokens")

    print("\n== per text ==")
    for text, ts in zip(texts, s, strict=True):
        print(
            f"  {text!r:<28} total {ts.total('bits'):7.2f} bits   "
            f"mean {ts.mean('bits'):5.2f} bits/token   perplexity {ts.perplexity():8.2f}"
        )
    print(f"  corpus perplexity {s.corpus_perplexity():.2f}")

    print("\n== words of text 2 (bits; they add up to the text's total) ==")
    w = s[2].words()
    for word, b in zip(w.words, w.surprisal("bits"), strict=True):
        print(f"  {word:<8} {b:6.2f}")
    assert math.isclose(float(w.surprisal_nats.sum()), s[2].total(), rel_tol=1e-6)

    try:
        import pandas  # noqa: F401
    except ImportError:
        print("\n(pandas is not installed: skipping to_pandas)")
    else:
        print("\n== to_pandas(unit='bits').head() ==")
        df = s.to_pandas(unit="bits")
        print(df[["text_index", "token_index", "token", "piece", "surprisal"]].head(8))
    return 0


if __name__ == "__main__":
    sys.exit(main())
