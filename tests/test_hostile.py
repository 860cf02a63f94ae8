"""Findings of a hostile test pass (issue 14): each case failed before its fix.

Tiny random-weight models of the architectures involved are built here from configs
(offline, seconds); the float64 oracle is the one in ``conftest.py``.
"""

from __future__ import annotations

import copy
import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest
import torch
import transformers as tf

import surprisal
from conftest import assert_close, ref_scores
from surprisal._compat import CacheNotExpandable, cache_kwarg, expand_cache, output_cache
from surprisal.cli import main
from surprisal.errors import SurprisalError
from surprisal.testing import tiny_lm, tiny_model, tiny_tokenizer
from surprisal.tokenize import check_texts, encode

TOL = 1e-4  # nats per token, float32 vs float64


@pytest.fixture(scope="module")
def tok():
    return tiny_tokenizer("byte-bpe")


def _bert(V, **kw):
    torch.manual_seed(0)
    return tf.BertConfig(
        vocab_size=V,
        hidden_size=32,  # 768
        num_hidden_layers=2,  # 12
        num_attention_heads=4,  # 12
        intermediate_size=64,  # 3072
        max_position_embeddings=64,  # 512
        initializer_range=0.3,
        **kw,
    )


def _mpt(V):
    return tf.MptConfig(
        vocab_size=V,
        d_model=32,  # 4096
        n_heads=4,  # 32
        n_layers=2,  # 32
        max_seq_len=64,  # 2048
    )


def _bloom(V):
    return tf.BloomConfig(vocab_size=V, hidden_size=32, n_head=4, n_layer=2)  # 1024, 16, 24


def _mamba(V):
    return tf.MambaConfig(
        vocab_size=V,
        hidden_size=32,  # 768
        num_hidden_layers=2,  # 24
        state_size=4,  # 16
        conv_kernel=4,
        initializer_range=0.3,
    )


def _t5(V):
    return tf.T5Config(vocab_size=V, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4)


def _build(cfg):
    torch.manual_seed(0)
    return tf.AutoModelForCausalLM.from_config(cfg).eval()


# ------------------------------------------------- 3. bidirectional models are refused


def test_bert_lm_head_not_decoder_is_refused_by_the_probe(tok):
    # is_decoder=False makes BERT bidirectional; GPT-NeoX also carries is_decoder=False and
    # is causal, so the flag alone cannot decide: the probe does, and the message names it.
    model = tf.BertLMHeadModel(_bert(len(tok))).eval()
    with pytest.raises(SurprisalError, match=r"bidirectional.*is_decoder=False"):
        surprisal.LM(model, tok)


def test_masked_lm_is_refused(tok):
    with pytest.raises(SurprisalError, match="masked LM"):
        surprisal.LM(tf.BertForMaskedLM(_bert(len(tok))).eval(), tok)


def test_bert_directory_is_refused_by_load(tok, tmp_path):
    tf.BertLMHeadModel(_bert(len(tok))).save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    with pytest.raises(SurprisalError, match="bidirectional"):
        surprisal.load(tmp_path)


@pytest.mark.filterwarnings("ignore:surprisal. the fused head:RuntimeWarning")  # BERT head MLP
def test_a_bert_decoder_passes_the_causal_probe(tok):
    lm = surprisal.LM(tf.BertLMHeadModel(_bert(len(tok), is_decoder=True)).eval(), tok)
    s = surprisal.score("The cat sat.", model=lm)[0]
    assert_close(s.logprobs, ref_scores(lm, "The cat sat."), TOL)


# ------------------------------------------------- 6. the head is re-read when it changes


def _f64_scores(lm, text):
    """Float64 oracle on a fresh copy (conftest's copy is cached per model object)."""
    m = copy.deepcopy(lm.model).to(torch.float64)
    ids = [lm.boundary_id, *lm.tokenizer(text, add_special_tokens=False)["input_ids"]]
    with torch.no_grad():
        lp = torch.log_softmax(m(input_ids=torch.tensor([ids])).logits[0], -1)
    return np.array([float(lp[p - 1, ids[p]]) for p in range(1, len(ids))])


def test_set_output_embeddings_after_wrapping_is_used():
    lm = tiny_lm("llama")
    text = "The cat sat on the mat."
    before = surprisal.score(text, model=lm)[0].logprobs
    old = lm.model.get_output_embeddings()
    new = torch.nn.Linear(old.in_features, old.out_features, bias=False)
    torch.nn.init.normal_(new.weight, std=0.5, generator=torch.Generator().manual_seed(3))
    lm.model.set_output_embeddings(new)
    after = surprisal.score(text, model=lm)[0].logprobs
    assert np.abs(after - before).max() > 0.1
    assert_close(after, _f64_scores(lm, text), TOL)


def test_new_head_weight_tensor_is_used():
    lm = tiny_lm("llama")
    text = "Colorless green ideas."
    head = lm.model.get_output_embeddings()
    spec = lm.head
    assert lm.head is spec  # unchanged model: the same spec, no re-resolution
    head.weight = torch.nn.Parameter(head.weight.detach() * 2.0)
    assert lm.head is not spec
    assert_close(surprisal.score(text, model=lm)[0].logprobs, _f64_scores(lm, text), TOL)


# ------------------------------------------------- 7. special-token strings are plain text


@pytest.mark.parametrize(
    ("kind", "text", "special"),
    [("byte-bpe", "x<|endoftext|>y", "<|endoftext|>"), ("sentencepiece", "<s>hi</s>", "</s>")],
)
def test_special_token_strings_are_plain_text_by_default(lms, kind, text, special):
    lm = lms["gpt2" if kind == "byte-bpe" else "llama"]
    tok = lm.tokenizer
    sid = tok.convert_tokens_to_ids(special)
    s = surprisal.score(text, model=lm)[0]
    assert sid not in s.token_ids.tolist()
    spans = s.spans
    assert spans[0, 0] == 0 and spans[-1, 1] == len(text)
    assert (spans[1:, 0] == spans[:-1, 1]).all()  # the spans partition the text
    assert "".join(text[a:b] for a, b in spans) == text
    ids = tok([text], add_special_tokens=False, split_special_tokens=True)["input_ids"][0]
    assert s.token_ids.tolist() == ids
    seq = [lm.boundary_id, *ids]
    from conftest import ref_logits

    lp = ref_logits(lm.model, seq)
    assert_close(s.logprobs, [float(lp[p - 1, seq[p]]) for p in range(1, len(seq))], TOL)


def test_parse_special_tokens_option(tok, gpt2_lm):
    (plain,) = encode(tok, ["x<|endoftext|>y"])
    (parsed,) = encode(tok, ["x<|endoftext|>y"], parse_special_tokens=True)
    assert tok.eos_token_id not in plain.ids
    assert parsed.ids == [tok("x")["input_ids"][0], tok.eos_token_id, tok("y")["input_ids"][0]]
    assert parsed.spans.tolist() == [[0, 1], [1, 14], [14, 15]]
    lm = tiny_lm("gpt2", parse_special_tokens=True)
    assert lm.parse_special_tokens and not gpt2_lm.parse_special_tokens


def test_parse_special_tokens_reaches_score():
    lm = tiny_lm("gpt2", parse_special_tokens=True)
    s = surprisal.score("x<|endoftext|>y", model=lm)[0]
    assert lm.tokenizer.eos_token_id in s.token_ids.tolist()


# ------------------------------------------------- 12. meta device


def test_meta_model_is_refused(tok):
    cfg = tiny_model("llama", len(tok)).config
    with torch.device("meta"):
        model = tf.AutoModelForCausalLM.from_config(cfg)
    with pytest.raises(SurprisalError, match="meta device"):
        surprisal.LM(model, tok)


# ------------------------------------------------- 13/14. bad texts


def test_lone_surrogate_is_named(gpt2_lm):
    with pytest.raises(SurprisalError, match=r"texts\[1\].*U\+D800 at character 2"):
        surprisal.score(["ok", "ab\ud800c"], model=gpt2_lm)
    with pytest.raises(SurprisalError, match="U\\+DFFF at character 0"):
        surprisal.score("\udfff", model=gpt2_lm)


def test_lone_surrogate_in_a_context_is_named(gpt2_lm):
    with pytest.raises(SurprisalError, match="lone surrogate"):
        surprisal.score("fine", context="bad \ud800", model=gpt2_lm)


def test_cli_lone_surrogate_exits_2(gpt2_lm, tmp_path, capsys):
    d = tmp_path / "m"
    gpt2_lm.model.save_pretrained(d)
    gpt2_lm.tokenizer.save_pretrained(d)
    src = tmp_path / "in.jsonl"
    src.write_text('{"id": "a", "text": "fine"}\n{"id": "b", "text": "x\\ud800"}\n')
    rc = main(["score", "--model", str(d), str(src), "-o", str(tmp_path / "o.jsonl"), "--quiet"])
    assert rc == 2
    assert "lone surrogate U+D800 at character 1" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("texts", "expect"),
    [(np.array("abc"), r"0-d numpy array.*\.item\(\)"), (5, "got int"), (3.5, "got float")],
)
def test_non_text_inputs_say_what_was_expected(texts, expect):
    with pytest.raises(TypeError, match=expect):
        check_texts(texts)


# ------------------------------------------------- 15. load(): one clear message, fast


def test_load_empty_directory(tmp_path):
    with pytest.raises(SurprisalError, match=r"no config\.json") as e:
        surprisal.load(tmp_path)
    assert "sentencepiece" not in str(e.value)


def test_load_encoder_decoder_directory(tok, tmp_path):
    _t5(len(tok)).save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    with pytest.raises(SurprisalError, match="encoder-decoder model \\(model_type 't5'\\)") as e:
        surprisal.load(tmp_path)
    assert len(str(e.value)) < 400  # one message, not a list of every config class


def test_load_unknown_id_offline():
    assert os.environ.get("HF_HUB_OFFLINE") == "1"  # set by conftest
    with pytest.raises(SurprisalError, match="not in the local Hugging Face cache"):
        surprisal.load("surprisal-tests/no-such-model")


def _hub_reachable() -> bool:
    try:
        socket.create_connection(("huggingface.co", 443), timeout=3).close()
    except OSError:
        return False
    return True


@pytest.mark.integration
def test_load_unknown_id_without_offline_flag_does_not_retry(tmp_path):
    drop = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HTTPS_PROXY", "https_proxy", "ALL_PROXY")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env["HF_HOME"] = str(tmp_path)  # an empty cache
    code = (
        "import surprisal\n"
        "try:\n    surprisal.load('surprisal-tests/no-such-model')\n"
        "except surprisal.SurprisalError as e:\n    print('ERR', e)\n"
    )
    # The timeout only keeps a regression from hanging the suite; before the fix the hub
    # client retried for ~45 s on an unreachable network.
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=40
    )
    assert out.stdout.startswith("ERR"), out.stderr[-2000:]
    if not _hub_reachable():
        assert "the hub is unreachable" in out.stdout


# ------------------------------------------------- 16. context length of MPT, Bloom, Mamba


@pytest.mark.parametrize(("make", "want"), [(_mpt, 64), (_bloom, 2048), (_mamba, 2048)])
def test_context_length_read_or_documented_default(tok, make, want):
    lm = surprisal.LM(_build(make(len(tok))), tok)
    assert lm.max_length == want
    text = "The cat sat on the mat."
    assert_close(surprisal.score(text, model=lm)[0].logprobs, ref_scores(lm, text), TOL)


# ------------------------------------------------- 11. recurrent caches


@pytest.fixture(scope="module")
def mamba_lm(tok):
    return surprisal.LM(_build(_mamba(len(tok))), tok)


def test_recurrent_cache_is_not_expandable(mamba_lm):
    x = torch.tensor([[1, 2, 3, 4, 5]])
    cache = mamba_lm.model(input_ids=x, use_cache=True).past_key_values
    with pytest.raises(CacheNotExpandable, match="LinearAttentionLayer"):
        expand_cache(cache, 3)


def test_attention_cache_expands_without_touching_the_prefix(llama_lm):
    m = llama_lm.model
    x = torch.tensor([[1, 5, 9, 12]])
    cache = output_cache(m(input_ids=x, use_cache=True))
    keys = [layer.keys.clone() for layer in cache.layers]
    y = torch.tensor([[20, 21], [30, 31], [40, 41]])
    kw = {cache_kwarg(m): expand_cache(cache, 3)}
    got = m(input_ids=y, use_cache=True, **kw).logits
    want = m(input_ids=torch.cat([x.expand(3, -1), y], 1)).logits[:, 4:]
    assert torch.allclose(got, want, atol=1e-5)
    assert all(torch.equal(k, layer.keys) for k, layer in zip(keys, cache.layers, strict=True))


def test_mamba_with_context(mamba_lm):
    text, ctx = "The cat sat.", "A hint"
    s = surprisal.score(text, context=ctx, model=mamba_lm)[0]
    assert_close(s.logprobs, ref_scores(mamba_lm, text, context=ctx), TOL)


def test_json_roundtrip_of_surrogate_free_text():
    # The CLI reads JSON: a valid escaped pair is one character, not a lone surrogate.
    (t,) = check_texts([json.loads('"\\ud83d\\ude00"')])
    assert t == "\U0001f600"
