"""Result objects people enjoy: short reprs, notebook HTML, plain-data views, float32 views.

Numbers are checked against the float64 oracle of conftest (an unpadded float64 forward),
never against the package's own arrays alone.
"""

from __future__ import annotations

import io
import json
import math
import re

import numpy as np
import pytest

import surprisal
from conftest import TEXTS, assert_close, ref_scores
from surprisal.corpus import score_to_stream

EXPL = "Each text below is a short English sentence."
CTRL = "Lorem ipsum dolor sit amet, consectetur."
TARGETS = ["The cat sat on the mat.", "a", "Dogs bark <loudly> & often."]


@pytest.fixture(scope="module")
def scores(gpt2_lm):
    return surprisal.score(TEXTS, model=gpt2_lm, extras=["entropy", "topk", "bow"], top_k=3)


@pytest.fixture(scope="module")
def d(gpt2_lm):
    return surprisal.delta(TARGETS, explanation=EXPL, control=CTRL, model=gpt2_lm)


def test_repr_is_short_and_says_what_matters(scores, gpt2_lm):
    r = repr(scores)
    assert "\n" not in r and len(r) < 250, r
    n_tok = sum(len(t) for t in scores)
    assert f"{len(TEXTS)} texts" in r and f"{n_tok} tokens" in r
    assert f"model={gpt2_lm.name!r}" in r and "bos_policy='bos'" in r
    want_total = sum(-np.nansum(ref_scores(gpt2_lm, t)) for t in TEXTS)
    total = float(re.search(r"total ([0-9.]+) nats", r).group(1))
    assert total == pytest.approx(want_total, abs=2e-3)
    assert "array" not in r
    t = repr(scores[3])
    assert "\n" not in t and len(t) < 200 and "array" not in t
    assert f"{len(scores[3])} tokens" in t
    assert t.startswith("TextScore('Language models assign a probability") and "\u2026" in t


def test_surprisal_and_probs_are_float32_and_right(scores, gpt2_lm):
    for text, ts in zip(TEXTS, scores, strict=True):
        ref = ref_scores(gpt2_lm, text)
        assert ts.surprisal().dtype == np.float32 == ts.logprobs.dtype
        assert ts.surprisal("bits").dtype == np.float32
        assert ts.probs().dtype == np.float32
        assert_close(ts.surprisal(), -ref, 1e-4, text)
        assert_close(ts.surprisal("bits"), -ref / math.log(2), 2e-4, text)
        assert_close(ts.probs(), np.exp(ref), 1e-5, text)
    assert [p.dtype for p in scores.probs()] == [np.float32] * len(TEXTS)


@pytest.mark.parametrize("kind", ["surprisal", "logprob", "prob"])
@pytest.mark.parametrize("unit", ["nats", "bits"])
def test_token_score_pairs(scores, gpt2_lm, kind, unit):
    for text, pairs in zip(TEXTS, scores.token_score(unit, kind), strict=True):
        assert "".join(p for p, _ in pairs) == text
        ref = ref_scores(gpt2_lm, text)
        per = {"nats": 1.0, "bits": 1 / math.log(2)}[unit]
        want = {"surprisal": -ref * per, "logprob": ref * per, "prob": np.exp(ref)}[kind]
        assert all(isinstance(v, float) for _, v in pairs)
        assert_close([v for _, v in pairs], want, 2e-4, text)


def test_token_score_rejects_unknown_kind(scores):
    with pytest.raises(surprisal.SurprisalError, match="kind must be"):
        scores[0].token_score(kind="loss")  # type: ignore[arg-type]


def test_to_records_are_the_records_the_command_writes(scores, gpt2_lm):
    buf = io.StringIO()
    score_to_stream(
        list(TEXTS),
        buf,
        model=gpt2_lm,
        unit="bits",
        words=True,
        extras=["entropy", "topk", "bow"],
        top_k=3,
    )
    written = [json.loads(x) for x in buf.getvalue().splitlines()]
    mine = json.loads(json.dumps(scores.to_records("bits", words=True)))
    assert mine == written
    assert all("run" not in r for r in mine)  # no settings file, no run id


def test_to_dict_and_to_json(scores, gpt2_lm, tmp_path):
    doc = json.loads(scores.to_json(tmp_path / "s.json"))
    assert doc == json.loads((tmp_path / "s.json").read_text(encoding="utf-8"))
    assert doc["model"] == gpt2_lm.name and doc["bos_policy"] == "bos" and doc["unit"] == "nats"
    assert len(doc["records"]) == len(TEXTS)
    for text, rec in zip(TEXTS, doc["records"], strict=True):
        ref = ref_scores(gpt2_lm, text)
        assert rec["total"] == pytest.approx(-ref.sum(), abs=2e-4)
        assert len(rec["topk_ids"]) == len(ref) and len(rec["topk_ids"][0]) == 3
        # the most likely alternative is at most as surprising as the observed token
        assert all(
            k[0] <= s + 1e-5 for k, s in zip(rec["topk_surprisal"], rec["surprisal"], strict=True)
        )
        assert len(rec["bow"]) == len(ref) + 1
    one = scores[0].to_dict(words=True, correction="pimentel-meister")
    w = scores[0].words("pimentel-meister")
    assert one["word_correction"] == "pimentel-meister"
    assert one["word_surprisal"] == pytest.approx(w.surprisal().tolist())
    assert json.loads(scores[0].to_json()) == json.loads(json.dumps(scores[0].to_dict()))


def test_unscored_first_token_is_null_in_json(gpt2_lm):
    s = surprisal.score(["The cat"], model=gpt2_lm, add_bos=False)
    rec = json.loads(s.to_json())["records"][0]
    assert rec["surprisal"][0] is None and rec["surprisal"][1] is not None
    assert "1 unscored" in repr(s[0]) and "(1 unscored)" in repr(s)
    assert s[0].token_score()[0][1] != s[0].token_score()[0][1]  # NaN


def test_notebook_html_is_capped(gpt2_lm):
    texts = [f"text number {i}" for i in range(25)]
    s = surprisal.score(texts, model=gpt2_lm)
    doc = s._repr_html_()
    assert doc.count("<span") == sum(len(t) for t in s[:20])
    assert "first 20 of 25 texts" in doc
    assert "<script" not in doc.lower() and "<html" not in doc  # a fragment, not a page
    assert s[0]._repr_html_().count("<span") == len(s[0])


def test_delta_repr_and_records(d, gpt2_lm):
    r = repr(d)
    assert "\n" not in r and len(r) < 300 and "array" not in r
    assert "3 targets" in r and "control='Lorem ipsum" in r
    recs = d.to_records("bits", ids=["a", "b", "c"])
    assert [x["id"] for x in recs] == ["a", "b", "c"]
    for t, rec in zip(TARGETS, recs, strict=True):
        base = -ref_scores(gpt2_lm, t).sum()
        cond = -ref_scores(gpt2_lm, t, context=EXPL).sum()
        ctrl = -ref_scores(gpt2_lm, t, context=CTRL).sum()
        ln2 = math.log(2)
        assert rec["reduction"] == pytest.approx((base - cond) / ln2, abs=5e-4)
        assert rec["reduction_vs_control"] == pytest.approx((ctrl - cond) / ln2, abs=5e-4)
        assert rec["n_tokens"] == len(ref_scores(gpt2_lm, t))
    with pytest.raises(surprisal.SurprisalError, match="one per target"):
        d.to_records(ids=["a"])


def test_delta_to_dict_json(d, gpt2_lm):
    doc = json.loads(d.to_json())
    assert doc["explanation"] == EXPL and doc["control"] == CTRL and doc["unit"] == "nats"
    # S(e): the explanation's tokens (separator included) after the boundary token
    ids = gpt2_lm.tokenizer(EXPL + "\n", add_special_tokens=False)["input_ids"]
    want = -ref_scores(gpt2_lm, EXPL + "\n").sum()
    assert len(ids) == len(d.explanation_scores)
    assert doc["explanation_cost"] == pytest.approx(want, abs=5e-4)
    red = np.array([r["reduction"] for r in doc["records"]])
    assert doc["summary"]["reduction"]["mean"] == pytest.approx(red.mean(), abs=1e-9)
    assert doc["two_part_gain_total"] == pytest.approx(red.sum() - want, abs=1e-3)
    one = surprisal.delta(["x y"], explanation=EXPL, model=gpt2_lm)
    sd = json.loads(one.to_json())["summary"]["reduction"]
    assert sd["std"] is None  # NaN (one target) is written as null
    s = json.loads(one.summary().to_json())
    assert s["control"] is None


def test_delta_html_report(d, tmp_path):
    path = tmp_path / "d.html"
    doc = d.to_html(path, unit="bits", labels=["first", "second", "third"])
    assert path.read_text(encoding="utf-8") == doc
    assert EXPL in doc and CTRL in doc  # both texts shown
    for lab in ("first", "second", "third"):
        assert f"<b>{lab}</b>" in doc
    assert "target 0" not in doc
    assert "nats" not in doc  # one unit per page
    assert "all values in bits" in doc
    assert doc.count("<svg") >= 3  # two histograms and the colour legend
    s = d.summary(unit="bits", n_boot=2000)
    assert f"mean {s.reduction.mean:.3g}" in doc
    assert f"[{s.reduction.ci_low:.3g}, {s.reduction.ci_high:.3g}]" in doc
    assert "<script" not in doc.lower() and "http" not in doc
    auto = d.to_html()
    assert "#1 The cat sat on the mat." in auto and "#2 a" in auto


def test_delta_notebook_and_ranking(d, gpt2_lm):
    doc = d._repr_html_()
    assert EXPL in doc and "<svg" in doc and "<html" not in doc
    r = surprisal.rank_explanations(
        TARGETS[:2], candidates=["A sentence.", "Zebra!"], model=gpt2_lm, n_boot=200
    )
    rr = repr(r)
    assert "\n" not in rr and "2 candidates" in rr
    doc = json.loads(r.to_json())
    assert [c["rank"] for c in doc["candidates"]] == [1, 2]
    means = [float(np.mean(x.reduction)) for x in r.deltas]  # all targets
    assert [c["reduction"]["mean"] for c in doc["candidates"]] == pytest.approx(means)
    assert "<table" in r._repr_html_()


def test_membership_and_generation_hold_nicely(gpt2_lm):
    """Short reprs (never the arrays), JSON-ready dicts whose numbers are the attributes',
    and a notebook view, like Scores and Delta."""
    import json

    from surprisal import grammar

    g = grammar.zoo["dyck1"]
    m = grammar.membership(g, model=gpt2_lm, n=12, max_len=6, seed=0, n_boot=50, baseline=None)
    r = repr(m)
    assert r.startswith("Membership('dyck1'") and "array" not in r and len(r) < 300
    d = json.loads(m.to_json())
    assert d["n_members"] == int(m.labels.sum())
    assert d["n_nonmembers"] == len(m.labels) - int(m.labels.sum())
    assert d["auc"] == pytest.approx(m.auc)
    assert "surprisal" in m._repr_html_() and "<script" not in m._repr_html_()
    gen = grammar.generation(g, model=gpt2_lm, n=4, max_len=6, seed=0)
    r = repr(gen)
    assert r.startswith("Generation('dyck1'") and "array" not in r
    gd = json.loads(gen.to_json())
    assert gd["valid_rate"] == pytest.approx(gen.valid_rate)
    assert gd["n_samples"] == {c: len(gen.samples[c]) for c in gen.conditions}
    assert "<script" not in gen._repr_html_()
