"""The fused head's three paths against a float64 full log-softmax of the same weights."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from surprisal import head as H
from surprisal._compat import float32_matmul_supported
from surprisal.head import HeadSpec, fused_head

N, HID, V, K = 37, 24, 301, 5  # odd shapes: no chunk divides them


def spec(dtype, bias, softcap, seed=0):
    g = torch.Generator().manual_seed(seed)
    w = (torch.randn(V, HID, generator=g) * 0.7).to(dtype)
    b = (torch.randn(V, generator=g) * 0.5).to(dtype) if bias else None
    return HeadSpec(weight=w, bias=b, softcap=softcap, scale=1.3 if softcap else None)


def reference(hidden, targets, hs, bow_mask):
    """Float64 log-softmax over the full vocabulary, from the weights as stored."""
    z = hidden.double() @ hs.weight.double().T
    if hs.bias is not None:
        z = z + hs.bias.double()
    if hs.scale is not None:
        z = z * hs.scale
    if hs.softcap is not None:
        z = torch.tanh(z / hs.softcap) * hs.softcap
    lp = torch.log_softmax(z, -1)
    zt = z.gather(1, targets[:, None])
    return {
        "logprobs": lp.gather(1, targets[:, None])[:, 0],
        "entropy": -(lp.exp() * lp).sum(-1),
        "rank": (z > zt).sum(-1) + 1,
        "topk_logprobs": lp.topk(K, 1).values,
        "bow": torch.logsumexp(lp.masked_fill(~bow_mask, -math.inf), -1),
    }


def inputs(dtype, seed=1):
    g = torch.Generator().manual_seed(seed)
    hidden = torch.randn(N, HID, generator=g).to(dtype)
    targets = torch.randint(0, V, (N,), generator=g)
    bow = torch.rand(V, generator=g) < 0.3
    return hidden, targets, bow


def check(out, want, tol):
    for name in ("logprobs", "entropy", "bow"):
        err = float((out[name].double() - want[name]).abs().max())
        assert err <= tol, (name, err)
        assert out[name].dtype == torch.float32
    np.testing.assert_array_equal(out["rank"].numpy(), want["rank"].numpy())
    err = float((out["topk_logprobs"].double() - want["topk_logprobs"]).abs().max())
    assert err <= tol


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("softcap", [None, 3.0])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("chunk_bytes", [HID * 4 * 7, 2**20])  # many slices, or one
def test_fused_head_paths_against_float64(dtype, bias, softcap, chunk_bytes):
    hs = spec(dtype, bias, softcap)
    hidden, targets, bow = inputs(dtype)
    out = fused_head(
        hidden,
        targets,
        hs,
        entropy=True,
        rank=True,
        top_k=K,
        bow_mask=bow,
        chunk_bytes=chunk_bytes,
    )
    check(out, reference(hidden, targets, hs, bow), 1e-4)


def emulated_tensor_core_mm(a, b):
    """What ``torch.mm(a, b, out_dtype=float32)`` computes on CUDA: half inputs, exact
    products, float32 accumulation and output; it must receive the weight unconverted."""
    assert a.dtype == b.dtype == torch.bfloat16
    return a.float() @ b.float()


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("softcap", [None, 3.0])
def test_tensor_core_path_never_upcasts_the_weight_and_is_exact(bias, softcap):
    hs = spec(torch.bfloat16, bias, softcap)
    hidden, targets, bow = inputs(torch.bfloat16)
    out = H._outputs(N, torch.device("cpu"), True, True, K, True)
    logits_of = H._block_logits(hs, emulated_tensor_core_mm)
    H._head_full_vocab(hidden, targets, hs, out, 11, K, bow, logits_of)
    check(out, reference(hidden, targets, hs, bow), 1e-4)


def test_float32_matmul_is_gated_to_cuda():
    assert not float32_matmul_supported(torch.device("cpu"), torch.bfloat16)
    assert not float32_matmul_supported(torch.device("cpu"), torch.float32)


def test_chunks_follow_the_stated_bound():
    cap = 2**20 // 4
    assert H._chunks(10, 50_000, 256, True, 2**20) == (cap // 50_000, 50_000)
    n_c, v_c = H._chunks(10, 50_000, 256, False, 2**20)
    assert v_c * 256 * 4 <= 2**20 and n_c * v_c * 4 <= 2**20


def test_vocab_smaller_than_k_pads_topk():
    hs = spec(torch.bfloat16, False, None)
    hidden, targets, _ = inputs(torch.bfloat16)
    out = fused_head(hidden, targets, hs, top_k=V + 3, chunk_bytes=HID * 4 * 50)
    assert (out["topk_ids"][:, V:] == -1).all()
    assert torch.isinf(out["topk_logprobs"][:, V:]).all()
    want = torch.log_softmax(hidden.double() @ hs.weight.double().T, -1).topk(V, 1).values
    assert float((out["topk_logprobs"][:, :V].double() - want).abs().max()) <= 1e-4


def test_only_the_float32_matmul_writes_into_a_reused_logits_buffer():
    """The CPU path writes each block's logits into one buffer; the tensor-core and module
    paths make their own tensor, so no (n_c, V) buffer is allocated for them."""
    f32, half = spec(torch.float32, True, None), spec(torch.bfloat16, True, None)
    assert H._writes_into_buffer(f32, H._mm_upcast)
    assert not H._writes_into_buffer(half, emulated_tensor_core_mm)
    assert not H._writes_into_buffer(half, H._mm_upcast)  # half weights take the slices
    hidden = torch.randn(5, HID)
    buf = torch.full((5, V), float("nan"))
    z = H._block_logits(f32, H._mm_upcast)(hidden, buf)
    assert z.data_ptr() == buf.data_ptr() and not torch.isnan(buf).any()
    want = hidden.double() @ f32.weight.double().T + f32.bias.double()
    assert float((z.double() - want).abs().max()) <= 1e-5


def test_the_in_place_log_softmax_is_bit_identical_to_a_separate_one():
    """On CPU each block's log-softmax overwrites its logits; every output must equal the
    one computed from a separate log-softmax tensor, bit for bit."""
    gen = torch.Generator().manual_seed(3)
    z = torch.randn(6, V, generator=gen) * 4
    t = torch.randint(0, V, (6,), generator=gen)
    out = H._outputs(6, z.device, True, True, K, False)
    H._reduce_block(z.clone(), t, 0, out, K, None)
    lp = torch.log_softmax(z, dim=1)
    assert torch.equal(out["logprobs"], lp.gather(1, t[:, None])[:, 0])
    assert torch.equal(out["rank"], (z > z.gather(1, t[:, None])).sum(1) + 1)
    assert torch.equal(out["topk_logprobs"][:, : min(K, V)], lp.topk(min(K, V), dim=1).values)
    assert torch.equal(out["entropy"], -(lp.exp() * lp).sum(1))


def test_scratch_buffers_are_reused_across_calls_and_change_nothing():
    hs = spec(torch.float32, True, 3.0)
    hidden, targets, bow = inputs(torch.float32)
    kw = dict(entropy=True, rank=True, top_k=K, bow_mask=bow, chunk_bytes=HID * 4 * 50)
    plain = fused_head(hidden, targets, hs, **kw)
    scratch = H.Scratch()
    first = fused_head(hidden, targets, hs, scratch=scratch, **kw)
    ptrs = {k: b.data_ptr() for k, b in scratch._buffers.items()}
    assert set(ptrs) == {"logits"}  # the log-softmax overwrites the logits
    again = fused_head(hidden[:7], targets[:7], hs, scratch=scratch, **kw)  # fewer rows
    assert {k: b.data_ptr() for k, b in scratch._buffers.items()} == ptrs  # reused
    for name in plain:
        assert torch.equal(first[name], plain[name]), name  # bit-identical
        assert torch.equal(again[name], plain[name][:7]), name
    grown = scratch.take("logits", 10_000, V, torch.device("cpu"))  # more rows: a new one
    assert grown.shape == (10_000, V) and grown.is_contiguous()


def test_engine_keeps_one_scratch_per_run_on_cpu(monkeypatch, llama_lm):
    from surprisal import engine

    seen = []
    real = engine.fused_head

    def spy(*a, **k):
        seen.append(k.get("scratch"))
        return real(*a, **k)

    monkeypatch.setattr(engine, "fused_head", spy)
    import surprisal

    surprisal.score(["a b c d e f"] * 3 + ["x"] * 40, model=llama_lm, batch_tokens=24)
    assert len(seen) > 1 and seen[0] is not None and all(s is seen[0] for s in seen)


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("softcap", [None, 3.0])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_one_shared_row_against_float64_and_the_expanded_rows(dtype, bias, softcap):
    """Many targets read one hidden state (every target's first token after a shared
    prefix): its logits are made once, and every output equals both a float64 reference
    and fused_head on the row repeated (half weights on CPU take that path themselves)."""
    hs = spec(dtype, bias, softcap)
    hidden, targets, bow = inputs(dtype)
    row = hidden[4]
    targets[:3] = targets[3]  # repeated targets too
    kw = dict(entropy=True, rank=True, top_k=K, bow_mask=bow)
    got = H.shared_row_head(row, targets, hs, **kw)
    want = reference(row[None].expand(N, HID), targets, hs, bow)
    check(got, want, 1e-5 if dtype == torch.float32 else 2e-5)
    expanded = fused_head(row[None].expand(N, HID), targets, hs, **kw)
    for name, a in expanded.items():
        assert got[name].shape == a.shape and got[name].dtype == a.dtype, name
        if a.dtype == torch.int64:
            assert torch.equal(got[name], a), name
        else:
            assert float((got[name] - a).abs().max()) <= 5e-6, name  # float32 rounding


def test_one_shared_row_counts_tied_logits_as_not_greater():
    """Rank is 1 + the number of strictly larger logits: ties with the target's logit do not
    count, here where most of the vocabulary ties (a head with repeated rows)."""
    w = torch.zeros(V, HID)
    w[:100] = 1.0  # 100 tied logits above the 201 tied zeros
    w[7] = 2.0  # one larger still
    hs = HeadSpec(weight=w)
    t = torch.tensor([7, 0, 50, 200, 300])
    out = H.shared_row_head(torch.ones(HID), t, hs, rank=True, top_k=V + 3)
    assert out["rank"].tolist() == [1, 2, 2, 101, 101]
    assert (out["topk_ids"][:, V:] == -1).all() and torch.isinf(out["topk_logprobs"][:, V:]).all()


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("softcap", [None, 3.0])
@pytest.mark.parametrize("temperature", [None, 1.7])
@pytest.mark.parametrize("rows", [1000, 7])  # all positions per slice, or a few at a time
def test_vocabulary_slices_on_cpu_against_float64(bias, softcap, temperature, rows):
    """Log-probabilities only, float32 weight on CPU, enough positions: the vocabulary is
    taken H.SLICE rows at a time (here 3 slices, the last one partial), one log-sum-exp per
    slice, merged; the target logit by one dot product."""
    from dataclasses import replace

    g = torch.Generator().manual_seed(5)
    Vs, n = 2 * H.SLICE + 77, max(H.SLICE_MIN_POSITIONS, 90)
    w = torch.randn(Vs, HID, generator=g) * 0.7
    w[0] -= 9.0  # a first column far below the rest: the z_0 - log_softmax_0 step
    b = torch.randn(Vs, generator=g) * 0.5 if bias else None
    hs = HeadSpec(weight=w, bias=b, softcap=softcap, scale=1.3 if softcap else None)
    hs = replace(hs, temperature=temperature)
    hidden = torch.randn(n, HID, generator=g)
    targets = torch.randint(0, Vs, (n,), generator=g)
    targets[:3] = torch.tensor([0, Vs - 1, H.SLICE])  # first, last, a slice boundary
    calls = []
    real = H._head_slices

    def spy(*a, **k):
        calls.append(1)
        return real(*a, **k)

    H._head_slices, saved = spy, H._head_slices
    try:
        got = fused_head(hidden, targets, hs, chunk_bytes=rows * H.SLICE * 4)["logprobs"]
    finally:
        H._head_slices = saved
    assert calls == [1]
    z = hidden.double() @ w.double().T
    if b is not None:
        z = z + b.double()
    if softcap is not None:
        z = torch.tanh(z * 1.3 / softcap) * softcap
    if temperature is not None:
        z = z / temperature
    want = torch.log_softmax(z, -1).gather(1, targets[:, None])[:, 0]
    assert got.dtype == torch.float32
    # float32 rounding grows with the log-probability's size (a -90 nat target: ulp 7.6e-6)
    err = (got.double() - want).abs() - 3e-7 * want.abs()
    assert float(err.max()) <= 5e-6


def test_vocabulary_slices_only_where_they_apply():
    """Extras, few positions, or a vocabulary of one slice take the full-vocabulary blocks."""
    hs = spec(torch.float32, True, None)
    big = HeadSpec(weight=torch.randn(H.SLICE + 5, HID))
    calls = []
    real = H._head_slices
    H._head_slices = lambda *a, **k: (calls.append(1), real(*a, **k))[1]
    try:
        n = H.SLICE_MIN_POSITIONS
        fused_head(torch.randn(n, HID), torch.zeros(n, dtype=torch.long), big)
        assert calls == [1]
        fused_head(torch.randn(n, HID), torch.zeros(n, dtype=torch.long), big, entropy=True)
        fused_head(torch.randn(n - 1, HID), torch.zeros(n - 1, dtype=torch.long), big)
        fused_head(torch.randn(n, HID), torch.zeros(n, dtype=torch.long), hs)  # V = 301
        assert calls == [1]
    finally:
        H._head_slices = real


@pytest.mark.parametrize("arch", ["llama", "gpt2", "qwen2", "gpt_neox", "gemma2"])
def test_models_with_a_vocabulary_of_several_slices_match_float64(arch, monkeypatch):
    """The test models' vocabulary (384) is one slice; here the model's vocabulary is 2,500
    (three slices), so scoring takes the sliced CPU path end to end on five architectures
    (Gemma-2: logit softcapping) and must match the float64 reference."""
    import surprisal
    from conftest import TEXTS, assert_close, ref_scores
    from surprisal.testing import tiny_model, tiny_tokenizer

    tok = tiny_tokenizer("sentencepiece" if arch in ("llama", "gemma2") else "byte-bpe")
    lm = surprisal.LM(tiny_model(arch, 2500), tok)
    calls = []
    real = H._head_slices
    monkeypatch.setattr(H, "_head_slices", lambda *a, **k: (calls.append(1), real(*a, **k))[1])
    s = surprisal.score(TEXTS * 3, model=lm)
    assert calls, "the sliced path did not run"
    for text, ts in zip(TEXTS * 3, s, strict=True):
        assert_close(ts.logprobs, ref_scores(lm, text), 1e-4, text)
