"""Shared pieces of the benchmarks: machine info, corpora, models, memory probes, workers.

Every method is timed in a fresh subprocess (``python bench_*.py --worker ...``) so that
its peak memory can be read from the kernel (``VmHWM``, reset before the timed run via
``/proc/self/clear_refs``; ``ru_maxrss`` where that is not possible) without another
method's allocations in the way. Workers print one JSON line; the parent aggregates.

Nothing here downloads anything: models are random-weight, built from configs with a fixed
seed (so every subprocess gets bit-identical weights), and the tokenizer is trained
in-process by :func:`surprisal.testing.tiny_tokenizer`.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

THREADS = 2
# The one definition of the "hand-written KV-cache loop" that the benchmarks compare with
# (bench_delta.py's hand-kv-cache-16; docs/benchmarks.md quotes it).
HAND_KV_LOOP = (
    "hand-written: the explanation run once with use_cache=True, then per batch of 16 "
    "targets a DynamicCache of its keys/values expanded over the batch, right padding, "
    "explicit position_ids"
)
# OpenMP threads that wait at a barrier sleep instead of spinning. On a machine shared with
# other busy processes, spinning threads burn the cores the sibling thread needs and make
# many-small-op loops (one text per forward) several times slower than on a quiet machine;
# PASSIVE keeps the numbers close to what a quiet machine gives. Override by setting
# OMP_WAIT_POLICY yourself before running a benchmark.
OMP_WAIT_POLICY = "PASSIVE"

# A fixed word list: the words of surprisal.testing.CORPUS (which the tiny tokenizer knows,
# so they are 1-3 tokens each) plus rarer words that it spells out in several pieces.
EXTRA_WORDS = (
    "although",
    "measurement",
    "surprising",
    "theory",
    "river",
    "mountain",
    "yesterday",
    "ambiguous",
    "garden",
    "path",
    "sentence",
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
    "softmax",
    "gradient",
    "kernel",
    "memory",
    "batch",
    "token",
    "padding",
    "cache",
    "prefix",
    "suffix",
    "inference",
    "benchmark",
)


def words() -> list[str]:
    from surprisal.testing import CORPUS

    seen: dict[str, None] = {}
    for line in CORPUS:
        for w in line.split():
            w = w.strip(".,;:!?\"'()[]").lower()
            if w.isalpha():
                seen.setdefault(w, None)
    for w in EXTRA_WORDS:
        seen.setdefault(w, None)
    return list(seen)


def tokenizer() -> Any:
    """GPT-2-style byte-level BPE trained in-process; ``<|endoftext|>`` is BOS = EOS = id 0.

    Byte-level BPE pre-tokenizes on the GPT-2 regex, so ``tokens(a + b) == tokens(a) +
    tokens(b)`` whenever ``b`` starts with a space or ``a`` ends with punctuation: joined
    and separate tokenization agree, which the correctness checks rely on (and assert).
    """
    from surprisal.testing import tiny_tokenizer

    return tiny_tokenizer("byte-bpe", vocab_size=1000)


def n_tokens(tok: Any, text: str) -> int:
    return len(tok(text, add_special_tokens=False)["input_ids"])


def make_text(
    tok: Any, rng: np.random.Generator, vocab: list[str], target: int, cost: dict[str, int]
) -> str:
    """Words (with sentence breaks) until the text has at least ``target`` tokens.

    ``cost[w]`` is the token count of ``" " + w``; byte-level BPE never merges across the
    GPT-2 pre-token boundaries, so the counts add up exactly."""
    parts: list[str] = []
    count = 0
    while count < target:
        w = vocab[int(rng.integers(len(vocab)))]
        if not parts:
            w = w.capitalize()
            parts.append(w)
            count += n_tokens(tok, w)
            continue
        parts.append(" " + w)
        count += cost[w]
        if rng.random() < 0.08 and count < target:
            parts.append(".")
            count += 1
    return "".join(parts)


def corpus(tok: Any, n: int, *, seed: int = 0, lo: int = 5, hi: int = 200) -> list[str]:
    """``n`` texts with long-tailed (lognormal, median ~30) token lengths in [lo, hi]."""
    rng = np.random.default_rng(seed)
    vocab = words()
    lengths = np.clip(np.round(rng.lognormal(np.log(30), 0.8, size=n)), lo, hi).astype(int)
    cost = {w: n_tokens(tok, " " + w) for w in vocab}
    return [make_text(tok, rng, vocab, int(L), cost) for L in lengths]


# --- models -----------------------------------------------------------------------------

SHAPES: dict[str, str] = {
    "gpt2-4L-256": "GPT-2 architecture, 4 layers, hidden 256, 4 heads, vocab 50,257",
    "qwen2-2L-256-v152k": "Qwen2 architecture, 2 layers, hidden 256, 4 heads (2 KV), "
    "MLP 1024, vocab 151,936, tied embeddings",
    "llama-4L-256-v32k": "Llama architecture, 4 layers, hidden 256, 4 heads (2 KV), "
    "MLP 688, vocab 32,000, untied head",
    "llama-tiny-v8k": "Llama architecture, 4 layers, hidden 256, 4 heads (2 KV), "
    "MLP 688, vocab 8,192, untied head",
    "gpt2-small": "GPT-2 small shape: 12 layers, hidden 768, 12 heads, vocab 50,257 (124M)",
}


def build_model(shape: str) -> Any:
    """A random-weight causal LM (float32, eval mode); identical in every process."""
    import torch
    import transformers as tf

    common: dict[str, Any] = {"initializer_range": 0.1, "bos_token_id": 0, "eos_token_id": 0}
    if shape == "gpt2-4L-256":
        cfg = tf.GPT2Config(
            vocab_size=50257, n_embd=256, n_layer=4, n_head=4, n_positions=1024, **common
        )
    elif shape == "qwen2-2L-256-v152k":
        cfg = tf.Qwen2Config(
            vocab_size=151936,
            hidden_size=256,
            intermediate_size=1024,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            max_position_embeddings=1024,
            tie_word_embeddings=True,
            **common,
        )
    elif shape == "gpt2-small":
        cfg = tf.GPT2Config(
            vocab_size=50257, n_embd=768, n_layer=12, n_head=12, n_positions=1024, **common
        )
    elif shape in ("llama-4L-256-v32k", "llama-tiny-v8k"):
        cfg = tf.LlamaConfig(
            vocab_size=32000 if shape == "llama-4L-256-v32k" else 8192,
            hidden_size=256,
            intermediate_size=688,
            num_hidden_layers=4,
            num_attention_heads=4,
            num_key_value_heads=2,
            max_position_embeddings=4096,  # room for 2,000-token explanations; RoPE only
            tie_word_embeddings=False,
            **common,
        )
    else:
        raise ValueError(shape)
    torch.manual_seed(0)
    model = tf.AutoModelForCausalLM.from_config(cfg)
    return model.float().eval()


# --- memory -----------------------------------------------------------------------------


def _status_kb(key: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def reset_peak() -> bool:
    """Reset the kernel's peak-RSS counter (Linux ``clear_refs`` 5); True if it worked."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return True


def rss_kb() -> int:
    v = _status_kb("VmRSS")
    return v if v is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def peak_kb() -> int:
    v = _status_kb("VmHWM")
    return v if v is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


# --- machine ----------------------------------------------------------------------------


def versions() -> dict[str, str]:
    from importlib import metadata

    out = {"python": platform.python_version()}
    for dist in ("torch", "transformers", "tokenizers", "surprisal-lm", "minicons", "lm_eval"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out


def source_revision() -> str:
    """The surprisal checkout measured: git HEAD and whether src/ has uncommitted edits."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        head = subprocess.run(
            ["git", "-C", root, "log", "-1", "--format=%h %cd %s", "--date=iso"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", root, "status", "--short", "--", "src"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown (no git)"
    return head + (" (+ uncommitted edits in src/)" if dirty else "")


def machine() -> str:
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 0
    mem = ""
    try:
        with open("/proc/meminfo") as f:
            kb = int(f.readline().split()[1])
        mem = f", {kb / 2**20:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    v = versions()
    vs = ", ".join(f"{k} {val}" for k, val in v.items())
    return (
        f"machine: {cpu}, {usable} usable cores (os.cpu_count={os.cpu_count()}){mem}, "
        f"no GPU used, torch threads {THREADS}, "
        f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', OMP_WAIT_POLICY)} in the workers, "
        f"load average at start {loadavg()} (other processes share this machine)\nversions: {vs}\n"
        f"surprisal source: {source_revision()}"
    )


# --- worker protocol --------------------------------------------------------------------


def worker_setup() -> None:
    import torch

    torch.set_num_threads(THREADS)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def loadavg() -> str:
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


def timed(
    fn: Callable[[], Any],
    warmup: Callable[[], Any] | None,
    repeats: int = 1,
) -> dict[str, Any]:
    """Run ``warmup`` (untimed), then ``fn`` exactly ``repeats`` times: every method gets the
    same number of runs, however slow (a time budget would give a slow method fewer tries
    and so a worse best).

    Reports every wall time, the best and the median, the process CPU time (all threads)
    of the best-wall run and the best, the load average before and after, and the peak RSS
    above the RSS measured after setup (model built) and before the warm-up: the kernel's
    high-water mark is reset there once, so memory that the allocator keeps resident from
    the warm-up into the timed runs is counted, not hidden in the baseline. The result of
    the first timed run is returned for the agreement checks.
    """
    import gc
    import statistics

    gc.collect()
    exact = reset_peak()
    base = rss_kb()
    load0 = loadavg()
    if warmup is not None:
        warmup()
    walls: list[float] = []
    cpus: list[float] = []
    result = None
    for k in range(repeats):
        gc.collect()
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
        if k == 0:
            result = out
        del out
    return {
        "result": result,
        "wall_s": min(walls),
        "wall_median_s": statistics.median(walls),
        "walls": walls,
        "cpu_s": min(cpus),
        "cpus": cpus,
        "peak_delta_mb": (peak_kb() - base) / 1024,
        "base_rss_mb": base / 1024,
        "peak_exact": exact,
        "load": f"{load0} -> {loadavg()}",
    }


def emit(payload: dict[str, Any]) -> None:
    print("@@RESULT@@" + json.dumps(payload), flush=True)


def spawn(
    script: str, args: list[str], timeout: float = 1800, pythonpath: str | None = None
) -> dict[str, Any]:
    """Run ``script --worker ARGS`` in a fresh interpreter and return its JSON payload;
    ``pythonpath`` puts another surprisal source first (a baseline to compare with)."""
    cmd = [sys.executable, script, "--worker", *args]
    env = dict(os.environ, OMP_NUM_THREADS=str(THREADS), TOKENIZERS_PARALLELISM="false")
    if pythonpath:
        env["PYTHONPATH"] = pythonpath + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("OMP_WAIT_POLICY", OMP_WAIT_POLICY)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    for line in p.stdout.splitlines():
        if line.startswith("@@RESULT@@"):
            return json.loads(line[len("@@RESULT@@") :])  # type: ignore[no-any-return]
    tail = (p.stderr or p.stdout)[-1500:]
    return {"error": f"worker exited {p.returncode}: {tail.strip()}"}


def table(rows: list[list[str]], header: list[str]) -> str:
    w = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = "| " + " | ".join(h.ljust(w[i]) for i, h in enumerate(header)) + " |"
    sep = "|" + "|".join("-" * (w[i] + 2) for i in range(len(header))) + "|"
    body = [
        "| "
        + " | ".join(str(c).rjust(w[i]) if i else str(c).ljust(w[i]) for i, c in enumerate(r))
        + " |"
        for r in rows
    ]
    return "\n".join([line, sep, *body])
