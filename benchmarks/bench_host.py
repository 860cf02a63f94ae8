"""Host-side cost per token: what the library does around a forward pass that costs nothing.

On a GPU the forward pass of a small model costs a fraction of a microsecond per token, so
everything the host does per token (tokenize, plan, batch, copy, assemble, write) sets the
speed. This benchmark measures that host work on the CPU with a near-free model (one layer,
hidden size 16: its forward and head cost almost nothing), side by side in one process with
the reference every tokenizing tool pays anyway: the tokenizer's own Rust ``encode_batch``,
single-threaded, on the same texts.

Reported, in microseconds per token (tokens of the texts; no boundary token), each as the
median over ``--repeats`` runs with the spread (min-max) and the CPU time of the process
(all threads) beside the wall time:

* ``encode_batch (1 thread)``: ``tok.backend_tokenizer.encode_batch(texts,
  add_special_tokens=False)`` with the tokenizer's parallelism off: the reference (1.0x).
* ``encode_batch (parallel)``: the same with the tokenizer's own parallelism on.
* ``tokenize``: :func:`surprisal.tokenize.encode` (ids, character spans, token strings).
* ``plan``, ``engine``, ``assembly``: the steps of :func:`surprisal.core.run` after
  tokenizing, timed one by one on the same texts (``engine`` is the batching, the forward
  and head of the near-free model and the copies back: host code, at this model size).
* ``score()``: the whole public call.
* ``to_pandas()``: one row per token from the result.
* ``to_records()``: the JSON-ready records from the result.
* ``score_to_file (JSONL)``: the whole public call, scoring and writing a JSONL file.

The machine, the load average before and after, the thread settings and the command are
printed with the table. Nothing is downloaded: the texts are generated from a seeded RNG
and the tokenizer is trained in-process.

    python benchmarks/bench_host.py                 # 20,000 texts, 3 repeats
    python benchmarks/bench_host.py --smoke         # 200 texts, 1 repeat (CI)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# The tokenizer's Rust thread pool and torch's read these when first used.
os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
import torch

WORDS = [
    "the",
    "cat",
    "sat",
    "on",
    "mat",
    "colorless",
    "green",
    "ideas",
    "sleep",
    "furiously",
    "a",
    "proof",
    "by",
    "contradiction",
    "assumes",
    "opposite",
    "and",
    "derives",
    "an",
    "absurdity",
    "every",
    "even",
    "number",
    "greater",
    "than",
    "two",
    "is",
    "sum",
    "of",
    "primes",
    "perhaps",
    "quick",
    "brown",
    "fox",
    "jumps",
    "over",
    "lazy",
    "dog",
    "in",
    "beginning",
    "was",
    "word",
    "surprising",
    "she",
    "sells",
    "sea",
    "shells",
    "shore",
    "language",
    "models",
    "assign",
    "probability",
    "to",
    "text",
    "how",
    "surprised",
    "model",
    "this",
    "sentence",
    "less",
    "once",
    "it",
    "has",
    "read",
    "hint",
    "although",
    "measurement",
    "theory",
    "river",
    "mountain",
    "yesterday",
    "ambiguous",
    "garden",
    "path",
    "reader",
    "predict",
    "context",
    "explanation",
    "experiment",
    "participant",
    "reaction",
    "frequency",
    "neighbour",
    "syntax",
    "semantic",
    "corpus",
    "window",
    "vocabulary",
]
ODD = ["café", "naïve", "Zürich", "東京", "😀", "—", "«ok»", "x²", "3.14", "1,000", "e-mail"]


def make_texts(n: int, seed: int = 0) -> list[str]:
    """``n`` mixed texts, deterministic: short and long, with capitals, punctuation,
    digits, newlines and some non-ASCII (accents, CJK, an emoji)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        k = int(rng.choice([3, 8, 15, 30, 60], p=[0.2, 0.3, 0.25, 0.17, 0.08]))
        words = []
        for j in range(k):
            r = rng.random()
            pool = ODD if r < 0.04 else WORDS
            w = pool[int(rng.integers(len(pool)))]
            if j == 0 or rng.random() < 0.05:
                w = w.capitalize()
            words.append(w)
            if rng.random() < 0.08:
                words[-1] += str(rng.choice([".", ",", ";", "?", "!"]))
        sep = "\n" if rng.random() < 0.1 else " "
        out.append(sep.join(words[: k // 2]) + " " + " ".join(words[k // 2 :]))
    return out


def build(vocab: int, texts: list[str], device: str = "cpu") -> Any:
    """The LM: a 1-layer, hidden-16 GPT-2 and a byte-level BPE tokenizer (``vocab`` 384: the
    test tokenizer; larger: a BPE trained in-process on the benchmark texts)."""
    from surprisal import LM
    from surprisal.testing import tiny_model, tiny_tokenizer

    if vocab <= 384:
        tok = tiny_tokenizer("byte-bpe", vocab_size=vocab)
    else:
        from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
        from transformers import PreTrainedTokenizerFast

        bt = Tokenizer(models.BPE())
        bt.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        bt.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=vocab,
            special_tokens=["<|endoftext|>"],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        )
        bt.train_from_iterator(texts[:5000], trainer)
        tok = PreTrainedTokenizerFast(
            tokenizer_object=bt, bos_token="<|endoftext|>", eos_token="<|endoftext|>"
        )
    model = tiny_model(
        "gpt2", len(tok), max_positions=1024, n_layer=1, n_embd=16, n_head=2
    )  # near-free: 1 layer, hidden 16
    return LM(model, tok, device=device)


def timed(fn: Callable[[], Any], repeats: int) -> tuple[list[float], list[float], Any]:
    """Wall and process-CPU seconds of each of ``repeats`` runs, and the last result."""
    walls, cpus, out = [], [], None
    for _ in range(repeats):
        out = None
        w0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    return walls, cpus, out


class ModelClock:
    """Wall and CPU seconds spent in the model's forward (the decoder body) and the fused
    head during a call: the work a GPU would do. The rest of the call is host work."""

    def __init__(self, lm: Any) -> None:
        import surprisal.engine as engine

        self.lm, self.engine = lm, engine
        self.wall = self.cpu = 0.0
        self._t: list[tuple[float, float]] = []

    def _start(self, *_: Any) -> None:
        self._t.append((time.perf_counter(), time.process_time()))

    def _stop(self, *_: Any) -> None:
        w, c = self._t.pop()
        self.wall += time.perf_counter() - w
        self.cpu += time.process_time() - c

    def __enter__(self) -> ModelClock:
        self.wall = self.cpu = 0.0
        self._hooks = [
            self.lm.body.register_forward_pre_hook(self._start),
            self.lm.body.register_forward_hook(self._stop),
        ]
        head = self._head = self.engine.fused_head

        def timed_head(*a: Any, **k: Any) -> Any:
            self._start()
            try:
                return head(*a, **k)
            finally:
                self._stop()

        self.engine.fused_head = timed_head
        return self

    def __exit__(self, *_: Any) -> None:
        for h in self._hooks:
            h.remove()
        self.engine.fused_head = self._head


def stage_fns(lm: Any, texts: list[str]) -> dict[str, Callable[[], Any]]:
    """The steps of :func:`surprisal.core.run`, each on the previous step's output (made once,
    outside the timing), so each is timed alone."""
    from surprisal import core, tokenize
    from surprisal.engine import RunStats, run_jobs
    from surprisal.options import RunOptions

    # main before the flat host path had per-text encodings; now one flat Encodings
    encode = getattr(tokenize, "encode_flat", tokenize.encode)

    opts = RunOptions.make(progress=False)
    r = opts.resolve(lm)
    pre = core.prefixes(lm, [None] * len(texts), opts, r)
    encs = encode(lm.tokenizer, texts, parse_special_tokens=lm.parse_special_tokens)
    jobs, plans = core.plan(encs, pre, r, want_tail=False)

    def engine() -> Any:
        return run_jobs(
            lm,
            jobs,
            pre.ids,
            extras=opts.extras,
            batch_tokens=opts.batch_tokens,
            padding_side=opts.padding_side,
            pack=opts.pack,
            plain=None,
            progress=False,
            stats=RunStats(),
        )

    results = engine()
    return {
        "tokenize": lambda: encode(
            lm.tokenizer, texts, parse_special_tokens=lm.parse_special_tokens
        ),
        "plan": lambda: core.plan(encs, pre, r, want_tail=False),
        "engine": engine,
        "assembly": lambda: (
            core.assemble(plans, results, opts.extras)
            if not isinstance(plans, list)
            else [core.assemble(p, results, opts.extras) for p in plans]
        ),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--n-texts", type=int, default=20_000)
    ap.add_argument("--vocab", type=int, default=384)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--torch-threads", type=int, default=1)
    ap.add_argument("--device", default="cpu", help="where the near-free model runs")
    ap.add_argument("--no-stages", action="store_true", help="skip the per-step breakdown")
    ap.add_argument("--smoke", action="store_true", help="200 texts, 1 repeat (CI)")
    ap.add_argument("--json", type=Path, help="also write the figures to this file")
    args = ap.parse_args()
    if args.smoke:
        args.n_texts, args.repeats = 200, 1
    torch.set_num_threads(args.torch_threads)

    import surprisal

    texts = make_texts(args.n_texts)
    lm = build(args.vocab, texts, args.device)
    backend = lm.tokenizer.backend_tokenizer
    n_tok = sum(len(e.ids) for e in backend.encode_batch(texts, add_special_tokens=False))
    load0 = os.getloadavg()

    def encode_batch(parallel: bool) -> Callable[[], Any]:
        def go() -> Any:
            os.environ["TOKENIZERS_PARALLELISM"] = "true" if parallel else "false"
            try:
                return backend.encode_batch(texts, add_special_tokens=False)
            finally:
                os.environ["TOKENIZERS_PARALLELISM"] = "true"

        return go

    tmp = Path(tempfile.mkdtemp())
    k = [0]

    def to_file() -> Any:
        k[0] += 1
        return surprisal.score_to_file(texts, tmp / f"out{k[0]}.jsonl", model=lm, progress=False)

    rows: list[tuple[str, Callable[[], Any]]] = [
        ("encode_batch (1 thread)", encode_batch(False)),
        ("encode_batch (parallel)", encode_batch(True)),
    ]
    surprisal.score(texts[:50], model=lm, progress=False)  # warm-up: probes, first forwards
    if not args.no_stages:
        rows += list(stage_fns(lm, texts).items())
    scores = surprisal.score(texts, model=lm, progress=False)
    clock = ModelClock(lm)
    model_walls: list[float] = []
    model_cpus: list[float] = []

    def score_clocked() -> Any:
        with clock:
            out = surprisal.score(texts, model=lm, progress=False)
        model_walls.append(clock.wall)
        model_cpus.append(clock.cpu)
        return out

    rows += [
        ("score()", score_clocked),
        ("to_pandas()", scores.to_pandas),
        ("to_records()", scores.to_records),
        ("score_to_file (JSONL)", to_file),
    ]
    # Interleaved rounds: every method runs once per round, so a change of load hits all.
    walls: dict[str, list[float]] = {name: [] for name, _ in rows}
    cpus: dict[str, list[float]] = {name: [] for name, _ in rows}
    for _ in range(args.repeats):
        for name, fn in rows:
            w, c, _ = timed(fn, 1)
            walls[name] += w
            cpus[name] += c
    load1 = os.getloadavg()
    # The numbers are checked, never the times: every path saw every token of every text.
    assert sum(len(t) for t in scores) == n_tok, "score() lost or added tokens"
    assert len(scores.to_pandas()) == n_tok, "to_pandas() rows are not the tokens"
    lines = (tmp / f"out{k[0]}.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(texts), "score_to_file wrote a record per text"
    assert sum(json.loads(x)["n_tokens"] for x in lines) == n_tok
    # score() split: its model forward and head (a GPU's work), and the rest (host work)
    walls["  of which model forward + head"] = model_walls
    cpus["  of which model forward + head"] = model_cpus
    walls["  of which host (the rest)"] = [
        a - b for a, b in zip(walls["score()"], model_walls, strict=True)
    ]
    cpus["  of which host (the rest)"] = [
        a - b for a, b in zip(cpus["score()"], model_cpus, strict=True)
    ]
    at = [name for name, _ in rows].index("score()") + 1
    rows[at:at] = [
        ("  of which model forward + head", score_clocked),
        ("  of which host (the rest)", score_clocked),
    ]
    us = 1e6 / n_tok
    ref = statistics.median(walls["encode_batch (1 thread)"])
    print(
        f"machine: {platform.machine()} {platform.processor() or ''}, {os.cpu_count()} CPUs; "
        f"python {platform.python_version()}, torch {torch.__version__}, "
        f"numpy {np.__version__}; torch threads {args.torch_threads}; model on {args.device}"
    )
    print(f"date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(f"load average (1, 5, 15 min): before {load0}, after {load1}")
    print(
        f"texts: {len(texts)}, tokens: {n_tok} ({n_tok / len(texts):.1f}/text), "
        f"vocab {len(lm.tokenizer)}, repeats {args.repeats} (interleaved rounds)"
    )
    print(f"command: python {' '.join(sys.argv)}")
    print("checks: every path scored every token (ok)")
    print()
    print("| step | µs/token (median) | min-max | CPU µs/token | × encode_batch (1 thread) |")
    print("|---|---|---|---|---|")
    out = {}
    for name, _ in rows:
        m = statistics.median(walls[name])
        c = statistics.median(cpus[name])
        print(
            f"| {name} | {m * us:.2f} | {min(walls[name]) * us:.2f}-{max(walls[name]) * us:.2f} "
            f"| {c * us:.2f} | {m / ref:.2f} |"
        )
        out[name] = {"wall_s": walls[name], "cpu_s": cpus[name], "ratio": m / ref}
    if args.json:
        args.json.write_text(
            json.dumps(
                {"n_tokens": n_tok, "n_texts": len(texts), "load": [load0, load1], "rows": out},
                indent=1,
            )
        )


if __name__ == "__main__":
    main()
