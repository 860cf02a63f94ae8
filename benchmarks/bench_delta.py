"""Explanation deltas: many short targets scored after one long explanation.

Every method computes, for each target t, ``log p(tokens(t) | [BOS] + tokens(explanation))``
summed over t's tokens (nats), with the explanation and target joined with no separator.
The explanation ends with "." and each target starts with a space, so with the byte-level
BPE used here ``tokens(explanation + t) == tokens(explanation) + tokens(t)`` (checked and
printed): the methods that tokenize the joined string (the HF loop, minicons, lm-eval) and
the ones that tokenize the parts (surprisal, the hand-written cache loop) score the same
tokens. How each method is made to compute exactly that:

* surprisal.score(targets, context=explanation, separator=""): the conditional half only.
* surprisal.delta(..., separator=""): also scores the targets alone and the explanation's
  own cost in the same call (more work; its conditional totals are the ones compared).
* surprisal.delta(..., separator="", divergence=True): the same, plus KL(p(.|e) || p(.)) and
  both entropies at every target position (one more head pass over both conditions).
* HF per-target loop: ``model([bos] + tokens(explanation + t))``, full log_softmax, the
  target's positions gathered; the explanation is re-encoded for every target.
* minicons ``conditional_score([explanation]*16, targets, separator="", bos_token=True)``:
  minicons prepends the BOS string and scores what follows the prefix.
* lm-eval ``HFLM.loglikelihood`` with requests ``(BOS string + explanation, t)``: lm-eval
  adds no BOS to a non-empty context by itself, so the BOS is written into the context
  (it detects the BOS prefix and adds no second one).
* hand-written KV-cache loop: the explanation is run once with ``use_cache=True``; for each
  batch of 16 targets its keys/values are expanded into a new ``DynamicCache``.

    python benchmarks/bench_delta.py            # full: 500 targets
    python benchmarks/bench_delta.py --quick    # ~1-2 minutes: 32 targets, one timed run
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
SHAPE = "llama-4L-256-v32k"
BATCH = 16
WARM = 16

METHODS: dict[str, str] = {
    "hf-per-target": "HF loop, one forward of [bos]+explanation+target per target",
    "surprisal-score": "surprisal.score(targets, context=explanation), default batch_tokens",
    "surprisal-delta": "surprisal.delta: conditional + targets alone + explanation cost",
    "surprisal-delta-divergence": "surprisal.delta(divergence=True): + KL, entropies per position",
    "hand-kv-cache-16": C.HAND_KV_LOOP,
    "minicons-16": "minicons IncrementalLMScorer.conditional_score, 16 pairs per call",
    "lmeval-16": "lm-eval HFLM.loglikelihood, batch_size=16",
}


def make_inputs(tok: Any, n_targets: int, expl_tokens: int = 400) -> tuple[str, list[str]]:
    import numpy as np

    rng = np.random.default_rng(0)
    vocab = C.words()
    cost = {w: C.n_tokens(tok, " " + w) for w in vocab}
    explanation = C.make_text(tok, rng, vocab, expl_tokens - 1, cost) + "."
    targets = [
        " " + C.make_text(tok, rng, vocab, int(rng.integers(12, 19)), cost).lower()
        for _ in range(n_targets)
    ]
    return explanation, targets


# --- methods ----------------------------------------------------------------------------


def _hf_per_target(model: Any, tok: Any, expl: str, targets: list[str]) -> list[float]:
    import torch

    bos = tok.bos_token_id
    out = []
    with torch.no_grad():
        for t in targets:
            n_ctx = 1 + len(tok(expl, add_special_tokens=False)["input_ids"])
            ids = torch.tensor([[bos, *tok(expl + t, add_special_tokens=False)["input_ids"]]])
            logits = model(ids).logits[0]  # (P + T, V)
            lp = torch.log_softmax(logits.float(), dim=-1)[n_ctx - 1 : -1]  # (T, V)
            out.append(float(lp.gather(1, ids[0, n_ctx:, None]).sum()))
    return out


def _kv_cache_loop(model: Any, tok: Any, expl: str, targets: list[str]) -> list[float]:
    """What an expert writes by hand: encode the explanation once, reuse its KV cache."""
    import torch
    from transformers import DynamicCache

    bos = tok.bos_token_id
    prefix = torch.tensor([[bos, *tok(expl, add_special_tokens=False)["input_ids"]]])
    P = prefix.shape[1]
    out: list[float] = []
    with torch.no_grad():
        pre = model(prefix, use_cache=True)
        first_lp = torch.log_softmax(pre.logits[0, -1].float(), dim=-1)  # (V,)
        kv = [(layer.keys, layer.values) for layer in pre.past_key_values.layers]
        for i in range(0, len(targets), BATCH):
            enc = tok(targets[i : i + BATCH], add_special_tokens=False)["input_ids"]
            B, T = len(enc), max(len(e) for e in enc)
            ids = torch.full((B, T), bos, dtype=torch.long)
            mask = torch.zeros((B, T), dtype=torch.long)
            for b, e in enumerate(enc):
                ids[b, : len(e)] = torch.tensor(e)
                mask[b, : len(e)] = 1
            cache = DynamicCache(
                ddp_cache_data=[(k.expand(B, -1, -1, -1), v.expand(B, -1, -1, -1)) for k, v in kv]
            )
            logits = model(
                input_ids=ids,
                attention_mask=torch.cat([torch.ones((B, P), dtype=torch.long), mask], 1),
                position_ids=torch.arange(P, P + T).expand(B, T),
                past_key_values=cache,
                use_cache=True,
            ).logits  # (B, T, V)
            lp = torch.log_softmax(logits[:, :-1].float(), dim=-1)
            rest = (lp.gather(2, ids[:, 1:, None])[..., 0] * mask[:, 1:]).sum(1)
            out.extend((rest + first_lp[ids[:, 0]]).tolist())
    return out


def _fed(method: str, P: int, lens: list[int]) -> int:
    """Tokens fed to the model, padding included, from the inputs each method builds.
    ``P`` = 1 + explanation tokens, ``lens`` = target token counts."""
    chunks = lambda xs: [xs[i : i + BATCH] for i in range(0, len(xs), BATCH)]  # noqa: E731
    if method == "hf-per-target":
        return sum(P + n for n in lens)
    if method == "minicons-16":  # input order, padded to the batch's longest
        return sum(len(c) * (P + max(c)) for c in chunks(lens))
    if method == "lmeval-16":  # sorted longest first; input is (ctx + cont)[:-1]
        s = sorted(lens, reverse=True)
        return sum(len(c) * (P + max(c) - 1) for c in chunks(s))
    if method == "hand-kv-cache-16":
        return P + sum(len(c) * max(c) for c in chunks(lens))
    raise ValueError(method)


def worker(method: str, n_targets: int, repeats: int, prefix_tokens: int = 400) -> None:
    C.worker_setup()
    import torch

    tok = C.tokenizer()
    expl, targets = make_inputs(tok, n_targets, prefix_tokens)
    lens = [C.n_tokens(tok, t) for t in targets]
    P = 1 + C.n_tokens(tok, expl)
    model = C.build_model(SHAPE)
    warm = targets[:WARM]
    stats = None

    if method in ("surprisal-score", "surprisal-delta", "surprisal-delta-divergence"):
        import surprisal

        lm = surprisal.LM(model, tok)
        holder: dict[str, Any] = {}

        def run(ts: list[str]) -> list[float]:
            if method == "surprisal-score":
                s = surprisal.score(ts, context=expl, separator="", model=lm, progress=False)
            else:
                s = surprisal.delta(
                    ts,
                    explanation=expl,
                    separator="",
                    model=lm,
                    progress=False,
                    divergence=method == "surprisal-delta-divergence",
                ).conditioned
            holder["stats"] = s.stats
            return [-t.total() for t in s]

        r = C.timed(lambda: run(targets), lambda: run(warm), repeats)
        st = holder["stats"]
        stats = {
            k: getattr(st, k)
            for k in ("tokens_fed", "tokens_scored", "prefix_tokens", "forward_calls")
        }
        fed = st.tokens_fed
    elif method == "hf-per-target":
        r = C.timed(
            lambda: _hf_per_target(model, tok, expl, targets),
            lambda: _hf_per_target(model, tok, expl, warm[:4]),
            repeats,
        )
        fed = _fed(method, P, lens)
    elif method == "hand-kv-cache-16":
        r = C.timed(
            lambda: _kv_cache_loop(model, tok, expl, targets),
            lambda: _kv_cache_loop(model, tok, expl, warm),
            repeats,
        )
        fed = _fed(method, P, lens)
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
                chunk = ts[i : i + BATCH]
                out += sc.conditional_score(
                    [expl] * len(chunk),
                    chunk,
                    separator="",
                    bos_token=True,
                    reduction=lambda x: x.sum(0).item(),
                )
            return out

        r = C.timed(lambda: run_mc(targets), lambda: run_mc(warm), repeats)
        fed = _fed(method, P, lens)
    elif method == "lmeval-16":
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
            ctx = tok.bos_token + expl
            reqs = [Instance("loglikelihood", {}, (ctx, t), i) for i, t in enumerate(ts)]
            return [float(x[0]) for x in hflm.loglikelihood(reqs, disable_tqdm=True)]

        r = C.timed(lambda: run_le(targets), lambda: run_le(warm), repeats)
        fed = _fed(method, P, lens)
    else:
        raise SystemExit(f"unknown method {method}")
    r["tokens_scored"] = sum(lens)
    r["tokens_fed"] = int(fed)
    r["stats"] = stats
    r["torch_threads"] = torch.get_num_threads()
    C.emit(r)


# --- parent -----------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="32 targets, one timed run")
    ap.add_argument("--n-targets", type=int, default=None)
    ap.add_argument(
        "--methods", default=None, help="comma-separated subset of " + ",".join(METHODS)
    )
    ap.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="timed runs for every method (the same number for each), best kept",
    )
    ap.add_argument(
        "--prefix-tokens", type=int, default=400, help="explanation length in tokens (BOS aside)"
    )
    ap.add_argument(
        "--no-per-target",
        action="store_true",
        help="skip the per-target loop (long explanations); ratios then use the hand KV loop",
    )
    ap.add_argument(
        "--baseline-src",
        default=None,
        help="another surprisal src/ directory: adds surprisal-score@baseline, run from it",
    )
    ap.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        worker(a.worker[0], int(a.worker[1]), int(a.worker[2]), int(a.worker[3]))
        return

    import numpy as np

    n = a.n_targets or (32 if a.quick else 500)
    a.repeats = a.repeats or (1 if a.quick else 3)
    methods = a.methods.split(",") if a.methods else list(METHODS)
    for must in ("hand-kv-cache-16",) if a.no_per_target else ("hand-kv-cache-16", "hf-per-target"):
        if must not in methods:
            methods.insert(0, must)
    if a.no_per_target and "hf-per-target" in methods:
        methods.remove("hf-per-target")
    if a.baseline_src:
        methods.append("surprisal-score@baseline")
    print(C.machine())
    tok = C.tokenizer()
    expl, targets = make_inputs(tok, n, a.prefix_tokens)
    e_ids = tok(expl, add_special_tokens=False)["input_ids"]
    lens = [C.n_tokens(tok, t) for t in targets]
    same = all(
        tok(expl + t, add_special_tokens=False)["input_ids"]
        == e_ids + tok(t, add_special_tokens=False)["input_ids"]
        for t in targets
    )
    print(f"model: {SHAPE}: {C.SHAPES[SHAPE]}; byte-level BPE tokenizer, BOS = <|endoftext|>")
    print(
        f"inputs: 1 explanation of {len(e_ids)} tokens (+ BOS), {n} targets of "
        f"{min(lens)}-{max(lens)} tokens (mean {np.mean(lens):.1f}, {sum(lens)} in all), seed 0"
    )
    print(
        f"tokens(explanation + target) == tokens(explanation) + tokens(target) for every "
        f"target: {same}"
    )
    print("quantity: per target, sum of log p(target token | BOS, explanation, previous), nats")
    print(
        f"timing: best of {a.repeats} timed runs for every method after a warm-up, each "
        "method in a fresh process; peak RSS +MB: high-water "
        "mark over warm-up and timed runs minus the RSS after setup (model built)"
    )
    t_all = time.perf_counter()
    res: dict[str, dict[str, Any]] = {}
    for m in methods:
        t0 = time.perf_counter()
        base = m.endswith("@baseline")
        r = C.spawn(
            SCRIPT,
            [m.removesuffix("@baseline"), str(n), str(a.repeats), str(a.prefix_tokens)],
            pythonpath=a.baseline_src if base else None,
        )
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
    hand = res["hand-kv-cache-16"]
    ref = res.get("hf-per-target", hand)
    if "result" not in ref:
        print("reference loop failed; no table")
        return
    ref_lp = np.array(ref["result"])
    rows = []
    for m in methods:
        r = res[m]
        if "result" not in r:
            rows.append([m, "-", "-", "-", "-", "-", "-", "-", r.get("skipped") or "failed"])
            continue
        diff = float(np.max(np.abs(np.array(r["result"]) - ref_lp)))
        vs_hand = f"{hand['wall_s'] / r['wall_s']:.2f}x" if "wall_s" in hand else "-"
        rows.append(
            [
                m,
                f"{r['wall_s']:.2f}",
                f"{r['cpu_s']:.2f}",
                f"{ref['wall_s'] / r['wall_s']:.2f}x",
                vs_hand,
                f"{r['tokens_fed']:,}",
                f"{r['peak_delta_mb']:,.0f}",
                f"{diff:.2e}",
                "" if r.get("stats") is None else f"forward calls {r['stats']['forward_calls']}",
            ]
        )
    print(
        C.table(
            rows,
            [
                "method",
                "wall s",
                "CPU s",
                "speed vs per-target",
                "speed vs hand KV",
                "tokens fed",
                "peak RSS +MB",
                "max |Δ logp| vs ref",
                "note",
            ],
        )
    )
    print(
        f"(reference: mean log p(target | explanation) {ref_lp.mean():.3f} nats; "
        f"{sum(lens)} target tokens scored by every method)"
    )
    print(
        "methods: "
        + "; ".join(f"{m} = {METHODS[m.removesuffix('@baseline')]}" for m in methods)
        + ("" if not a.baseline_src else f"; @baseline = run from {a.baseline_src}")
    )
    if "hf-per-target" not in res:
        print("(no per-target loop: 'speed vs per-target' and the agreement are vs hand KV)")
    print(f"\ntotal wall time {time.perf_counter() - t_all:.0f} s")
    print(f"surprisal source at the end: {C.source_revision()}")


if __name__ == "__main__":
    main()
