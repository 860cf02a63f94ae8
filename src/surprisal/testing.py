"""Tiny random-weight models and locally trained tokenizers, for tests, docs and examples.

Nothing here touches the network: tokenizers are trained in-process with the `tokenizers`
library on a small built-in corpus, and models are built from configs with random weights.
Real sizes are given as trailing comments so the shapes are recognisable.

>>> from surprisal.testing import tiny_lm
>>> lm = tiny_lm("llama")
>>> lm.bos_policy
'bos'
"""

from __future__ import annotations

import functools
import json
from typing import TYPE_CHECKING, Any, Literal

import torch

if TYPE_CHECKING:
    from collections.abc import Callable

    from .grammar.base import Grammar
    from .lm import LM

__all__ = [
    "ARCHITECTURES",
    "CORPUS",
    "no_knowledge_baselines",
    "random_strings",
    "tiny_lm",
    "tiny_model",
    "tiny_tokenizer",
    "train_tiny",
]

TokenizerKind = Literal["byte-bpe", "sentencepiece", "no-boundary"]

ARCHITECTURES = ("gpt2", "llama", "qwen2", "gpt_neox", "gemma2")

CORPUS = [
    "The cat sat on the mat.",
    "Colorless green ideas sleep furiously.",
    "A proof by contradiction assumes the opposite and derives an absurdity.",
    "Every even number greater than two is the sum of two primes, perhaps.",
    "The quick brown fox jumps over the lazy dog.",
    "In the beginning was the word, and the word was surprising.",
    "(()()) [[]] ab ab ab aabb abba 0110",
    "She sells sea shells by the sea shore; the shells she sells are sea shells.",
    "Language models assign a probability to every text.",
    "How surprised is the model by this sentence? Less, once it has read a hint.",
    "Numbers: 0 1 2 3 4 5 6 7 8 9 10 100 1000.",
    "Punctuation! Questions? Quotes \"like this\" and 'that'; colons: dashes - too.",
]


@functools.cache
def _tokenizer_json(kind: TokenizerKind, vocab_size: int) -> str:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    corpus = CORPUS * 4
    if kind in ("byte-bpe", "no-boundary"):
        # GPT-2 style: byte-level BPE, whitespace attached to the start of tokens ("Ġcat").
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        specials = ["<|endoftext|>"] if kind == "byte-bpe" else []
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            special_tokens=specials,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        )
        tok.train_from_iterator(corpus, trainer)
        return str(tok.to_str())
    # Llama/SentencePiece style: "▁" marks word starts, unknown characters fall back to bytes.
    first = Tokenizer(models.BPE(unk_token="<unk>"))
    first.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first")
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size - 256, special_tokens=["<unk>", "<s>", "</s>"], show_progress=False
    )
    first.train_from_iterator(corpus, trainer)
    learned = json.loads(first.to_str())["model"]
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    for b in range(256):
        vocab[f"<0x{b:02X}>"] = len(vocab)
    for piece in sorted(learned["vocab"], key=learned["vocab"].__getitem__):
        vocab.setdefault(piece, len(vocab))
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in learned["merges"]]
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token="<unk>", byte_fallback=True))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first")
    tok.decoder = decoders.Sequence(
        [
            decoders.Replace("▁", " "),
            decoders.ByteFallback(),
            decoders.Fuse(),
            decoders.Strip(" ", 1, 0),
        ]
    )
    from tokenizers import AddedToken

    tok.add_special_tokens([AddedToken(t, special=True) for t in ("<unk>", "<s>", "</s>")])
    return str(tok.to_str())


def tiny_tokenizer(kind: TokenizerKind = "byte-bpe", vocab_size: int = 384) -> Any:
    """A fast tokenizer trained in-process on a small corpus (no download).

    Kinds: ``"byte-bpe"`` (GPT-2 style, ``<|endoftext|>`` is both BOS and EOS),
    ``"sentencepiece"`` (Llama style ``▁`` pieces with byte fallback, ``<s>``/``</s>``) and
    ``"no-boundary"`` (byte-level BPE with no BOS and no EOS, so a text's first token has no
    context and is scored NaN).

    >>> tok = tiny_tokenizer("sentencepiece")
    >>> tok.bos_token, tok.pad_token
    ('<s>', '</s>')
    """
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer.from_str(_tokenizer_json(kind, vocab_size))
    if kind == "byte-bpe":
        special = {"bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>"}
    elif kind == "sentencepiece":
        special = {
            "bos_token": "<s>",
            "eos_token": "</s>",
            "unk_token": "<unk>",
            "pad_token": "</s>",
        }
    else:
        special = {}
    return PreTrainedTokenizerFast(tokenizer_object=backend, **special)


def _config(arch: str, vocab_size: int, max_positions: int) -> Any:
    import transformers as tf

    common: dict[str, Any] = {"vocab_size": vocab_size, "initializer_range": 0.3}
    if arch == "gpt2":
        return tf.GPT2Config(
            n_embd=32,  # 768
            n_layer=2,  # 12
            n_head=4,  # 12
            n_positions=max_positions,  # 1024
            bos_token_id=0,
            eos_token_id=0,
            **common,
        )
    llama_like = {
        "hidden_size": 32,  # 2048
        "intermediate_size": 64,  # 8192
        "num_hidden_layers": 2,  # 16
        "num_attention_heads": 4,  # 32
        "num_key_value_heads": 2,  # 8
        "max_position_embeddings": max_positions,  # 131072
        **common,
    }
    if arch == "llama":
        return tf.LlamaConfig(tie_word_embeddings=False, **llama_like)
    if arch == "qwen2":
        return tf.Qwen2Config(tie_word_embeddings=True, **llama_like)  # Qwen2.5-0.5B ties
    if arch == "gpt_neox":
        return tf.GPTNeoXConfig(  # type: ignore[call-arg]
            hidden_size=32,  # 2048 (Pythia-1b)
            intermediate_size=64,  # 8192
            num_hidden_layers=2,  # 16
            num_attention_heads=4,  # 8
            max_position_embeddings=max_positions,  # 2048
            rotary_pct=0.25,
            **common,
        )
    if arch == "gemma2":
        return tf.Gemma2Config(  # type: ignore[call-arg]
            head_dim=8,  # 256
            sliding_window=max_positions,  # 4096
            final_logit_softcapping=3.0,  # 30.0: small here so the cap visibly bends the logits
            attn_logit_softcapping=50.0,
            query_pre_attn_scalar=8,
            attn_implementation="eager",  # what Gemma-2 recommends with softcapping
            **llama_like,
        )
    raise ValueError(f"unknown architecture {arch!r}; expected one of {ARCHITECTURES}")


def tiny_model(
    arch: str = "llama",
    vocab_size: int = 384,
    *,
    max_positions: int = 128,
    seed: int = 0,
    **config: Any,
) -> Any:
    """A random-weight causal LM of a real architecture, tiny enough for CPU tests.

    Weights are drawn with a large ``initializer_range`` so that next-token distributions are
    far from uniform: an off-by-one in scoring then changes the numbers visibly. Extra
    keywords override config fields (``num_hidden_layers=1``...).
    """
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    cfg = _config(arch, vocab_size, max_positions)
    for k, v in config.items():
        setattr(cfg, k, v)
    model = AutoModelForCausalLM.from_config(cfg)
    return model.eval()


def tiny_lm(
    arch: str = "llama",
    tokenizer: TokenizerKind | None = None,
    *,
    max_positions: int = 128,
    seed: int = 0,
    **kwargs: Any,
) -> LM:
    """A ready :class:`surprisal.LM` around :func:`tiny_model` and :func:`tiny_tokenizer`.

    The tokenizer kind defaults to ``"sentencepiece"`` for Llama-family models and
    ``"byte-bpe"`` otherwise.
    """
    from .lm import LM

    if tokenizer is None:
        tokenizer = "sentencepiece" if arch in ("llama", "gemma2") else "byte-bpe"
    tok = tiny_tokenizer(tokenizer)
    model = tiny_model(arch, len(tok), max_positions=max_positions, seed=seed)
    return LM(model, tok, **kwargs)


def train_tiny(
    lm: LM,
    texts: list[str],
    *,
    steps: int = 200,
    batch_size: int = 16,
    lr: float = 3e-3,
    seed: int = 0,
) -> LM:
    """Train ``lm.model`` in place on ``texts`` (boundary token + text + EOS), seeded.

    A few hundred AdamW steps on a tiny model take seconds on a CPU: enough for a model to
    learn a small grammar or a prefix-determines-continuation rule, so tests and examples
    can check a real signal instead of a mock. The batches (``batch_size`` texts drawn with
    replacement) are drawn up front; the steps are :func:`train_batches`'.
    """
    gen = torch.Generator().manual_seed(seed)  # the batch draws; train_batches seeds the rest
    batches = [
        [texts[i] for i in torch.randint(0, len(texts), (batch_size,), generator=gen).tolist()]
        for _ in range(steps)
    ]
    return train_batches(lm, batches, lr=lr, seed=seed)


def train_batches(
    lm: LM,
    batches: list[list[str]],
    *,
    lr: float = 3e-3,
    seed: int = 0,
) -> LM:
    """Train ``lm.model`` in place, one AdamW step per batch, on batches the caller fixes.

    :func:`train_tiny` draws its batches at random; here the schedule is the caller's, so
    two models can see exactly the same batches in the same order, one of them with extra
    steps in between (the grammar-explanation experiment's arms). Each text is a document:
    boundary token + text + EOS, cut to ``lm.max_length``; loss is the mean over a
    batch's real tokens.

    >>> from surprisal.testing import tiny_lm, train_batches
    >>> lm = train_batches(tiny_lm("gpt2"), [["ab\\n", "abab\\n"]] * 3, seed=0)
    >>> lm.model.training
    False
    """
    from torch.nn.utils.rnn import pad_sequence

    tok = lm.tokenizer
    bos = [lm.boundary_id] if lm.boundary_id is not None else []
    eos = [tok.eos_token_id] if tok.eos_token_id is not None else []
    torch.manual_seed(seed)
    model = lm.model
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    for texts in batches:
        docs = [bos + tok(t, add_special_tokens=False)["input_ids"] + eos for t in texts]
        rows = [torch.tensor(d[: lm.max_length], dtype=torch.long) for d in docs]
        ids = pad_sequence(rows, batch_first=True, padding_value=0)  # (B, T)
        mask = pad_sequence([torch.ones_like(r) for r in rows], batch_first=True)  # (B, T)
        labels = ids.masked_fill(mask == 0, -100)  # padding is never a target
        loss = model(
            input_ids=ids.to(lm.device),
            attention_mask=mask.to(lm.device),
            labels=labels.to(lm.device),
        ).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()  # the word-start mask depends on the tokenizer only: nothing to reset
    return lm


def random_strings(
    grammar: Grammar, n: int, *, min_len: int = 1, max_len: int = 20, seed: int = 0
) -> list[str]:
    """``n`` strings of uniform random symbols over ``grammar``'s alphabet, whose lengths (in
    symbols) are those of ``n`` members sampled from it (with replacement when it has fewer
    distinct members in the range): matched non-grammar data, the
    training corpus of a no-knowledge baseline. A few may be members by accident (short
    lengths especially), as they would be under any grammar-blind process.

    >>> from surprisal import grammar
    >>> xs = random_strings(grammar.zoo["anbn"], 5, max_len=8, seed=0)
    >>> len(xs), all(set(x) <= {"a", "b"} for x in xs)
    (5, True)
    """
    import random

    available = sum(grammar.count(k) for k in range(min_len, max_len + 1))
    members = grammar.sample(min(n, available), min_len=min_len, max_len=max_len, seed=seed)
    lengths = [len(grammar.tokenize(m)) for m in members]
    rng = random.Random(seed)
    if len(lengths) < n:  # few distinct members: their lengths, drawn with replacement
        lengths += rng.choices(lengths, k=n - len(lengths))
    return [grammar.render([rng.choice(grammar.alphabet) for _ in range(k)]) for k in lengths]


def no_knowledge_baselines(
    make: str | Callable[[int], LM],
    grammar: Grammar,
    *,
    n_models: int = 3,
    seed: int = 0,
    steps: int = 200,
    n_train: int = 400,
    min_len: int = 1,
    max_len: int = 20,
    end: str = "\n",
    **train: Any,
) -> list[LM]:
    """No-knowledge baselines for ``grammar.membership(..., baseline=[...])``: ``n_models``
    models trained exactly as a grammar model would be (:func:`train_tiny`, ``steps``
    steps, each text followed by ``end``), but on :func:`random_strings` over the grammar's
    alphabet with the members' length distribution.

    Args:
        make: an architecture name for :func:`tiny_lm` (``max_positions=512``), or a
            function ``seed -> LM`` building the untrained model.
        grammar: whose alphabet and member lengths the training strings match.
        n_models: how many baselines (seeds ``seed``, ``seed + 1``, ...): each is one draw;
            the chance level's interval uses their spread (Student's t, ``n_models - 1``
            degrees of freedom), so 3 is a minimum and 5 to 8 are better.
        seed: model, corpus and batch seed of the first baseline.
        steps, n_train, min_len, max_len: training steps, corpus size, string lengths.
        **train: passed to :func:`train_tiny` (``batch_size``, ``lr``).
    """
    from .errors import SurprisalError

    if isinstance(n_models, bool) or not isinstance(n_models, int) or n_models < 1:
        raise SurprisalError(f"n_models must be a positive int, got {n_models!r}")
    out = []
    for k in range(n_models):
        s = seed + k
        if isinstance(make, str):
            lm = tiny_lm(make, max_positions=512, seed=s, name=f"no-knowledge {make} #{k}")
        else:
            lm = make(s)
        texts = random_strings(grammar, n_train, min_len=min_len, max_len=max_len, seed=s)
        out.append(train_tiny(lm, [t + end for t in texts], steps=steps, seed=s, **train))
    return out
