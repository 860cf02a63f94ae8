"""Train the tiny demo language model shipped in ``surprisal/demo_model``.

A GPT-2-architecture causal LM (4 layers, hidden 128, 4 heads, 512 positions, ~1M
parameters, ~4 MB in float32) is trained from scratch on one CPU thread in about five
minutes, on a synthetic corpus built from the grammar zoo (:mod:`surprisal.grammar.zoo`):

* grammar documents: strings of one zoo grammar, one per line; half of them start with
  the grammar's natural-language ``explanation`` on its own line, half start directly with
  the strings;
* control documents: one of the zoo ``control`` texts, followed half of the time by strings
  of a *random* grammar (so a control is an uninformative prefix, not an unusual one) and
  otherwise by a sentence or two of plain English;
* English documents: a few sentences of :data:`surprisal.testing.CORPUS`.

Every document is ``<|endoftext|> text <|endoftext|>`` (BOS at the start, EOS at the end; the
same token, GPT-2 style), every line ends with ``"\\n"``. Documents are packed whole into
rows of ``--seq-len`` tokens (each row starts at a document start, the rest is padding
that is not trained on). A byte-level BPE tokenizer is trained on the same corpus.

Everything is seeded: the same ``--seed`` and options give the same ``model.safetensors``
byte for byte (single-process data generation, ``torch.use_deterministic_algorithms``, a
fixed thread count). The thread count is part of the recipe: another ``--threads`` sums
floats in another order and gives (slightly) different weights. One thread is the default
because it reproduces on any machine and, on a 2-core machine shared with other work, is
also the fastest.

Usage::

    python scripts/train_demo_model.py                 # writes src/surprisal/demo_model/
    python scripts/train_demo_model.py --quick         # ~10 s smoke run into a temp dir
    python scripts/train_demo_model.py --out DIR --steps 600 --seed 1
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "src" / "surprisal" / "demo_model"
EOT = "<|endoftext|>"

# The corpus recipe; recorded in TRAINING.json.
RECIPE: dict[str, Any] = {
    "p_grammar_doc": 0.82,  # else control doc (p_control_doc) or English doc
    "p_control_doc": 0.10,
    "p_explanation": 0.5,  # a grammar document starts with the grammar's explanation
    "p_control_then_strings": 0.5,  # a control document goes on with a random grammar
    "strings_per_doc": [2, 10],  # uniform, inclusive
    "max_len": {"default": 20, "english": 12},  # member lengths, grammar symbols
    "pool_per_length": 400,  # distinct members sampled per length (all when fewer)
    "english_sentences_per_doc": [1, 4],
}


def _pools(seed: int) -> dict[str, list[list[str]]]:
    """Per grammar, a list of non-empty per-length pools of distinct members."""
    from surprisal.grammar import ZOO_NAMES, zoo

    pools: dict[str, list[list[str]]] = {}
    for k, name in enumerate(ZOO_NAMES):
        g = zoo[name]
        top = RECIPE["max_len"].get(name, RECIPE["max_len"]["default"])
        by_len = []
        for L in range(1, top + 1):
            c = g.count(L)
            if c:
                cap = min(c, RECIPE["pool_per_length"])
                by_len.append(g.sample(cap, L, L, seed=seed * 1000 + k * 50 + L))
        pools[name] = by_len
    return pools


def build_corpus(n_docs: int, seed: int) -> list[str]:
    """``n_docs`` documents (without the boundary tokens), seeded, one process."""
    from surprisal.grammar import ZOO_NAMES, zoo
    from surprisal.testing import CORPUS

    rng = random.Random(seed)
    pools = _pools(seed)
    names = list(ZOO_NAMES)
    lo, hi = RECIPE["strings_per_doc"]
    elo, ehi = RECIPE["english_sentences_per_doc"]

    def strings(name: str) -> list[str]:
        by_len = pools[name]
        return [rng.choice(rng.choice(by_len)) for _ in range(rng.randint(lo, hi))]

    def english() -> list[str]:
        return rng.sample(CORPUS, rng.randint(elo, ehi))

    docs = []
    for _ in range(n_docs):
        u = rng.random()
        if u < RECIPE["p_grammar_doc"]:
            name = rng.choice(names)
            lines = [zoo[name].explanation] if rng.random() < RECIPE["p_explanation"] else []
            lines += strings(name)
        elif u < RECIPE["p_grammar_doc"] + RECIPE["p_control_doc"]:
            lines = [zoo[rng.choice(names)].control]
            if rng.random() < RECIPE["p_control_then_strings"]:
                lines += strings(rng.choice(names))
            else:
                lines += english()[:2]
        else:
            lines = english()
        docs.append("".join(line + "\n" for line in lines))
    return docs


def train_tokenizer(corpus: list[str], vocab_size: int) -> Any:
    """A GPT-2-style byte-level BPE tokenizer trained on the corpus, wrapped for transformers."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOT],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus, trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=EOT, eos_token=EOT, model_max_length=512
    )


def pack(docs_ids: list[list[int]], seq_len: int, eot: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Whole documents ``[eot] + ids + [eot]`` packed greedily into rows of ``seq_len``.

    Returns (ids, labels), each (rows, seq_len); labels are -100 on padding.
    """
    rows: list[list[int]] = []
    cur: list[int] = []
    for ids in docs_ids:
        doc = ([eot, *ids, eot])[:seq_len]
        if len(cur) + len(doc) > seq_len:
            rows.append(cur)
            cur = []
        cur += doc
    if cur:
        rows.append(cur)
    x = torch.full((len(rows), seq_len), eot, dtype=torch.long)
    y = torch.full((len(rows), seq_len), -100, dtype=torch.long)
    for i, r in enumerate(rows):
        x[i, : len(r)] = torch.tensor(r)
        y[i, : len(r)] = torch.tensor(r)
    return x, y


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=None, help=f"output folder ({DEFAULT_OUT})")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--steps", type=int, default=None, help="optimizer steps (default 250)")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--seq-len", type=int, default=256)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--vocab-size", type=int, default=1024)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (part of the recipe)")
    ap.add_argument("--quick", action="store_true", help="a ~10 s smoke run into a temp dir")
    args = ap.parse_args(argv)

    sys.path.insert(0, str(ROOT / "src"))  # run from a checkout without installing
    import transformers
    from transformers import GPT2Config, GPT2LMHeadModel

    transformers.logging.set_verbosity_error()
    t0 = time.perf_counter()
    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(args.seed)
    random.seed(args.seed)

    steps = args.steps if args.steps is not None else (25 if args.quick else 250)
    if args.quick:
        args.batch_size, args.seq_len = 8, 128
    out = args.out
    if out is None:
        out = Path(tempfile.mkdtemp(prefix="surprisal-demo-")) if args.quick else DEFAULT_OUT

    # -- data ---------------------------------------------------------------------------
    tokens_needed = steps * args.batch_size * args.seq_len
    n_docs = max(300, tokens_needed // 75)  # ~75 tokens a document, rows ~80% full
    corpus = build_corpus(n_docs, args.seed)
    tok = train_tokenizer(corpus, args.vocab_size)
    eot = tok.convert_tokens_to_ids(EOT)
    ids = tok(corpus, add_special_tokens=False)["input_ids"]
    x, y = pack(ids, args.seq_len, eot)
    n_tokens = int((y != -100).sum())
    t_data = time.perf_counter() - t0
    print(
        f"corpus: {len(corpus)} documents, {n_tokens} tokens in {len(x)} rows of "
        f"{args.seq_len}; vocab {len(tok)}; {t_data:.1f} s",
        flush=True,
    )

    # -- model --------------------------------------------------------------------------
    config = GPT2Config(
        vocab_size=len(tok),
        n_positions=512,
        n_embd=128,
        n_layer=4,
        n_head=4,
        n_inner=512,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        activation_function="gelu_pytorch_tanh",
        bos_token_id=eot,
        eos_token_id=eot,
        tie_word_embeddings=True,
    )
    torch.manual_seed(args.seed)
    model = GPT2LMHeadModel(config)
    n_params = sum(p.numel() for p in model.parameters())
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}],
        lr=args.lr,
        betas=(0.9, 0.98),
    )
    warmup = max(1, steps // 20)

    def lr_at(step: int) -> float:  # linear warm-up, cosine decay to 10%
        if step < warmup:
            return (step + 1) / warmup
        t = (step - warmup) / max(1, steps - warmup)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * t))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    gen = torch.Generator().manual_seed(args.seed)
    order = torch.randperm(len(x), generator=gen)
    model.train()
    losses: list[float] = []
    t1 = time.perf_counter()
    for step in range(steps):
        idx = order[(torch.arange(args.batch_size) + step * args.batch_size) % len(x)]
        xb, yb = x[idx], y[idx]
        used = int((yb != -100).sum(1).max())  # trim trailing all-padding columns
        loss = model(input_ids=xb[:, :used], labels=yb[:, :used]).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        losses.append(loss.item())
        if step % 50 == 0 or step == steps - 1:
            el = time.perf_counter() - t1
            print(f"step {step:4d}  loss {losses[-1]:.3f}  {el:6.1f} s", flush=True)
    model.eval()
    train_s = time.perf_counter() - t1

    # -- save ---------------------------------------------------------------------------
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    tok.save_pretrained(out)
    tail = losses[-min(20, len(losses)) :]
    info = {
        "seed": args.seed,
        "steps": steps,
        "batch_size": args.batch_size,
        "seq_len": args.seq_len,
        "lr": args.lr,
        "schedule": f"linear warm-up {warmup} steps, cosine decay to 10%",
        "optimizer": "AdamW(betas=(0.9, 0.98), weight_decay=0.01 on matrices), grad clip 1.0",
        "threads": args.threads,
        "quick": args.quick,
        "architecture": "GPT-2, 4 layers, n_embd 128, 4 heads, n_inner 512, 512 positions, "
        "tied embeddings",
        "parameters": n_params,
        "vocab_size": len(tok),
        "tokenizer": "byte-level BPE (tokenizers), <|endoftext|> = BOS = EOS",
        "corpus": {
            "documents": len(corpus),
            "tokens": n_tokens,
            "rows": len(x),
            "recipe": RECIPE,
            "format": "<|endoftext|> line\\n line\\n ... <|endoftext|>, whole documents "
            "packed into rows",
        },
        "final_loss": round(sum(tail) / len(tail), 4),
        "final_loss_note": f"mean training loss (nats/token) over the last {len(tail)} steps",
        "data_seconds": round(t_data, 1),
        "training_seconds": round(train_s, 1),
        "total_seconds": round(time.perf_counter() - t0, 1),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
    }
    (out / "TRAINING.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    print(
        f"saved to {out}: final loss {info['final_loss']}, {n_params} parameters, "
        f"training {train_s:.1f} s, total {info['total_seconds']} s",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
