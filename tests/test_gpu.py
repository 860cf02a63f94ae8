"""GPU-only checks (skipped without CUDA): bfloat16 behaviour and the head's memory bound."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import surprisal
from conftest import TEXTS, ref_scores
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
