"""Shared-prefix attention: one copy of the prefix's keys, exact on every architecture."""

from __future__ import annotations

import pytest
import torch

import surprisal
from conftest import assert_close, record_fused_parts, ref_scores
from surprisal import prefix
from surprisal.testing import tiny_lm, tiny_model, tiny_tokenizer

TOL = 1e-4
INV = 1e-5
TARGETS = ["The cat sat on the mat.", "a", "Colorless green ideas sleep furiously.", "ab ab ab"]
EXPL = "A proof by contradiction assumes the opposite and derives an absurdity."


def test_every_test_architecture_passes_the_probe(arch_lm):
    assert prefix.shared_prefix_ok(arch_lm)
    assert arch_lm._surprisal_shared_prefix_ok is True  # cached on the LM


@pytest.mark.parametrize("side", ["right", "left"])
def test_shared_prefix_scores_match_float64(arch_lm, side):
    assert prefix.shared_prefix_ok(arch_lm)
    s = surprisal.score(TARGETS, context=EXPL, model=arch_lm, padding_side=side)
    for t, ts in zip(TARGETS, s, strict=True):
        assert_close(ts.logprobs, ref_scores(arch_lm, t, context=EXPL), TOL, t)


def test_shared_prefix_equals_expanded_cache(arch_lm, monkeypatch):
    extras = ["entropy", "rank", "topk", "bow"]
    got = surprisal.score(TARGETS, context=EXPL, model=arch_lm, extras=extras)
    monkeypatch.setattr(arch_lm, "_surprisal_shared_prefix_ok", False)  # the KV-cache path
    want = surprisal.score(TARGETS, context=EXPL, model=arch_lm, extras=extras)
    for a, b in zip(got, want, strict=True):
        assert_close(a.logprobs, b.logprobs, INV)
        assert_close(a.entropy, b.entropy, INV)
        assert_close(a.bow, b.bow, INV)


def test_plain_head_uses_it_too(llama_lm):
    s = surprisal.score(TARGETS, context=EXPL, model=llama_lm, head="plain")
    for t, ts in zip(TARGETS, s, strict=True):
        assert_close(ts.logprobs, ref_scores(llama_lm, t, context=EXPL), TOL, t)


@pytest.mark.parametrize("window", [3, 6])
def test_sliding_window_layers_drop_far_prefix_keys(window):
    # Gemma-2 alternates sliding-window and global layers; a window far shorter than the
    # prefix makes the sliding layers' cache keep only its last window - 1 keys.
    tok = tiny_tokenizer("sentencepiece")
    lm = surprisal.LM(tiny_model("gemma2", len(tok), sliding_window=window), tok)
    assert prefix.shared_prefix_ok(lm)
    s = surprisal.score(TARGETS, context=EXPL, model=lm, batch_tokens=16)
    for t, ts in zip(TARGETS, s, strict=True):
        assert_close(ts.logprobs, ref_scores(lm, t, context=EXPL), TOL, t)


def _no_fused_kernel(monkeypatch):
    monkeypatch.setattr(prefix, "attention_with_lse", lambda *a: None)


def test_prefix_scores_in_small_blocks(llama_lm, monkeypatch):
    want = surprisal.score(TARGETS, context=EXPL, model=llama_lm)
    _no_fused_kernel(monkeypatch)  # the blocks are those of the matmul parts
    monkeypatch.setattr(prefix, "SCORE_ELEMENTS", 7)  # one query row per block
    got = surprisal.score(TARGETS, context=EXPL, model=llama_lm)
    for a, b in zip(want, got, strict=True):
        assert_close(a.logprobs, b.logprobs, INV)


def test_a_model_that_fails_the_probe_falls_back(monkeypatch):
    lm = tiny_lm("qwen2")

    def broken(lm):
        raise RuntimeError("this model rejects the layout")

    monkeypatch.setattr(prefix, "_probe", broken)
    assert not prefix.shared_prefix_ok(lm)
    s = surprisal.score(TARGETS, context=EXPL, model=lm)
    for t, ts in zip(TARGETS, s, strict=True):
        assert_close(ts.logprobs, ref_scores(lm, t, context=EXPL), TOL, t)


def test_the_attention_function_outside_its_context_is_an_error(llama_lm):
    q = torch.zeros(1, 4, 2, 8)
    k = torch.zeros(1, 2, 2, 8)
    with pytest.raises(RuntimeError, match=r"only inside surprisal\.prefix"):
        prefix.shared_prefix_attention(llama_lm.model, q, k, k, None)


def test_the_model_config_is_restored(llama_lm):
    before = llama_lm.model.config._attn_implementation
    surprisal.score(TARGETS, context=EXPL, model=llama_lm)
    assert llama_lm.model.config._attn_implementation == before


def test_fused_kernel_and_matmul_parts_agree(arch_lm, monkeypatch):
    # On CPU, right-padded rows without softcapping run both parts in the fused attention
    # kernel; the matmul parts are the fallback. Both must give the same scores, and the
    # kernel must actually run where it applies (and not where softcapping rules it out).
    taken = record_fused_parts(monkeypatch)
    extras = ["entropy", "rank"]
    got = surprisal.score(TARGETS, context=EXPL, model=arch_lm, extras=extras)
    softcap = getattr(arch_lm.model.config, "attn_logit_softcapping", None)
    assert (any(taken) and all(taken)) if softcap is None else not taken
    _no_fused_kernel(monkeypatch)
    want = surprisal.score(TARGETS, context=EXPL, model=arch_lm, extras=extras)
    for a, b in zip(got, want, strict=True):
        assert_close(a.logprobs, b.logprobs, INV)
        assert_close(a.entropy, b.entropy, INV)


def test_the_fused_kernel_sees_no_padding_and_no_future():
    # The attention function alone: random queries, keys and a prefix; rows of different
    # lengths (right padding). The fused result equals the matmul parts' on real tokens.
    gen = torch.Generator().manual_seed(0)
    B, Hq, Hkv, T, d, L = 3, 4, 2, 6, 8, 5
    q = torch.randn(B, Hq, T, d, generator=gen)
    k, v = (torch.randn(B, Hkv, T, d, generator=gen) for _ in range(2))
    kp, vp = (torch.randn(1, Hkv, L, d, generator=gen) for _ in range(2))
    valid = torch.arange(T)[None] < torch.tensor([6, 4, 1])[:, None]
    pos = torch.where(valid, L + torch.arange(T)[None], 0)
    assert prefix.right_aligned(pos, valid, L)
    module = type("Layer", (), {"layer_idx": 0})()

    def attend(aligned):
        token = prefix._STATE.set(prefix._Shared([kp], [vp], L, pos, valid, aligned))
        try:
            return prefix.shared_prefix_attention(module, q, k, v, None, scaling=0.3)[0]
        finally:
            prefix._STATE.reset(token)

    fused, plain = attend(True), attend(False)
    assert prefix._fused_parts(q, k, v, kp, vp, 0.3) is not None
    assert (fused[valid] - plain[valid]).abs().max() < 1e-5
    # and against a float64 attention over [prefix; own causal past] per real token
    for b in range(B):
        for t in range(int(valid[b].sum())):
            for h in range(Hq):
                kv = h // (Hq // Hkv)
                keys = torch.cat([kp[0, kv], k[b, kv, : t + 1]]).double()
                vals = torch.cat([vp[0, kv], v[b, kv, : t + 1]]).double()
                w = torch.softmax(keys @ q[b, h, t].double() * 0.3, 0)
                assert (fused[b, t, h].double() - w @ vals).abs().max() < 1e-5


@pytest.mark.parametrize(
    ("lengths", "shift", "want"),
    [([3, 2, 1], 0, True), ([3, 3], 0, True), ([2, 3], 0, True), ([3, 2], 1, False)],
)
def test_right_aligned(lengths, shift, want):
    T, L = 3, 4
    valid = torch.arange(T)[None] < torch.tensor(lengths)[:, None]
    pos = torch.where(valid, L + shift + torch.arange(T)[None], 0)
    assert prefix.right_aligned(pos, valid, L) is want
    # the engine's host layout: numpy, mask as 0/1 integers
    assert prefix.right_aligned(pos.numpy(), valid.long().numpy(), L) is want
    # a tensor on a device is never read (that would wait for it): not aligned
    assert prefix.right_aligned(pos.to("meta"), valid.to("meta"), L) is False


def test_the_probe_checks_the_fused_path_the_engine_takes(monkeypatch):
    # The probe's rows are aligned like the engine's, and it says so from host tensors, so
    # on any device it runs (and vets) the fused kernels the engine's batches will use.
    lm = tiny_lm("llama")
    ran = record_fused_parts(monkeypatch)
    assert prefix.shared_prefix_ok(lm)
    assert ran and all(ran)


def test_the_engine_tells_shared_prefix_its_host_layout_is_aligned(llama_lm, monkeypatch):
    from surprisal import engine

    seen = []
    real = engine.shared_prefix

    def spy(lm, cache, length, pos, mask, aligned=None):
        seen.append(aligned)
        return real(lm, cache, length, pos, mask, aligned)

    monkeypatch.setattr(engine, "shared_prefix", spy)
    surprisal.score(TARGETS, context=EXPL, model=llama_lm, padding_side="left")
    assert seen and all(a is True for a in seen)  # rows after a prefix: right-padded


def test_left_padding_is_not_right_aligned():
    valid = torch.tensor([[False, True, True]])
    pos = torch.tensor([[0, 4, 5]])
    assert not prefix.right_aligned(pos, valid, 4)


def test_the_prefix_last_state_goes_through_the_head_once_per_batch(arch_lm, monkeypatch):
    # Every target's first token is predicted from the prefix's last state: one head row
    # per batch for all of them, with the same outputs as that row repeated per target.
    from surprisal import engine, head

    calls = []
    real = head.shared_row_head

    def spy(h, t, *a, **k):
        calls.append(int(t.shape[0]))
        return real(h, t, *a, **k)

    def expanded(h, t, *a, **k):
        return head.fused_head(h[None].expand(t.shape[0], -1), t, *a, **k)

    extras = ["entropy", "rank", "topk", "bow"]
    targets = ["The cat sat on the mat.", "The dog sat on a rug.", "A cat lay on the mat!"]
    monkeypatch.setattr(engine, "shared_row_head", spy)
    got = surprisal.score(targets + TARGETS, context=EXPL, model=arch_lm, extras=extras)
    assert max(calls) >= 3 and sum(calls) <= len(targets + TARGETS)  # batches of >1 job
    monkeypatch.setattr(engine, "shared_row_head", expanded)
    want = surprisal.score(targets + TARGETS, context=EXPL, model=arch_lm, extras=extras)
    for a, b in zip(got, want, strict=True):
        for name in ("logprobs", "entropy", "bow", "topk_logprobs"):
            assert_close(getattr(a, name), getattr(b, name), INV)
        assert (a.rank == b.rank).all() and (a.topk_ids == b.topk_ids).all()


def test_the_fused_kernel_is_never_given_mismatched_heads():
    """The CPU kernel divides by the query/key head ratio; given more key heads than query
    heads (as JetMoE's attention passes them) it raised SIGFPE and killed the process."""
    from surprisal._compat import attention_with_lse

    q = torch.randn(2, 4, 5, 8)
    kv = torch.randn(2, 8, 5, 8)
    assert attention_with_lse(q, kv, kv, True, 0.35) is None
    assert attention_with_lse(q[:, :, :0], kv[:, :4], kv[:, :4], False, 0.35) is None
    out = attention_with_lse(q, kv[:, :4], kv[:, :4], True, 0.35)
    assert out is not None and out[0].shape == q.shape
