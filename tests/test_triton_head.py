"""The Triton LM-head prototype (benchmarks/triton_head.py) against a float64 head.

Skipped without triton (CI has none). Without CUDA the kernel runs in Triton's interpreter:
``TRITON_INTERPRET=1`` is set below, before triton is imported and before the kernel is
defined (on its first call), so it must come first in this module. Shapes are small and
ragged (N, H, V not multiples of the blocks), with several vocabulary tiles per program so
that the online log-sum-exp must rescale.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import torch

if not torch.cuda.is_available():
    os.environ["TRITON_INTERPRET"] = "1"  # numpy interpreter on CPU; read at kernel definition
triton = pytest.importorskip("triton")

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from triton_head import fused_logprobs, head_logprobs  # noqa: E402

from surprisal.errors import SurprisalError  # noqa: E402
from surprisal.head import HeadSpec, fused_head  # noqa: E402

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
BLOCKS = (16, 32, 16, 4, 2)  # small tiles: 10 vocabulary tiles and 3 H steps at V=301, H=40
N, H, V = 37, 40, 301  # none a multiple of its block


def _inputs(n=N, h=H, v=V, dtype=torch.float32, seed=0):
    g = torch.Generator().manual_seed(seed)
    hid = torch.randn(n, h, generator=g)  # (n, h)
    w = torch.randn(v, h, generator=g) * 0.5  # (v, h): logits of a few nats' spread
    t = torch.randint(0, v, (n,), generator=g)
    return hid.to(DEVICE, dtype), w.to(DEVICE, dtype), t.to(DEVICE)


def _reference(hid, w, t, bias=None, scale=None, divisor=None, softcap=None, temperature=None):
    """(n,) float64 log p(target): the full float64 logits, transformed, one log_softmax."""
    z = hid.double() @ w.double().T
    if bias is not None:
        z = z + bias.double()
    if scale is not None:
        z = z * scale
    if divisor is not None:
        z = z / divisor
    if softcap is not None:
        z = torch.tanh(z / softcap) * softcap
    if temperature is not None:
        z = z / temperature
    return torch.log_softmax(z, dim=-1).gather(1, t[:, None].long())[:, 0]


def _err(got, want):
    return float((got.double() - want.double()).abs().max())


def _bias(kind, v=V):
    if kind == "random":
        return torch.randn(v, generator=torch.Generator().manual_seed(1)).to(DEVICE)
    if kind == "rising":  # the max grows at every vocabulary tile: the sums must rescale
        return torch.linspace(-20.0, 20.0, v, device=DEVICE)
    return torch.linspace(20.0, -20.0, v, device=DEVICE)  # "falling": the max is in tile one


CASES = {
    "plain": {},
    "bias": {"bias": "random"},
    "rising-bias": {"bias": "rising"},
    "falling-bias": {"bias": "falling"},
    "softcap": {"softcap": 2.0},  # small cap: most logits in tanh's curved part
    "scale": {"scale": 3.0},
    "all-transforms": {
        "bias": "random",
        "scale": 1.5,
        "divisor": 0.8,
        "softcap": 5.0,
        "temperature": 0.7,
    },
}


def _kwargs(case):
    kw = dict(CASES[case])
    if "bias" in kw:
        kw["bias"] = _bias(kw["bias"])
    return kw


@pytest.mark.parametrize("split_v", [1, 3])
@pytest.mark.parametrize("case", list(CASES))
def test_float32_matches_float64_head(case, split_v):
    hid, w, t = _inputs()
    kw = _kwargs(case)
    got = fused_logprobs(hid, w, t, blocks=BLOCKS, split_v=split_v, **kw)
    assert got.shape == (N,) and got.dtype == torch.float32
    assert _err(got, _reference(hid, w, t, **kw)) <= 1e-4


@pytest.mark.parametrize("shape", [(1, 16, 5), (64, 32, 64), (5, 100, 1000)])
def test_odd_and_exact_shapes(shape):
    hid, w, t = _inputs(*shape)
    got = fused_logprobs(hid, w, t, blocks=BLOCKS)
    assert _err(got, _reference(hid, w, t)) <= 1e-4


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("case", ["plain", "all-transforms"])
def test_half_inputs_match_float64_head_on_the_same_values(dtype, case):
    """Half-precision hidden states and weight against a float64 head on the same (upcast)
    values, so input rounding is not part of the error: a product of two bf16/fp16 numbers is
    exact in float32, and what remains is float32 accumulation over H and the float32
    log-sum-exp, ~1e-6 here. The bound is 1e-3 because on CUDA tensor cores the accumulation
    order and its intermediate precision are the hardware's (not IEEE sequential sums); a
    wrong kernel is off by O(1)."""
    hid, w, t = _inputs(dtype=dtype)
    kw = _kwargs(case)
    got = fused_logprobs(hid, w, t, blocks=BLOCKS, split_v=2, **kw)
    assert got.dtype == torch.float32
    assert _err(got, _reference(hid, w, t, **kw)) <= 1e-3


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_agrees_with_the_librarys_fused_head(dtype):
    hid, w, t = _inputs(dtype=dtype)
    bias = _bias("random")
    head = HeadSpec(weight=w, bias=bias, softcap=4.0, scale=1.25, temperature=0.9)
    got = head_logprobs(hid, t, head, blocks=BLOCKS, split_v=2)
    want = fused_head(hid, t, head)["logprobs"]
    assert _err(got, want) <= 1e-4


def test_default_blocks_and_strided_hidden():
    hid, w, t = _inputs()
    wide = torch.zeros(N, 2 * H, device=DEVICE)
    wide[:, ::2] = hid
    got = fused_logprobs(wide[:, ::2], w, t)  # stride 2 along H
    assert _err(got, _reference(hid, w, t)) <= 1e-4


def test_target_outside_the_vocabulary_is_nan_and_leaves_the_others():
    hid, w, t = _inputs()
    t = t.clone()
    t[3], t[7] = V, -1
    got = fused_logprobs(hid, w, t, blocks=BLOCKS, split_v=3)
    bad = torch.zeros(N, dtype=torch.bool, device=DEVICE)
    bad[[3, 7]] = True
    assert bool(got[bad].isnan().all())
    ok = ~bad
    assert _err(got[ok], _reference(hid[ok], w, t[ok])) <= 1e-4


def test_bad_inputs_say_what_to_do():
    hid, w, t = _inputs()
    with pytest.raises(SurprisalError, match="gather the scored positions"):
        fused_logprobs(hid[:, :-1], w, t)
    with pytest.raises(SurprisalError, match="one per hidden row"):
        fused_logprobs(hid, w, t[:-1])
    with pytest.raises(TypeError, match="integer token ids"):
        fused_logprobs(hid, w, t.float())
    with pytest.raises(SurprisalError, match="powers of two"):
        fused_logprobs(hid, w, t, blocks=(16, 24, 16, 1, 1))
    with pytest.raises(SurprisalError, match="nonzero"):
        fused_logprobs(hid, w, t, softcap=0.0)
    with pytest.raises(SurprisalError, match="fused_head"):
        head_logprobs(hid, t, HeadSpec(weight=w, module=torch.nn.Identity()))
