"""The LM head alone: surprisal's fused_head against the head computations people write.

Per position, every method computes ``log_softmax(h @ W.T)[target]`` in float32 from the
same random hidden states, weight and targets (seed 0), and is checked against a float64
head on the same values:

* ``fused_head slices``: :func:`surprisal.head.fused_head` as it runs on CPU for
  log-probabilities alone: the vocabulary 1,024 rows at a time against every position, one
  log-sum-exp per slice (``head._head_slices``);
* ``fused_head blocks``: the same function on its full-vocabulary path (what it runs with
  extras, or on a GPU), at the given chunk sizes: one buffer of float32 logits per block,
  overwritten by their log-softmax (the CPU default is 64 MiB);
* ``chunks+logsumexp``: the same chunking with a fresh ``(n, V)`` allocation per chunk and
  ``logits.gather - logsumexp``: what ``fused_head`` did before it reused its buffers;
* ``full log_softmax``: ``torch.log_softmax(h @ W.T)`` over all N positions at once, then
  ``gather``: the one-line version (its memory is the whole ``(N, V)`` tensor).

    python benchmarks/bench_head.py                       # V 32,000, H 256, N 8,192
    python benchmarks/bench_head.py --vocab 151936 --hidden 896 --positions 2048

Times are the median of the repeats after a warm-up, in µs per position, in this process
(threads as set by the machine's defaults for the benchmarks: 2).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common as C


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--vocab", type=int, default=32000)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--positions", type=int, default=8192)
    ap.add_argument("--chunks-mib", default="32,64,128", help="full-vocabulary block sizes, MiB")
    ap.add_argument("--repeats", type=int, default=5)
    a = ap.parse_args()
    C.worker_setup()
    import torch

    from surprisal import head as head_mod
    from surprisal.head import HeadSpec, fused_head

    torch.manual_seed(0)
    N, H, V = a.positions, a.hidden, a.vocab
    h, w = torch.randn(N, H), torch.randn(V, H) * 0.05
    t = torch.randint(0, V, (N,))
    spec = HeadSpec(weight=w)
    ref = torch.log_softmax(h.double() @ w.double().T, -1).gather(1, t[:, None])[:, 0]

    def chunks_logsumexp(chunk_bytes: int) -> torch.Tensor:
        n_c, out = max(1, chunk_bytes // 4 // V), torch.empty(N)
        for n0 in range(0, N, n_c):
            z = h[n0 : n0 + n_c] @ w.T
            zt = z.gather(1, t[n0 : n0 + n_c, None])[:, 0]
            out[n0 : n0 + n_c] = zt - torch.logsumexp(z, 1)
        return out

    def blocks(chunk_bytes: int) -> torch.Tensor:
        saved = head_mod.SLICE_MIN_POSITIONS
        head_mod.SLICE_MIN_POSITIONS = N + 1  # too few positions for slices: full blocks
        try:
            return fused_head(h, t, spec, chunk_bytes=chunk_bytes)["logprobs"]
        finally:
            head_mod.SLICE_MIN_POSITIONS = saved

    methods: dict[str, Callable[[], torch.Tensor]] = {
        "fused_head slices (CPU default)": lambda: fused_head(h, t, spec)["logprobs"]
    }
    for mib in (int(x) for x in a.chunks_mib.split(",")):
        methods[f"fused_head blocks {mib} MiB"] = lambda cb=mib * 2**20: blocks(cb)
    methods["chunks+logsumexp 32 MiB"] = lambda: chunks_logsumexp(32 * 2**20)
    methods["full log_softmax"] = lambda: torch.log_softmax(h @ w.T, -1).gather(1, t[:, None])[:, 0]
    print(C.machine())
    print(f"head: V {V:,}, H {H}, N {N:,} positions, float32; {2 * V * H / 1e6:.0f} MFLOP each")
    rows = []
    with torch.no_grad():
        for name, fn in methods.items():
            got = fn()  # warm-up, and the agreement check
            err = float((got.double() - ref).abs().max())
            times = []
            for _ in range(a.repeats):
                t0 = time.perf_counter()
                fn()
                times.append(time.perf_counter() - t0)
            med = sorted(times)[len(times) // 2]
            rows.append(
                [
                    name,
                    f"{med * 1e6 / N:.1f}",
                    f"{2 * V * H * N / med / 1e9:.0f}",
                    f"{err:.1e}",
                ]
            )
    print(C.table(rows, ["method", "µs / position", "GFLOP/s", "max |Δ logp| vs float64"]))
    print(f"surprisal source: {C.source_revision()}")


if __name__ == "__main__":
    main()
