"""Grammar membership and generation on real models: a trained one must beat a random one."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from surprisal import grammar
from surprisal.testing import tiny_lm, train_tiny

G = grammar.zoo["dyck1"]


@pytest.fixture(scope="module")
def random_lm():
    return tiny_lm("gpt2", max_positions=512)


@pytest.fixture(scope="module")
def trained_lm():
    lm = tiny_lm("gpt2", max_positions=512)
    train = G.sample(150, 2, 12, seed=123)
    train_tiny(lm, [s + "\n" for s in train], steps=300, seed=0)
    lm.train_strings = train
    return lm


@pytest.mark.slow
def test_trained_model_discriminates_members(random_lm, trained_lm):
    rand = grammar.membership(G, model=random_lm, n=60, max_len=12, seed=0, baseline=None)
    m = grammar.membership(G, model=trained_lm, n=60, max_len=12, seed=0, n_boot=500)
    assert abs(rand.auc["none"] - 0.5) < 0.15
    assert m.above_chance["auc"][1] > 0  # above its measured chance level, not just 0.5
    assert m.auc["none"] > 0.8 and m.auc["none"] > rand.auc["none"] + 0.25
    assert m.pair_accuracy["none"] > 0.75
    assert m.accuracy["none"] > 0.7
    # every non-member really is one, and every minimal pair is one edit apart
    for t, lab in zip(m.texts, m.labels, strict=True):
        assert G.accepts(t) == bool(lab)
    for g, b in m.pairs:
        assert m.labels[g] == 1 and m.labels[b] == 0
    assert set(m.kinds) == {"member", "edit", "random"}


@pytest.mark.slow
def test_conditions_lifts_and_tables(trained_lm):
    m = grammar.membership(
        G,
        model=trained_lm,
        n=40,
        max_len=10,
        explanation=G.explanation,
        control=G.control,
        shots=3,
        baseline=None,
    )
    assert m.conditions == ("none", "explanation", "control", "shots")
    lift = m.lift
    assert set(lift) == {"explanation-none", "explanation-control"}
    row = lift["explanation-none"]
    assert row["auc"] == pytest.approx(m.auc["explanation"] - m.auc["none"])
    assert row["auc_ci_low"] <= row["auc"] <= row["auc_ci_high"]
    assert row["pair_accuracy"] == pytest.approx(
        m.pair_accuracy["explanation"] - m.pair_accuracy["none"]
    )
    import pandas as pd  # a core dependency

    t = m.table()
    assert list(t["condition"]) == list(m.conditions)
    df = m.to_pandas()
    assert len(df) == len(m.texts) * 4
    assert isinstance(m.by_length(), pd.DataFrame)
    # the shots are members that are not among the candidates
    shots = m.prefixes["shots"].split("\n")[:-1]
    assert len(shots) == 3 and all(G.accepts(s) for s in shots)
    assert not set(shots) & set(m.texts)
    html = m.to_html()
    assert "<script" not in html and "dyck1" in html
    # scores: total, per-token mean, SLOR against a unigram of calibration members
    lp = m.scores("none")
    assert np.allclose(m.scores("none", "mean"), lp / m.n_tokens["none"])
    assert np.allclose(m.scores("none", "slor"), (lp - m.unigram_logprob) / m.n_tokens["none"])


@pytest.mark.slow
def test_split_is_stratified_and_threshold_held_out(trained_lm):
    m = grammar.membership(G, model=trained_lm, n=40, max_len=10, test_fraction=0.5, baseline=None)
    for value in (0, 1):
        sel = m.labels == value
        assert abs(m.test[sel].mean() - 0.5) < 0.05
    assert m.test.any() and (~m.test).any()


@pytest.mark.slow
def test_each_prefix_is_encoded_once(trained_lm):
    seen = []
    emb = trained_lm.model.get_input_embeddings()
    h = emb.register_forward_hook(lambda mod, inp, out: seen.append(inp[0].detach().clone()))
    try:
        grammar.membership(
            G,
            model=trained_lm,
            n=30,
            max_len=10,
            explanation=G.explanation,
            control=G.control,
            batch_tokens=256,
            baseline=None,
        )
    finally:
        h.remove()
    tok = trained_lm.tokenizer
    for text in (G.explanation, G.control):
        ids = [trained_lm.boundary_id, *tok(text + "\n", add_special_tokens=False)["input_ids"]]
        hits = [x for x in seen if x.shape[1] >= len(ids) and x[0, : len(ids)].tolist() == ids]
        assert len(hits) == 1


@pytest.mark.slow
def test_user_strings(trained_lm):
    m = grammar.membership(
        model=trained_lm,
        positives=["()", "(())", "()()"],
        negatives=[")(", "(()", "))"],
        baseline=None,
    )
    assert m.grammar == "given" and len(m.pairs) == 0
    assert np.isnan(m.pair_accuracy["none"])
    assert 0.0 <= m.auc["none"] <= 1.0


@pytest.mark.slow
def test_membership_errors(trained_lm):
    with pytest.raises(ValueError, match="give a grammar, or both positives"):
        grammar.membership(model=trained_lm)
    with pytest.raises(ValueError, match="not both"):
        grammar.membership(G, model=trained_lm, positives=["()"])
    with pytest.raises(ValueError, match="both a positive and a negative"):
        grammar.membership(model=trained_lm, positives=["()"], negatives=["()"])
    with pytest.raises(ValueError, match="shots needs a grammar"):
        grammar.membership(model=trained_lm, positives=["()"], negatives=[")("], shots=2)
    with pytest.raises(ValueError, match="end must be"):
        grammar.membership(G, model=trained_lm, end="")
    with pytest.raises(ValueError, match="negative_kinds"):
        grammar.membership(G, model=trained_lm, negative_kinds=["typo"])


@pytest.mark.slow
def test_generation_valid_rate(random_lm, trained_lm):
    known = trained_lm.train_strings
    rand = grammar.generation(G, model=random_lm, n=40, max_len=12, known=known, seed=0)
    gen = grammar.generation(G, model=trained_lm, n=40, max_len=12, known=known, seed=0, shots=2)
    assert gen.conditions == ("none", "shots")
    assert gen.valid_rate["none"] > rand.valid_rate["none"] + 0.2
    for c in gen.conditions:
        for s, v in zip(gen.samples[c], gen.valid[c], strict=True):
            if v:
                assert G.accepts(s)
        assert 0 <= gen.valid_rate[c] <= 1
        if all(s == "" for s in gen.samples[c]):  # nothing generated: novelty is undefined
            assert math.isnan(gen.novel_rate[c])
        else:
            assert 0 <= gen.novel_rate[c] <= gen.valid_rate[c]
        assert 0 <= gen.distinct_rate[c] <= gen.valid_rate[c]
        lo, hi = gen.ci("valid")[c]
        assert lo <= gen.valid_rate[c] <= hi
    again = grammar.generation(G, model=trained_lm, n=40, max_len=12, known=known, seed=0, shots=2)
    assert again.samples == gen.samples  # seeded
    with pytest.raises(ValueError, match="temperature"):
        grammar.generation(G, model=trained_lm, sampling_temperature=0)


@pytest.mark.slow
def test_generation_uses_the_prefix_cache(trained_lm):
    """Sampling after the prefix equals sampling from the concatenated prompt."""
    lm = trained_lm
    gen = torch.Generator().manual_seed(0)
    from surprisal.grammar.generate import _sample

    ids = [lm.boundary_id, *lm.tokenizer("(()\n", add_special_tokens=False)["input_ids"]]
    texts, _ = _sample(
        lm, ids, 3, end_text="\n", max_new_tokens=6, temperature=1e-4, batch_size=3, generator=gen
    )
    # greedy by hand, no cache
    x = list(ids)
    out = []
    for _ in range(6):
        logits = lm.model(input_ids=torch.tensor([x])).logits[0, -1]
        t = int(logits.argmax())
        if t == lm.tokenizer.eos_token_id:
            break
        x.append(t)
        out.append(t)
        if "\n" in lm.tokenizer.decode(out):
            break
    want = lm.tokenizer.decode(out).split("\n")[0]
    assert texts == [want] * 3
