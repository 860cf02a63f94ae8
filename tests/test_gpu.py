"""GPU-only checks (skipped without CUDA): bfloat16 behaviour and the head's memory bound."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import surprisal
from conftest import TEXTS, record_fused_parts, ref_scores
from surprisal.testing import tiny_lm, tiny_model, tiny_tokenizer

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"),
]


@pytest.mark.parametrize("arch", ["llama", "gemma2"])
def test_bfloat16_on_cuda_stays_close_to_float64(arch):
    lm = tiny_lm(arch, device="cuda", dtype="bfloat16")
    assert lm.fused and lm.head.weight.dtype == torch.bfloat16
    s = surprisal.score(TEXTS, model=lm)
    cpu = tiny_lm(arch)  # same seed, float32 on the CPU: the float64 oracle's model
    for text, ts in zip(TEXTS, s, strict=True):
        assert ts.logprobs.dtype == np.float32  # the head accumulates in float32
        want = ref_scores(cpu, text)
        assert np.nanmax(np.abs(ts.logprobs - want)) < 0.25, text  # bf16 body, fp32 head


def test_fused_head_peak_memory_does_not_grow_with_vocab_times_length():
    tok = tiny_tokenizer("byte-bpe")
    V = 151_936  # Qwen2.5 vocabulary: the full log-softmax dominates
    model = tiny_model("qwen2", V, max_positions=1024)
    lm = surprisal.LM(model, tok, device="cuda")
    texts = [" ".join(["word"] * 400)] * 8
    peaks = {}
    for fused in (True, False):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        surprisal.score(texts, model=lm, batch_tokens=8 * 512, head="fused" if fused else "plain")
        peaks[fused] = torch.cuda.max_memory_allocated() - base
    full_logits = 8 * 401 * V * 4  # one float32 (B, T, V) tensor
    assert peaks[True] < full_logits / 2 < peaks[False]


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_packing_on_cuda_is_on_by_default_and_agrees(dtype):
    lm = tiny_lm("llama", device="cuda", dtype=dtype)
    assert lm.can_pack and lm.pack
    texts = [*TEXTS, "", "the cat " * 20]
    packed = surprisal.score(texts, model=lm)
    padded = surprisal.score(texts, model=lm, pack=False)
    tol = 1e-4 if dtype == "float32" else 0.1
    for a, b in zip(packed, padded, strict=True):
        if len(a):
            assert np.nanmax(np.abs(a.logprobs - b.logprobs)) < tol
    assert packed.stats.tokens_fed <= padded.stats.tokens_fed


def test_head_offloaded_to_cpu_runs_on_its_hook_device(tmp_path):
    pytest.importorskip("accelerate")
    small = tiny_lm("llama")
    small.model.save_pretrained(tmp_path)
    small.tokenizer.save_pretrained(tmp_path)
    dmap = {"model": 0, "lm_head": "cpu"}
    lm = surprisal.load(tmp_path, device_map=dmap)
    assert lm.device.type == "cuda"
    s = surprisal.score(TEXTS, model=lm)
    for text, ts in zip(TEXTS, s, strict=True):
        assert np.nanmax(np.abs(ts.logprobs - ref_scores(small, text))) < 1e-4, text


def _bf16_head_case(arch):
    """(lm, hidden (T-1, H) bf16, targets (T-1,), float64 log-probs of the targets from the
    same hidden states, error of the model's own bf16 logits against them)."""
    from surprisal.head import plain_head

    lm = tiny_lm(arch, device="cuda", dtype="bfloat16")
    ids = torch.randint(0, lm.vocab_size, (1, 64), device="cuda")
    with torch.no_grad():
        hidden = lm.body(input_ids=ids).last_hidden_state[0, :-1]  # (T-1, H) bf16
        own = lm.model(input_ids=ids).logits[0, :-1]  # the model's own bf16 logits
    tgt = ids[0, 1:]
    z64 = hidden.double() @ lm.head.weight.double().T
    if lm.head.bias is not None:
        z64 = z64 + lm.head.bias.double()
    z64 = lm.head.transform(z64)  # scale, divisor, softcap in float64 (none for qwen2)
    want = torch.log_softmax(z64, -1).gather(1, tgt[:, None])[:, 0]
    own_err = float((plain_head(own, tgt)["logprobs"].double() - want).abs().max())
    return lm, hidden, tgt, want, own_err


def test_tensor_core_head_is_within_the_models_own_bf16_error():
    """bf16 weights multiplied on tensor cores with float32 accumulation: against a float64
    head on the same hidden states, no worse than the model's own bf16 logits."""
    from surprisal._compat import float32_matmul_supported
    from surprisal.head import fused_head

    lm, hidden, tgt, want, own_err = _bf16_head_case("qwen2")
    assert float32_matmul_supported(lm.device, torch.bfloat16)
    fused = fused_head(hidden, tgt, lm.head)["logprobs"].double()
    assert float((fused - want).abs().max()) <= own_err + 1e-3


@pytest.mark.parametrize("arch", ["qwen2", "gemma2"])
def test_triton_head_prototype_is_within_the_models_own_bf16_error(arch):
    """The Triton kernel of benchmarks/triton_head.py (never writes the logits), bf16 inputs
    on tensor cores: against a float64 head on the same hidden states, no worse than the
    model's own bf16 logits (gemma2: with its final softcap)."""
    pytest.importorskip("triton")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from triton_head import head_logprobs

    lm, hidden, tgt, want, own_err = _bf16_head_case(arch)
    got = head_logprobs(hidden, tgt, lm.head)
    assert got.dtype == torch.float32
    assert float((got.double() - want).abs().max()) <= own_err + 1e-3


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_shared_prefix_attention_on_cuda(dtype):
    from surprisal.prefix import shared_prefix_ok

    lm = tiny_lm("llama", device="cuda", dtype=dtype)
    assert shared_prefix_ok(lm)
    ctx = "A proof by contradiction assumes the opposite and derives an absurdity."
    got = surprisal.score(TEXTS, context=ctx, model=lm)
    lm._surprisal_shared_prefix_ok = False  # the expanded-cache path
    want = surprisal.score(TEXTS, context=ctx, model=lm)
    tol = 1e-4 if dtype == "float32" else 0.1
    for a, b in zip(got, want, strict=True):
        if len(a):
            assert np.nanmax(np.abs(a.logprobs - b.logprobs)) < tol


def test_results_come_back_in_one_copy_per_field_on_cuda(monkeypatch):
    lm = tiny_lm("llama", device="cuda")
    calls = []
    real = torch.Tensor.cpu

    def counting(self, *a, **k):
        calls.append(self.device.type)
        return real(self, *a, **k)

    monkeypatch.setattr(torch.Tensor, "cpu", counting)
    s = surprisal.score([t * 3 for t in TEXTS], model=lm, batch_tokens=64, extras=["entropy"])
    assert s.stats.forward_calls > 2 and calls.count("cuda") == 2  # logprobs, entropy


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("causal", [False, True])
def test_fused_attention_with_lse_on_cuda_against_float64(dtype, causal):
    """The CUDA kernels behind the shared-prefix merge (flash for half precision, else the
    memory-efficient one, whose log-sum-exp is padded to 32 queries): output and lse
    against float64, with a query count that is not a multiple of 32."""
    from surprisal._compat import attention_with_lse

    gen = torch.Generator().manual_seed(0)
    B, h, T, d = 2, 3, 37, 64
    Tk = T if causal else 45
    q = torch.randn(B, h, T, d, generator=gen)
    k, v = (torch.randn(B, h, Tk, d, generator=gen) for _ in range(2))
    got = attention_with_lse(*(x.to("cuda", dtype) for x in (q, k, v)), causal, 0.125)
    assert got is not None
    out, lse = got
    assert out.shape == (B, h, T, d) and lse.shape == (B, h, T) and lse.dtype == torch.float32
    s = (q.double() @ k.double().transpose(2, 3)) * 0.125
    if causal:
        s = s.masked_fill(torch.ones(T, Tk, dtype=torch.bool).triu(1), -np.inf)
    want_lse = torch.logsumexp(s, -1)
    want = torch.softmax(s, -1) @ v.double()
    tol = 1e-4 if dtype == torch.float32 else 2e-2
    assert float((lse.cpu().double() - want_lse).abs().max()) < tol
    assert float((out.cpu().double() - want).abs().max()) < tol


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_shared_prefix_uses_the_fused_cuda_kernels_where_rows_are_aligned(dtype, monkeypatch):
    """The engine checks alignment on its host layout, so on CUDA the fused kernels run
    (no device sync), and the scores equal the matmul parts' within the dtype's error."""
    from surprisal import prefix

    lm = tiny_lm("llama", device="cuda", dtype=dtype)
    assert prefix.shared_prefix_ok(lm)
    ctx = "A proof by contradiction assumes the opposite and derives an absurdity."
    fused = record_fused_parts(monkeypatch)
    got = surprisal.score(TEXTS, context=ctx, model=lm)
    assert fused and all(fused)
    monkeypatch.setattr(prefix, "_fused_parts", lambda *a, **k: None)  # the matmul parts
    want = surprisal.score(TEXTS, context=ctx, model=lm)
    tol = 1e-4 if dtype == "float32" else 0.1
    for a, b in zip(got, want, strict=True):
        if len(a):
            assert np.nanmax(np.abs(a.logprobs - b.logprobs)) < tol


def _syncs_while_scoring(lm, texts, **kw) -> int:
    """Device synchronisations while ``score`` runs its batches, by torch's sync debug mode
    (one warning per synchronising call); the copy of all results back at the end (one
    by design) and what follows it are not counted."""
    import warnings

    from surprisal import engine

    collect = engine._Results.collect
    mark: list[int] = []
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")

        def collect_marked(self):
            mark.append(len(seen))
            return collect(self)

        engine._Results.collect = collect_marked
        torch.cuda.set_sync_debug_mode("warn")
        try:
            surprisal.score(texts, model=lm, **kw)
        finally:
            torch.cuda.set_sync_debug_mode("default")
            engine._Results.collect = collect
    assert mark, "the results were never collected"
    return sum(1 for w in seen[: mark[0]] if "synchroniz" in str(w.message))


@pytest.mark.parametrize("pack", [True, False])
def test_no_device_sync_per_batch_without_a_prefix(pack):
    """Packed and padded rows: the number of device synchronisations does not grow with
    the number of batches (the masks are built on the device; nothing is read back)."""
    lm = tiny_lm("llama", device="cuda")
    texts = [f"text number {k} " + "word " * (k % 9) for k in range(64)]
    surprisal.score(texts[:4], model=lm, pack=pack)  # the probes and first-call set-up
    few = _syncs_while_scoring(lm, texts, pack=pack, batch_tokens=4096)
    many = _syncs_while_scoring(lm, texts, pack=pack, batch_tokens=64)
    assert many == few, (few, many)
