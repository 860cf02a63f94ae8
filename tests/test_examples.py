"""The examples in ``examples/`` run offline with ``--fast`` and print what they promise.

Each example runs in its own subprocess, as a user would run it, with the hub switched off.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run_example(name: str, *args: str, cwd: Path, timeout: int = 120) -> str:
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONUNBUFFERED="1")
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / name), "--fast", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, f"{name} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


def run_benchmark(name: str, *args: str, cwd: Path, timeout: int = 120) -> str:
    """Run ``benchmarks/<name>`` in a fresh process; its stdout (it must exit 0)."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    script = EXAMPLES.parent / "benchmarks" / name
    proc = subprocess.run(
        [sys.executable, str(script), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, f"{name} failed:\n{proc.stderr[-3000:]}"
    return proc.stdout


def test_quickstart(tmp_path):
    out = run_example("quickstart.py", cwd=tmp_path)
    assert out.startswith("model: ")
    assert "== per-token surprisal (bits) of text 0 ==" in out
    assert "corpus perplexity" in out
    assert "== words of text 2" in out
    assert re.search(r"total +\d+\.\d+ bits", out)


@pytest.mark.slow
def test_proof_delta(tmp_path):
    out = run_example("proof_delta.py", "--out", "proof.html", cwd=tmp_path)
    assert "trained a tiny GPT-2" in out
    assert "reduction S(t) - S(t|e): mean" in out
    assert "explanation cost S(e):" in out
    assert "two-part gain (summed, explanation paid once):" in out
    assert "== tokens of proof 0 that became most predictable given the hint ==" in out
    assert "== all four hints ranked by mean reduction" in out
    assert "wrote proof.html" in out
    html = (tmp_path / "proof.html").read_text(encoding="utf-8")
    assert html.startswith("<!doctype html>") and "<script" not in html
    assert html.count("<span") > 100  # one span per token of 8 proofs


def _load_example(name: str):
    """Import an example script as a module (its functions, without running main)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name.removesuffix(".py"), EXAMPLES / name)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_grammar_explanation_experiment(tmp_path):
    """--quick trains 4 tiny models (about 30 s of CPU) and writes the JSON summary; its
    positive control is detected (lower bound > 0), so the pipeline can find the effect."""
    import json

    out = run_example(  # about 30 s of CPU; the limit allows for a shared machine
        "grammar_explanation_experiment.py", "--json", "s.json", cwd=tmp_path, timeout=600
    )
    assert out.startswith("primary endpoint (named before the run): crossover_auc")
    assert re.search(r"minimum detectable effect at \d+ seeds: \d\.\d{4} AUC", out)
    summary = json.loads((tmp_path / "s.json").read_text(encoding="utf-8"))
    assert set(summary) >= {"primary", "positive_control", "mde", "verdict"}
    assert set(summary["primary"]) == {"name", "estimate", "lo", "hi", "p"}
    assert summary["primary"]["name"] == "crossover_auc"
    pc = summary["positive_control"]
    assert set(pc) == {"estimate", "lo", "hi"} and pc["lo"] > 0, pc
    assert summary["verdict"] in out and "no evidence" not in summary["verdict"]
    assert summary["mde"] > 0 and "0.5 = chance" not in out


def test_grammar_experiment_design():
    """Step-matched doses, no document mixing a description with examples of the
    crossover grammars, descriptions only for X, counterbalanced X/Y, and items whose
    non-members use another pair at the members' lengths."""
    ex = _load_example("grammar_explanation_experiment.py")
    s = ex.replace(ex.QUICK, steps=6)
    p0, p1 = ex.plan(0, s), ex.plan(1, s)
    assert (p0.x, p0.y) == (p1.y, p1.x) and (p0.x_name, p0.y_name) == (p1.y_name, p1.x_name)
    assert not set(p0.held_out) & (set(p0.reading) | {p0.x, p0.y})
    for dose in (0.0, 0.1, 0.3, 0.6):
        batches = ex.documents(p0, s, dose, seed=0)
        assert len(batches) == s.steps and all(len(b) == s.batch_size for b in batches)
        docs = [d for b in batches for d in b]
        desc = [d for d in docs if d.startswith("name:") and "rule:" in d]
        examples = [d for d in docs if d.startswith("name:") and "rule:" not in d]
        want_ex = max(1, round(s.example_share * s.batch_size * s.steps))
        assert len(examples) == 2 * want_ex  # of X and of Y, the same number
        assert len(desc) == s.steps * round(dose * s.batch_size)
        assert all(d == f"name:{p0.x_name}\nrule:{p0.x}\n" for d in desc)
        for d in docs:
            lines = d.split("\n")[:-1]
            if lines[0].startswith("name:") and "rule:" not in d:  # an example document
                pair = p0.x if lines[0] == f"name:{p0.x_name}" else p0.y
                assert all(set(x) <= set(pair) for x in lines[1:])
            if lines[0].startswith("rule:"):  # a reading document: never a held-out grammar
                assert lines[0][5:] in p0.reading
    pos, neg = ex.items("jq", s, seed=0)
    assert len(pos) == len(neg) == s.n_items
    assert sorted(map(len, pos)) == sorted(map(len, neg))
    assert all(set(x) == {"j", "q"} for x in pos) and all(set(x) != {"j", "q"} for x in neg)
    assert all(len(set(x)) == 2 for x in neg)


def test_grammar_experiment_statistics_match_independent_computations():
    import numpy as np
    from scipy import stats as sps

    ex = _load_example("grammar_explanation_experiment.py")
    # t-interval and two-sided p by hand: mean +- t_{0.975, n-1} sd / sqrt(n)
    d = np.array([0.12, -0.03, 0.08, 0.2, 0.05])
    r = ex.over_seeds(d)
    half = sps.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
    t = d.mean() / (d.std(ddof=1) / np.sqrt(len(d)))
    assert np.allclose(
        [r["estimate"], r["lo"], r["hi"]], [d.mean(), d.mean() - half, d.mean() + half]
    )
    assert np.isclose(r["p"], 2 * sps.t.sf(abs(t), len(d) - 1))
    assert ex.over_seeds(np.zeros(3))["p"] == 1.0
    ok = {"estimate": 1.0, "lo": 0.5, "hi": 1.5, "p": 0.01}
    bad = {"estimate": 1.0, "lo": -0.5, "hi": 2.5, "p": 0.2}
    assert ex.verdict(ok, ok, bad).startswith("cannot test: the manipulation check")
    assert ex.verdict(ok, bad, ok).startswith("cannot test: the positive control")
    assert ex.verdict(ok, ok, ok).startswith("effect detected")
    assert ex.verdict(bad, ok, ok).startswith("not detected")
    assert ex.verdict(bad, ok, ok, room=0.7).startswith("not detected")
    assert ex.verdict(ok, ok, ok, room=ex.CEILING).startswith("cannot test: no room")


def test_grammar_experiment_measures_match_score():
    """The manipulation check and one crossover AUC recomputed with surprisal.score."""
    import numpy as np

    import surprisal

    ex = _load_example("grammar_explanation_experiment.py")
    s = ex.replace(ex.QUICK, n_items=6)
    from surprisal.testing import tiny_lm

    lm = tiny_lm("gpt2", max_positions=128, seed=3)
    p = ex.plan(0, s)
    got = ex.measure(lm, p, s, seed=0)
    docs = [f"name:{p.x_name}\nrule:{p.x}\n", f"name:{p.y_name}\nrule:{p.y}\n"]
    lp = -surprisal.score(docs, model=lm).total()
    assert np.isclose(got["manipulation"], lp[0] - lp[1], atol=1e-4)
    pos, neg = ex.items(p.x, s, seed=0)
    ctx = f"name:{p.x_name}"
    a = -surprisal.score([x + "\n" for x in pos], model=lm, context=ctx, separator="\n").total()
    b = -surprisal.score([x + "\n" for x in neg], model=lm, context=ctx, separator="\n").total()
    auc = np.mean([(x > y) + 0.5 * (x == y) for x in a for y in b])
    assert np.isclose(got["auc_x"], auc, atol=1e-6)


def test_gpu_benchmark_script_runs_in_smoke_mode(tmp_path):
    """benchmarks/bench_gpu.py is run by hand on a lent GPU; its CPU smoke mode keeps it
    from rotting between those runs (it prints a table, never a timing claim)."""
    methods = "surprisal,surprisal-packed,hf-batched"
    out = run_benchmark("bench_gpu.py", "--smoke", "--methods", methods, cwd=tmp_path)
    assert "| surprisal-packed |" in out and "| hf-batched" in out


def test_host_benchmark_runs(tmp_path):
    """benchmarks/bench_host.py on 200 texts: every step is timed and the token counts of
    score(), to_pandas() and the JSONL file are checked against the tokenizer's own."""
    out = run_benchmark("bench_host.py", "--smoke", cwd=tmp_path, timeout=300)
    assert "checks: every path scored every token (ok)" in out
    steps = [r.split("|")[1].strip() for r in out.splitlines() if r.startswith("| ")]
    for step in ("encode_batch (1 thread)", "tokenize", "score()", "to_pandas()"):
        assert step in steps, out
    assert "score_to_file (JSONL)" in steps and "load average" in out


def test_score_benchmark_runs_and_every_method_agrees(tmp_path):
    """benchmarks/bench_score.py on 8 texts: each method runs in its own process and its
    per-text totals are checked against the one-text loop (the numbers, never the times)."""
    methods = "hf-one-at-a-time,surprisal,surprisal-padded"
    args = ["--shapes", "gpt2-4L-256", "--n-texts", "8", "--methods", methods, "--repeats", "1"]
    out = run_benchmark("bench_score.py", *args, cwd=tmp_path, timeout=300)
    rows = {
        r.split("|")[1].strip(): r.split("|")
        for r in out.splitlines()
        if r.startswith("| ") and "|--" not in r and "method" not in r
    }
    assert set(rows) == set(methods.split(",")), out
    for name, cells in rows.items():
        assert float(cells[-3]) <= 1e-3, (name, cells)  # max |delta logp| vs the loop


def test_head_benchmark_runs_and_every_method_agrees(tmp_path):
    """benchmarks/bench_head.py on a small head: each method's agreement with float64 is
    printed beside its time (the numbers are read here, never the times)."""
    small = ["--vocab", "3001", "--hidden", "24", "--positions", "300", "--chunks-mib", "1"]
    out = run_benchmark("bench_head.py", *small, "--repeats", "1", cwd=tmp_path)
    rows = [r for r in out.splitlines() if r.startswith("| ") and "|--" not in r][1:]
    assert len(rows) == 4, out  # slices, blocks 1 MiB, logsumexp, full
    for row in rows:
        assert float(row.strip("| ").split("|")[-1]) <= 1e-5, row


def test_explanation_divergence(tmp_path):
    out = run_example("explanation_divergence.py", "--out", "div.html", cwd=tmp_path)
    assert "40 dyck2 members" in out
    for group in ("first", "closing", "other"):
        assert re.search(rf"^{group} +\d+ +\d+\.\d{{3}} +\d+\.\d{{3}}", out, re.M), group
    assert "closing positions, explanation - control KL per string: mean" in out
    assert "divergence KL(p(.|e) || p(.)) summed per target" in out
    html = (tmp_path / "div.html").read_text(encoding="utf-8")
    assert "<script" not in html
    assert "How far the explanation moved the next-token distribution" in html


def test_greedy_decoding(tmp_path):
    out = run_example("greedy_decoding.py", "--out", "dec.html", cwd=tmp_path)  # --quick
    assert out.startswith("model: surprisal-demo")
    assert "decoding: 7 prompts x 2 samples, 24 new tokens" in out
    assert re.search(
        r"^seq-rep-4( +(-?\d+\.\d{3} \[-?\d+\.\d{3}, -?\d+\.\d{3}\]|n/a)){5}$", out, re.M
    )
    for name in ("seq-rep-4", "loop rate", "mean entropy (nats)", "mean surprisal (nats)"):
        assert re.search(
            rf"^  {re.escape(name)}: greedy .* vs T=1 .*: (greedy is|the 95% CIs)", out, re.M
        )
    assert "reference strings: seq-rep-4" in out and "wrote dec.html" in out
    html = (tmp_path / "dec.html").read_text(encoding="utf-8")
    assert "<script" not in html and "Repetition against temperature" in html
