"""The host-side fast paths against their plain twins: the Rust batch tokenizer against the
transformers call, the flat columns and the bulk writers against the per-record ones."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import surprisal
from surprisal.records import record, render, render_scores
from surprisal.testing import tiny_lm, tiny_tokenizer
from surprisal.tokenize import _partition_many, encode, encode_flat

TEXTS = [
    "The cat sat.",
    "漢字🙂e\u0301 x",
    "<|endoftext|> <s> </s>",
    "",
    "  x  ",
    "\n\n tab\there\r\n",
    "z" * 40,
    "a",
]


class _Slow:
    """A tokenizer with no Rust backend: only the call and id-to-token lookups."""

    def __init__(self, tok):
        self._tok = tok

    def __call__(self, *a, **k):
        return self._tok(*a, **k)

    def convert_ids_to_tokens(self, ids):
        return self._tok.convert_ids_to_tokens(ids)

    def __len__(self):
        return len(self._tok)


def _reference(tok, texts, parse):
    """The transformers call, token by token: ids, spans from its offsets, token strings."""
    enc = tok(
        texts,
        add_special_tokens=False,
        return_offsets_mapping=True,
        split_special_tokens=not parse,
    )
    spans = _partition_many(enc["offset_mapping"], [len(t) for t in texts])
    ids = [list(i) for i in enc["input_ids"]]
    return ids, spans, [tok.convert_ids_to_tokens(i) for i in ids]


@pytest.mark.parametrize("kind", ["byte-bpe", "sentencepiece", "no-boundary"])
@pytest.mark.parametrize("parse", [False, True])
def test_rust_batch_encoder_matches_the_tokenizer_call(kind, parse):
    tok = tiny_tokenizer(kind)
    ids, spans, tokens = _reference(tok, TEXTS, parse)
    for source in (tok, _Slow(tok)):  # the Rust path and the fallback
        flat = encode_flat(source, TEXTS, parse_special_tokens=parse)
        assert flat.bounds.tolist() == np.cumsum([0] + [len(i) for i in ids]).tolist()
        for i, e in enumerate(encode(source, TEXTS, parse_special_tokens=parse)):
            assert e.ids == ids[i]
            assert e.spans.tolist() == spans[i].tolist()
            assert e.tokens == tokens[i]
            assert "".join(e.text[a:b] for a, b in e.spans) == e.text


def test_the_callers_tokenizer_is_not_reconfigured():
    tok = tiny_tokenizer("byte-bpe")
    tok.backend_tokenizer.enable_truncation(3)  # the caller's setting, not ours
    before = tok.backend_tokenizer.encode_special_tokens
    (e,) = encode(tok, ["The cat sat on the mat."])
    assert len(e.ids) > 3  # our copy does not truncate
    assert tok.backend_tokenizer.truncation is not None
    assert tok.backend_tokenizer.encode_special_tokens == before


def test_threads_share_a_tokenizer_without_already_borrowed():
    """Encoding from several threads while another thread reconfigures the tokenizer
    (what transformers does per call) neither raises "Already borrowed" nor changes ids."""
    tok = tiny_tokenizer("byte-bpe")
    texts = [f"{t} {k}" for k in range(50) for t in TEXTS]
    want = encode_flat(tok, texts).ids.tolist()
    errors: list[BaseException] = []
    stop = threading.Event()

    def encoder():
        try:
            for _ in range(20):
                assert encode_flat(tok, texts).ids.tolist() == want
        except BaseException as exc:
            errors.append(exc)

    def reconfigure():
        k = 0
        while not stop.is_set():
            tok(["x <|endoftext|>"], split_special_tokens=bool(k % 2))
            k += 1

    threads = [threading.Thread(target=encoder) for _ in range(3)]
    other = threading.Thread(target=reconfigure)
    other.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    other.join()
    assert not errors, errors


# ---------------------------------------------------------------- columns and writers

EXTRAS = ["entropy", "rank", "topk", "bow"]


@pytest.fixture(scope="module", params=["gpt2-bos", "no-boundary"])
def scored(request):
    if request.param == "gpt2-bos":
        lm = tiny_lm("gpt2")
    else:  # the first token of every text is NaN (no context)
        lm = tiny_lm("gpt2", tokenizer="no-boundary")
    texts = [*TEXTS, "one more text, longer than the others by a few words"]
    return surprisal.score(texts, model=lm, extras=EXTRAS, top_k=3)


def test_text_scores_are_views_of_the_flat_columns(scored):
    c = scored.columns()
    assert c is scored.flat
    for i, ts in enumerate(scored):
        a, b = c.bounds[i], c.bounds[i + 1]
        assert len(ts) == 0 or np.shares_memory(ts.logprobs, c.logprobs)
        assert np.array_equal(ts.logprobs, c.logprobs[a:b], equal_nan=True)
        assert ts.tokens == c.tokens[a:b]
        assert ts.bow is not None and len(ts.bow) == len(ts) + 1
    # A result put together otherwise gets its columns by concatenation, equal to these.
    part = scored[2:5]
    assert part.flat is None
    pc = part.columns()
    assert pc.texts == c.texts[2:5]
    lo, hi = c.bounds[2], c.bounds[5]
    assert np.array_equal(pc.logprobs, c.logprobs[lo:hi], equal_nan=True)
    assert np.array_equal(pc.extras["bow"], c.extras["bow"][lo + 2 : hi + 5], equal_nan=True)


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "tsv"])
@pytest.mark.parametrize("unit", ["nats", "bits"])
def test_bulk_rendering_is_the_per_record_rendering(scored, fmt, unit):
    ex = ["entropy", "rank", "bow"] + (["topk"] if fmt == "jsonl" else [])
    ids = [f"r{i}" for i in range(len(scored))]
    idx = list(range(10, 10 + len(scored)))
    want = render(
        [
            record(r, i, ts, unit, False, ex, "run1")
            for r, i, ts in zip(ids, idx, scored, strict=True)
        ],
        fmt,
        ex,
    )
    got = render_scores(scored, ids, idx, fmt, unit, False, ex, "run1")
    assert got == want
    # and from concatenated columns (a slice), too
    part = scored[1:]
    want_part = render(
        [
            record(r, i, ts, unit, False, ex, None)
            for r, i, ts in zip(ids, idx[: len(part)], part, strict=True)
        ],
        fmt,
        ex,
    )
    assert render_scores(part, ids[: len(part)], idx, fmt, unit, False, ex, None) == want_part


def test_to_records_is_record_by_record(scored):
    want = [record(str(i), i, t, "bits", False, EXTRAS, None) for i, t in enumerate(scored.items)]
    assert scored.to_records("bits") == want
    assert scored[3:].to_records() == [
        record(str(i), i, t, "nats", False, EXTRAS, None) for i, t in enumerate(scored[3:])
    ]


def test_to_pandas_rows_are_the_tokens(scored):
    df = scored.to_pandas("bits")
    rows = [(i, j, ts) for i, ts in enumerate(scored) for j in range(len(ts))]
    assert len(df) == len(rows)
    assert df["text_index"].tolist() == [i for i, _, _ in rows]
    assert df["token_index"].tolist() == [j for _, j, _ in rows]
    assert df["token"].tolist() == [ts.tokens[j] for _, j, ts in rows]
    assert df["piece"].tolist() == [ts.pieces[j] for _, j, ts in rows]
    assert df["start"].tolist() == [int(ts.spans[j, 0]) for _, j, ts in rows]
    got = df["surprisal"].to_numpy()
    want = np.array([-float(ts.logprobs[j]) / np.log(2) for _, j, ts in rows])
    assert np.allclose(got, want, equal_nan=True, rtol=1e-12, atol=0)
    bow = np.array([float(ts.bow[j]) for _, j, ts in rows])
    assert np.array_equal(df["bow"].to_numpy(), bow, equal_nan=True)
    assert df["topk_ids"].tolist() == [ts.topk_ids[j].tolist() for _, j, ts in rows]
