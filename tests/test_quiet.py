"""No misleading noise (issue 24, item 9, model side): transformers' "Token indices sequence
length is longer than the specified maximum ... indexing errors" is not printed for a long
text that is scored in windows, while the caller's own tokenizer calls still get it."""

from __future__ import annotations

import logging

import numpy as np
import pytest

import surprisal
from surprisal.testing import tiny_model, tiny_tokenizer

MESSAGE = "Token indices sequence length is longer"


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def tokenizer_log():
    log = logging.getLogger("transformers.tokenization_utils_base")
    got = _Records()
    log.addHandler(got)
    try:
        yield got.messages
    finally:
        log.removeHandler(got)


@pytest.mark.parametrize(("arch", "kind"), [("gpt2", "byte-bpe"), ("llama", "sentencepiece")])
def test_a_windowed_long_text_prints_no_indexing_warning(tokenizer_log, arch, kind):
    tok = tiny_tokenizer(kind)
    tok.model_max_length = 16  # what the model's own tokenizer config would say
    lm = surprisal.LM(tiny_model(arch, len(tok), max_positions=16), tok)
    text = " ".join(f"word{i} is here" for i in range(30))
    assert len(tok(text, add_special_tokens=False, verbose=False)["input_ids"]) > 3 * 16
    s = surprisal.score(text, model=lm, context="a hint")
    assert not np.isnan(s[0].logprobs).any()
    surprisal.delta([text], explanation="a hint", model=lm)
    assert not [m for m in tokenizer_log if MESSAGE in m]
    # Not silenced for the caller: their own call of the tokenizer still warns.
    tok(text)
    assert [m for m in tokenizer_log if MESSAGE in m]
