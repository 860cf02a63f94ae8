"""Devices are checked before anything is loaded, and a loaded LM is never moved per call
(issue 24, item 7)."""

from __future__ import annotations

import pytest
import torch

import surprisal
from surprisal.devices import available_devices, check_device
from surprisal.errors import SurprisalError


@pytest.fixture
def no_loading(monkeypatch):
    """Any attempt to read a model or tokenizer fails the test: the check comes first."""
    import transformers

    def refuse(*a, **k):
        raise AssertionError("loaded before the device was checked")

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", refuse)
    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", refuse)


@pytest.fixture
def one_gpu(monkeypatch):
    """This machine seen as having exactly one GPU (the checks read only these two)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)


@pytest.mark.parametrize(
    ("device", "msg"),
    [
        ("gpu", r"not a device name \(did you mean 'cuda'\?\).*this machine has: cpu"),
        ("banana:0", r"not a device name.*this machine has: cpu"),
        ("tpu", r"not a device name"),
        ("meta", r"holds no weights"),
    ],
)
def test_bad_device_names_are_refused_before_loading(no_loading, tmp_path, device, msg):
    with pytest.raises(SurprisalError, match=msg):
        surprisal.load(str(tmp_path), device=device)
    with pytest.raises(SurprisalError, match=msg):
        surprisal.score("a text", model=str(tmp_path), device=device)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks a machine without CUDA")
@pytest.mark.parametrize("device", ["cuda", "cuda:0", torch.device("cuda", 1), 0])
def test_cuda_without_cuda_names_the_devices_there_are(no_loading, tmp_path, device):
    with pytest.raises(SurprisalError, match=r"needs CUDA.*this machine has: cpu"):
        surprisal.load(str(tmp_path), device=device)
    with pytest.raises(SurprisalError, match=r"needs CUDA"):
        surprisal.delta(["a"], explanation="b", model=str(tmp_path), device=device)


def test_a_gpu_index_past_the_last_gpu_is_refused(one_gpu):
    assert available_devices() == ["cpu", "cuda:0"]
    assert check_device("cuda:0") == torch.device("cuda", 0)
    with pytest.raises(SurprisalError, match=r"past the last GPU \(1 found\).*cpu, cuda:0"):
        check_device("cuda:1")


def test_wrong_types_are_type_errors():
    for bad in (1.5, True, ["cpu"]):
        with pytest.raises(TypeError, match="device must be"):
            check_device(bad)


def test_a_device_that_contradicts_a_loaded_lm_is_refused(gpt2_lm, one_gpu):
    assert gpt2_lm.device.type == "cpu"
    for verb in (
        lambda **k: surprisal.score("a text", model=gpt2_lm, **k),
        lambda **k: surprisal.delta(["a text"], explanation="hint", model=gpt2_lm, **k),
    ):
        with pytest.raises(SurprisalError, match=r"already loaded on cpu.*not moved per call"):
            verb(device="cuda:0")
        verb(device="cpu")  # the LM's own device: fine
        verb(device=None)
    assert gpt2_lm.device.type == "cpu"


def test_a_dtype_that_contradicts_a_loaded_lm_is_refused_not_ignored(gpt2_lm):
    assert gpt2_lm.dtype == torch.float32
    want = surprisal.score("a text", model=gpt2_lm)[0].logprobs
    for verb in (
        lambda **k: surprisal.score("a text", model=gpt2_lm, **k),
        lambda **k: surprisal.delta(["a text"], explanation="hint", model=gpt2_lm, **k),
    ):
        for bad in ("bfloat16", torch.float16):
            with pytest.raises(SurprisalError, match=r"is loaded in float32.*not cast per call"):
                verb(dtype=bad)
        verb(dtype="float32")  # the LM's own dtype: fine
        verb(dtype=torch.float32)
    assert gpt2_lm.dtype == torch.float32
    assert (surprisal.score("a text", model=gpt2_lm, dtype="fp32")[0].logprobs == want).all()


def test_the_lm_constructor_checks_too(gpt2_lm):
    with pytest.raises(SurprisalError, match="not a device name"):
        surprisal.LM(gpt2_lm.model, gpt2_lm.tokenizer, device="gpu")
