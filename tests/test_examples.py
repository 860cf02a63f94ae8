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


@pytest.mark.slow
def test_grammar_explanation_experiment(tmp_path):
    out = run_example("grammar_explanation_experiment.py", cwd=tmp_path)
    assert "grammar dyck2:" in out
    for model in ("A", "B"):
        assert f"-- model {model} (trained and measured in" in out
    assert out.count("lift explanation-none: AUC") == 2
    assert out.count("generation from grammar dyck2:") == 2
    assert "-- B vs A, same" in out
    for condition in ("none", "explanation", "control"):
        assert re.search(rf"^  {condition} +[+-]\d\.\d{{3}} \[", out, re.M), condition
    assert "done in" in out


def test_gpu_benchmark_script_runs_in_smoke_mode(tmp_path):
    """benchmarks/bench_gpu.py is run by hand on a lent GPU; its CPU smoke mode keeps it
    from rotting between those runs (it prints a table, never a timing claim)."""
    script = EXAMPLES.parent / "benchmarks" / "bench_gpu.py"
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    proc = subprocess.run(
        [
            sys.executable,
            str(script),
            "--smoke",
            "--methods",
            "surprisal,surprisal-packed,hf-batched",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "| surprisal-packed |" in proc.stdout and "| hf-batched" in proc.stdout


def test_explanation_divergence(tmp_path):
    out = run_example("explanation_divergence.py", "--out", "div.html", cwd=tmp_path)
    assert "40 dyck2 members" in out
    for group in ("first", "closing", "other"):
        assert re.search(rf"^{group} +\d+ +\d+\.\d{{3}} +\d+\.\d{{3}}", out, re.M), group
    assert "closing positions, explanation - control KL per string: mean" in out
    assert "divergence KL(p(.|e) || p(.)) summed per target" in out
    html = (tmp_path / "div.html").read_text(encoding="utf-8")
    assert "<script" not in html and html.count("<h2>") == 1 and "Divergence KL" in html
