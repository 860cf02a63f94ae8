"""``delta(..., divergence=True)``: how far an explanation moves the whole next-token
distribution at each target position, KL(p(. | e, t<j) || p(. | t<j)), and the entropies
with and without it, against a float64 computation on the model's own logits."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import surprisal
from conftest import assert_close, ref_logits
from surprisal.errors import SurprisalError
from surprisal.head import HeadSpec, fused_divergence, plain_divergence

TOL = 1e-4  # nats per position, float32 vs float64
TARGETS = ["The cat sat on the mat.", "a", "Colorless green ideas sleep furiously."]
EXPL = "Cats sit on mats; ideas are green."
CTRL = "The weather was mild all week long."


def ref_rows(lm, text, prefix_text=None, boundary=True):
    """(n, V) float64 log-softmax predicting each of the text's tokens; a NaN row where
    the token has nothing before it."""
    tok = lm.tokenizer
    ids = tok(text, add_special_tokens=False)["input_ids"]
    head = [lm.boundary_id] if boundary else []
    if prefix_text is not None:
        head = head + tok(prefix_text + "\n", add_special_tokens=False)["input_ids"]
    seq = head + ids
    lp = ref_logits(lm.model, seq)  # (len(seq), V)
    rows = torch.full((len(ids), lp.shape[1]), float("nan"), dtype=torch.float64)
    for j in range(len(ids)):
        if len(head) + j > 0:
            rows[j] = lp[len(head) + j - 1]
    return rows


def kl(lp, lq):
    return (lp.exp() * (lp - lq)).sum(-1).numpy()


def ent(lp):
    return -(lp.exp() * lp).sum(-1).numpy()


@pytest.mark.parametrize("pack", [False, pytest.param(True, marks=pytest.mark.slow)])
@pytest.mark.parametrize("head", ["fused", "plain"])
def test_divergence_matches_float64(arch_lm, pack, head):
    """Every test architecture (Gemma-2: softcap), packed or padded, fused or plain twin."""
    d = surprisal.delta(
        TARGETS, explanation=EXPL, control=CTRL, model=arch_lm, divergence=True, pack=pack,
        head=head,
    )  # fmt: skip
    for i, t in enumerate(TARGETS):
        l0 = ref_rows(arch_lm, t)
        le = ref_rows(arch_lm, t, EXPL)
        lc = ref_rows(arch_lm, t, CTRL)
        assert d.divergence[i].dtype == np.float32
        assert d.divergence[i].shape == d.per_token(i).shape
        assert_close(d.divergence[i], kl(le, l0), TOL, f"kl {i}")
        assert_close(d.control_divergence[i], kl(lc, l0), TOL, f"control kl {i}")
        assert_close(d.entropy_change[i], ent(le) - ent(l0), TOL, f"entropy change {i}")
        assert_close(d.control_entropy_change[i], ent(lc) - ent(l0), TOL, f"ctrl entropy {i}")
        assert_close(d.divergences.entropy_base[i], ent(l0), TOL, f"entropy {i}")
        assert d.divergence_total[i] == pytest.approx(kl(le, l0).sum(), abs=TOL * len(l0))
        # the scores come from the same head pass
        idx = torch.tensor(arch_lm.tokenizer(t, add_special_tokens=False)["input_ids"])[:, None]
        for got, lp in ((d.base, l0), (d.conditioned, le), (d.controlled, lc)):
            assert_close(got[i].logprobs, lp.gather(1, idx)[:, 0].numpy(), TOL, f"logprobs {i}")


def test_unscored_positions_are_nan(llama_lm):
    """Without a boundary token the first target token has no prediction without the
    explanation: NaN there, never 0; the rest still match float64."""
    d = surprisal.delta(
        TARGETS[:2], explanation=EXPL, model=llama_lm, divergence=True, add_bos=False
    )
    for i, t in enumerate(TARGETS[:2]):
        l0 = ref_rows(llama_lm, t, boundary=False)
        le = ref_rows(llama_lm, t, EXPL, boundary=False)
        assert np.isnan(d.divergence[i][0]) and np.isnan(d.entropy_change[i][0])
        assert_close(d.divergence[i], kl(le, l0), TOL, f"kl {i}")
        # the explanation still scores the first token; without it, it stays NaN
        idx = torch.tensor(llama_lm.tokenizer(t, add_special_tokens=False)["input_ids"])[:, None]
        assert_close(d.conditioned[i].logprobs, le.gather(1, idx)[:, 0].numpy(), TOL, "cond")
        assert np.isnan(d.base[i].logprobs[0]) and np.isfinite(d.conditioned[i].logprobs[0])
    assert np.isfinite(d.divergence_total).all()
    assert d.control_divergence is None and d.control_divergence_total is None


def test_windowed_targets_line_up(gpt2_lm):
    """A target longer than max_length is scored in windows in both conditions; its
    divergence still lines up with a direct computation under the same windows."""
    long = "one two three four five six seven eight nine ten " * 3
    d = surprisal.delta([long], explanation="Count.", model=gpt2_lm, divergence=True, max_length=24)
    p = surprisal.delta(
        [long], explanation="Count.", model=gpt2_lm, divergence=True, max_length=24, head="plain"
    )
    assert_close(d.divergence[0], p.divergence[0], TOL, "windowed kl")
    assert_close(d.entropy_change[0], p.entropy_change[0], TOL, "windowed entropy")
    assert np.isfinite(d.divergence[0]).all()


def test_divergence_changes_nothing_else(gpt2_lm):
    a = surprisal.delta(TARGETS, explanation=EXPL, control=CTRL, model=gpt2_lm)
    b = surprisal.delta(TARGETS, explanation=EXPL, control=CTRL, model=gpt2_lm, divergence=True)
    assert a.divergences is None
    # the divergence head scores the tokens too (float32 rounding apart)
    assert_close(a.reduction, b.reduction, 1e-4, "reduction")
    assert_close(a.control_reduction, b.control_reduction, 1e-4, "control reduction")
    for i in range(len(TARGETS)):
        assert_close(a.per_token(i), b.per_token(i), 1e-5, "per token")
    assert a.explanation_cost == b.explanation_cost
    with pytest.raises(SurprisalError, match="divergence=True"):
        a.divergence  # noqa: B018
    # the explanation's divergence does not depend on a control being compared too
    c = surprisal.delta(TARGETS, explanation=EXPL, model=gpt2_lm, divergence=True)
    for i in range(len(TARGETS)):
        assert_close(c.divergence[i], b.divergence[i], 1e-6, "with/without control")
    with pytest.raises(TypeError, match="divergence must be True or False"):
        surprisal.delta(TARGETS, explanation=EXPL, model=gpt2_lm, divergence="yes")


@pytest.mark.parametrize("chunk_bytes", [4 * 7 * 384, 4 * 384 * 3 + 4, 64, 2**25])
def test_divergence_head_chunking_bias_softcap_temperature(chunk_bytes):
    """The online accumulation over row and vocabulary chunks (a bf16 weight forces vocab
    slices), with a bias, a softcap and a temperature, against float64."""
    torch.manual_seed(0)
    N, H, V, G = 23, 32, 384, 2
    ref = torch.randn(N, H)
    others = ref[None] + 0.5 * torch.randn(G, N, H)
    w, b = torch.randn(V, H) * 0.5, torch.randn(V)
    for weight in (w, w.to(torch.bfloat16)):
        spec = HeadSpec(weight=weight, bias=b, softcap=5.0, temperature=1.3)
        lq = torch.log_softmax(spec.transform(ref.double() @ weight.double().T + b.double()), -1)
        lp = torch.log_softmax(spec.transform(others.double() @ weight.double().T + b.double()), -1)
        t = torch.randint(0, V, (N,))
        got = fused_divergence(ref, others, t, spec, chunk_bytes=chunk_bytes)
        assert got["kl"].shape == (G, N) and got["entropy_ref"].shape == (N,)
        assert_close(got["kl"], kl(lp, lq[None]), TOL, "kl")
        assert_close(got["entropy"], ent(lp), TOL, "entropy")
        assert_close(got["entropy_ref"], ent(lq), TOL, "entropy_ref")
        assert_close(got["logprobs_ref"], lq.gather(1, t[:, None])[:, 0], TOL, "logprobs_ref")
        want = lp.gather(2, t[None, :, None].expand(G, N, 1))[..., 0]
        assert_close(got["logprobs"], want, TOL, "logprobs")
        twin = plain_divergence(
            spec.transform(ref @ weight.float().T + b),
            spec.transform(others @ weight.float().T + b),
            t,
        )
        for k in ("kl", "entropy", "entropy_ref", "logprobs", "logprobs_ref"):
            assert_close(twin[k], got[k], TOL, f"twin {k}")
    same = fused_divergence(ref, ref[None], torch.zeros(N, dtype=torch.long), HeadSpec(weight=w))
    assert float(same["kl"].abs().max()) < 1e-5  # p == q: zero, never negative


def test_divergence_views(gpt2_lm, tmp_path):
    d = surprisal.delta(TARGETS, explanation=EXPL, control=CTRL, model=gpt2_lm, divergence=True)
    s = d.summary(n_boot=200)
    assert s.divergence is not None and s.control_divergence is not None
    assert s.divergence.mean == pytest.approx(d.divergence_total.mean())
    assert "divergence KL(p(.|e) || p(.))" in str(s)
    assert s.to_dict()["divergence"]["mean"] == pytest.approx(s.divergence.mean)
    bits = d.summary(unit="bits", n_boot=200)
    assert bits.divergence.mean == pytest.approx(s.divergence.mean / np.log(2))
    df = d.to_pandas()
    assert np.allclose(df["divergence"], d.divergence_total)
    assert np.allclose(df["mean_entropy_change"], [np.nanmean(x) for x in d.entropy_change])
    assert "control_divergence" in df and "control_mean_entropy_change" in df
    html = d.to_html(tmp_path / "d.html")
    assert "How far the explanation moved the next-token distribution" in html
    n_tok = sum(len(t) for t in d.base)
    assert html.count("<span") == 2 * n_tok  # one row per target in each heatmap


def test_cli_delta_divergence(tmp_path, capsys, gpt2_lm):
    from surprisal.cli import main

    model_dir = tmp_path / "m"
    gpt2_lm.model.save_pretrained(model_dir)
    gpt2_lm.tokenizer.save_pretrained(model_dir)
    e, c, t = tmp_path / "e.txt", tmp_path / "c.txt", tmp_path / "t.txt"
    e.write_text(EXPL)
    c.write_text(CTRL)
    t.write_text("\n".join(TARGETS[:2]) + "\n")
    argv = ["delta", "--model", str(model_dir), "--explanation", str(e), "--control", str(c)]
    assert main([*argv, str(t), "--divergence", "--quiet", "--html", str(tmp_path / "d.html")]) == 0
    out = capsys.readouterr()
    recs = [json.loads(x) for x in out.out.splitlines()]
    d = surprisal.delta(
        TARGETS[:2], explanation=EXPL, control=CTRL, model=surprisal.load(model_dir),
        divergence=True,
    )  # fmt: skip
    for r, want, cwant in zip(recs, d.divergence_total, d.control_divergence_total, strict=True):
        assert r["divergence"] == pytest.approx(want, abs=1e-4)
        assert r["control_divergence"] == pytest.approx(cwant, abs=1e-4)
        assert "mean_entropy_change" in r and "control_mean_entropy_change" in r
    assert "divergence KL" in out.err
    assert main([*argv, str(t), "--quiet"]) == 0
    assert "divergence" not in capsys.readouterr().out


def test_cli_score_temperature(tmp_path, capsys, gpt2_lm):
    from surprisal.cli import main

    model_dir = tmp_path / "m"
    gpt2_lm.model.save_pretrained(model_dir)
    gpt2_lm.tokenizer.save_pretrained(model_dir)
    argv = ["score", "--model", str(model_dir), "--text", "The cat sat.", "--quiet"]
    assert main([*argv, "--temperature", "2.0"]) == 0
    rec = json.loads(capsys.readouterr().out.splitlines()[0])
    want = surprisal.score("The cat sat.", model=surprisal.load(model_dir), temperature=2.0)
    assert rec["total"] == pytest.approx(want[0].total(), abs=1e-4)
    assert main([*argv, "--temperature", "0"]) == 2
    assert "temperature must be a finite number > 0" in capsys.readouterr().err
