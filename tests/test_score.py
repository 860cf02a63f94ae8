"""surprisal.score against an independent float64 oracle, on five architectures."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import surprisal
from conftest import TEXTS, assert_close, ref_logits, ref_scores
from surprisal import engine
from surprisal.testing import tiny_lm, tiny_model, tiny_tokenizer

TOL = 1e-4  # nats per token, float32 vs float64
INV = 1e-5  # invariance: the same text scored in different company


def test_fused_matches_float64_reference(arch_lm):
    s = surprisal.score(TEXTS, model=arch_lm)
    assert arch_lm.fused
    for text, ts in zip(TEXTS, s, strict=True):
        assert_close(ts.logprobs, ref_scores(arch_lm, text), TOL, text)
        assert ts.logprobs.dtype == np.float32


def test_plain_twin_matches_float64_reference(arch_lm):
    jobs_lm = arch_lm
    s_plain = _score_plain(jobs_lm, TEXTS)
    for text, lp in zip(TEXTS, s_plain, strict=True):
        assert_close(lp, ref_scores(jobs_lm, text), TOL, text)


def _score_plain(lm, texts):
    return [t.logprobs for t in surprisal.score(texts, model=lm, head="plain")]


def test_extras_match_reference(arch_lm):
    lm = arch_lm
    text = TEXTS[3]
    s = surprisal.score(text, model=lm, extras=["entropy", "rank", "topk", "bow"], top_k=4)[0]
    seq = [lm.boundary_id, *s.token_ids.tolist()]
    lp = ref_logits(lm.model, seq)  # (T, V) float64
    pred = lp[:-1]  # predicting tokens 1..n
    ent = -(pred.exp() * pred).sum(-1).numpy()
    assert_close(s.entropy, ent, TOL, "entropy")
    tgt = torch.tensor(s.token_ids)
    rank = (pred > pred.gather(1, tgt[:, None])).sum(-1).numpy() + 1
    assert np.array_equal(s.rank, rank)
    v, i = pred.topk(4, dim=-1)
    assert np.array_equal(s.topk_ids, i.numpy())
    assert_close(s.topk_logprobs, v.numpy(), TOL, "topk")
    mask = lm.bow_mask.cpu()[: lp.shape[1]]
    bow = torch.logsumexp(lp.masked_fill(~mask, -math.inf), -1).numpy()
    assert_close(s.bow, bow, TOL, "bow")  # n + 1 values: the last is after the text


def test_plain_and_fused_extras_agree(gpt2_lm):
    ex = ["entropy", "rank", "topk", "bow"]
    a = surprisal.score(TEXTS, model=gpt2_lm, extras=ex)
    b = surprisal.score(TEXTS, model=gpt2_lm, extras=ex, head="plain")
    for x, y in zip(a, b, strict=True):
        for f in ("logprobs", "entropy", "topk_logprobs", "bow"):
            assert_close(getattr(x, f), getattr(y, f), TOL, f)
        assert np.array_equal(x.rank, y.rank)


@pytest.mark.parametrize("chunk_bytes", [4 * 7 * 384, 4 * 384 * 3 + 4, 64])
def test_head_chunking_is_exact(gpt2_lm, chunk_bytes):
    """Tiny chunk budgets force many row chunks; a half-precision weight forces vocab chunks."""
    from surprisal.head import HeadSpec, fused_head, plain_head

    torch.manual_seed(0)
    h = torch.randn(23, 32)
    w = torch.randn(384, 32)
    b = torch.randn(384)
    t = torch.randint(0, 384, (23,))
    mask = torch.rand(384) > 0.5
    for weight in (w, w.to(torch.bfloat16)):
        spec = HeadSpec(weight=weight, bias=b, softcap=5.0)
        z = spec.transform(h.double() @ weight.double().T + b.double())
        ref = plain_head(z, t, entropy=True, rank=True, top_k=3, bow_mask=mask)
        got = fused_head(
            h, t, spec, entropy=True, rank=True, top_k=3, bow_mask=mask, chunk_bytes=chunk_bytes
        )
        for f in ("logprobs", "entropy", "topk_logprobs", "bow"):
            assert_close(got[f], ref[f], 1e-4, f)
        assert torch.equal(got["rank"], ref["rank"])
        assert torch.equal(got["topk_ids"], ref["topk_ids"])


# ---------------------------------------------------------------- invariance


@pytest.mark.parametrize("arch", ["llama", "gpt_neox"])
def test_invariance_batch_order_budget_padding(lms, arch):
    lm = lms[arch]
    alone = [surprisal.score(t, model=lm)[0].logprobs for t in TEXTS]
    variants = [  # packing is the CPU default too: the padded layouts are pinned here
        dict(),
        dict(pack=False),
        dict(pack=False, batch_tokens=40),
        dict(pack=False, batch_tokens=100000),
        dict(pack=False, padding_side="left"),
        dict(pack=False, padding_side="left", batch_tokens=64),
        dict(pack=True, batch_tokens=40),
        dict(pack=True, batch_tokens=100000),
    ]
    order = np.random.default_rng(0).permutation(len(TEXTS))
    for kw in variants:
        s = surprisal.score(TEXTS, model=lm, **kw)
        for i, t in enumerate(s):
            assert_close(t.logprobs, alone[i], INV, f"{kw} text {i}")
        r = surprisal.score([TEXTS[i] for i in order], model=lm, **kw)
        for k, i in enumerate(order):
            assert_close(r[k].logprobs, alone[i], INV, f"{kw} reordered {i}")


def test_results_in_caller_order_and_spans_partition(gpt2_lm):
    s = surprisal.score(TEXTS, model=gpt2_lm)
    for text, ts in zip(TEXTS, s, strict=True):
        assert ts.text == text
        assert "".join(ts.pieces) == text
        if len(ts):
            assert ts.spans[0, 0] == 0 and ts.spans[-1, 1] == len(text)
            assert np.array_equal(ts.spans[1:, 0], ts.spans[:-1, 1])


@pytest.mark.parametrize("kind", ["byte-bpe", "sentencepiece"])
def test_spans_cover_text_exactly(kind):
    tok = tiny_tokenizer(kind)
    from surprisal.tokenize import encode

    texts = ["", " ", "\n\n", "a  b", "漢字🙂e\u0301 x", "tab\there", "z" * 50, "  x  "]
    texts += ["The cat sat.", "Hello world"]
    for enc in encode(tok, texts):
        pieces = [enc.text[a:b] for a, b in enc.spans]
        for piece, token in zip(pieces, enc.tokens, strict=True):
            own = tok.convert_tokens_to_string([token])
            if "\ufffd" in own or token.startswith("<0x") or token == "▁":
                continue  # a byte of a longer character, or a bare marker: may be empty
            # a token's piece is the token's own text (a leading marker reads as a space)
            assert piece.lstrip(" ") == own.lstrip(" "), (enc.text, pieces, enc.tokens)
        assert "".join(enc.text[a:b] for a, b in enc.spans) == enc.text
        if enc.ids:
            assert enc.spans[0, 0] == 0 and enc.spans[-1, 1] == len(enc.text)


# ---------------------------------------------------------------- boundary policy


def test_bos_policies(llama_lm):
    bos = llama_lm  # <s> exists
    assert bos.bos_policy == "bos" and bos.boundary_id == bos.tokenizer.bos_token_id
    tok = tiny_tokenizer("byte-bpe")
    tok.bos_token = None  # EOS only: GPT-2 convention, EOS as the document boundary
    eos = surprisal.LM(tiny_model("gpt2", len(tok)), tok)
    assert eos.bos_policy == "eos" and eos.boundary_id == tok.eos_token_id
    none = tiny_lm("gpt2", "no-boundary")
    assert none.bos_policy == "none" and none.boundary_id is None
    s = surprisal.score(["The cat sat.", ""], model=none)
    assert s.bos_policy == "none"
    assert math.isnan(s[0].logprobs[0]) and not np.isnan(s[0].logprobs[1:]).any()
    assert s[0].n_unscored == 1
    assert_close(s[0].logprobs, ref_scores(none, "The cat sat."), TOL)
    # the total leaves the unscored token out, it does not count it as 0
    assert s[0].total() == pytest.approx(-float(np.sum(s[0].logprobs[1:].astype(np.float64))))


def test_add_bos_off_gives_nan_first_token(llama_lm):
    s = surprisal.score("The cat sat.", model=llama_lm, add_bos=False)
    assert s.bos_policy == "none"
    assert math.isnan(s[0].logprobs[0])
    assert_close(s[0].logprobs, ref_scores(llama_lm, "The cat sat.", boundary=False), TOL)


def test_tokenizer_that_adds_bos_itself_is_not_doubled():
    from tokenizers import processors

    tok = tiny_tokenizer("sentencepiece")
    tok._tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A", special_tokens=[("<s>", tok.bos_token_id)]
    )
    assert tok("hi")["input_ids"][0] == tok.bos_token_id  # the tokenizer adds BOS itself
    lm = surprisal.LM(tiny_model("llama", len(tok)), tok)
    s = surprisal.score("The cat", model=lm)[0]
    assert tok.bos_token_id not in s.token_ids.tolist()
    assert_close(s.logprobs, ref_scores(lm, "The cat"), TOL)


# ---------------------------------------------------------------- long texts


# The window rule and its float64 reference: tests/test_windows.py.


def test_windows_equal_full_context_when_text_fits(gpt2_lm):
    text = TEXTS[3]
    n = len(gpt2_lm.tokenizer(text, add_special_tokens=False)["input_ids"])
    full = surprisal.score(text, model=gpt2_lm)[0].logprobs
    fit = surprisal.score(text, model=gpt2_lm, max_length=n + 1, stride=3)[0].logprobs
    assert_close(fit, full, INV)


def test_text_exactly_at_context_length(gpt2_lm):
    M = gpt2_lm.max_length
    ids = [
        int(i) for i in torch.randint(1, 300, (M - 1,), generator=torch.Generator().manual_seed(1))
    ]
    text = gpt2_lm.tokenizer.decode(ids)
    n = len(gpt2_lm.tokenizer(text, add_special_tokens=False)["input_ids"])
    s = surprisal.score(text, model=gpt2_lm)[0]
    assert len(s) == n and not np.isnan(s.logprobs).any()
    if n + 1 <= M:
        assert_close(s.logprobs, ref_scores(gpt2_lm, text), TOL)


# ---------------------------------------------------------------- edge cases


def test_empty_and_whitespace(lms):
    for lm in lms.values():
        s = surprisal.score(["", " ", "\n"], model=lm)
        assert len(s[0]) == 0 and s[0].total() == 0.0 and math.isnan(s[0].mean())
        assert math.isnan(s[0].perplexity())
        for t, text in zip(s[1:], [" ", "\n"], strict=True):
            assert len(t) >= 1 and np.isfinite(t.logprobs).all()
            assert_close(t.logprobs, ref_scores(lm, text), TOL)


def test_units_and_aggregates(gpt2_lm):
    s = surprisal.score(TEXTS[:2], model=gpt2_lm)
    t = s[0]
    assert t.total() == pytest.approx(-float(t.logprobs.astype(np.float64).sum()))
    assert t.total("bits") == pytest.approx(t.total() / math.log(2))
    assert t.mean() == pytest.approx(t.total() / len(t))
    assert t.perplexity() == pytest.approx(math.exp(t.mean()))
    assert np.allclose(s.surprisal("bits")[1], -s[1].logprobs / math.log(2))
    assert s.total().shape == (2,)
    n = len(s[0]) + len(s[1])
    assert s.corpus_perplexity() == pytest.approx(math.exp(s.total().sum() / n))
    with pytest.raises(ValueError, match="unit"):
        t.total("nat")


def test_to_pandas(gpt2_lm):
    s = surprisal.score(TEXTS[:3], model=gpt2_lm, extras="entropy,rank")
    df = s.to_pandas(unit="bits")
    assert len(df) == sum(len(t) for t in s)
    assert list(df.columns[:8]) == [
        "text_index",
        "token_index",
        "token_id",
        "token",
        "start",
        "end",
        "piece",
        "logprob",
    ]
    assert np.allclose(df["surprisal"], -df["logprob"] / math.log(2))
    assert "entropy" in df and "rank" in df
    assert "".join(df[df.text_index == 0]["piece"]) == TEXTS[0]


# ---------------------------------------------------------------- bad input


def test_bad_inputs(gpt2_lm):
    with pytest.raises(TypeError, match=r"texts\[1\] is int"):
        surprisal.score(["ok", 5], model=gpt2_lm)
    with pytest.raises(TypeError, match=r"texts\[0\] is NoneType"):
        surprisal.score([None], model=gpt2_lm)
    with pytest.raises(TypeError, match="texts must be"):
        surprisal.score(None, model=gpt2_lm)
    with pytest.raises(ValueError, match="unknown extras"):
        surprisal.score("x", model=gpt2_lm, extras=["entropie"])
    with pytest.raises(ValueError, match="stride"):
        surprisal.score("x", model=gpt2_lm, stride=gpt2_lm.max_length)
    with pytest.raises(ValueError, match="exceeds the model's context"):
        surprisal.score("x", model=gpt2_lm, max_length=1000)
    with pytest.raises(ValueError, match="batch_tokens"):
        surprisal.score("x", model=gpt2_lm, batch_tokens=-1)
    with pytest.raises(TypeError, match="model must be"):
        surprisal.score("x", model=3.5)


def test_vocab_mismatch_and_non_causal_model():
    tok = tiny_tokenizer("byte-bpe")
    with pytest.raises(surprisal.SurprisalError, match="tokenizer has 384 tokens"):
        surprisal.LM(tiny_model("gpt2", 100), tok)
    from transformers import BertConfig, BertModel

    bert = BertModel(
        BertConfig(
            hidden_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=32,
            vocab_size=384,
        )
    )
    with pytest.raises(surprisal.SurprisalError, match="not a causal language model"):
        surprisal.LM(bert, tok)
    with pytest.raises(TypeError, match="PreTrainedModel"):
        surprisal.LM(object(), tok)


def test_tokenizer_without_pad_token_is_fine(gpt2_lm):
    assert gpt2_lm.tokenizer.pad_token is None  # surprisal pads with masked ids itself
    s = surprisal.score(TEXTS[:3], model=gpt2_lm)
    assert_close(s[2].logprobs, ref_scores(gpt2_lm, TEXTS[2]), TOL)


def test_model_pair_and_path(tmp_path, gpt2_lm):
    pair = (gpt2_lm.model, gpt2_lm.tokenizer)
    a = surprisal.score(TEXTS[0], model=pair)[0].logprobs
    from surprisal.lm import resolve_model

    assert resolve_model(pair) is resolve_model(pair)  # wrapped and probed once
    gpt2_lm.model.save_pretrained(tmp_path)
    gpt2_lm.tokenizer.save_pretrained(tmp_path)
    surprisal.clear_cache()
    b = surprisal.score(TEXTS[0], model=str(tmp_path))[0].logprobs
    c = surprisal.score(TEXTS[0], model=str(tmp_path))[0].logprobs
    assert len(surprisal.lm._CACHE) == 1  # loaded once, kept in the explicit cache
    surprisal.clear_cache()
    assert not surprisal.lm._CACHE
    assert_close(a, b, INV)
    assert_close(b, c, 0.0)
    with pytest.raises(surprisal.SurprisalError, match="could not load"):
        surprisal.load(tmp_path / "missing")


# ---------------------------------------------------------------- fallback and OOM


def test_unknown_head_transform_falls_back_to_plain():
    from transformers import LlamaForCausalLM

    class Doubled(LlamaForCausalLM):
        def forward(self, *args, **kwargs):
            out = super().forward(*args, **kwargs)
            out.logits = out.logits * 2.0  # a transform surprisal cannot know about
            return out

    tok = tiny_tokenizer("sentencepiece")
    base = tiny_model("llama", len(tok))
    model = Doubled(base.config)
    model.load_state_dict(base.state_dict())
    model.eval()
    with pytest.warns(RuntimeWarning, match="Falling back to the plain path"):
        lm = surprisal.LM(model, tok)
    assert not lm.fused
    s = surprisal.score(TEXTS[:2], model=lm)
    for text, t in zip(TEXTS[:2], s, strict=True):
        assert_close(t.logprobs, ref_scores(lm, text), TOL, text)


def test_out_of_memory_halves_budget_and_loses_nothing(llama_lm, monkeypatch):
    real = engine._run_batch
    sizes = []

    def flaky(lm, batch, *a, **k):
        sizes.append(len(batch))
        if len(batch) > 2:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(lm, batch, *a, **k)

    texts = [f"text number {i} is here" for i in range(12)]  # similar lengths: one batch
    want = surprisal.score(texts, model=llama_lm)
    monkeypatch.setattr(engine, "_run_batch", flaky)
    got = surprisal.score(texts, model=llama_lm, batch_tokens=10_000)
    assert got.stats.oom_retries >= 1 and max(sizes) > 2
    for a, b in zip(want, got, strict=True):
        assert_close(a.logprobs, b.logprobs, INV)


def test_out_of_memory_on_one_row_is_a_clear_error(llama_lm, monkeypatch):
    def oom(*a, **k):
        raise torch.OutOfMemoryError("CUDA out of memory")

    monkeypatch.setattr(engine, "_run_batch", oom)
    with pytest.raises(surprisal.SurprisalError, match="out of memory on a single window"):
        surprisal.score("The cat", model=llama_lm)


def test_progress_bar_is_configurable(gpt2_lm, capsys):
    surprisal.score(TEXTS, model=gpt2_lm, progress=True, batch_tokens=32)
    assert "surprisal" in capsys.readouterr().err
    surprisal.score(TEXTS, model=gpt2_lm, progress=False, batch_tokens=32)
    assert capsys.readouterr().err == ""


def _partition_one_by_one(offsets, n_chars):
    """The span rule token by token, as tokenize.py states it (the reference)."""
    spans, prev_end = [], 0
    for i, (_, end) in enumerate(offsets):
        if i + 1 < len(offsets) and offsets[i + 1][0] < end:
            end = prev_end  # the next token claims these characters: an empty span
        end = max(end, prev_end)
        spans.append([prev_end, end])
        prev_end = end
    if spans:
        spans[-1][1] = n_chars
    return spans


_offsets = st.lists(
    st.integers(0, 12).flatmap(
        lambda n: st.tuples(
            st.just(n),
            st.lists(
                st.tuples(st.integers(0, n), st.integers(0, n)).map(sorted).map(tuple),
                max_size=8,
            ),
        )
    ),
    min_size=1,
    max_size=5,
)


@settings(max_examples=300, deadline=None)
@given(_offsets)
def test_vectorised_partition_follows_the_rule_token_by_token(texts):
    from surprisal.tokenize import _partition_many

    got = _partition_many([o for _, o in texts], [n for n, _ in texts])
    for (n, offsets), spans in zip(texts, got, strict=True):
        assert spans.tolist() == _partition_one_by_one(offsets, n), (offsets, n)


@pytest.mark.parametrize("kind", ["byte-bpe", "sentencepiece"])
def test_token_strings_are_the_vocabulary_strings(kind, monkeypatch):
    """The fast tokenizer's own token strings (used without asking id by id) are exactly
    convert_ids_to_tokens; a tokenizer without encodings is asked id by id."""
    from transformers import BatchEncoding

    from surprisal.tokenize import encode

    tok = tiny_tokenizer(kind)
    texts = ["The cat sat.", "漢字🙂e\u0301 x", "<|endoftext|> <s>", "", "  x  "]
    fast = encode(tok, texts)
    for enc in fast:
        assert enc.tokens == tok.convert_ids_to_tokens(enc.ids)
    call = type(tok).__call__

    def no_encodings(self, *a, **k):
        return BatchEncoding(dict(call(self, *a, **k)))  # what a slow tokenizer returns

    monkeypatch.setattr(type(tok), "__call__", no_encodings)
    slow = encode(tok, texts)
    assert [e.tokens for e in slow] == [e.tokens for e in fast]
    assert all(np.array_equal(a.spans, b.spans) for a, b in zip(slow, fast, strict=True))
