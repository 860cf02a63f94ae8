"""Small API edges a new user meets (issue 24, item 10): a zoo grammar by name, the
bundled model by name in Python, intervals that measure nothing printed as n/a, and
novelty that is undefined when nothing was generated."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import surprisal
from surprisal import grammar, stats
from surprisal.deltas import Differential
from surprisal.formatting import ci
from surprisal.grammar.generate import Generation

# ---------------------------------------------------------------- a zoo grammar by name


def test_membership_and_generation_take_a_zoo_name(gpt2_lm):
    kw = {"n": 6, "max_len": 6, "baseline": None}
    by_name = grammar.membership("dyck1", model=gpt2_lm, **kw)
    by_object = grammar.membership(grammar.zoo["dyck1"], model=gpt2_lm, **kw)
    assert by_name.grammar == "dyck1" and by_name.texts == by_object.texts
    np.testing.assert_array_equal(by_name.logprob["none"], by_object.logprob["none"])
    g = grammar.generation("abn", model=gpt2_lm, n=2, max_new_tokens=3)
    assert g.grammar == "abn"


def test_a_grammar_of_another_type_or_name_is_a_clear_error(gpt2_lm):
    with pytest.raises(TypeError, match=r"grammar must be a Grammar .* got int"):
        grammar.membership(3, model=gpt2_lm)
    with pytest.raises(TypeError, match="got list"):
        grammar.generation(["(", ")"], model=gpt2_lm)
    with pytest.raises(surprisal.SurprisalError, match=r"no zoo grammar named 'dyck3'.*dyck1"):
        grammar.membership("dyck3", model=gpt2_lm)


# ---------------------------------------------------------------- the demo model by name


def test_demo_loads_by_name_in_python():
    from surprisal.demo import DEMO_NAME, load_demo

    lm = surprisal.load("demo")
    assert lm.name == DEMO_NAME
    got = surprisal.score(["([])"], model="demo")  # through resolve_model's cache
    want = surprisal.score(["([])"], model=load_demo())
    assert got.model == DEMO_NAME
    np.testing.assert_array_equal(got[0].logprobs, want[0].logprobs)


def test_a_folder_named_demo_wins_over_the_bundled_model(tmp_path, monkeypatch):
    (tmp_path / "demo").mkdir()
    monkeypatch.chdir(tmp_path)
    with pytest.raises(surprisal.SurprisalError, match=r"no config\.json"):
        surprisal.load("demo")


# ---------------------------------------------------------------- intervals that measure nothing


def test_an_interval_from_one_item_prints_na():
    s = stats.summarize([5.267])
    assert "[95% CI n/a (n=1)]" in str(s) and "5.267, 5.267" not in str(s)
    assert s.ci_low == pytest.approx(5.267)  # the numbers themselves are unchanged


def test_an_interval_of_zero_width_prints_na_with_the_reason():
    s = str(stats.summarize([2.0, 2.0, 2.0]))
    assert "[95% CI n/a (zero width: no variation to measure)]" in s
    d = Differential(0.0, 0.0, 0.0, 1.0, n_targets=4, n_negatives=4)
    assert "+0.000 nats [95% CI n/a (zero width" in str(d)
    one = Differential(0.5, 0.5, 0.5, 1.0, n_targets=1, n_negatives=3)
    assert "[95% CI n/a (n=1)]" in str(one)
    assert ci(-0.25, 0.5) == "[-0.250, +0.500]" and ci(0.1, 0.2, spec=".1f") == "[0.1, 0.2]"


def test_membership_lift_of_zero_spread_prints_na():
    """The demo model ranks every dyck1 string right with and without the explanation: the
    AUC lift is 0 in every bootstrap resample, an interval that measures nothing."""
    g = grammar.zoo["dyck1"]
    m = grammar.membership(
        g, model="demo", n=4, max_len=4, null_draws=1, explanation=g.explanation, n_boot=200
    )
    assert m.lift["explanation-none"]["auc_ci_low"] == m.lift["explanation-none"]["auc_ci_high"]
    text = str(m)
    assert "[+0.000, +0.000]" not in text
    assert "lift explanation-none: AUC +0.000 [n/a (zero width" in text


# ---------------------------------------------------------------- novelty of nothing


def _generation(samples: list[str]) -> Generation:
    n = len(samples)
    return Generation(
        grammar="dyck1",
        conditions=("none",),
        prefixes={"none": ""},
        samples={"none": samples},
        terminated={"none": np.ones(n, dtype=bool)},
        valid={"none": np.ones(n, dtype=bool)},
        known=frozenset(),
    )


def test_novelty_is_undefined_when_every_sample_is_empty():
    g = _generation(["", "", ""])
    assert math.isnan(g.novel_rate["none"]) and all(map(math.isnan, g.ci("novel")["none"]))
    assert "novel n/a" in str(g) and "novel 1.000" not in str(g)
    assert json.loads(g.to_json(), parse_constant=pytest.fail)["novel_rate"] == {"none": None}
    # one string generated: defined again; all 3 samples valid and unknown, so 3/3
    h = _generation(["", "()", ""])
    assert h.novel_rate["none"] == pytest.approx(1.0)
    assert "novel 1.000" in str(h)
