"""The explanation-level null: controls generated and scored in the same engine call, each
number checked against the float64 oracle and a hand computation, and the null's false
positive rate on models that know nothing."""

from __future__ import annotations

import random

import numpy as np
import pytest

import surprisal
from conftest import ref_logits, ref_scores
from surprisal import LM, deltas
from surprisal.controls import DEFAULT_CONTROLS, make_controls, neutral_sentences
from surprisal.errors import SurprisalError
from surprisal.stats import above_null
from surprisal.testing import tiny_lm, tiny_model, tiny_tokenizer, train_tiny

TARGETS = ["ab ab ab", "The cat sat.", "abba"]
EXPL = "A proof by contradiction assumes the opposite."
CONTROLS = ["Colorless green ideas sleep.", "It rained today, lightly.", "Numbers: 1 2 3."]


def test_generated_controls(gpt2_lm, llama_lm):
    assert len(neutral_sentences()) >= 30
    for lm in (gpt2_lm, llama_lm):
        tok = lm.tokenizer
        ids = tok(EXPL + "\n", add_special_tokens=False)["input_ids"]
        c = make_controls(tok, EXPL, 7, seed=3)
        assert len(c) == 7 and c == make_controls(tok, EXPL, 7, seed=3)  # seeded
        assert c != make_controls(tok, EXPL, 7, seed=4)
        for x in c:  # exactly the explanation's prefix length, the separator kept last
            assert len(x.ids) == len(ids) and x.ids[-1] == ids[-1]
            assert x.text == tok.decode(x.ids)
        for x in c[:4]:  # ceil(7 / 2) shuffles: the same tokens in another order
            assert sorted(x.ids) == sorted(ids) and x.ids != ids
        words = " ".join(neutral_sentences())
        for x in c[4:]:  # neutral passages
            assert x.text.split()[0] in words
    # a one-token explanation has no distinct shuffle: all neutral
    one = make_controls(gpt2_lm.tokenizer, "a", 3)
    assert all(x.ids != gpt2_lm.tokenizer("a\n")["input_ids"] for x in one)
    with pytest.raises(SurprisalError, match="int >= 2"):
        make_controls(gpt2_lm.tokenizer, EXPL, 1)
    with pytest.raises(SurprisalError, match="at least 2 texts"):
        surprisal.delta(TARGETS, explanation=EXPL, model=gpt2_lm, controls=["only one"])
    with pytest.raises(TypeError, match="controls must be"):
        surprisal.delta(TARGETS, explanation=EXPL, model=gpt2_lm, controls=True)
    assert DEFAULT_CONTROLS >= 20  # so that a rank p can go below 0.05


def test_generated_controls_are_scored_as_ids(gpt2_lm):
    """Against the float64 oracle on boundary + the control's ids + the target's ids."""
    d = surprisal.delta(TARGETS[:2], explanation=EXPL, model=gpt2_lm, controls=2, seed=1)
    ctrl = make_controls(gpt2_lm.tokenizer, EXPL, 2, seed=1)
    assert d.controls == tuple(x.text for x in ctrl)
    for i, t in enumerate(TARGETS[:2]):
        tid = gpt2_lm.tokenizer(t, add_special_tokens=False)["input_ids"]
        base = ref_scores(gpt2_lm, t).sum()
        for k, x in enumerate(ctrl):
            seq = [gpt2_lm.boundary_id, *x.ids, *tid]
            lp = ref_logits(gpt2_lm.model, seq)
            p = len(seq) - len(tid)
            cond = sum(float(lp[p + j - 1, seq[p + j]]) for j in range(len(tid)))
            assert d.controls_reduction[i, k] == pytest.approx(cond - base, abs=2e-3)
    for k, x in enumerate(ctrl):  # each control's cost: its own ids after the boundary
        seq = [gpt2_lm.boundary_id, *x.ids]
        lp = ref_logits(gpt2_lm.model, seq)
        want = -sum(float(lp[j - 1, seq[j]]) for j in range(1, len(seq)))
        assert d.controls_scores[k].total() == pytest.approx(want, abs=2e-3)


def test_controls_against_the_float64_oracle(gpt2_lm, monkeypatch):
    calls = []
    real = deltas.run
    monkeypatch.setattr(deltas, "run", lambda *a, **k: calls.append(1) or real(*a, **k))
    negs = ["ba ba", "bbb"]
    d = surprisal.delta(TARGETS, explanation=EXPL, model=gpt2_lm, controls=CONTROLS, negatives=negs)
    assert len(calls) == 1  # the explanation, every control and the negatives: one call
    assert d.controls == tuple(CONTROLS)

    def red(texts, ctx):
        return np.array(
            [
                ref_scores(gpt2_lm, t, context=ctx).sum() - ref_scores(gpt2_lm, t).sum()
                for t in texts
            ]
        )

    want = np.stack([red(TARGETS, c) for c in CONTROLS], axis=1)  # (n, K)
    assert d.controls_reduction == pytest.approx(want, abs=2e-3)
    assert d.null_reductions == pytest.approx(want.mean(axis=0), abs=2e-3)
    for c, sc in zip(CONTROLS, d.controls_scores, strict=True):
        assert sc.total() == pytest.approx(-ref_scores(gpt2_lm, c + "\n").sum(), abs=2e-3)
    e = red(TARGETS, EXPL)
    assert d.reduction == pytest.approx(e, abs=2e-3)
    est, lo, hi = d.above_null
    assert est == pytest.approx(e.mean() - want.mean(), abs=2e-3)
    ref = above_null(d.reduction, d.controls_reduction, n_boot=4000, seed=0)
    assert (lo, hi) == (ref.ci_low, ref.ci_high)
    k_above = int(np.sum(want.mean(axis=0) >= e.mean()))
    assert d.p_above_null == pytest.approx((1 + k_above) / 4)
    # the differential's chance level: the same differential under each control
    nd = np.stack([red(negs, c) for c in CONTROLS], axis=1)
    assert d.null_differentials == pytest.approx(want.mean(0) - nd.mean(0), abs=2e-3)
    de, _, _ = d.differential_above_null
    diff = e.mean() - red(negs, EXPL).mean()
    assert de == pytest.approx(diff - (want.mean(0) - nd.mean(0)).mean(), abs=2e-3)
    s = d.summary(n_boot=500)
    assert s.above_null is not None and s.above_null.k == 3
    assert s.above_null.estimate == pytest.approx(est)
    assert s.differential_above_null is not None
    text = str(s)
    assert "explanation vs its 3 controls" in text and "no controls" not in text
    assert s.to_dict()["above_null"]["null"] == pytest.approx(list(d.null_reductions))
    html = d.to_html()
    assert "the explanation" in html and "explanation-level null" in html


def test_summary_without_controls_says_what_a_reduction_does_not_show(gpt2_lm):
    d = surprisal.delta(TARGETS, explanation=EXPL, model=gpt2_lm)
    assert d.above_null is None and d.p_above_null is None and d.null_reductions is None
    s = d.summary(n_boot=200)
    assert s.above_null is None
    assert "does not show that the explanation is informative" in str(s)
    html = d.to_html(n_boot=200)
    assert "does not show that the explanation is informative" in html
    assert s.reduction.ci_method in html and "percentile bootstrap" not in html
    assert "Holm p" in html and "wide and approximate" in html  # 3 targets: small n


# ---------------------------------------------------------------- models that know nothing

UNRELATED = [
    "Colorless green ideas sleep furiously.",
    "A proof by contradiction assumes the opposite.",
    "Every even number is the sum of two primes.",
    "The quick brown fox jumps over the lazy dog.",
    "In the beginning was the word.",
    "She sells sea shells by the sea shore.",
    "Language models assign a probability to text.",
    "Numbers: 0 1 2 3 4 5 6 7 8 9.",
    "Punctuation! Questions? Quotes and colons.",
    "How surprised is the model by this sentence?",
    "The weather turned cold in the evening.",
    "Bring an umbrella if it looks like rain.",
    "A triangle has three sides and three angles.",
    "Water boils at a lower temperature on mountains.",
    "The library closes early on public holidays.",
    "Owls hunt at night and sleep during the day.",
    "Add two cups of flour and stir slowly.",
    "The committee will meet again next month.",
    "Glaciers carve valleys over thousands of years.",
    "Please sign the form at the bottom of the page.",
]
UNRELATED_TARGETS = [
    f"{i}: {w}"
    for i, w in enumerate(
        [
            "the cat sat",
            "ab ab ab",
            "dogs run fast",
            "one two three",
            "blue sky today",
            "(()())",
            "a b c d",
            "green ideas",
            "quick fox",
            "zero one",
            "red apple",
            "sea shells",
            "the end",
            "hello world",
            "x y z",
            "abba abba",
            "big small",
            "left right",
            "up down",
            "rain again",
        ]
    )
]


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["gpt2", "llama"])
def test_useless_explanations_are_not_above_their_null(arch):
    """Random weights know nothing, so every explanation is useless: a reduction test
    flags many of them, the explanation-level null at most 10%."""
    lm = tiny_lm(arch)
    ci_hits = p_hits = naive = 0
    for k, e in enumerate(UNRELATED):
        d = surprisal.delta(UNRELATED_TARGETS, explanation=e, model=lm, controls=19, seed=k)
        _, lo, hi = d.above_null
        ci_hits += not (lo <= 0.0 <= hi)
        p_hits += d.p_above_null <= 0.05  # at K = 19 the smallest p is 0.05
        s = d.summary(n_boot=1000)
        naive += not (s.reduction.ci_low <= 0.0 <= s.reduction.ci_high)
    assert ci_hits <= 2, ci_hits  # <= 10% of 20
    assert p_hits <= 2, p_hits
    assert naive > ci_hits  # the reduction's own CI is fooled more often


LETTERS = "abcdefhmost"  # one token each (with a leading space) under the test tokenizer


def _key_line(seq: list[str]) -> str:
    return "key: " + " ".join(seq)


def _key_corpus(n: int, seed: int) -> list[str]:
    """Documents where a key line decides the letters that follow, in order: ``key: d f a b``
    then ``d f a b d f a b``. Lines that carry no key come before bodies they do not decide
    (another key's tokens shuffled, an English fragment), so that a prefix is informative
    only as an ordered key; bodies alone and English lines alone fill the rest."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        r = rng.random()
        seq = rng.sample(LETTERS, 4)
        body = " ".join(" ".join(seq) for _ in range(rng.randint(1, 3)))
        if r < 0.4:
            out.append(f"{_key_line(seq)}\n{body}")
        elif r < 0.55:  # the tokens of another key, shuffled: no key
            pieces = ["k", "e", "y", ":"] + [" " + c for c in rng.sample(LETTERS, 4)]
            rng.shuffle(pieces)
            out.append("".join(pieces).lstrip() + "\n" + body)
        elif r < 0.7:
            line = rng.choice(UNRELATED)
            out.append(f"{line[: rng.randint(5, len(line))]}\n{body}")
        elif r < 0.85:
            out.append(body)
        else:
            out.append(rng.choice(UNRELATED))
    return out


@pytest.mark.slow
def test_an_informative_explanation_is_above_its_null():
    """The positive control: a tiny model trained so that an ordered key decides every
    letter of the targets. Its key is above its 19 generated controls (token shuffles of
    the key line, which keep its letters but not their order, and neutral passages) in at
    least 2 of 3 training seeds, by the interval and by the rank p; without the null, the
    useless controls themselves reduce surprisal (a new line after any prefix is expected)."""
    seq = ["d", "f", "a", "b"]
    targets = [" ".join((seq * 3)[:n]) for n in (4, 5, 6, 8, 10, 12)]
    tok = tiny_tokenizer("byte-bpe")
    assert all(len(tok.tokenize(" " + c)) == 1 for c in LETTERS)
    wins = 0
    for seed in range(3):
        model = tiny_model("gpt2", len(tok), seed=seed, n_embd=64, n_head=4, initializer_range=0.02)
        lm = train_tiny(LM(model, tok), _key_corpus(3000, seed), steps=800, seed=seed)
        d = surprisal.delta(targets, explanation=_key_line(seq), model=lm, controls=19, seed=seed)
        assert d.reduction.mean() > 2.0  # the key is read: each target is 2+ nats less surprising
        wins += d.above_null[1] > 0 and d.p_above_null <= 0.05
    assert wins >= 2, wins
