"""Models spread by accelerate's ``device_map``: offloaded layers and an offloaded head.

With one CPU there is no second device, but offloading to disk exercises what matters: the
head's weight is a ``meta`` tensor until its hook loads it, and layers move in and out of
memory. Scores must still equal the float64 oracle, extras included.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import surprisal
from conftest import TEXTS, assert_close, ref_logits, ref_scores
from surprisal.head import HeadSpec, fused_head, plain_head

pytest.importorskip("accelerate")

TOL = 1e-4


@pytest.fixture(scope="module")
def saved(tmp_path_factory, llama_lm):
    d = tmp_path_factory.mktemp("llama")
    llama_lm.model.save_pretrained(d)
    llama_lm.tokenizer.save_pretrained(d)
    return d


def _offloaded(saved, tmp_path, head_where="disk"):
    dmap = {
        "model.embed_tokens": "cpu",
        "model.layers.0": "cpu",
        "model.layers.1": "disk",
        "model.norm": "cpu",
        "model.rotary_emb": "cpu",
        "lm_head": head_where,
    }
    return surprisal.load(saved, device_map=dmap, offload_folder=str(tmp_path / "off"))


def test_offloaded_head_and_layer_match_reference(saved, tmp_path, llama_lm):
    lm = _offloaded(saved, tmp_path)
    assert lm.head.weight.device.type == "meta" and lm.head.module is not None
    assert lm.fused and lm.device.type == "cpu"
    s = surprisal.score(TEXTS, model=lm, extras=["entropy", "rank", "topk", "bow"], top_k=3)
    for text, ts in zip(TEXTS, s, strict=True):
        assert_close(ts.logprobs, ref_scores(llama_lm, text), TOL, text)
    ts = s[3]
    lp = ref_logits(llama_lm.model, [lm.boundary_id, *ts.token_ids.tolist()])[:-1]
    assert_close(ts.entropy, -(lp.exp() * lp).sum(-1).numpy(), TOL, "entropy")
    tgt = torch.tensor(ts.token_ids)
    assert np.array_equal(ts.rank, (lp > lp.gather(1, tgt[:, None])).sum(-1).numpy() + 1)
    assert np.array_equal(ts.topk_ids, lp.topk(3, dim=-1).indices.numpy())


def test_offloaded_model_with_context_and_delta(saved, tmp_path, llama_lm):
    lm = _offloaded(saved, tmp_path)
    ctx = "An explanation shared by every target."
    s = surprisal.score(TEXTS[:3], model=lm, context=ctx)
    for text, ts in zip(TEXTS[:3], s, strict=True):
        assert_close(ts.logprobs, ref_scores(llama_lm, text, context=ctx), TOL, text)
    d_off = surprisal.delta(TEXTS[:3], explanation=ctx, model=lm)
    d_mem = surprisal.delta(TEXTS[:3], explanation=ctx, model=llama_lm)
    assert_close(d_off.reduction, d_mem.reduction, 1e-4, "reduction")


def test_offloaded_fingerprint_reads_offloaded_weights(saved, tmp_path, llama_lm):
    lm = _offloaded(saved, tmp_path)
    got, want = lm.fingerprint(), llama_lm.fingerprint()
    assert got["weights_sha"] == want["weights_sha"]
    assert got["tokenizer_sha"] == want["tokenizer_sha"]


def test_device_map_auto_on_one_device(saved, llama_lm):
    lm = surprisal.load(saved, device_map="auto")
    assert lm.head.module is None  # nothing offloaded: the weight is read directly
    s = surprisal.score(TEXTS[0], model=lm)[0]
    assert_close(s.logprobs, ref_scores(llama_lm, TEXTS[0]), TOL)


@pytest.mark.parametrize("softcap", [None, 2.0])
def test_module_head_equals_plain_head(softcap):
    """The module path (offloaded or quantized heads) against a full log-softmax."""
    g = torch.Generator().manual_seed(0)
    lin = torch.nn.Linear(8, 50, bias=True)
    h = torch.randn(13, 8, generator=g)
    t = torch.randint(0, 50, (13,), generator=g)
    spec = HeadSpec(weight=lin.weight.detach(), softcap=softcap, module=lin)
    z = lin(h).detach()
    if softcap:
        z = torch.tanh(z / softcap) * softcap
    mask = torch.rand(50, generator=g) > 0.5
    want = plain_head(z, t, entropy=True, rank=True, top_k=60, bow_mask=mask)
    # chunk_bytes=1 row at a time: every block is one row
    got = fused_head(h, t, spec, entropy=True, rank=True, top_k=60, bow_mask=mask, chunk_bytes=1)
    for f in ("logprobs", "entropy", "topk_logprobs", "bow"):
        a, b = got[f], want[f]
        assert torch.allclose(a, b, atol=1e-5, equal_nan=True), f
    assert torch.equal(got["rank"], want["rank"])
    assert torch.equal(got["topk_ids"][:, :50], want["topk_ids"][:, :50])
    assert (got["topk_ids"][:, 50:] == -1).all()
    assert (got["topk_logprobs"][:, 50:] == -math.inf).all()
