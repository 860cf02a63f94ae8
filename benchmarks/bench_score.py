"""Core scoring speed: surprisal.score against the loops users write and against peers.

Every method computes the same quantity for every text: the summed natural-log probability
of all of the text's tokens, each predicted from ``[BOS] + previous tokens`` (BOS =
``<|endoftext|>``, id 0). How each method is made to compute exactly that:

* surprisal.score: its default (``bos_policy="bos"``: the boundary token is prepended).
* HF loops: ``[bos] + tokens(text)`` built by hand.
* minicons ``IncrementalLMScorer.sequence_score(..., bos_token=True)``: minicons prepends the
  BOS *string* and always drops the first token's score, so with BOS it scores every text
  token (without ``bos_token=True`` it would silently skip the first token).
* lm-eval ``HFLM.loglikelihood_rolling``: its first window starts with ``prefix_token_id``,
  the tokenizer's BOS, and scores every token.

Each method runs in a fresh subprocess (peak RSS is then its own), after an untimed warm-up
on 16 texts. The reference for the agreement check and the ratios is the one-text-at-a-time
loop.

    python benchmarks/bench_score.py            # full: 200 texts, two model shapes
    python benchmarks/bench_score.py --quick    # ~1 minute: 48 texts, the GPT-2 shape
    python benchmarks/bench_score.py --profile  # host time outside forward and head, per token

Run it from the bench virtualenv that has minicons and lm-eval (see docs/benchmarks.md);
a peer that is not installed is skipped with a message, never estimated.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common as C

SCRIPT = os.path.abspath(__file__)
BATCH = 16
WARM = 16

METHODS: dict[str, str] = {
    "hf-one-at-a-time": "HF loop, one text per forward, log_softmax + gather",
    "surprisal": "surprisal.score, defaults (packed: texts share rows, no padding fed; "
    "CPU budget 512-2,048 tokens by model width)",
    "surprisal-padded": "surprisal.score, pack=False (padded rows), default batch_tokens",
    "surprisal-padded-4096": "surprisal.score, pack=False, batch_tokens=4096 (the CPU "
    "defaults before 78139bf)",
    "hf-batched-16": "HF loop, 16 texts per forward in input order, padded, full log_softmax",
    "minicons-16": "minicons IncrementalLMScorer.sequence_score, 16 texts per call",
    "lmeval-rolling-16": "lm-eval HFLM.loglikelihood_rolling, batch_size=16",
}
QUICK_METHODS = (
    "hf-one-at-a-time",
    "surprisal",
    "hf-batched-16",
    "minicons-16",
    "lmeval-rolling-16",
)


# --- methods (run inside a worker) ------------------------------------------------------


def _hf_one(model: Any, tok: Any, texts: list[str]) -> list[float]:
    import torch

    bos = tok.bos_token_id
    out = []
    with torch.no_grad():
        for text in texts:
            ids = torch.tensor([[bos, *tok(text, add_special_tokens=False)["input_ids"]]])
            logits = model(ids).logits[0]  # (T, V)
            lp = torch.log_softmax(logits[:-1].float(), dim=-1)
            out.append(float(lp.gather(1, ids[0, 1:, None]).sum()))
    return out


def _hf_batched(model: Any, tok: Any, texts: list[str]) -> list[float]:
    import torch

    bos = tok.bos_token_id
    out: list[float] = []
    with torch.no_grad():
        for i in range(0, len(texts), BATCH):
            enc = tok(texts[i : i + BATCH], add_special_tokens=False)["input_ids"]
            seqs = [[bos, *e] for e in enc]
            T = max(len(s) for s in seqs)
            ids = torch.full((len(seqs), T), bos, dtype=torch.long)
            mask = torch.zeros((len(seqs), T), dtype=torch.long)
            for b, s in enumerate(seqs):
                ids[b, : len(s)] = torch.tensor(s)
                mask[b, : len(s)] = 1
            logits = model(input_ids=ids, attention_mask=mask).logits  # (B, T, V)
            lp = torch.log_softmax(logits.float(), dim=-1)  # the full (B, T, V)
            tok_lp = lp[:, :-1].gather(2, ids[:, 1:, None])[..., 0] * mask[:, 1:]
            out.extend(float(x) for x in tok_lp.sum(1))
    return out


def _tokens_fed(lengths: list[int], method: str, stats: dict[str, Any] | None) -> int:
    """Tokens pushed through the model, padding included (from the inputs each builds)."""
    if stats is not None:
        return int(stats["tokens_fed"])
    seqs = [n + 1 for n in lengths]  # BOS + text
    if method == "hf-one-at-a-time":
        return sum(seqs)
    if method in ("hf-batched-16", "minicons-16"):
        return sum(
            len(c) * max(c) for c in (seqs[i : i + BATCH] for i in range(0, len(seqs), BATCH))
        )
    if method == "lmeval-rolling-16":  # windows [BOS] + toks[:-1], batched in input order
        w = lengths
        return sum(len(c) * max(c) for c in (w[i : i + BATCH] for i in range(0, len(w), BATCH)))
    raise ValueError(method)


def worker(method: str, shape: str, corpus_path: str, repeats: int) -> None:
    C.worker_setup()
    import json

    import torch

    tok = C.tokenizer()
    with open(corpus_path) as f:
        texts = json.load(f)
    lengths = [C.n_tokens(tok, t) for t in texts]
    model = C.build_model(shape)
    stats: dict[str, Any] | None = None
    warm = texts[:WARM]

    if method.startswith("surprisal"):
        import surprisal

        bt = {"surprisal": None, "surprisal-padded": None, "surprisal-padded-4096": 4096}[method]
        pack = None if method == "surprisal" else False
        lm = surprisal.LM(model, tok)
        holder: dict[str, Any] = {}

        def run(ts: list[str]) -> list[float]:
            s = surprisal.score(ts, model=lm, batch_tokens=bt, pack=pack, progress=False)
            holder["stats"] = s.stats
            return [-t.total() for t in s]

        r = C.timed(lambda: run(texts), lambda: run(warm), repeats)
        st = holder["stats"]
        stats = {
            k: getattr(st, k)
            for k in ("tokens_fed", "tokens_scored", "forward_calls", "batch_tokens")
        }
        stats["fused"] = lm.fused
    elif method == "hf-one-at-a-time":
        r = C.timed(lambda: _hf_one(model, tok, texts), lambda: _hf_one(model, tok, warm), repeats)
    elif method == "hf-batched-16":
        r = C.timed(
            lambda: _hf_batched(model, tok, texts), lambda: _hf_batched(model, tok, warm), repeats
        )
    elif method == "minicons-16":
        try:
            from minicons import scorer
        except ImportError as e:
            C.emit({"skipped": f"minicons not importable ({e})"})
            return
        sc = scorer.IncrementalLMScorer(model, tokenizer=tok, device="cpu")

        def run_mc(ts: list[str]) -> list[float]:
            out: list[float] = []
            for i in range(0, len(ts), BATCH):
                out += sc.sequence_score(
                    ts[i : i + BATCH], reduction=lambda x: x.sum(0).item(), bos_token=True
                )
            return out

        r = C.timed(lambda: run_mc(texts), lambda: run_mc(warm), repeats)
    elif method == "lmeval-rolling-16":
        try:
            from lm_eval.api.instance import Instance
            from lm_eval.models.huggingface import HFLM
        except ImportError as e:
            C.emit({"skipped": f"lm-eval not importable ({e})"})
            return
        import logging

        logging.disable(logging.WARNING)
        hflm = HFLM(pretrained=model, tokenizer=tok, batch_size=BATCH, device="cpu")

        def run_le(ts: list[str]) -> list[float]:
            reqs = [Instance("loglikelihood_rolling", {}, (t,), i) for i, t in enumerate(ts)]
            return [float(x) for x in hflm.loglikelihood_rolling(reqs, disable_tqdm=True)]

        r = C.timed(lambda: run_le(texts), lambda: run_le(warm), repeats)
    else:
        raise SystemExit(f"unknown method {method}")
    r["tokens_scored"] = sum(lengths)
    r["tokens_fed"] = _tokens_fed(lengths, method, stats)
    r["stats"] = stats
    r["torch_threads"] = torch.get_num_threads()
    C.emit(r)


def profile(shape: str, n: int, repeats: int) -> None:
    """Where surprisal.score spends its wall time, in this process: the decoder forward, the
    head, the engine's host-side Python (scheduling, batch layout, index arrays, copies in,
    result split: the time a GPU could wait for), the engine's other tensor work (gathering
    the scored rows; device work on a GPU) and everything outside the engine (tokenizing,
    planning, assembling results). Host shares are reported per scored token."""
    C.worker_setup()
    import torch

    import surprisal
    import surprisal.core as core_mod
    import surprisal.engine as eng

    tok = C.tokenizer()
    texts = C.corpus(tok, n)
    model = C.build_model(shape)
    lm = surprisal.LM(model, tok)
    acc: dict[str, float] = {}

    def timer(key: str, fn: Any) -> Any:
        acc.setdefault(key, 0.0)

        def wrapped(*a: Any, **k: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                acc[key] += time.perf_counter() - t0

        return wrapped

    lm.body.forward = timer("forward", lm.body.forward)
    lm.model.forward = timer("forward", lm.model.forward)  # the plain path and prefix runs
    eng.fused_head = timer("head", eng.fused_head)
    core_mod.run_jobs = timer("engine", core_mod.run_jobs)
    core_mod.encode = timer("tokenize", core_mod.encode)  # the tokenizer call and spans
    # the engine's host-side helpers (none of them nests another)
    for name in ("next_batch", "_layout", "_to_device"):
        setattr(eng, name, timer("host", getattr(eng, name)))
    eng._Flat.of = classmethod(timer("host", eng._Flat.of.__func__))  # type: ignore[method-assign]
    eng._Results.add = timer("host", eng._Results.add)  # type: ignore[method-assign]
    eng._Results.collect = timer("host", eng._Results.collect)  # type: ignore[method-assign]
    print(C.machine())
    print(
        f"model: {shape}: {C.SHAPES[shape]}; {n} texts (seed 0), torch threads "
        f"{torch.get_num_threads()}"
    )
    surprisal.score(texts[:WARM], model=lm, progress=False)  # warm-up
    rows = []
    for k in range(repeats):
        for key in acc:
            acc[key] = 0.0
        t0 = time.perf_counter()
        s = surprisal.score(texts, model=lm, progress=False)
        wall = time.perf_counter() - t0
        n_tok = s.stats.tokens_scored
        other = acc["engine"] - acc["forward"] - acc["head"] - acc["host"]
        outside = wall - acc["engine"] - acc["tokenize"]
        us = 1e6 / n_tok
        rows.append(
            [
                str(k + 1),
                f"{wall:.2f}",
                f"{acc['forward']:.2f}",
                f"{acc['head']:.2f}",
                f"{acc['host'] * us:.2f}",
                f"{other * us:.2f}",
                f"{(acc['host'] + other) * us:.2f}",
                f"{acc['tokenize'] * us:.2f}",
                f"{outside * us:.2f}",
                f"{n_tok:,}",
            ]
        )
    print(
        C.table(
            rows,
            [
                "run",
                "wall s",
                "forward s",
                "head s",
                "engine host µs/tok",
                "engine tensor ops µs/tok",
                "loop total µs/tok",
                "tokenize µs/tok",
                "plan+assemble µs/tok",
                "tokens scored",
            ],
        )
    )
    print(
        "engine host = scheduling, batch layout, index arrays, copies to the device, result "
        "split (Python/numpy); engine tensor ops = the rest of run_jobs outside forward and "
        "head (gathering scored rows: device work on a GPU); loop total = the two, the host "
        "time between forwards that a GPU would wait for; tokenize = the tokenizer call "
        "(Rust) and our spans; plan+assemble = the rest of score() (windows, batching "
        "plan, building the results)"
    )
    print(f"surprisal source: {C.source_revision()}")


# --- parent -----------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="48 texts, GPT-2 shape only (~1 min)")
    ap.add_argument("--n-texts", type=int, default=None)
    ap.add_argument("--shapes", default=None, help="comma-separated; default both (quick: gpt2)")
    ap.add_argument(
        "--methods", default=None, help="comma-separated subset of " + ",".join(METHODS)
    )
    ap.add_argument("--repeats", type=int, default=None, help="timed runs per method (best kept)")
    ap.add_argument(
        "--profile",
        action="store_true",
        help="host time outside the forward and the head, per scored token, for surprisal.score "
        "(in this process; default 1,000 texts on the llama shape)",
    )
    ap.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        worker(a.worker[0], a.worker[1], a.worker[2], int(a.worker[3]))
        return
    if a.profile:
        profile(a.shapes or "llama-4L-256-v32k", a.n_texts or 1000, a.repeats or 3)
        return

    import numpy as np

    n = a.n_texts or (48 if a.quick else 200)
    shapes = a.shapes or ("gpt2-4L-256" if a.quick else "gpt2-4L-256,qwen2-2L-256-v152k")
    methods = a.methods.split(",") if a.methods else list(QUICK_METHODS if a.quick else METHODS)
    if "hf-one-at-a-time" not in methods:
        methods.insert(0, "hf-one-at-a-time")
    print(C.machine())
    import json
    import tempfile

    repeats = a.repeats or (1 if a.quick else 3)
    tok = C.tokenizer()
    texts = C.corpus(tok, n)
    lengths = np.array([C.n_tokens(tok, t) for t in texts])
    fd, corpus_path = tempfile.mkstemp(suffix=".json", prefix="bench_score_corpus_")
    with os.fdopen(fd, "w") as f:
        json.dump(texts, f)
    print(
        f"corpus: {n} texts (seed 0), {lengths.sum()} tokens; lengths min {lengths.min()}, "
        f"median {int(np.median(lengths))}, mean {lengths.mean():.1f}, p90 "
        f"{int(np.percentile(lengths, 90))}, max {lengths.max()} (lognormal, long-tailed)"
    )
    print(
        f"timing: best of {repeats} timed runs for every method (the median and CPU times below) "
        "per method after a warm-up, each method in a fresh process; peak RSS +MB is the "
        "high-water mark over warm-up and timed runs minus the RSS after setup (model built)"
    )
    print("quantity: sum over each text's tokens of log p(token | BOS, previous tokens), nats")
    t_all = time.perf_counter()
    for shape in shapes.split(","):
        print(f"\n## {shape}: {C.SHAPES[shape]}")
        res: dict[str, dict[str, Any]] = {}
        for m in methods:
            t0 = time.perf_counter()
            r = C.spawn(SCRIPT, [m, shape, corpus_path, str(repeats)])
            res[m] = r
            if "error" in r:
                print(f"  {m}: FAILED: {r['error']}")
            elif "skipped" in r:
                print(f"  {m}: SKIPPED: {r['skipped']}")
            else:
                walls = ", ".join(f"{w:.2f}" for w in r["walls"])
                print(
                    f"  {m}: wall {walls} s (median {r['wall_median_s']:.2f}), "
                    f"best CPU {r['cpu_s']:.2f} s, "
                    f"load {r['load']} "
                    f"({time.perf_counter() - t0:.0f} s with start-up)"
                )
        ref = res["hf-one-at-a-time"]
        if "result" not in ref:
            print("reference loop failed; no table")
            continue
        ref_lp = np.array(ref["result"])
        rows = []
        for m in methods:
            r = res[m]
            if "result" not in r:
                rows.append(
                    [m, "-", "-", "-", "-", "-", "-", "-", "-", r.get("skipped") or "failed"]
                )
                continue
            tps = r["tokens_scored"] / r["wall_s"]
            diff = float(np.max(np.abs(np.array(r["result"]) - ref_lp)))
            rows.append(
                [
                    m,
                    f"{r['wall_s']:.2f}",
                    f"{r['cpu_s']:.2f}",
                    f"{tps:,.0f}",
                    f"{ref['wall_s'] / r['wall_s']:.2f}x",
                    f"{r['tokens_fed']:,}",
                    f"{r['peak_delta_mb']:,.0f}",
                    f"{r['peak_delta_mb'] / max(ref['peak_delta_mb'], 1e-9):.2f}x",
                    f"{diff:.2e}",
                    "" if m != "surprisal" else f"fused={r['stats']['fused']}",
                ]
            )
        print(
            C.table(
                rows,
                [
                    "method",
                    "wall s",
                    "CPU s",
                    "scored tok/s",
                    "speed vs 1-at-a-time",
                    "tokens fed",
                    "peak RSS +MB",
                    "mem vs 1-at-a-time",
                    "max |Δ logp| vs ref",
                    "note",
                ],
            )
        )
        print(
            f"(reference total log-prob of the corpus: {ref_lp.sum():.3f} nats; "
            f"{int(ref['tokens_scored'])} tokens scored by every method)"
        )
        print("methods: " + "; ".join(f"{m} = {METHODS[m]}" for m in methods))
    os.unlink(corpus_path)
    print(f"\ntotal wall time {time.perf_counter() - t_all:.0f} s")
    print(f"surprisal source at the end: {C.source_revision()}")


if __name__ == "__main__":
    main()
