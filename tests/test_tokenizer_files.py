"""A model folder without tokenizer files, or a tokenizer far too small for the model's
head, is an error, not a run where every text has 0 tokens (issue 24, item 2)."""

from __future__ import annotations

import os

import pytest

import surprisal
from surprisal.errors import SurprisalError
from surprisal.testing import tiny_lm, tiny_model, tiny_tokenizer


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """Two folders of one tiny Qwen2 (transformers builds a 1-token tokenizer from its
    config alone): weights only, and weights + tokenizer_config.json without vocabulary."""
    lm = tiny_lm("qwen2")
    bare = tmp_path_factory.mktemp("bare")
    lm.model.save_pretrained(bare)
    config_only = tmp_path_factory.mktemp("config_only")
    lm.model.save_pretrained(config_only)
    lm.tokenizer.save_pretrained(config_only)
    os.remove(config_only / "tokenizer.json")
    return {"bare": str(bare), "config_only": str(config_only)}


@pytest.mark.parametrize("kind", ["bare", "config_only"])
def test_a_folder_without_tokenizer_files_is_refused(saved, kind):
    msg = r"could not load a tokenizer from .*none of tokenizer\.json, tokenizer\.model, vocab"
    with pytest.raises(SurprisalError, match=msg):
        surprisal.load(saved[kind])
    with pytest.raises(SurprisalError, match=r"tokenizer\.save_pretrained"):
        surprisal.score("a text", model=saved[kind])


def _toy_tokenizer(n):
    """A word-level fast tokenizer of ``n`` tokens (a grammar toy's, say)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"<unk>": 0, **{f"w{i}": i + 1 for i in range(n - 1)}}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="<unk>")


def test_a_tiny_tokenizer_for_a_large_head_is_refused():
    tok = _toy_tokenizer(12)
    with pytest.raises(SurprisalError, match=r"12 tokens .* predicts 384: too few"):
        surprisal.LM(tiny_model("llama", vocab_size=384), tok)
    # The same tokenizer with a head of its own size: a toy model, fine.
    lm = surprisal.LM(tiny_model("llama", vocab_size=12), tok)
    assert len(surprisal.score("w1 w2 w3", model=lm)[0].tokens) == 3


def test_a_head_padded_past_its_tokenizer_is_fine():
    tok = tiny_tokenizer("byte-bpe")
    lm = surprisal.LM(tiny_model("gpt2", vocab_size=len(tok) + 128), tok)  # padded, as Qwen2
    assert len(surprisal.score("The cat sat.", model=lm)[0].tokens) > 0
