"""The loaded model: :class:`LM` and :func:`load`, plus the explicit model cache.

An ``LM`` owns a Hugging Face causal LM and its (fast) tokenizer, and resolves once what
the scoring loop needs: the decoder body, the head weight/bias and logit transforms, the
document-boundary token (BOS policy) and the context length. At construction it checks the
fused head against the model's own logits on a probe input and falls back to the plain
path, with a warning, when they disagree.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import warnings
import weakref
from typing import Any, Literal

import torch

from ._compat import dtype_kwargs, text_config
from ._demo_files import DEMO_ALIAS, DEMO_NAME, demo_path
from .devices import check_device, check_same_device
from .errors import SurprisalError
from .head import HeadSpec, fused_head, plain_head
from .locks import serialize_forwards
from .tokenize import WORD_START

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
        verify: run the load-time probes: the fused head against the model's own logits,
            causality (a prefix's hidden states must not change when tokens are appended)
            and packing.
        name: a label recorded on results; default: the model's ``name_or_path``.
        parse_special_tokens: read special-token strings inside a text (``"<|endoftext|>"``,
            ``"<s>"``) as the special tokens. Default False: they are plain text, scored
            character by character, so a text cannot insert a document boundary.

    Attributes:
        bos_policy: ``"bos"`` (the tokenizer's BOS is prepended), ``"eos"`` (no BOS, so EOS
            is used as the document boundary, as GPT-2's <|endoftext|> does) or ``"none"`` (no
            boundary token: a text's first token has no context and scores NaN).
        boundary_id: the token id prepended, or None.
        fused: True when the fused head passed its probe (else the plain path is used).
        can_pack: True when the model passed the packing probe: several texts in one row,
            told apart by position ids, give the same hidden states as alone.
        pack: whether scoring packs texts into rows instead of padding them (default: on
            where the probe passed, see :func:`surprisal.lm.pack_by_default`);
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
        parse_special_tokens: bool = False,
    ) -> None:
        device = check_device(device)
        _check_causal_lm(model)
        _check_tokenizer(tokenizer)
        _check_not_meta(model)
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
        serialize_forwards(model, self.body)  # a model with state on its modules: one at a time
        self._head_source: tuple[Any, Any, int] = (None, None, 0)
        self._head = self._resolve_head()
        self.parse_special_tokens = bool(parse_special_tokens)
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
            self._probe_causal()
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
    def head(self) -> HeadSpec:
        """The LM head the scores use, re-read when the model's output embedding changed.

        Checked on every access by identity (the module, its weight tensor and the weight's
        storage), so ``model.set_output_embeddings(...)`` or a new ``lm_head.weight`` after
        wrapping takes effect on the next score call; costs three comparisons.
        """
        lin = self.model.get_output_embeddings()
        weight = getattr(lin, "weight", None)
        mod, w, ptr = self._head_source
        if lin is not mod or weight is not w or _data_ptr(weight) != ptr:
            self._head = self._resolve_head()
        t = getattr(self, "temperature", None)  # set on a copy by options.tempered()
        if t is not None and self._head.temperature != t:
            self._head = dataclasses.replace(self._head, temperature=t)
        return self._head

    def _resolve_head(self) -> HeadSpec:
        spec = _head_spec(self.model)
        n_tok = len(self.tokenizer)
        if n_tok > spec.vocab:
            raise SurprisalError(
                f"the tokenizer has {n_tok} tokens but the model's head predicts "
                f"only {spec.vocab}: they do not belong together. Load the tokenizer saved with "
                "this model."
            )
        # Heads are padded past the tokenizer (Qwen2: 151,936 rows for 151,665 tokens;
        # GPT-NeoX: 50,432 for 50,277), never to 4x. A tokenizer under 256 tokens (fewer than
        # the bytes) and a quarter of the head is an empty one transformers built from a
        # folder without tokenizer files (1 to 5 tokens), or another toy model's.
        if n_tok < TOKENIZER_TINY and n_tok * TOKENIZER_FRACTION < spec.vocab:
            raise SurprisalError(
                f"the tokenizer has {n_tok} tokens but the model's head predicts {spec.vocab}: "
                "too few to be this model's tokenizer (an empty one is what a model folder "
                "without tokenizer files gives). Load the tokenizer saved with this model."
            )
        lin = self.model.get_output_embeddings()
        weight = getattr(lin, "weight", None)
        self._head_source = (lin, weight, _data_ptr(weight))
        if spec.vocab != getattr(self, "vocab_size", spec.vocab):
            self._bow_mask = None
        self.vocab_size = spec.vocab
        return spec

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
    def _probe_causal(self) -> None:
        """Refuse a model whose earlier positions see later tokens (a bidirectional encoder
        whose config does not say so): a prefix's hidden states must not change when
        tokens are appended."""
        a, b = min(6, self.max_length - 1), 4
        x = self._probe_ids(min(a + b, self.max_length), seed=2)
        whole = self.body(input_ids=x, use_cache=False).last_hidden_state[0, :a]  # (a, H)
        alone = self.body(input_ids=x[:, :a], use_cache=False).last_hidden_state[0]  # (a, H)
        err = float((whole.float() - alone.float()).abs().max())
        scale = max(1.0, float(alone.float().abs().max()))
        # float32 kernels differ by ~1e-6 between the two lengths; a bidirectional model
        # with the smallest usual init (std 0.02) moves by ~1e-2.
        tol = 2e-4 if self.dtype in (torch.float32, torch.float64) else 5e-2
        if not err <= tol * scale:
            flag = getattr(self.model.config, "is_decoder", None)
            hint = " (its config has is_decoder=False)" if flag is False else ""
            raise SurprisalError(
                f"{type(self.model).__name__} is bidirectional{hint}: appending tokens changed "
                f"the hidden states of the tokens before them (by {err:.3g}), so its scores "
                "would not be log-probabilities of a text read left to right. Use a "
                "decoder-only causal LM (AutoModelForCausalLM of a GPT-, Llama-, ... "
                "checkpoint)."
            )

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


# A tokenizer of fewer than TOKENIZER_TINY tokens and under 1/TOKENIZER_FRACTION of the
# head's rows is refused (benchmarks pair a 1,000-token tokenizer with real-size heads).
TOKENIZER_TINY = 256
TOKENIZER_FRACTION = 4
# What a tokenizer's vocabulary is read from: one of these files in a model folder (or a
# *.model SentencePiece / *.tiktoken file, or vocab* of another name).
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer.model",
    "vocab.json",
    "vocab.txt",
    "spiece.model",
    "sentencepiece.bpe.model",
)


def pack_by_default(lm: LM) -> bool:
    """Whether an LM that can pack does so by default: yes, on every device.

    Packing feeds no padding at all. On a GPU with ``attn_implementation=
    "flash_attention_2"`` it attends within each text only. On CPU, with the token budget
    of :func:`surprisal.engine.default_batch_tokens`, it measured 3-18% faster than the
    previous default (padded rows, 4,096 tokens) on each of four benchmark shapes, in an
    in-process A/B (docs/benchmarks.md, "Token budget on CPU").
    ``lm.pack = False`` or ``score(..., pack=False)`` turns it off.
    """
    return True


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
    if _is_masked_lm(model):
        raise SurprisalError(
            f"{type(model).__name__} is a masked LM: every token sees the tokens after it, so "
            "its scores are not log-probabilities of a text read left to right. Use a "
            "decoder-only causal LM (AutoModelForCausalLM of a GPT-, Llama-, ... checkpoint)."
        )


def _is_masked_lm(model: Any) -> bool:
    """A class transformers registers as a masked LM and not as a causal LM."""
    try:
        from transformers.models.auto.modeling_auto import (
            MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
            MODEL_FOR_MASKED_LM_MAPPING_NAMES,
        )
    except ImportError:  # pragma: no cover - layout of older transformers
        return False
    name = type(model).__name__

    def names(mapping: Any) -> set[str]:
        out: set[str] = set()
        for v in mapping.values():
            out.update(v if isinstance(v, (tuple, list)) else [v])
        return out

    return name in names(MODEL_FOR_MASKED_LM_MAPPING_NAMES) and name not in names(
        MODEL_FOR_CAUSAL_LM_MAPPING_NAMES
    )


def _check_not_meta(model: Any) -> None:
    """A model built under ``init_empty_weights``/``device="meta"`` has no weights to run."""
    if getattr(model, "hf_device_map", None):
        return  # accelerate offload: meta parameters are loaded by hooks when they run
    meta = [n for n, p in model.named_parameters() if p.device.type == "meta"]
    if meta:
        raise SurprisalError(
            f"{len(meta)} weights of {type(model).__name__} (e.g. {meta[0]!r}) are on the meta "
            "device: they hold no values. Load them with from_pretrained(path) (or "
            "surprisal.load(path)), or call model.to_empty(device=...) and load a state dict, "
            "before wrapping the model."
        )


def _data_ptr(t: Any) -> int:
    return t.data_ptr() if isinstance(t, torch.Tensor) and t.device.type != "meta" else 0


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
    text_cfg = text_config(model)
    # cap * tanh(z / cap): final_logit_softcapping (Gemma-2/3), logits_soft_cap (RecurrentGemma)
    softcap = getattr(text_cfg, "final_logit_softcapping", None) or getattr(
        text_cfg, "logits_soft_cap", None
    )
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


# Families whose configs state no context length because nothing in the model limits it:
# ALiBi (Bloom), recurrent state-space models, and RecurrentGemma (recurrence plus a
# local attention window). Windows need a length; 2048 is what
# BLOOM was trained on and keeps one window's attention memory modest. Pass max_length=...
# to use another.
_NO_LENGTH_FAMILIES = ("bloom", "mamba", "mamba2", "falcon_mamba", "rwkv", "recurrent_gemma")
_NO_LENGTH_DEFAULT = 2048


def _context_length(model: Any) -> int:
    text_cfg = text_config(model)
    fields = (
        "max_position_embeddings",
        "n_positions",
        "max_seq_len",  # MPT
        "max_sequence_length",
        "seq_length",
        "n_ctx",
    )
    for attr in fields:
        v = getattr(text_cfg, attr, None)
        if isinstance(v, int) and v > 0:
            return v
    if getattr(text_cfg, "model_type", None) in _NO_LENGTH_FAMILIES:
        return _NO_LENGTH_DEFAULT
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
    parse_special_tokens: bool = False,
    **model_kwargs: Any,
) -> LM:
    """Load a causal LM and its fast tokenizer from a local path or hub id.

    ``dtype`` defaults to float32 because scores are a measurement: bfloat16 is about twice
    as fast on GPUs but moves per-token log-probabilities by ~0.01–0.1 nats. The head always
    accumulates in float32 whatever the model dtype.

    Before calling transformers, a directory is checked for a ``config.json`` of a causal
    LM, and a hub id that is not in the local Hugging Face cache fails at once when the
    hub cannot be reached (instead of retrying); a cached one then loads with
    ``local_files_only=True``. ``parse_special_tokens``: see :class:`LM`. The name
    ``"demo"`` (when no folder of that name is in the working directory) loads the small
    model bundled with the package, as ``surprisal ... --model demo`` does.

    >>> import tempfile
    >>> from surprisal.testing import tiny_lm
    >>> d = tempfile.mkdtemp()
    >>> small = tiny_lm("qwen2")
    >>> small.model.save_pretrained(d)
    >>> _ = small.tokenizer.save_pretrained(d)
    >>> load(d).bos_policy
    'bos'
    """
    device = check_device(device)  # before anything is read
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kwargs: dict[str, Any] = {"revision": revision, "trust_remote_code": trust_remote_code}
    kwargs.update(dtype_kwargs(_as_dtype(dtype)))
    if attn_implementation is not None:
        kwargs["attn_implementation"] = attn_implementation
    kwargs.update(model_kwargs)
    path = named = os.fspath(name_or_path)
    if path == DEMO_ALIAS and not os.path.exists(path):  # the bundled model, as --model demo
        path, named = os.fspath(demo_path()), DEMO_NAME
    looks_local = os.path.isabs(path) or path.startswith((".", "~")) or path.count("/") > 1
    if looks_local and not os.path.isdir(os.path.expanduser(path)):
        raise SurprisalError(
            f"could not load a model from {path!r}: no such directory. Give a directory with "
            "config.json, weights and tokenizer files, or a hub id."
        )
    tok_kwargs: dict[str, Any] = {"revision": revision, "trust_remote_code": trust_remote_code}
    if os.path.isdir(os.path.expanduser(path)):
        _check_model_dir(os.path.expanduser(path))
    elif _hub_offline(path, revision):
        kwargs["local_files_only"] = tok_kwargs["local_files_only"] = True
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, **tok_kwargs)
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
        name=named,
        parse_special_tokens=parse_special_tokens,
    )


def _check_model_dir(path: str) -> None:
    """One clear error for a directory that cannot hold a causal LM, before transformers
    guesses (an empty directory otherwise suggests installing sentencepiece; a T5 one lists
    every causal config class)."""
    import json

    cfg_path = os.path.join(path, "config.json")
    if not os.path.isfile(cfg_path):
        found = sorted(os.listdir(path))
        listing = ", ".join(found[:8]) + (", ..." if len(found) > 8 else "") if found else "empty"
        raise SurprisalError(
            f"could not load a model from {path!r}: the directory has no config.json "
            f"({listing}). Give the directory that model.save_pretrained() and "
            "tokenizer.save_pretrained() wrote, or a hub id."
        )
    try:
        with open(cfg_path, encoding="utf-8") as f:
            cfg = json.load(f)
    except (OSError, ValueError) as exc:
        raise SurprisalError(f"could not read {cfg_path}: {exc}") from None
    if not isinstance(cfg, dict):
        raise SurprisalError(f"{cfg_path} is not a JSON object; is this a model directory?")
    if cfg.get("is_encoder_decoder"):
        raise SurprisalError(
            f"{path!r} holds an encoder-decoder model (model_type {cfg.get('model_type')!r}): "
            "surprisal scores texts with decoder-only causal LMs, where each token is "
            "predicted from the ones before it. Use a causal LM checkpoint."
        )
    found = os.listdir(path)
    if not any(
        f in TOKENIZER_FILES or f.endswith((".model", ".tiktoken")) or f.startswith("vocab")
        for f in found
    ):
        raise SurprisalError(
            f"could not load a tokenizer from {path!r}: none of {', '.join(TOKENIZER_FILES)} "
            "(nor a *.model or *.tiktoken file) is there, so every text would have no tokens. "
            "Save the model's tokenizer into the folder: tokenizer.save_pretrained(path)."
        )


def _hub_offline(repo_id: str, revision: str | None) -> bool:
    """For a hub id: True when it must load from the local cache only (the hub cannot be
    reached, or HF_HUB_OFFLINE is set). Raises at once when it is not cached either,
    instead of letting the hub client retry for most of a minute."""
    import socket
    from urllib.parse import urlparse

    from huggingface_hub import constants, try_to_load_from_cache

    cached = isinstance(try_to_load_from_cache(repo_id, "config.json", revision=revision), str)
    offline = bool(getattr(constants, "is_offline_mode", lambda: constants.HF_HUB_OFFLINE)())
    proxied = any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY"))
    if offline:
        reachable = False
    elif proxied:  # a direct connection says nothing about the route through a proxy
        reachable = True
    else:
        url = urlparse(constants.ENDPOINT)
        port = url.port or (443 if url.scheme == "https" else 80)
        try:
            socket.create_connection((url.hostname or "", port), timeout=3).close()
            reachable = True
        except OSError:
            reachable = False
    if reachable:
        return False
    if not cached:
        why = "HF_HUB_OFFLINE is set" if offline else "the hub is unreachable"
        raise SurprisalError(
            f"could not load a model from {repo_id!r}: it is not a directory, not in the local "
            f"Hugging Face cache, and {why} ({constants.ENDPOINT}). Give a local directory, "
            "or download it where there is network (huggingface-cli download ...)."
        )
    return True


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
    """Turn ``model=`` (an LM, a name/path, or a ``(model, tokenizer)`` pair) into an LM.

    ``device`` is checked before anything is loaded; with a loaded LM, ``device`` and
    ``dtype`` must name the LM's own (or be None): a loaded LM is shared and never moved or
    cast per call, and a ``dtype`` it does not have is refused rather than ignored."""
    if isinstance(model, LM):
        check_same_device(device, model.device, f"the LM {model.name!r}")
        want = _as_dtype(dtype)
        if want is not None and want != model.dtype:
            raise SurprisalError(
                f"dtype={str(dtype)!r} but the LM {model.name!r} is loaded in "
                f"{str(model.dtype).replace('torch.', '')}; a loaded model is not cast per "
                f"call. Drop dtype=, or load it so: surprisal.load(name, dtype={str(dtype)!r})."
            )
        return model
    check_device(device)
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
