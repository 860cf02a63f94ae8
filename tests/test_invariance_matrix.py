"""Padding side x context x attention kind (sliding window, ALiBi, SSM) x packing: scores
must not depend on how a batch is laid out (issue 14, item 1).

With a context, left padding used to sit between the cached prefix and the text: on a
sliding-window model (Mistral, window 16) it ate part of the window (3.08 nats off on one
token), and on MPT it added to the ALiBi distances. Every case is checked against a float64
run of the unpadded sequence, and left against right padding.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import transformers as tf

import surprisal
from conftest import ref_scores
from surprisal.testing import tiny_tokenizer

pytestmark = pytest.mark.slow

TEXTS = [
    "the cat sat on the mat and looked at the dog for a while",
    "a b",
    "colourless green ideas sleep furiously every single night",
]
CONTEXT = "A short story about animals that sit on things, and a few more words."


def _mistral(V):
    return tf.MistralConfig(
        vocab_size=V,
        hidden_size=32,  # 4096
        intermediate_size=64,  # 14336
        num_hidden_layers=2,  # 32
        num_attention_heads=4,  # 32
        num_key_value_heads=2,  # 8
        max_position_embeddings=256,  # 32768
        sliding_window=16,  # 4096
    )


def _gemma2(V):
    return tf.Gemma2Config(
        vocab_size=V,
        hidden_size=32,  # 2304
        intermediate_size=64,  # 9216
        num_hidden_layers=2,  # 26
        num_attention_heads=4,  # 8
        num_key_value_heads=2,  # 4
        head_dim=8,  # 256
        max_position_embeddings=256,  # 8192
        sliding_window=8,  # 4096
        final_logit_softcapping=3.0,  # 30.0
    )


def _mpt(V):
    return tf.MptConfig(vocab_size=V, d_model=32, n_heads=4, n_layers=2, max_seq_len=256)


def _mamba(V):
    return tf.MambaConfig(
        vocab_size=V, hidden_size=32, num_hidden_layers=2, state_size=4, conv_kernel=4
    )


BUILDERS = {
    "mistral-sliding": _mistral,
    "gemma2-sliding": _gemma2,
    "mpt-alibi": _mpt,
    "mamba-ssm": _mamba,
}


@pytest.fixture(scope="module", params=sorted(BUILDERS))
def odd_lm(request):
    tok = tiny_tokenizer("byte-bpe")
    torch.manual_seed(0)
    cfg = BUILDERS[request.param](len(tok))
    cfg.initializer_range = 0.3  # peaked enough that a wrong window shows
    model = tf.AutoModelForCausalLM.from_config(cfg).eval()
    return surprisal.LM(model, tok)


@pytest.mark.parametrize("context", [None, CONTEXT])
def test_padding_side_and_context_match_float64(odd_lm, context):
    got = {
        side: surprisal.score(TEXTS, model=odd_lm, context=context, padding_side=side, pack=False)
        for side in ("right", "left")
    }
    for i, text in enumerate(TEXTS):
        want = ref_scores(odd_lm, text, context=context)
        for side, s in got.items():
            np.testing.assert_allclose(
                s[i].logprobs, want, atol=1e-4, err_msg=f"{side} padding, text {i}"
            )


def test_packing_matches_float64(odd_lm):
    if not odd_lm.can_pack:
        pytest.skip(f"{type(odd_lm.model).__name__} failed the packing probe: never packed")
    s = surprisal.score(TEXTS, model=odd_lm, pack=True)
    for i, text in enumerate(TEXTS):
        np.testing.assert_allclose(s[i].logprobs, ref_scores(odd_lm, text), atol=1e-4)
