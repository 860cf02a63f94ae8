"""The shipped demo model, the demo report, and the script that trains the model."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import surprisal
from surprisal import _demo_files
from surprisal._demo_files import DEMO_DIR
from surprisal.demo import DemoReport, demo_path, load_demo, run_demo

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "train_demo_model.py"


def test_demo_model_is_shipped_small_and_loads_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    assert demo_path() == DEMO_DIR
    files = {f.name: f.stat().st_size for f in DEMO_DIR.iterdir() if f.is_file()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "TRAINING.json"} <= set(files)
    assert sum(files.values()) < 6_000_000
    lm = load_demo(device="cpu")
    assert isinstance(lm, surprisal.LM)
    assert lm.fused and lm.verify_error is not None and lm.verify_error < 1e-3
    assert lm.bos_policy == "bos" and lm.tokenizer.bos_token == "<|endoftext|>"
    assert lm.max_length == 512 and lm.dtype == torch.float32
    info = json.loads((DEMO_DIR / "TRAINING.json").read_text(encoding="utf-8"))
    assert {"seed", "steps", "final_loss", "training_seconds", "torch", "transformers"} <= set(info)
    assert info["corpus"]["recipe"]["p_explanation"] == 0.5


def test_missing_demo_model_says_how_to_build_it(monkeypatch, tmp_path):
    monkeypatch.setattr(_demo_files, "DEMO_DIR", tmp_path)
    with pytest.raises(surprisal.SurprisalError, match=r"train_demo_model\.py"):
        demo_path()
    with pytest.raises(surprisal.SurprisalError, match="missing"):
        load_demo()


@pytest.fixture(scope="module")
def quick_report(tmp_path_factory):
    path = tmp_path_factory.mktemp("demo") / "report.html"
    threads = torch.get_num_threads()
    started = time.time() - 100.0  # as if the process had started 100 s ago
    report = run_demo(quick=True, html_path=path, started=started)
    assert torch.get_num_threads() == threads  # restored
    return report, path


@pytest.mark.slow
def test_run_demo_quick_report(quick_report):
    report, path = quick_report
    assert isinstance(report, DemoReport)
    lines = report.text.splitlines()
    assert 15 <= len(lines) <= 45
    assert max(len(line) for line in lines) <= 100
    for section in ("1. score", "2. delta", "3. membership"):
        assert section in report.text
    # the HTML report: written, self-contained, no scripts, no links out
    assert path.is_file()
    page = path.read_text(encoding="utf-8")
    assert page == report.html and page.startswith("<!doctype html>")
    assert "<script" not in page.lower() and "http" not in page.lower()
    assert page.count("<html") == 1 and page.count("<body") == 1
    # its ROC plots label the diagonal AUC 0.5 and name the measured chance levels
    assert "AUC 0.5 diagonal" in page and "chance (AUC 0.5)" not in page
    assert page.count("measured chance AUC:") == 3  # one ROC plot per grammar shown


@pytest.mark.slow
def test_run_demo_numbers_are_sane(quick_report):
    n = quick_report[0].numbers
    assert set(n) >= {"score", "delta", "membership", "seconds"}
    assert n["seconds"] >= 100.0  # counted from `started`, not from the call
    assert f"Done in {n['seconds']:.1f} s since the process started." in quick_report[0].text
    scores = n["score"]
    assert scores["([])[]"]["total_bits"] < scores["([)][]"]["total_bits"]  # member < non
    for entry in scores.values():
        assert entry["total_bits"] > 0 and len(entry["top_bits"]) <= 3
        bits = [b for _, b in entry["top_bits"]]
        assert bits == sorted(bits, reverse=True)
    for name, d in n["delta"].items():
        assert d["nats"]["unit"] == "nats" and d["bits"]["unit"] == "bits"
        red = d["nats"]["reduction"]
        assert red["ci_low"] <= red["mean"] <= red["ci_high"], name
        assert math.isclose(d["bits"]["reduction"]["mean"], red["mean"] / math.log(2))
    for name, m in n["membership"].items():
        assert set(m["auc"]) == {"none", "explanation", "control"}, name
        assert set(m["pair_accuracy"]) == {"none", "explanation", "control"}
        assert set(m["lift"]) == {"explanation-none", "explanation-control"}
        assert all(0.0 <= v <= 1.0 for v in m["auc"].values())


@pytest.mark.slow
def test_text_report_is_in_bits_like_the_page(quick_report):
    """Every surprisal figure of the text report is in bits, as on the HTML page: the delta
    and differential figures are the nats numbers divided by ln 2 (up to rounding)."""
    report = quick_report[0]
    lines = report.text.splitlines()
    assert "bits throughout" in lines[1] and "all values in bits" in report.html
    # "nats" only where the header converts the unit
    assert [i for i, line in enumerate(lines) if "nats" in line] == [2], report.text
    num = r"([+-]\d+\.\d+)"
    ci = rf"{num} \[{num}, {num}\]"

    def check(pattern, want):  # every match of pattern, in order, against want (bits)
        rows = [[float(v) for v in row] for row in re.findall(pattern, report.text)]
        assert len(rows) == len(want) == 3, pattern
        np.testing.assert_allclose(rows, want, atol=0.0051, rtol=0)  # 2 decimals shown

    def bits(d):  # (mean, low, high) of a nats entry, in bits
        return [d[k] / math.log(2) for k in ("mean", "ci_low", "ci_high")]

    delta = report.numbers["delta"].values()
    want = [bits(d["nats"]["reduction"]) + bits(d["nats"]["control"]) for d in delta]
    check(rf"explanation {ci}   control {ci}", want)
    check(rf"explanation vs control {ci}", [bits(d["nats"]["vs_control"]) for d in delta])
    diffs = [m["differential"] for m in report.numbers["membership"].values()]
    want = [[d[k] / math.log(2) for k in ("estimate", "ci_low", "ci_high")] for d in diffs]
    check(rf"diff {ci}", want)


@pytest.mark.slow
def test_demo_model_learned_the_zoo(quick_report):
    n = quick_report[0].numbers
    # it tells members from non-members of a grammar it learned ...
    assert max(m["auc"]["none"] for m in n["membership"].values()) > 0.7
    assert n["membership"]["dyck2"]["auc"]["explanation"] > 0.7
    # ... and an explanation makes its grammar's strings less surprising than a control does
    for name, d in n["delta"].items():
        assert d["nats"]["vs_control"]["mean"] > 0.5, name
        assert d["nats"]["reduction"]["ci_low"] > 0, name


def _train(out: Path, seed: int = 0) -> subprocess.Popen[bytes]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    cmd = [sys.executable, str(SCRIPT), "--quick", "--seed", str(seed), "--out", str(out)]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


@pytest.mark.integration
@pytest.mark.slow
def test_training_script_quick_runs_and_is_deterministic(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    procs = [_train(a), _train(b)]  # one torch thread each: the two runs go side by side
    for p in procs:
        out, _ = p.communicate(timeout=120)
        assert p.returncode == 0, out.decode(errors="replace")[-2000:]
    for d in (a, b):
        names = {f.name for f in d.iterdir()}
        assert {"config.json", "model.safetensors", "tokenizer.json", "TRAINING.json"} <= names
    assert (a / "model.safetensors").read_bytes() == (b / "model.safetensors").read_bytes()
    assert (a / "tokenizer.json").read_bytes() == (b / "tokenizer.json").read_bytes()
    info = json.loads((a / "TRAINING.json").read_text(encoding="utf-8"))
    assert info["quick"] is True and info["seed"] == 0 and math.isfinite(info["final_loss"])
    lm = surprisal.load(a)  # what it wrote is a loadable, verifiable model
    assert lm.fused and lm.bos_policy == "bos"


@pytest.mark.integration
def test_process_start_includes_time_before_the_import():
    """``surprisal demo`` counts "Done in" from the process start: a process that slept 1 s
    before importing the CLI is at least 1 s old when asked."""
    code = (
        "import time; time.sleep(1.0)\n"
        "from surprisal.cli import _process_start\n"
        "print(time.time() - _process_start())"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    age = float(out.stdout.strip())
    assert 1.0 <= age < 60.0
