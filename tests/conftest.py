"""Shared fixtures: tiny random-weight models of real architectures, and a float64 oracle.

The oracle is written here, independently of the package: it runs one unpadded sequence
through a float64 copy of the model and takes a full ``log_softmax`` of the model's own
logits, so the model's head transforms (bias, softcap, ...) come from transformers itself.
"""

from __future__ import annotations

import copy
import os
import weakref

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np
import pytest
import torch

from surprisal.testing import ARCHITECTURES, tiny_lm

TEXTS = [
    "The cat sat on the mat.",
    "Colorless green ideas sleep furiously.",
    "a",
    "Language models assign a probability to every text, and we read it off token by token.",
    "  leading and trailing spaces  ",
    "emoji 🙂, CJK 漢字, combining é (e\u0301).",
    "the the the the the the the",
]


@pytest.fixture(scope="session", params=ARCHITECTURES)
def arch_lm(request):
    return tiny_lm(request.param)


@pytest.fixture(scope="session")
def lms():
    return {a: tiny_lm(a) for a in ARCHITECTURES}


@pytest.fixture(scope="session")
def gpt2_lm(lms):
    return lms["gpt2"]


@pytest.fixture(scope="session")
def llama_lm(lms):
    return lms["llama"]


# Keyed by the model object itself, weakly: keyed by id(), a model built after another was
# freed could reuse its address and be handed the dead model's float64 copy (a wrong
# reference, seen as a rare failure depending on which tests ran before). The parameters'
# in-place version counters tell when a model was changed (trained) after it was copied.
_F64: weakref.WeakKeyDictionary[torch.nn.Module, tuple[tuple[int, ...], torch.nn.Module]] = (
    weakref.WeakKeyDictionary()
)


def f64_model(model):
    versions = tuple(p._version for p in model.parameters())
    got = _F64.get(model)
    if got is None or got[0] != versions:
        got = (versions, copy.deepcopy(model).to(torch.float64).eval())
        _F64[model] = got
    return got[1]


@torch.no_grad()
def ref_logits(model, ids):
    """(T, V) float64 log-softmax of the model's own logits for one unpadded sequence."""
    m = f64_model(model)
    x = torch.tensor([list(ids)], dtype=torch.long)
    logits = m(input_ids=x, use_cache=False).logits[0].to(torch.float64)
    return torch.log_softmax(logits, dim=-1)


def ref_scores(lm, text, context=None, separator="\n", boundary=True):
    """Float64 log-probs of the text's tokens, full context, by the definition in DESIGN.md."""
    tok = lm.tokenizer
    ids = tok(text, add_special_tokens=False)["input_ids"]
    head = [lm.boundary_id] if boundary and lm.boundary_id is not None else []
    if context is not None:
        head = head + tok(context + separator, add_special_tokens=False)["input_ids"]
    seq = head + ids
    lp = ref_logits(lm.model, seq)
    out = np.full(len(ids), np.nan)
    for j in range(len(ids)):
        p = len(head) + j
        if p == 0:
            continue
        out[j] = float(lp[p - 1, seq[p]])
    return out


def assert_close(got, want, tol, what=""):
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape, (what, got.shape, want.shape)
    assert np.array_equal(np.isnan(got), np.isnan(want)), (what, got, want)
    ok = ~np.isnan(want)
    if ok.any():
        err = np.abs(got[ok] - want[ok]).max()
        assert err <= tol, f"{what}: max abs error {err:.3g} > {tol}"


def record_fused_parts(monkeypatch):
    """Spy on ``surprisal.prefix._fused_parts``: the list returned gets, per call, whether
    the fused attention kernels ran (a result rather than None, the matmul fallback)."""
    from surprisal import prefix

    ran: list[bool] = []
    real = prefix._fused_parts

    def spy(*a, **k):
        got = real(*a, **k)
        ran.append(got is not None)
        return got

    monkeypatch.setattr(prefix, "_fused_parts", spy)
    return ran
