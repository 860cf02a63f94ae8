"""The loaded model: :class:`LM` and :func:`load`, plus the explicit model cache.

An ``LM`` owns a Hugging Face causal LM and its (fast) tokenizer, and resolves once what
the scoring loop needs: the decoder body, the head weight/bias and logit transforms, the
document-boundary token (BOS policy) and the context length. At construction it checks the
fused head against the model's own logits on a probe input and falls back to the plain
path, with a warning, when they disagree.
"""

from __future__ import annotations

import contextlib
import os
import warnings
import weakref
from typing import Any, Literal

import torch

from ._compat import dtype_kwargs
from .errors import SurprisalError
from .head import HeadSpec, fused_head, plain_head
from .tokenize import WORD_START

__all__ = ["LM", "BosPolicy", "clear_cache", "load", "pack_by_default", "resolve_model"]

BosPolicy = Literal["bos", "eos", "none"]

_DTYPES = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "float64": torch.float64,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float16": torch.float16,
    "fp16": torch.float16,
    "half": torch.float16,
}


def _as_dtype(dtype: str | torch.dtype | None) -> torch.dtype | None:
    if dtype is None or isinstance(dtype, torch.dtype):
        return dtype
    try:
        return _DTYPES[str(dtype).lower()]
    except KeyError:
        raise SurprisalError(
            f"unknown dtype {dtype!r}; use one of {sorted(set(_DTYPES))} or a torch.dtype"
        ) from None


def _default_device() -> str:
    """cuda (cuda:LOCAL_RANK under torchrun) when there is a GPU, else cpu."""
    if not torch.cuda.is_available():
        return "cpu"
    local = os.environ.get("LOCAL_RANK")
    return f"cuda:{int(local)}" if local is not None and local.isdigit() else "cuda"


class LM:
    """A causal LM ready for scoring.

    Args:
        model: a Hugging Face causal LM (``AutoModelForCausalLM``), in eval mode or not.
        tokenizer: its fast tokenizer (character offsets are needed for spans).
        device: where to run; default: the model's current device.
        dtype: cast the model to this dtype (``"float32"``, ``"bfloat16"``, ...); default: keep.
        add_bos: put the document-boundary token before every text (see ``bos_policy``).
        max_length: the context length used for windows; default: from the model config.
        verify: check the fused head against the model's own logits at construction.
        name: a label recorded on results; default: the model's ``name_or_path``.

    Attributes:
        bos_policy: ``"bos"`` (the tokenizer's BOS is prepended), ``"eos"`` (no BOS, so EOS
            is used as the document boundary, as GPT-2's <|endoftext|> does) or ``"none"`` (no
            boundary token: a text's first token has no context and scores NaN).
        boundary_id: the token id prepended, or None.
        fused: True when the fused head passed its probe (else the plain path is used).
        can_pack: True when the model passed the packing probe: several texts in one row,
            told apart by position ids, give the same hidden states as alone.
        pack: whether scoring packs texts into rows instead of padding them (default: on
            where it can and where it pays, see :func:`surprisal.lm.pack_by_default`);
            settable.

    >>> from surprisal.testing import tiny_lm
    >>> lm = tiny_lm("gpt2")
    >>> lm.bos_policy, lm.fused
    ('bos', True)
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        device: str | torch.device | None = None,
        dtype: str | torch.dtype | None = None,
        add_bos: bool = True,
        max_length: int | None = None,
        verify: bool = True,
        name: str | None = None,
    ) -> None:
        _check_causal_lm(model)
        _check_tokenizer(tokenizer)
        torch_dtype = _as_dtype(dtype)
        if torch_dtype is not None:
            model = model.to(torch_dtype)
        if device is not None and getattr(model, "hf_device_map", None) is None:
            model = model.to(device)
        model.eval()
        self.model = model
        self.tokenizer = tokenizer
        self.device = _input_device(model)
        self.dtype = next(
            (p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32
        )
        self.name = name or str(getattr(model.config, "name_or_path", "") or type(model).__name__)
        self.body = _decoder_body(model)
        self.head = _head_spec(model)
        V = self.head.vocab
        if len(tokenizer) > V:
            raise SurprisalError(
                f"the tokenizer has {len(tokenizer)} tokens but the model's head predicts only "
                f"{V}: they do not belong together. Load the tokenizer saved with this model."
            )
        self.vocab_size = V
        self.add_bos = add_bos
        self.bos_policy: BosPolicy
        self.boundary_id: int | None
        bos, eos = tokenizer.bos_token_id, tokenizer.eos_token_id
        if not add_bos:
            self.bos_policy, self.boundary_id = "none", None
        elif bos is not None:
            self.bos_policy, self.boundary_id = "bos", int(bos)
        elif eos is not None:
            self.bos_policy, self.boundary_id = "eos", int(eos)
        else:
            self.bos_policy, self.boundary_id = "none", None
        self.max_length = int(max_length or _context_length(model))
        if self.max_length < 2:
            raise SurprisalError(f"max_length must be at least 2 tokens, got {self.max_length}")
        self._bow_mask: torch.Tensor | None = None
        self.fused = True
        self.verify_error: float | None = None
        self.attn_implementation = str(getattr(model.config, "_attn_implementation", None))
        self.can_pack = False
        if verify:
            self.verify_error = self._verify()
            self.can_pack = self._probe_packing()
        self.pack = self.can_pack and pack_by_default(self)

    def __repr__(self) -> str:
        path = "fused" if self.fused else "plain"
        return (
            f"LM({self.name!r}, device={self.device}, dtype={self.dtype}, "
            f"bos_policy={self.bos_policy!r}, max_length={self.max_length}, head={path})"
        )

    def fingerprint(self) -> dict[str, str]:
        """What identifies these scores' source: model name, revision, hashes of the config,
        the weights (per-tensor sums, cheap) and the tokenizer, dtype and BOS policy.

        Written beside resumable outputs so results from different settings never mix.
        """
        import hashlib

        def sha(b: bytes) -> str:
            return hashlib.sha256(b).hexdigest()[:16]

        cfg = self.model.config
        w = hashlib.sha256()
        with torch.no_grad():
            for name, p in _named_values(self.model):
                total = (
                    "offloaded" if p.device.type == "meta" else f"{float(p.double().sum()):.10e}"
                )
                w.update(f"{name}:{tuple(p.shape)}:{total};".encode())
        tok = getattr(self.tokenizer, "backend_tokenizer", None)
        tok_bytes = tok.to_str().encode() if tok is not None else repr(self.tokenizer).encode()
        return {
            "model": self.name,
            "revision": str(getattr(cfg, "_commit_hash", None) or ""),
            "config_sha": sha(cfg.to_json_string(use_diff=False).encode()),
            "weights_sha": w.hexdigest()[:16],
            "tokenizer_sha": sha(tok_bytes),
            "dtype": str(self.dtype).replace("torch.", ""),
            "bos_policy": self.bos_policy,
            "max_length": str(self.max_length),
        }

    @property
    def bow_mask(self) -> torch.Tensor:
        """(V,) bool: tokens that begin a new whitespace-delimited word, plus EOS.

        A token begins a word when its vocabulary string starts with a whitespace marker
        (``Ġ``, ``▁``, ``Ċ``, a space, tab or newline). Used by the Pimentel & Meister (2024)
        word-probability correction.
        """
        if self._bow_mask is None:
            tok = self.tokenizer
            pieces = tok.convert_ids_to_tokens(list(range(len(tok))))
            mask = torch.zeros(self.vocab_size, dtype=torch.bool)
            for i, p in enumerate(pieces):
                if p and p.startswith(WORD_START):
                    mask[i] = True
            if tok.eos_token_id is not None:
                mask[tok.eos_token_id] = True
            self._bow_mask = mask.to(self.device)
        return self._bow_mask

    def _probe_ids(self, n: int, seed: int) -> torch.Tensor:
        """(1, n) seeded random ids that both the tokenizer and the head know."""
        gen = torch.Generator().manual_seed(seed)
        hi = min(len(self.tokenizer), self.vocab_size)
        return torch.randint(0, hi, (1, n), generator=gen).to(self.device)

    @torch.no_grad()
    def _probe_packing(self) -> bool:
        """Two sequences in one row, position ids restarting at the second: do both get the
        hidden states they get alone? (transformers >= 5 builds a block-diagonal mask from
        such position ids; older versions, and some attention kernels, do not.)"""
        a, b = (min(n, self.max_length) for n in (7, 5))
        x = self._probe_ids(a + b, seed=1)
        pos = torch.cat([torch.arange(a), torch.arange(b)])[None].to(self.device)
        try:
            packed = self.body(input_ids=x, position_ids=pos, use_cache=False)
            one = self.body(input_ids=x[:, :a], use_cache=False).last_hidden_state[0]
            two = self.body(input_ids=x[:, a:], use_cache=False).last_hidden_state[0]
        except Exception:  # a model that rejects the layout cannot pack
            return False
        h = packed.last_hidden_state[0]
        err = max(float((h[:a] - one).abs().max()), float((h[a:] - two).abs().max()))
        scale = max(1.0, float(one.abs().max()))
        return err <= (1e-3 if self.dtype in (torch.float32, torch.float64) else 5e-2) * scale

    @torch.no_grad()
    def _verify(self) -> float:
        """Compare fused and plain head on a probe; switch to plain when they disagree."""
        ids = self._probe_ids(min(16, self.max_length), seed=0)
        out = self.model(input_ids=ids, use_cache=False)
        logits = out.logits[0, :-1]  # (T-1, V)
        hidden = self.body(input_ids=ids, use_cache=False).last_hidden_state[0, :-1]  # (T-1, H)
        targets = ids[0, 1:]
        ref = plain_head(logits, targets)["logprobs"]
        got = fused_head(hidden, targets, self.head)["logprobs"]
        err = float((ref - got).abs().max())
        tol = 1e-3 if self.dtype in (torch.float32, torch.float64) else 0.25
        if not err <= tol:
            warnings.warn(
                f"surprisal: the fused head for {type(self.model).__name__} disagrees with the "
                f"model's own logits by {err:.3g} nats (tolerance {tol}); it may apply a logit "
                "transform surprisal does not know. Falling back to the plain path (exact, "
                "slower, more memory).",
                RuntimeWarning,
                stacklevel=3,
            )
            self.fused = False
        return err


def pack_by_default(lm: LM) -> bool:
    """Whether an LM that can pack does so by default: on accelerators only.

    On CPU the padded path is as fast (batches are already cut so that padding stays under
    a quarter, and a block-diagonal mask costs what padding saves); on a GPU, packing
    feeds no padding at all and, with ``attn_implementation="flash_attention_2"``, attends
    within each text only.
    """
    return lm.device.type != "cpu"


def _check_causal_lm(model: Any) -> None:
    from transformers import PreTrainedModel

    if not isinstance(model, PreTrainedModel):
        raise TypeError(
            f"model must be a Hugging Face PreTrainedModel, got {type(model).__name__}; "
            "load one with transformers.AutoModelForCausalLM.from_pretrained(...)"
        )
    cfg = model.config
    out_emb = model.get_output_embeddings()
    if getattr(cfg, "is_encoder_decoder", False) or out_emb is None or model.base_model is model:
        raise SurprisalError(
            f"{type(model).__name__} is not a causal language model (no LM head over a decoder); "
            "load the checkpoint with transformers.AutoModelForCausalLM instead"
        )


def _check_tokenizer(tokenizer: Any) -> None:
    if not callable(getattr(tokenizer, "convert_ids_to_tokens", None)):
        raise TypeError(
            f"tokenizer must be a Hugging Face tokenizer, got {type(tokenizer).__name__}"
        )
    if not getattr(tokenizer, "is_fast", False):
        raise SurprisalError(
            f"{type(tokenizer).__name__} is a slow (Python) tokenizer; surprisal needs a fast one "
            "for exact character offsets: AutoTokenizer.from_pretrained(..., use_fast=True)"
        )


def _input_device(model: Any) -> torch.device:
    """Where input ids go: the model's device or, under an accelerate ``device_map``, the
    device of its first module that is not offloaded (hooks move inputs onward)."""
    dmap = getattr(model, "hf_device_map", None)
    if dmap:
        for where in dmap.values():
            if where not in ("cpu", "disk", "meta"):
                return torch.device(f"cuda:{where}" if isinstance(where, int) else where)
        return torch.device("cpu")
    for p in model.parameters():
        if p.device.type != "meta":
            return p.device
    return torch.device("cpu")


def _named_values(model: Any) -> Any:
    """(name, tensor) for every parameter, reading offloaded ones from their hook's store."""
    for mod_name, mod in model.named_modules():
        hook = getattr(mod, "_hf_hook", None)
        store = getattr(hook, "weights_map", None)
        for p_name, p in mod.named_parameters(recurse=False):
            if p.device.type == "meta" and store is not None:
                with contextlib.suppress(KeyError):
                    p = store[p_name]
            yield (f"{mod_name}.{p_name}" if mod_name else p_name), p


def _decoder_body(model: Any) -> Any:
    body = model.base_model
    if body is model or not callable(body):
        raise SurprisalError(f"cannot find the decoder body of {type(model).__name__}")
    return body


def _head_spec(model: Any) -> HeadSpec:
    lin = model.get_output_embeddings()
    weight = getattr(lin, "weight", None)
    if not isinstance(weight, torch.Tensor) or weight.dim() != 2:
        raise SurprisalError(
            f"the output embedding of {type(model).__name__} is not a linear layer"
        )
    bias = getattr(lin, "bias", None)
    module = None
    device = weight.device
    if weight.device.type == "meta" or not weight.is_floating_point():
        # Offloaded (accelerate keeps the weight elsewhere until the hook loads it) or
        # quantized: the module computes the logits; its hook knows where it runs.
        module = lin
        hook = getattr(lin, "_hf_hook", None)
        device = torch.device(getattr(hook, "execution_device", None) or "cpu")
    cfg = model.config
    text_cfg = cfg.get_text_config() if hasattr(cfg, "get_text_config") else cfg
    softcap = getattr(text_cfg, "final_logit_softcapping", None)
    scale = getattr(text_cfg, "logit_scale", None)  # Cohere: logits * logit_scale
    divisor = getattr(text_cfg, "logits_scaling", None)  # Granite: logits / logits_scaling
    return HeadSpec(
        weight=weight.detach(),
        bias=bias.detach() if isinstance(bias, torch.Tensor) else None,
        scale=float(scale) if scale not in (None, 1, 1.0) else None,
        divisor=float(divisor) if divisor not in (None, 1, 1.0) else None,
        softcap=float(softcap) if softcap else None,
        module=module,
        vocab=int(getattr(lin, "out_features", 0) or weight.shape[0]),
        device=device,
    )


def _context_length(model: Any) -> int:
    cfg = model.config
    text_cfg = cfg.get_text_config() if hasattr(cfg, "get_text_config") else cfg
    for attr in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
        v = getattr(text_cfg, attr, None)
        if isinstance(v, int) and v > 0:
            return v
    raise SurprisalError(
        f"cannot tell the context length of {type(model).__name__} from its config; "
        "pass max_length=... to surprisal.LM or surprisal.load"
    )


def load(
    name_or_path: str | os.PathLike[str],
    *,
    device: str | torch.device | None = None,
    dtype: str | torch.dtype | None = "float32",
    revision: str | None = None,
    add_bos: bool = True,
    max_length: int | None = None,
    verify: bool = True,
    trust_remote_code: bool = False,
    attn_implementation: str | None = None,
    **model_kwargs: Any,
) -> LM:
    """Load a causal LM and its fast tokenizer from a local path or hub id.

    ``dtype`` defaults to float32 because scores are a measurement: bfloat16 is about twice
    as fast on GPUs but moves per-token log-probabilities by ~0.01–0.1 nats. The head always
    accumulates in float32 whatever the model dtype.

    >>> import tempfile
    >>> from surprisal.testing import tiny_lm
    >>> d = tempfile.mkdtemp()
    >>> small = tiny_lm("qwen2")
    >>> small.model.save_pretrained(d)
    >>> _ = small.tokenizer.save_pretrained(d)
    >>> load(d).bos_policy
    'bos'
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kwargs: dict[str, Any] = {"revision": revision, "trust_remote_code": trust_remote_code}
    kwargs.update(dtype_kwargs(_as_dtype(dtype)))
    if attn_implementation is not None:
        kwargs["attn_implementation"] = attn_implementation
    kwargs.update(model_kwargs)
    path = os.fspath(name_or_path)
    looks_local = os.path.isabs(path) or path.startswith((".", "~")) or path.count("/") > 1
    if looks_local and not os.path.isdir(os.path.expanduser(path)):
        raise SurprisalError(
            f"could not load a model from {path!r}: no such directory. Give a directory with "
            "config.json, weights and tokenizer files, or a hub id."
        )
    try:
        tokenizer = AutoTokenizer.from_pretrained(
            path, revision=revision, trust_remote_code=trust_remote_code
        )
        model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
    except OSError as exc:
        raise SurprisalError(
            f"could not load a model from {path!r}: {exc}. Give a local directory with "
            "config.json and weights, or a hub id (with network access or a filled HF cache)."
        ) from None
    dev = None if "device_map" in model_kwargs else (device or _default_device())
    return LM(
        model,
        tokenizer,
        device=dev,
        add_bos=add_bos,
        max_length=max_length,
        verify=verify,
        name=path,
    )


# The explicit model cache: a name/path given as ``model=`` is loaded once per
# (name, device, dtype) and kept here until ``clear_cache()``.
_CACHE: dict[tuple[str, str, str], LM] = {}


# (model, tokenizer) pairs passed as ``model=`` are wrapped once; the entry goes with the model.
_PAIRS: weakref.WeakKeyDictionary[Any, tuple[Any, LM]] = weakref.WeakKeyDictionary()


def _weakrefable(obj: Any) -> bool:
    try:
        weakref.ref(obj)
    except TypeError:
        return False
    return True


def clear_cache() -> None:
    """Forget every model loaded by name through ``score(model="...")`` and friends."""
    _CACHE.clear()
    _PAIRS.clear()


def resolve_model(
    model: Any, *, device: str | torch.device | None = None, dtype: str | torch.dtype | None = None
) -> LM:
    """Turn ``model=`` (an LM, a name/path, or a ``(model, tokenizer)`` pair) into an LM."""
    if isinstance(model, LM):
        return model
    if isinstance(model, (str, os.PathLike)):
        key = (os.fspath(model), str(device), str(dtype))
        if key not in _CACHE:
            _CACHE[key] = load(model, device=device, dtype=dtype or "float32")
        return _CACHE[key]
    if isinstance(model, tuple) and len(model) == 2:
        m, tok = model
        hit = _PAIRS.get(m) if _weakrefable(m) else None
        if hit is not None and hit[0] is tok and device is None and dtype is None:
            return hit[1]  # the same pair again: no second probe
        lm = LM(m, tok, device=device, dtype=dtype)
        if _weakrefable(m):
            _PAIRS[m] = (tok, lm)
        return lm
    raise TypeError(
        "model must be a surprisal.LM, a name or path to load, or a (model, tokenizer) pair; "
        f"got {type(model).__name__}"
    )
