"""One loaded LM shared by threads: every call gets the numbers of a serial run (issue 24,
item 1).

A shared-prefix call (``context=``, ``delta``) must not change what a call in another
thread sees: the attention implementation is chosen per call, never switched on the
shared config.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

import surprisal
from surprisal.testing import tiny_lm

TARGETS = ["The cat sat on the mat.", "a b", "Colorless green ideas sleep furiously."]
EXPL = "A proof by contradiction assumes the opposite and derives an absurdity."
OTHER = "Numbers: 0 1 2 3 4 5."


def _calls(lm):
    """Mixed calls: plain, with a context, another context, and a delta (name, thunk)."""
    return [
        ("plain", lambda: [t.logprobs for t in surprisal.score(TARGETS, model=lm)]),
        ("context", lambda: [t.logprobs for t in surprisal.score(TARGETS, model=lm, context=EXPL)]),
        ("other", lambda: [t.logprobs for t in surprisal.score(TARGETS, model=lm, context=OTHER)]),
        (
            "delta",
            lambda: [np.asarray(surprisal.delta(TARGETS, explanation=EXPL, model=lm).reduction)],
        ),
    ]


def _in_four_threads(calls, serial, check=lambda: None, rounds: int = 3) -> None:
    """Four threads each run every call ``rounds`` times, each in another order, and
    every result must be the serial one (``check`` runs after each call)."""
    errors: list[BaseException] = []
    got: list[tuple[str, list[np.ndarray]]] = []
    start = threading.Barrier(4)
    n = len(calls)

    def worker(k: int) -> None:
        try:
            start.wait()
            for _ in range(rounds):
                for name, f in calls[k % n :] + calls[: k % n]:
                    got.append((name, f()))
                    check()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:3]
    assert len(got) == 4 * rounds * n
    for name, arrays in got:
        for a, b in zip(arrays, serial[name], strict=True):
            np.testing.assert_allclose(a, b, atol=1e-6, rtol=0, err_msg=name)


# gpt2 runs sdpa attention, gemma2 eager with softcapping (the config reads differ).
@pytest.mark.parametrize("arch", ["gpt2", "gemma2"])
def test_four_threads_get_the_serial_numbers_and_leave_the_config(arch):
    lm = tiny_lm(arch)
    cfg = lm.model.config
    before = cfg._attn_implementation
    calls = _calls(lm)
    serial = {name: f() for name, f in calls}
    assert cfg._attn_implementation == before

    def check() -> None:  # read while other threads may be inside a shared-prefix forward
        assert cfg._attn_implementation == before

    _in_four_threads(calls, serial, check)
    assert cfg._attn_implementation == before
    assert lm.attn_implementation == before
    # And a later single-threaded call still runs the model's own attention.
    for name, f in calls:
        for a, b in zip(f(), serial[name], strict=True):
            np.testing.assert_allclose(a, b, atol=1e-6, rtol=0, err_msg=name)


def test_the_attention_choice_is_per_thread(llama_lm):
    import torch

    from surprisal import prefix
    from surprisal._compat import output_cache

    cfg = llama_lm.model.config
    before = cfg._attn_implementation
    ids = torch.tensor([[1, 5, 9, 4]])
    cache = output_cache(llama_lm.body(input_ids=ids, use_cache=True))
    pos, mask = torch.tensor([[4, 5]]), torch.ones(1, 2, dtype=torch.long)
    seen: list[str] = []
    with prefix.shared_prefix(llama_lm, cache, 4, pos, mask, aligned=True):
        inside = cfg._attn_implementation
        other = threading.Thread(target=lambda: seen.append(cfg._attn_implementation))
        other.start()
        other.join()
    assert inside == prefix.ATTENTION_NAME  # this thread, inside the prefix forward
    assert seen == [before]  # another thread at the same moment: the model's own
    assert cfg._attn_implementation == before
    assert type(cfg).__name__ == "LlamaConfig"


def test_a_config_that_chooses_per_call_pickles_as_its_own_class(llama_lm):
    import copy
    import pickle

    import transformers as tf

    surprisal.score(TARGETS, model=llama_lm, context=EXPL)
    back = pickle.loads(pickle.dumps(llama_lm.model.config))
    assert type(back) is tf.LlamaConfig
    assert back.to_dict() == llama_lm.model.config.to_dict()
    twin = copy.deepcopy(llama_lm.model.config)
    assert twin._attn_implementation == llama_lm.model.config._attn_implementation


def test_a_model_with_state_on_its_modules_runs_one_forward_at_a_time():
    """RecurrentGemma writes its recurrent state to its layers during every forward: four
    threads sharing it crashed with shape errors (one thread's batch size in another's
    state) before its forwards were serialized. Now they get the serial numbers, and a
    model that keeps its state in its outputs gets no lock."""
    from surprisal.locks import holds_state, serialize_forwards
    from surprisal.testing import tiny_tokenizer
    from test_no_kv_cache import _lm, _recurrent_gemma

    lm = _lm(_recurrent_gemma(len(tiny_tokenizer("byte-bpe"))))
    assert holds_state(lm.model) and serialize_forwards(lm.model)
    assert not serialize_forwards(tiny_lm("gpt2").model)
    calls = _calls(lm)[:3]  # plain and two contexts: batches of different sizes
    _in_four_threads(calls, {name: f() for name, f in calls})
    import copy
    import pickle

    twin = pickle.loads(pickle.dumps(copy.deepcopy(lm.model)))  # a fresh lock comes along
    x = torch.tensor([[1, 2, 3]])
    torch.testing.assert_close(twin(input_ids=x).logits, lm.model(input_ids=x).logits)
    twin(input_ids=x)  # the twin's lock was released
