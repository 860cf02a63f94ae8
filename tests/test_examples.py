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

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run_example(name: str, *args: str, cwd: Path) -> str:
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONUNBUFFERED="1")
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / name), "--fast", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
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
    out = run_example("grammar_explanation_experiment.py", cwd=tmp_path)  # --quick
    assert "grammar dyck2:" in out
    assert re.search(r"^  B: the same \d+ string batches in the same order", out, re.M)
    assert out.count("seed ") >= 2 and "seed 1: AUC (no prefix) chance" in out
    assert re.search(r"^  metric +chance +A +B +C", out, re.M)
    for metric in ("auc:none", "pair:explanation", "diff_reduction", "valid:none"):
        # chance, A, B, C
        assert re.search(rf"^  {metric}( +-?\d+\.\d{{3}}){{4}}   \w", out, re.M), metric
        for contrast in ("B-A", "B-C"):
            assert re.search(rf"^  {contrast} +{metric} +[+-]\d+\.\d{{3}} \[", out, re.M)
    assert "Holm over all 14 p's" in out
    assert "verdict (Holm-adjusted, two-sided, alpha 0.05, 2 training seeds):" in out
    assert "0.5 is chance" not in out and "0.5 = chance" not in out
    assert "done in" in out


def test_grammar_experiment_arms_share_string_batches():
    """B and C are A plus extra steps: the same string batches in the same order, no
    document mixing prose and strings, and C's extra tokens within one line of B's."""
    ex = _load_example("grammar_explanation_experiment.py")
    g = ex.grammar.zoo["dyck2"]
    tok = ex.untrained(0).tokenizer
    _, sched = ex.schedules(g, tok, ex.QUICK, seed=0)
    a, b, c = sched["A"], sched["B"], sched["C"]
    k = ex.QUICK.extra_every
    assert len(a) == ex.QUICK.steps and len(b) == len(c) == len(a) + len(a) // k
    extra_at = [i for i in range(len(b)) if (i + 1) % (k + 1) == 0]
    assert [x for i, x in enumerate(b) if i not in extra_at] == a
    assert [x for i, x in enumerate(c) if i not in extra_at] == a
    expl, ctrl = (
        {x for part in pools(g) for x in part} for pools in (ex.explanation_lines, ex.control_lines)
    )
    assert not expl & ctrl and g.control not in ctrl
    for doc in (d for batch in a for d in batch):
        assert doc.endswith("\n") and all(g.accepts(x) for x in doc.split("\n")[:-1])
    for arm, pool in (("B", expl), ("C", ctrl)):
        docs = [d for i in extra_at for d in sched[arm][i]]
        assert all(set(d.split("\n")[:-1]) <= pool and d.endswith("\n") for d in docs), arm
    # every explanation document opens as the test prefix does: the explanation, a newline
    assert all(d.startswith(g.explanation + "\n") for i in extra_at for d in b[i])

    def n_tokens(batches):
        return sum(len(tok(d, add_special_tokens=False)["input_ids"]) for x in batches for d in x)

    shortest = min(len(tok(x + "\n")["input_ids"]) for x in ctrl)
    gap = n_tokens([b[i] for i in extra_at]) - n_tokens([c[i] for i in extra_at])
    assert 0 <= gap < shortest + 3 * len(extra_at)  # +3: a newline may merge differently


def test_grammar_experiment_statistics_match_independent_computations():
    import numpy as np
    from scipy import stats as sps

    ex = _load_example("grammar_explanation_experiment.py")

    # Holm from its definition: adjusted p_(i) = max over j <= i of min(1, (m - j + 1) p_(j))
    p = np.array([0.01, 0.04, 0.03, 0.005, 0.5, 0.04])
    order = sorted(range(len(p)), key=lambda i: p[i])
    m = len(p)
    want = np.empty(m)
    for rank, i in enumerate(order):
        want[i] = max(min(1.0, (m - j) * p[order[j]]) for j in range(rank + 1))
    np.testing.assert_allclose(ex.stats.holm(p), want, rtol=0, atol=1e-12)

    # t-interval and two-sided p by hand: mean +- t_{0.975, n-1} sd / sqrt(n)
    d = np.array([0.12, -0.03, 0.08, 0.2, 0.05])
    mean, lo, hi, pval = ex.seed_differences(d)
    half = sps.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
    t = d.mean() / (d.std(ddof=1) / np.sqrt(len(d)))
    assert np.allclose([mean, lo, hi], [d.mean(), d.mean() - half, d.mean() + half])
    assert np.isclose(pval, 2 * sps.t.sf(abs(t), len(d) - 1))
    assert ex.seed_differences(np.zeros(3))[3] == 1.0


def test_grammar_experiment_differential_reduction_matches_score():
    """diff_reduction recomputed with surprisal.score, with and without the explanation."""
    import numpy as np

    import surprisal

    ex = _load_example("grammar_explanation_experiment.py")
    g = ex.grammar.zoo["dyck2"]
    setup = ex.replace(ex.QUICK, n_candidates=6, n_samples=2)
    lm = ex.untrained(3)
    got = ex.measure(lm, g, setup, known=[])["diff_reduction"]
    m = ex.grammar.membership(g, model=lm, n=6, max_len=setup.max_len, seed=0)
    texts = [t + "\n" for t in m.texts]
    plain = -surprisal.score(texts, model=lm).total()
    primed = -surprisal.score(texts, model=lm, context=g.explanation, separator="\n").total()
    gain = primed - plain
    members = m.labels == 1
    assert np.isclose(got, gain[members].mean() - gain[~members].mean(), atol=1e-4)


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
