"""surprisal.decoding: generation at several temperatures and its repetition, loop, entropy
and surprisal metrics, each checked against an independent computation on the ids."""

from __future__ import annotations

import copy
import json
import math
import random

import numpy as np
import pytest
import torch

import surprisal
from conftest import ref_logits
from surprisal import repetition as rp
from surprisal.stats import bootstrap_ci
from surprisal.testing import tiny_lm, train_tiny


@pytest.fixture(scope="module")
def gpt2_lm():
    return tiny_lm("gpt2")


PROMPTS = ["The cat sat", "Colorless green ideas sleep furiously and", "a", ""]

# ---------------------------------------------------------------- oracles, written apart


def oracle_seq_rep(ids, n):
    """1 - unique/all n-grams, from numpy windows and np.unique over rows."""
    a = np.asarray(ids, dtype=np.int64)
    if a.size < n:
        return math.nan
    w = np.lib.stride_tricks.sliding_window_view(a, n)  # (L - n + 1, n)
    return 1.0 - np.unique(w, axis=0).shape[0] / w.shape[0]


def oracle_distinct(seqs, n):
    grams = [
        tuple(w)
        for s in seqs
        if len(s) >= n
        for w in np.lib.stride_tricks.sliding_window_view(np.asarray(s), n)
    ]
    return len(set(grams)) / len(grams) if grams else math.nan


def oracle_loop(ids, min_repeats=3, min_tokens=8):
    """(period, length) of the smallest qualifying period, by trying every suffix length."""
    L = len(ids)
    for p in range(1, L // min_repeats + 1):
        best = 0
        for ell in range(L, 0, -1):  # the longest suffix whose tokens repeat p apart
            s = ids[L - ell :]
            if all(s[k] == s[k + p] for k in range(len(s) - p)):
                best = ell
                break
        if best >= max(min_repeats * p, min_tokens):
            return p, best
    return None


def f64_stats(lm, prompt_ids, ids):
    """(entropy, surprisal) per token of ``ids`` after ``prompt_ids``, float64 full softmax."""
    lp = ref_logits(lm.model, prompt_ids + ids)  # (T, V) float64 log-softmax
    P = len(prompt_ids)
    rows = lp[P - 1 : P - 1 + len(ids)]
    ent = -(rows.exp() * rows).sum(-1).numpy()
    sur = -rows[torch.arange(len(ids)), torch.tensor(ids, dtype=torch.long)].numpy()
    return ent, sur


# ---------------------------------------------------------------- pure metrics


def test_seq_rep_and_distinct_by_hand():
    x = [1, 2, 3, 1, 2, 3]
    # 1-grams: 3 unique of 6; 2-grams (12)(23)(31)(12)(23): 3 of 5; 3-grams: 3 of 4; 4: 3 of 3
    assert [rp.seq_rep(x, n) for n in (1, 2, 3, 4)] == pytest.approx([0.5, 0.4, 0.25, 0.0])
    assert math.isnan(rp.seq_rep([1, 2], 3)) and math.isnan(rp.seq_rep([], 1))
    assert rp.seq_rep([7] * 10, 4) == pytest.approx(1 - 1 / 7)
    # pooled: (1,2) (2,3) | (1,2) (2,4): 3 unique of 4
    assert rp.distinct([[1, 2, 3], [1, 2, 4]], 2) == 0.75
    assert rp.distinct([x], 2) == pytest.approx(1 - rp.seq_rep(x, 2))
    assert math.isnan(rp.distinct([[1], []], 2))
    rng = random.Random(0)
    for _ in range(200):
        s = [rng.randrange(3) for _ in range(rng.randrange(0, 30))]
        for n in (1, 2, 3, 4):
            assert rp.seq_rep(s, n) == pytest.approx(oracle_seq_rep(s, n), nan_ok=True)
        t = [rng.randrange(4) for _ in range(rng.randrange(0, 10))]
        assert rp.distinct([s, t], 2) == pytest.approx(oracle_distinct([s, t], 2), nan_ok=True)


def test_loops_by_hand():
    assert rp.find_loop([5, 6, 1, 2, 1, 2, 1, 2, 1, 2]) == rp.Loop(2, 8)
    assert rp.find_loop([1] * 7) is None  # 7 < min_tokens
    assert rp.find_loop([1] * 8) == rp.Loop(1, 8)
    assert rp.find_loop([9, 1, 2, 3] * 3) == rp.Loop(4, 12)  # three cycles of four
    assert rp.find_loop([1, 2, 3] * 2 + [1, 2]) is None  # 8 tokens, 2.67 cycles of 3
    assert rp.find_loop([1, 2, 3] * 3) == rp.Loop(3, 9)
    assert rp.find_loop([1, 2] * 4 + [3]) is None  # the last token breaks the cycle
    assert rp.find_loop([1, 2] * 4, min_repeats=5) is None
    assert rp.Loop(3, 9).repeats == 3.0
    assert rp.periodic_suffix([9, 1, 2, 3, 1, 2, 3, 1], 3) == 7
    rng = random.Random(1)
    for _ in range(300):
        head = [rng.randrange(5) for _ in range(rng.randrange(0, 6))]
        cyc = [rng.randrange(3) for _ in range(rng.randrange(1, 5))]
        s = head + cyc * rng.randrange(0, 5) + cyc[: rng.randrange(0, len(cyc) + 1)]
        got = rp.find_loop(s)
        assert (None if got is None else (got.period, got.length)) == oracle_loop(s), s
    with pytest.raises(surprisal.SurprisalError, match="min_repeats"):
        rp.find_loop([1], min_repeats=1)


# ---------------------------------------------------------------- the model's numbers


@pytest.mark.parametrize("arch", ["gpt2", "llama", "gemma2"])
def test_entropy_and_surprisal_match_float64_softmax(arch):
    """Every generated token's entropy and self-surprisal (prompts of different lengths in
    one left-padded batch, greedy and sampled) against a float64 softmax of the model's
    own logits on prompt + generated ids; the reference likewise."""
    lm = tiny_lm(arch)
    refs = ["on the mat.", "", " b c", "Once upon a time"]
    d = surprisal.decoding(
        PROMPTS, model=lm, temperatures=(0.0, 1.0), samples=2, max_new_tokens=6, reference=refs
    )
    n_checked = 0
    for c in d.conditions:
        k = 1 if c == "reference" else d.samples
        for r, ids in enumerate(d.token_ids[c]):
            if not ids:
                continue
            ent, sur = f64_stats(lm, d.prompt_ids[r // k], ids)
            np.testing.assert_allclose(d.entropy_tokens[c][r], ent, atol=2e-4, rtol=0)
            np.testing.assert_allclose(d.surprisal_tokens[c][r], sur, atol=2e-4, rtol=0)
            n_checked += 1
    assert n_checked == 4 * 2 * 2 + 3
    # the reference: tokenized on its own, joined at the id level, prompt excluded
    tok = lm.tokenizer
    assert d.token_ids["reference"][0] == tok("on the mat.", add_special_tokens=False)["input_ids"]
    assert d.token_ids["reference"][1] == []
    assert (
        d.prompt_ids[0]
        == [lm.boundary_id] + tok("The cat sat", add_special_tokens=False)["input_ids"]
    )
    assert d.prompt_ids[3] == [lm.boundary_id]


def test_greedy_is_the_argmax_deterministic_and_batch_invariant(gpt2_lm):
    lm = gpt2_lm
    kw = dict(model=lm, temperatures=(0.0,), samples=2, max_new_tokens=10)
    a = surprisal.decoding(PROMPTS, **kw)
    b = surprisal.decoding(PROMPTS, **kw, batch_size=1)
    assert a.token_ids[0.0] == b.token_ids[0.0]
    assert a.token_ids == surprisal.decoding(PROMPTS, **kw).token_ids  # two calls
    for i, p in enumerate(PROMPTS):  # one prompt at a time
        one = surprisal.decoding([p], **kw)
        assert one.token_ids[0.0][0] == a.token_ids[0.0][2 * i] == a.token_ids[0.0][2 * i + 1]
        # each token is the argmax of the float64 model after the tokens before it
        seq = list(a.prompt_ids[i])
        for t in a.token_ids[0.0][2 * i]:
            assert int(ref_logits(lm.model, seq)[-1].argmax()) == t
            seq.append(t)


def test_sampling_is_seeded_reproducible_and_leaves_global_rng_alone(gpt2_lm):
    kw = dict(model=gpt2_lm, temperatures=(0.7, 1.3), samples=2, max_new_tokens=6)
    state = torch.get_rng_state()
    a = surprisal.decoding(PROMPTS, seed=1, **kw)
    assert torch.equal(torch.get_rng_state(), state)
    assert a.token_ids == surprisal.decoding(PROMPTS, seed=1, **kw).token_ids
    # a row's draws depend on (seed, prompt, sample) only: not on the batch size
    assert a.token_ids == surprisal.decoding(PROMPTS, seed=1, batch_size=2, **kw).token_ids
    other = surprisal.decoding(PROMPTS, seed=2, **kw)
    assert other.token_ids[0.7] != a.token_ids[0.7] and other.token_ids[1.3] != a.token_ids[1.3]
    rows = a.token_ids[1.3]
    assert rows[0] != rows[1]  # the samples of one prompt differ


def test_sampling_follows_softmax_over_temperature(gpt2_lm):
    """The first token's frequencies over 400 samples against softmax(z / T) in float64:
    the top token's count within 4.5 binomial standard deviations, at two temperatures
    whose top probabilities differ by far more than that."""
    lm = gpt2_lm
    n = 400
    d = surprisal.decoding(
        ["The cat"], model=lm, temperatures=(0.5, 1.5), samples=n, max_new_tokens=1, seed=3
    )
    z = ref_logits(lm.model, d.prompt_ids[0])[-1]  # log-softmax at T = 1; same argmax as z
    top = int(z.argmax())
    ps = {}
    for T in (0.5, 1.5):
        p = float(torch.softmax(z / T, -1)[top])
        count = sum(ids[0] == top for ids in d.token_ids[T])
        assert abs(count - n * p) <= 4.5 * math.sqrt(n * p * (1 - p)) + 1, (T, count, n * p)
        ps[T] = p
    assert n * (ps[0.5] - ps[1.5]) > 9 * math.sqrt(n * 0.25)  # the test can tell them apart


def test_metrics_on_a_random_model_equal_a_hand_computation(gpt2_lm):
    d = surprisal.decoding(
        PROMPTS[:3],
        model=gpt2_lm,
        temperatures=(0.0, 1.0),
        samples=3,
        max_new_tokens=12,
        seed=5,
        n_boot=500,
    )
    P, S = 3, 3
    for T in (0.0, 1.0):
        rows = d.token_ids[T]
        assert len(rows) == P * S and all(len(r) == 12 for r in rows)
        for n in (1, 2, 3, 4):
            per = np.array(
                [np.mean([oracle_seq_rep(rows[i * S + j], n) for j in range(S)]) for i in range(P)]
            )
            lo, hi = bootstrap_ci(per, n_boot=500, seed=5)  # a share: clipped to [0, 1]
            assert d.seq_rep[n][T] == pytest.approx((per.mean(), max(lo, 0), min(hi, 1)))
            dist = np.array([oracle_distinct(rows[i * S : (i + 1) * S], n) for i in range(P)])
            assert d.distinct[n][T][0] == pytest.approx(dist.mean())
        loops = [oracle_loop(r) for r in rows]
        per = np.array(
            [np.mean([loops[i * S + j] is not None for j in range(S)]) for i in range(P)]
        )
        assert d.loop_rate[T][0] == pytest.approx(per.mean())
        periods = d.loop_period[T]
        assert [None if np.isnan(x) else int(x) for x in periods] == [
            None if lp is None else lp[0] for lp in loops
        ]
        ent = np.stack(d.entropy_tokens[T]).astype(np.float64).reshape(P, S, 12)
        np.testing.assert_allclose(d.entropy[T], ent.mean(axis=1).mean(axis=0), rtol=1e-6)
        sur = np.stack(d.surprisal_tokens[T]).astype(np.float64).reshape(P, S, 12)
        np.testing.assert_allclose(d.gap[T], (sur - ent).mean(axis=1).mean(axis=0), atol=1e-5)
        assert d.mean_surprisal[T][0] == pytest.approx(sur.mean(), rel=1e-5)
    # greedy: the top token's surprisal never exceeds the entropy (-log max p <= H)
    assert all((g <= 1e-5).all() for g in d.gap_tokens[0.0])
    # greedy: one continuation per prompt, standing for every sample
    g = d.token_ids[0.0]
    assert all(g[i * S] == g[i * S + j] for i in range(P) for j in range(S))
    assert d.distinct[1][0.0][0] == pytest.approx(
        np.mean([len(set(g[i * S])) / (12 * S) for i in range(P)])
    )
    df = d.to_pandas()
    assert len(df) == 2 * P * S * 12
    assert set(df.columns) >= {"temperature", "prompt_index", "sample", "position", "entropy"}
    sel = df[(df.temperature == 1.0) & (df.prompt_index == 1) & (df["sample"] == 2)]
    assert sel.token_id.tolist() == d.token_ids[1.0][5]
    np.testing.assert_allclose(sel.surprisal, d.surprisal_tokens[1.0][5])


def test_stop_at_eos_ends_a_continuation_and_may_leave_it_empty(gpt2_lm):
    """EOS made a token the random model does produce (a copy of the tokenizer whose EOS is
    prompt 0's first greedy token), so continuations end early and one is empty."""
    free = surprisal.decoding(
        PROMPTS, model=gpt2_lm, temperatures=(0.0,), samples=1, max_new_tokens=10
    )
    eos = free.token_ids[0.0][0][0]
    tok = copy.deepcopy(gpt2_lm.tokenizer)
    tok.eos_token = tok.convert_ids_to_tokens(eos)
    lm = surprisal.LM(gpt2_lm.model, tok)
    assert tok.eos_token_id == eos and lm.boundary_id == gpt2_lm.boundary_id
    d = surprisal.decoding(
        PROMPTS, model=lm, temperatures=(0.0,), samples=1, max_new_tokens=10, stop_at_eos=True
    )
    for cut, full, ended in zip(d.token_ids[0.0], free.token_ids[0.0], d.ended[0.0], strict=True):
        want = full[: full.index(eos)] if eos in full else full
        assert cut == want and bool(ended) == (eos in full)
    assert d.token_ids[0.0][0] == [] and d.entropy_tokens[0.0][0].shape == (0,)
    # an empty continuation has no n-grams (NaN, left out of its prompt), never a 0
    per = [rp.seq_rep(r, 1) for r in d.token_ids[0.0]]
    assert math.isnan(per[0])
    assert d.seq_rep[1][0.0][0] == pytest.approx(np.nanmean(per))
    assert d.length[0.0] == np.mean([len(r) for r in d.token_ids[0.0]])
    np.testing.assert_allclose(
        d.entropy[0.0][0], np.mean([e[0] for e in d.entropy_tokens[0.0] if len(e)]), rtol=1e-6
    )


@pytest.mark.parametrize(
    ("kwargs", "err", "match"),
    [
        ({"prompts": []}, surprisal.SurprisalError, "prompts is empty"),
        ({"prompts": ["a", 3]}, TypeError, r"prompts\[1\] is int"),
        ({"prompts": None}, TypeError, "prompts must be"),
        ({"temperatures": (0.0, -0.5)}, surprisal.SurprisalError, ">= 0"),
        ({"temperatures": (float("nan"),)}, surprisal.SurprisalError, "finite"),
        ({"temperatures": ()}, surprisal.SurprisalError, "temperatures is empty"),
        ({"temperatures": (1.0, 1)}, surprisal.SurprisalError, "duplicates"),
        ({"temperatures": ("hot",)}, TypeError, "temperature must be a number"),
        ({"samples": 0}, surprisal.SurprisalError, "samples must be at least 1"),
        ({"samples": 1.5}, TypeError, "samples must be an int"),
        ({"max_new_tokens": 0}, surprisal.SurprisalError, "max_new_tokens must be at least 1"),
        ({"max_new_tokens": 1000}, surprisal.SurprisalError, "exceeds the model's context"),
        ({"reference": ["x"]}, surprisal.SurprisalError, "reference has 1 texts but"),
        ({"reference": ["x", 2]}, TypeError, r"reference\[1\]"),
        ({"seed": -1}, surprisal.SurprisalError, "seed must be at least 0"),
    ],
)
def test_bad_input_is_named(gpt2_lm, kwargs, err, match):
    kw = {"prompts": ["a", "b"], "model": gpt2_lm, "max_new_tokens": 2, **kwargs}
    with pytest.raises(err, match=match):
        surprisal.decoding(kw.pop("prompts"), **kw)


def test_empty_prompt_needs_a_boundary_token():
    lm = tiny_lm("gpt2", add_bos=False)
    with pytest.raises(surprisal.SurprisalError, match=r"prompts\[1\] is empty"):
        surprisal.decoding(["a", ""], model=lm, max_new_tokens=2)


def test_result_habits_and_cli(gpt2_lm, tmp_path, capsys):
    d = surprisal.decoding(
        PROMPTS[:2],
        model=gpt2_lm,
        temperatures=(0.0, 1.0),
        samples=2,
        max_new_tokens=10,
        reference=["on the mat", "x y"],
        n_boot=200,
    )
    r = repr(d)
    assert r.startswith("Decoding(2 prompts x 2 samples") and "\n" not in r and len(r) < 300
    s = d.summary()
    for name in ("seq-rep-4", "loop rate", "distinct-2", "entropy (nats)", "reference"):
        assert name in s
    html = d.to_html(tmp_path / "d.html")
    assert (tmp_path / "d.html").read_text(encoding="utf-8") == html
    assert "<script" not in html and html.count("<svg") >= 7  # 4 against T, 3 along position
    m = d.metrics()
    assert set(m.condition) == {"T=0", "T=1", "reference"}
    assert d._repr_html_().startswith('<div class="surprisal">')
    doc = json.loads(d.to_json(tmp_path / "d.json"))
    assert doc["metrics"]["seq-rep-4"]["T=1"] == pytest.approx(list(d.seq_rep[4][1.0]))
    assert doc["token_ids"]["reference"] == d.token_ids["reference"]

    from surprisal.cli import main

    (tmp_path / "p.jsonl").write_text(
        '{"prompt": "([", "reference": "])"}\n{"prompt": "ab", "reference": "ab"}\n',
        encoding="utf-8",
    )
    args = [
        "decoding",
        "--model",
        "demo",
        "--prompts",
        str(tmp_path / "p.jsonl"),
        "--temperatures",
        "0,1",
        "--samples",
        "2",
        "--max-new-tokens",
        "8",
    ]
    out = tmp_path / "t.csv"
    assert main([*args, "--csv", str(out), "--html", str(tmp_path / "c.html")]) == 0
    text = capsys.readouterr().out
    assert "seq-rep-4" in text and "reference" in text
    assert out.read_text().startswith("condition,temperature,prompt_index")
    assert main([*args[:-2], "--max-new-tokens", "0"]) == 2
    assert "max_new_tokens must be at least 1" in capsys.readouterr().err


# ---------------------------------------------------------------- positive control


def _markov_corpus(n_texts, n_words, seed):
    """Texts of a random Markov chain over 16 letters, five successors each: sampled text
    rarely repeats a 4-gram, while a deterministic choice per letter must end in a cycle."""
    rng = random.Random(seed)
    letters = list("abcdefghijklmnop")
    succ = {w: rng.sample(letters, 5) for w in letters}

    def text(n):
        w = rng.choice(letters)
        out = [w]
        for _ in range(n - 1):
            w = rng.choice(succ[w])
            out.append(w)
        return " ".join(out)

    return [text(n_words) for _ in range(n_texts)], [text(3) for _ in range(8)]


@pytest.mark.slow
def test_positive_control_greedy_loops_on_a_model_trained_on_repetitive_text():
    torch.set_num_threads(1)  # a model this small trains fastest on one thread
    corpus, prompts = _markov_corpus(400, 40, seed=0)
    lm = train_tiny(tiny_lm("gpt2", seed=26), corpus, steps=150, batch_size=16, seed=0)
    d = surprisal.decoding(
        prompts, model=lm, temperatures=(0.0, 1.0), samples=2, max_new_tokens=48, seed=0
    )
    greedy, sampled = d.seq_rep[4][0.0], d.seq_rep[4][1.0]
    assert greedy[1] > sampled[2]  # CIs over prompts apart
    assert d.loop_rate[0.0][0] > d.loop_rate[1.0][0] + 0.5
    assert d.loop_rate[0.0][1] > d.loop_rate[1.0][2]
    # to_pandas marks the tokens of each loop: the last `length` tokens of its row
    df = d.to_pandas()
    greedy_rows = df[df.temperature == 0.0]
    assert greedy_rows.in_loop.sum() == sum(lp.length for lp in d.loops[0.0] if lp is not None)
    first = greedy_rows[(greedy_rows.prompt_index == 0) & (greedy_rows["sample"] == 0)]
    loop = d.loops[0.0][0]
    assert (
        loop is not None
        and first.in_loop.tolist() == [False] * (48 - loop.length) + [True] * loop.length
    )
    assert rp.find_loop(d.token_ids[0.0][0]) == loop and loop.period == d.loop_period[0.0][0]


def test_the_verb_is_not_shadowed_by_a_module():
    """``surprisal.decoding`` stays the function after every decoding module is imported
    (a submodule of the same name would replace it on the package once imported)."""
    import importlib

    for name in ("decode", "decoding_result", "report.decoding", "repetition", "_sampling"):
        importlib.import_module(f"surprisal.{name}")
    assert callable(surprisal.decoding) and surprisal.decoding.__name__ == "decoding"
    assert surprisal.Decoding.__name__ == "Decoding"


def test_every_forward_runs_without_autograd(gpt2_lm):
    seen: list[bool] = []
    hook = gpt2_lm.model.register_forward_pre_hook(
        lambda module, args: seen.append(torch.is_grad_enabled())
    )
    try:
        surprisal.decoding(
            ["a b", "c"],
            model=gpt2_lm,
            temperatures=(0.0, 1.0),
            max_new_tokens=3,
            samples=1,
            reference=["d", "e f"],
        )
    finally:
        hook.remove()
    assert len(seen) >= 1 + 2 + 2 + 1 and not any(seen)  # prefills, steps, reference
