"""GPU scoring efficiency: tokens/s, peak memory and MFU, surprisal against the peers.

Model shapes (random weights, bfloat16, built from configs: nothing is downloaded):

* ``gpt2-small``: GPT-2, 12 layers, hidden 768, vocab 50,257 (124M parameters)
* ``qwen2.5-0.5b``: Qwen2, 24 layers, hidden 896, MLP 4,864, 14 heads (2 KV), vocab 151,936
* ``llama-1b``: Llama 3.2 1B, 16 layers, hidden 2,048, MLP 8,192, 32 heads (8 KV),
  vocab 128,256

Methods, each computing the summed log-probability of every text token after BOS:

* ``surprisal``: the padded path (``pack=False``); ``surprisal-packed``: ``pack=True``;
  ``surprisal-fa2``: packed with ``attn_implementation="flash_attention_2"`` (when the
  flash-attn package is importable).
* ``hf-batched``: a plain HF loop, 32 texts per forward sorted by length, padded, full
  ``log_softmax`` over (B, T, V) in float32.
* ``minicons``, ``lmeval``: when importable (carry their wheels to the GPU machine; see
  docs/benchmarks.md), else reported as skipped.

MFU = scored tokens/s x (2 N_non-embedding + 2 d V) / peak bf16 dense FLOP/s (default
989e12, the H100 and H200 SXM figure; ``--peak-tflops`` to change it). Peak memory is
``torch.cuda.max_memory_allocated`` above the model's own weights.

The head alone, when triton imports on CUDA (``--triton-head``: ``yes`` after the methods,
``only``, or ``no``): the prototype kernel of ``triton_head.py``, which never writes the
logits, against the library's chunked ``fused_head`` on each shape's (V, H), bf16 hidden
states and weight, N = 16,384 positions (``--head-positions``): best of 5 after a warm-up,
ms, TFLOP/s (2 N V H / t), peak memory above the inputs, max |diff| against a float64 head
on the first 512 rows, for a few block configurations.

    python benchmarks/bench_gpu.py                      # all shapes, on CUDA
    python benchmarks/bench_gpu.py --shapes llama-1b --n-texts 4000
    python benchmarks/bench_gpu.py --triton-head only   # the head alone: Triton vs fused_head
    python benchmarks/bench_gpu.py --smoke              # tiny shape on CPU: checks the script
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common as C

SHAPES = {
    "gpt2-small": "GPT-2, 12 layers, hidden 768, 12 heads, vocab 50,257",
    "qwen2.5-0.5b": "Qwen2, 24 layers, hidden 896, MLP 4,864, 14 heads (2 KV), vocab 151,936",
    "llama-1b": "Llama, 16 layers, hidden 2,048, MLP 8,192, 32 heads (8 KV), vocab 128,256",
    "smoke": "Llama, 2 layers, hidden 64, vocab 1,000 (CPU check of this script)",
}
# (V, H) of each shape's LM head, for the head-alone comparison
HEAD_DIMS = {
    "gpt2-small": (50257, 768),
    "qwen2.5-0.5b": (151936, 896),
    "llama-1b": (128256, 2048),
    "smoke": (1000, 64),
}
# (BLOCK_N, BLOCK_V, BLOCK_H, num_warps, num_stages) tried for the Triton head; None: its
# default (128, 128, 64, 8, 3). Built for sm_90 on CPU (triton 3.6 and 3.8, ptxas -v): each
# uses wgmma and cp.async with 96-128 KiB of shared memory and spills no register.
TRITON_CONFIGS: list[tuple[int, int, int, int, int] | None] = [
    None,
    (64, 256, 64, 8, 3),
    (128, 128, 64, 8, 4),
    (64, 128, 64, 4, 4),
]
HEAD_CHECK_ROWS = 512  # rows checked against the float64 head: (512, V) float64 fits easily
METHODS = ("surprisal", "surprisal-packed", "surprisal-fa2", "hf-batched", "minicons", "lmeval")
HF_BATCH = 32


def build(shape: str, device: str, dtype: Any, attn: str | None = None) -> Any:
    import torch
    import transformers as tf

    # (config class, hidden, MLP, layers, heads, KV heads, vocab) of each shape
    table: dict[str, tuple[Any, ...]] = {
        "qwen2.5-0.5b": (tf.Qwen2Config, 896, 4864, 24, 14, 2, 151936),
        "llama-1b": (tf.LlamaConfig, 2048, 8192, 16, 32, 8, 128256),
        "smoke": (tf.LlamaConfig, 64, 128, 2, 4, 2, 1000),
    }
    common: dict[str, Any] = {"bos_token_id": 0, "eos_token_id": 0, "initializer_range": 0.02}
    if shape == "gpt2-small":
        cfg: Any = tf.GPT2Config(n_positions=1024, **common)
    elif shape in table:
        klass, d, mlp, layers, heads, kv, vocab = table[shape]
        cfg = klass(
            vocab_size=vocab,
            hidden_size=d,
            intermediate_size=mlp,
            num_hidden_layers=layers,
            num_attention_heads=heads,
            num_key_value_heads=kv,
            max_position_embeddings=4096,
            tie_word_embeddings=shape != "smoke",
            **common,
        )
    else:
        raise SystemExit(f"unknown shape {shape}")
    if attn:
        cfg._attn_implementation = attn
    torch.manual_seed(0)
    model = tf.AutoModelForCausalLM.from_config(cfg, dtype=dtype)
    return model.to(device).eval()


def flops_per_token(model: Any) -> float:
    """2 N_non-embedding + 2 d V: the forward FLOPs of one scored token."""
    emb = model.get_input_embeddings().weight
    head = model.get_output_embeddings().weight
    n_all = sum(p.numel() for p in model.parameters())
    pos = getattr(getattr(model, "transformer", None), "wpe", None)  # GPT-2 positions
    n_emb = emb.numel() + (pos.weight.numel() if pos is not None else 0)
    if head.data_ptr() != emb.data_ptr():
        n_emb += head.numel()
    return 2.0 * (n_all - n_emb) + 2.0 * head.shape[0] * head.shape[1]


def hf_batched(model: Any, ids: list[list[int]], device: str) -> list[float]:
    import torch

    order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))
    out = [0.0] * len(ids)
    with torch.no_grad():
        for k in range(0, len(order), HF_BATCH):
            idx = order[k : k + HF_BATCH]
            T = max(len(ids[i]) + 1 for i in idx)
            x = torch.zeros((len(idx), T), dtype=torch.long)
            m = torch.zeros((len(idx), T), dtype=torch.long)
            for b, i in enumerate(idx):
                seq = [0, *ids[i]]
                x[b, : len(seq)] = torch.tensor(seq)
                m[b, : len(seq)] = 1
            x, m = x.to(device), m.to(device)
            lp = torch.log_softmax(model(input_ids=x, attention_mask=m).logits.float(), -1)
            tok = lp[:, :-1].gather(2, x[:, 1:, None])[..., 0] * m[:, 1:]
            for b, i in enumerate(idx):
                out[i] = float(tok[b].sum())
    return out


def measure(fn: Callable[[], list[float]], device: str, base: int) -> dict[str, Any]:
    import torch

    fn()  # warm-up: kernels, allocator
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    result = fn()
    if device == "cuda":
        torch.cuda.synchronize()
    wall = time.perf_counter() - t0
    peak = (torch.cuda.max_memory_allocated() - base) / 2**20 if device == "cuda" else float("nan")
    return {"wall": wall, "peak_mb": peak, "result": result}


def run_shape(shape: str, methods: list[str], n: int, device: str, peak_tflops: float) -> None:
    import numpy as np
    import torch

    import surprisal

    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    tok = C.tokenizer()
    texts = C.corpus(tok, n, hi=1000 if shape != "smoke" else 200)
    ids = [tok(t, add_special_tokens=False)["input_ids"] for t in texts]
    n_tok = sum(len(x) for x in ids)
    print(f"\n## {shape}: {SHAPES[shape]} ({n} texts, {n_tok} tokens, {dtype})")
    rows = []
    ref: list[float] | None = None
    for method in methods:
        attn = "flash_attention_2" if method == "surprisal-fa2" else None
        if attn:
            try:
                import flash_attn  # noqa: F401
            except ImportError:
                print(f"  {method}: SKIPPED (flash-attn not importable)")
                continue
        model = build(shape, device, dtype, attn)
        fpt = flops_per_token(model)
        if device == "cuda":
            torch.cuda.synchronize()
        base = torch.cuda.memory_allocated() if device == "cuda" else 0
        try:
            if method.startswith("surprisal"):  # total(): surprisal in nats
                lm = surprisal.LM(model, tok)
                pack = method != "surprisal"

                def fn(lm: Any = lm, pack: bool = pack) -> list[float]:
                    s = surprisal.score(texts, model=lm, pack=pack, progress=False)
                    return [t.total() for t in s]

                r = measure(fn, device, base)
            elif method == "hf-batched":

                def hf(model: Any = model) -> list[float]:
                    return [-x for x in hf_batched(model, ids, device)]

                r = measure(hf, device, base)
            elif method == "minicons":
                try:
                    from minicons import scorer
                except ImportError as e:
                    print(f"  {method}: SKIPPED ({e})")
                    continue
                sc = scorer.IncrementalLMScorer(model, tokenizer=tok, device=device)

                def mc(sc: Any = sc) -> list[float]:
                    out: list[float] = []
                    for i in range(0, len(texts), HF_BATCH):
                        out += sc.sequence_score(
                            texts[i : i + HF_BATCH],
                            reduction=lambda x: x.sum(0).item(),
                            bos_token=True,
                        )
                    return [-x for x in out]

                r = measure(mc, device, base)
            elif method == "lmeval":
                try:
                    from lm_eval.api.instance import Instance
                    from lm_eval.models.huggingface import HFLM
                except ImportError as e:
                    print(f"  {method}: SKIPPED ({e})")
                    continue
                hflm = HFLM(pretrained=model, tokenizer=tok, batch_size=HF_BATCH, device=device)

                def le(hflm: Any = hflm) -> list[float]:
                    reqs = [
                        Instance("loglikelihood_rolling", {}, (t,), i) for i, t in enumerate(texts)
                    ]
                    return [-float(x) for x in hflm.loglikelihood_rolling(reqs, disable_tqdm=True)]

                r = measure(le, device, base)
            else:
                raise SystemExit(f"unknown method {method}")
        except torch.OutOfMemoryError:
            print(f"  {method}: OUT OF MEMORY")
            continue
        finally:
            if device == "cuda":
                torch.cuda.empty_cache()
        surp = np.array(r["result"])  # surprisal per text, nats
        if ref is None:
            ref = list(surp)
        agree = float(np.max(np.abs(surp - np.array(ref)) / np.maximum(1.0, np.array(ref))))
        tps = n_tok / r["wall"]
        mfu = tps * fpt / (peak_tflops * 1e12)
        rows.append(
            [
                method,
                f"{r['wall']:.2f}",
                f"{tps:,.0f}",
                f"{100 * mfu:.1f}%",
                f"{r['peak_mb']:,.0f}",
                f"{agree:.1e}",
            ]
        )
        print(f"  {method}: {r['wall']:.2f} s, {tps:,.0f} tok/s, MFU {100 * mfu:.1f}%")
        del model
    best_peer = max(
        (float(r[2].replace(",", "")) for r in rows if not r[0].startswith("surprisal")),
        default=None,
    )
    header = ["method", "wall s", "tok/s", "MFU", "peak MB", "rel. diff vs first"]
    print(C.table(rows, header))
    if best_peer:
        ours = max(float(r[2].replace(",", "")) for r in rows if r[0].startswith("surprisal"))
        print(f"best surprisal method vs best peer: {ours / best_peer:.2f}x tokens/s")


def best_of(fn: Callable[[], Any], reps: int = 5) -> tuple[float, float]:
    """(best wall ms of ``reps`` synchronised runs after one warm-up, peak MiB above what was
    allocated before the timed runs)."""
    import torch

    fn()  # warm-up: compiles the Triton kernel, fills the allocator
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    times = []
    for _ in range(reps):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return 1e3 * min(times), (torch.cuda.max_memory_allocated() - base) / 2**20


def run_triton_head(shape: str, n: int, device: str) -> None:
    """The head alone: the Triton prototype (never writes logits) against ``fused_head``."""
    import torch

    from surprisal.head import HeadSpec, fused_head

    V, H = HEAD_DIMS[shape]
    print(f"\n## head alone, {shape}: V = {V:,}, H = {H}, N = {n:,} positions, bfloat16")
    if device != "cuda":
        print("  triton head: SKIPPED (needs CUDA)")
        return
    try:
        import triton  # noqa: F401
        from triton_head import fused_logprobs
    except ImportError as e:
        print(f"  triton head: SKIPPED ({e})")
        return
    g = torch.Generator(device=device).manual_seed(0)
    bf16 = torch.bfloat16
    hidden = torch.randn(n, H, device=device, generator=g).to(bf16)  # (N, H)
    # logits with a standard deviation of ~3 nats, about a trained LM's
    weight = (torch.randn(V, H, device=device, generator=g) * (3.0 / H**0.5)).to(bf16)
    targets = torch.randint(0, V, (n,), device=device, generator=g)  # (N,)
    k = min(n, HEAD_CHECK_ROWS)
    z64 = hidden[:k].double() @ weight.double().T  # (k, V) float64 head on the same values
    want = torch.log_softmax(z64, dim=-1).gather(1, targets[:k, None])[:, 0]
    del z64
    spec = HeadSpec(weight=weight)
    runs: list[tuple[str, Callable[[], torch.Tensor]]] = [
        ("fused_head (chunked)", lambda: fused_head(hidden, targets, spec)["logprobs"])
    ]
    for cfg in TRITON_CONFIGS:

        def triton_run(cfg: tuple[int, int, int, int, int] | None = cfg) -> torch.Tensor:
            return fused_logprobs(hidden, weight, targets, blocks=cfg)

        runs.append(
            ("triton " + ("default" if cfg is None else "x".join(map(str, cfg))), triton_run)
        )
    flop = 2.0 * n * V * H
    rows: list[list[str]] = []
    ref_ms: float | None = None
    for name, fn in runs:
        try:
            diff = float((fn()[:k].double() - want).abs().max())
            ms, peak = best_of(fn)
        except Exception as e:  # a block configuration the chip cannot hold, say
            print(f"  {name}: FAILED ({type(e).__name__}: {str(e)[:200]})")
            torch.cuda.empty_cache()
            continue
        if name.startswith("fused_head"):
            ref_ms = ms
        rows.append(
            [
                name,
                f"{ms:.2f}",
                f"{flop / (ms * 1e-3) / 1e12:.0f}",
                f"{peak:,.0f}",
                f"{diff:.1e}",
                f"{ref_ms / ms:.2f}x" if ref_ms else "n/a",
            ]
        )
        print(f"  {name}: {ms:.2f} ms, max |diff| vs float64 {diff:.1e}")
        torch.cuda.empty_cache()
    header = ["head", "ms", "TFLOP/s", "peak MB", "max |diff| f64", "speed vs fused_head"]
    print(C.table(rows, header))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shapes", default="gpt2-small,qwen2.5-0.5b,llama-1b")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--n-texts", type=int, default=2000)
    ap.add_argument("--peak-tflops", type=float, default=989.0, help="bf16 dense peak")
    ap.add_argument("--smoke", action="store_true", help="tiny shape on CPU, a few seconds")
    ap.add_argument(
        "--triton-head",
        choices=("yes", "no", "only"),
        default="yes",
        help="the head alone, Triton prototype vs fused_head (CUDA with triton only)",
    )
    ap.add_argument("--head-positions", type=int, default=16_384, help="N for --triton-head")
    a = ap.parse_args()
    import torch

    if a.smoke:
        device, shapes, n = "cpu", ["smoke"], 24
        methods = [m for m in a.methods.split(",") if m != "surprisal-fa2"]
    else:
        if not torch.cuda.is_available():
            raise SystemExit("bench_gpu.py needs CUDA (or --smoke for a CPU check of the script)")
        device, shapes, n = "cuda", a.shapes.split(","), a.n_texts
        methods = a.methods.split(",")
    print(C.machine())
    if device == "cuda":
        print(f"device: {torch.cuda.get_device_name()}, peak bf16 dense {a.peak_tflops} TFLOP/s")
    if a.triton_head != "only":
        for shape in shapes:
            run_shape(shape, methods, n, device, a.peak_tflops)
    if a.triton_head != "no":
        for shape in shapes:
            run_triton_head(shape, a.head_positions, device)


if __name__ == "__main__":
    main()
