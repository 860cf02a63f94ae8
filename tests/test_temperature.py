"""Temperature: ``score(..., temperature=T)`` scores under softmax(z / T), z the logits after
the model's own transforms; ``calibrate_temperature`` finds the T that fits texts best."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import surprisal
from conftest import TEXTS, assert_close, ref_logits
from surprisal._compat import cache_kwarg, output_cache
from surprisal.errors import SurprisalError
from surprisal.testing import tiny_lm

TOL = 1e-4  # nats per token, float32 vs float64
EXTRAS = ["entropy", "rank", "topk", "bow"]


def ref_tempered(lm, text, T):
    """Float64 (n, V) log_softmax(z / T) predicting each of the text's tokens (BOS first).

    ``ref_logits`` is already a log-softmax; dividing it by T shifts every row by a constant,
    so its log-softmax is that of the model's own logits divided by T."""
    ids = lm.tokenizer(text, add_special_tokens=False)["input_ids"]
    seq = [lm.boundary_id, *ids]
    lp = torch.log_softmax(ref_logits(lm.model, seq) / T, dim=-1)[:-1]  # (n, V)
    return ids, lp


@pytest.mark.parametrize("head", ["fused", "plain"])
def test_temperature_one_is_bit_identical(arch_lm, head):
    a = surprisal.score(TEXTS, model=arch_lm, extras=EXTRAS, head=head)
    b = surprisal.score(TEXTS, model=arch_lm, extras=EXTRAS, head=head, temperature=1.0)
    for x, y in zip(a, b, strict=True):
        for f in ("logprobs", "entropy", "rank", "topk_ids", "topk_logprobs", "bow"):
            assert np.array_equal(getattr(x, f), getattr(y, f), equal_nan=True), f


@pytest.mark.parametrize("pack", [False, pytest.param(True, marks=pytest.mark.slow)])
@pytest.mark.parametrize("head", ["fused", "plain"])
def test_temperature_matches_float64(arch_lm, pack, head):
    """Every extra follows the temperature, on every architecture (Gemma-2's softcap is
    applied before the division), packed or padded, fused or plain."""
    for T in (0.6, 2.5):
        s = surprisal.score(
            TEXTS[:4], model=arch_lm, extras=["entropy", "rank", "topk"], top_k=3, pack=pack,
            head=head, temperature=T,
        )  # fmt: skip
        for ts, text in zip(s, TEXTS[:4], strict=True):
            ids, lp = ref_tempered(arch_lm, text, T)
            idx = torch.tensor(ids)[:, None]
            assert_close(ts.logprobs, lp.gather(1, idx)[:, 0].numpy(), TOL, f"T={T}")
            assert_close(ts.entropy, -(lp.exp() * lp).sum(-1).numpy(), TOL, f"entropy T={T}")
            assert_close(ts.topk_logprobs, lp.topk(3, dim=1).values.numpy(), TOL, "topk")
            want_rank = (lp > lp.gather(1, idx)).sum(-1) + 1
            assert np.abs(ts.rank - want_rank.numpy()).max() <= 1  # ties within float32


def test_temperature_with_context_and_bow(gpt2_lm):
    """The shared prefix's last state and the word-start masses follow T as well."""
    T = 1.7
    s = surprisal.score(
        "sat on the mat", model=gpt2_lm, context="The cat", temperature=T, extras=["bow"]
    )
    p = surprisal.score("sat on the mat", model=gpt2_lm, context="The cat", temperature=T,
                        head="plain", extras=["bow"])  # fmt: skip
    tok = gpt2_lm.tokenizer
    ids = tok("sat on the mat", add_special_tokens=False)["input_ids"]
    pre = [gpt2_lm.boundary_id, *tok("The cat\n", add_special_tokens=False)["input_ids"]]
    lp = torch.log_softmax(ref_logits(gpt2_lm.model, pre + ids) / T, dim=-1)
    want = [float(lp[len(pre) + j - 1, t]) for j, t in enumerate(ids)]
    assert_close(s[0].logprobs, want, TOL)
    assert_close(p[0].logprobs, want, TOL)
    assert_close(s[0].bow, p[0].bow, TOL)
    assert not np.allclose(s[0].bow, surprisal.score("sat on the mat", model=gpt2_lm,
                           context="The cat", extras=["bow"])[0].bow)  # fmt: skip


def test_temperature_leaves_the_lm_alone(gpt2_lm):
    before = gpt2_lm.head
    surprisal.score("The cat sat.", model=gpt2_lm, temperature=3.0)
    assert gpt2_lm.head is before and gpt2_lm.head.temperature is None


@pytest.mark.parametrize("bad", [0, 0.0, -1.0, math.nan, math.inf])
def test_temperature_bad_values(gpt2_lm, bad):
    with pytest.raises(SurprisalError, match="temperature must be a finite number > 0"):
        surprisal.score("a", model=gpt2_lm, temperature=bad)


@pytest.mark.parametrize("bad", ["2", True, [1.0]])
def test_temperature_bad_types(gpt2_lm, bad):
    with pytest.raises(TypeError, match="temperature must be a float"):
        surprisal.score("a", model=gpt2_lm, temperature=bad)


# ---------------------------------------------------------------- calibration


def _no_merge_chars(tok) -> list[int]:
    """Ids of single-character tokens that take part in no BPE merge: any sequence of them
    decodes and re-encodes to the same ids."""
    import json

    model = json.loads(tok.backend_tokenizer.to_str())["model"]
    merged = set()
    for m in model["merges"]:
        a, b = m if isinstance(m, list) else m.split(" ")
        merged.update((a, b))
    chars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&*+-/:;<=>?@^_|~"
    return [model["vocab"][c] for c in chars if c in model["vocab"] and c not in merged]


def _restricted_gpt2(scale: float, allowed: list[int]):
    """Tiny GPT-2 whose head is ``scale * (W h + b)``, b = -50 outside ``allowed``."""
    lm = tiny_lm("gpt2")
    m = lm.model
    w = m.lm_head.weight.detach().clone()
    head = torch.nn.Linear(w.shape[1], w.shape[0], bias=True)
    b = torch.full((w.shape[0],), -50.0)  # e^-50: never sampled; exact in float32
    b[allowed] = 0.0
    with torch.no_grad():
        head.weight.copy_(w * 3.0 * scale)  # x3: peaked enough that T is well determined
        head.bias.copy_(b * scale)
    m.lm_head = head
    m.config.tie_word_embeddings = False
    return surprisal.LM(m, lm.tokenizer)


@torch.no_grad()
def _sample(lm, n: int, length: int, seed: int) -> list[list[int]]:
    gen = torch.Generator().manual_seed(seed)
    x = torch.full((n, 1), lm.boundary_id, dtype=torch.long)
    out, past = [], None
    for _ in range(length):
        kw = {} if past is None else {cache_kwarg(lm.model): past}
        o = lm.model(input_ids=x, use_cache=True, **kw)
        past = output_cache(o)
        x = torch.multinomial(torch.softmax(o.logits[:, -1].double(), -1), 1, generator=gen)
        out.append(x)
    return torch.cat(out, 1).tolist()


@pytest.mark.slow
def test_calibrate_recovers_a_known_temperature(gpt2_lm):
    """Texts sampled from a reference model at T=1; a model whose logits are the reference's
    times 2.0 is best fit (maximum likelihood) at T=2.0."""
    tok = gpt2_lm.tokenizer
    allowed = _no_merge_chars(tok)
    assert len(allowed) >= 8
    ref = _restricted_gpt2(1.0, allowed)
    seqs = _sample(ref, 256, 80, seed=0)  # 20k tokens: the MLE of T within ~1%
    texts = [tok.decode(s) for s in seqs]
    assert [tok(t, add_special_tokens=False)["input_ids"] for t in texts] == seqs
    hot = _restricted_gpt2(2.0, allowed)
    c = surprisal.calibrate_temperature(texts, model=hot, bounds=(0.2, 10.0))
    assert c.n_tokens == 256 * 80
    assert abs(c.temperature / 2.0 - 1) < 0.02, c
    assert c.mean_surprisal_after < c.mean_surprisal_before
    # the reported numbers are those of score(): at T=1 and at the fitted T
    s1 = surprisal.score(texts, model=hot)
    sT = surprisal.score(texts, model=hot, temperature=c.temperature)
    assert math.isclose(
        c.mean_surprisal_before, np.concatenate(s1.surprisal()).mean(), rel_tol=1e-6
    )
    assert math.isclose(c.mean_surprisal_after, np.concatenate(sT.surprisal()).mean(), rel_tol=1e-5)
    # the fused and plain searches agree
    p = surprisal.calibrate_temperature(texts, model=hot, bounds=(0.2, 10.0), head="plain")
    assert abs(p.temperature / c.temperature - 1) < 1e-3
    assert "temperature=" in repr(c) and "nats/token" in repr(c)


def test_calibrate_bad_input(gpt2_lm):
    with pytest.raises(SurprisalError, match="0 < low < high"):
        surprisal.calibrate_temperature(["a b"], model=gpt2_lm, bounds=(2.0, 1.0))
    with pytest.raises(TypeError, match="bounds must be two numbers"):
        surprisal.calibrate_temperature(["a b"], model=gpt2_lm, bounds=3)
    with pytest.raises(SurprisalError, match="no scored tokens"):
        surprisal.calibrate_temperature([""], model=gpt2_lm)
    with pytest.warns(UserWarning, match="edge of bounds"):
        surprisal.calibrate_temperature(["The cat sat."], model=gpt2_lm, bounds=(0.5, 0.6))
