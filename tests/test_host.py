"""The host-side fast paths against their plain twins: the Rust batch tokenizer against the
transformers call, the flat columns and the bulk writers against the per-record ones."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest
import torch

import surprisal
from surprisal.records import dumps_line, record, render, render_scores
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
    assert _parsed(got, fmt) == _parsed(want, fmt)
    # and from concatenated columns (a slice), too
    part = scored[1:]
    want_part = render(
        [
            record(r, i, ts, unit, False, ex, None)
            for r, i, ts in zip(ids[: len(part)], idx[: len(part)], part, strict=True)
        ],
        fmt,
        ex,
    )
    got_part = render_scores(part, ids[: len(part)], idx[: len(part)], fmt, unit, False, ex, None)
    assert _parsed(got_part, fmt) == _parsed(want_part, fmt)


def _parsed(text, fmt):
    """JSONL as the values it holds (the encoder may spell a float differently), CSV/TSV
    as the text itself."""
    return [json.loads(x) for x in text.splitlines()] if fmt == "jsonl" else text


def test_jsonl_lines_parse_back_to_the_numbers(scored):
    """The fast JSON encoder writes the float64 value of every number exactly, and null
    where a value is NaN."""
    ts = scored[0]
    rec = json.loads(dumps_line(record("a", 0, ts, "bits", False, EXTRAS, None)))
    want = record("a", 0, ts, "bits", False, EXTRAS, None)
    assert rec == want
    assert json.loads(dumps_line({"x": [float("nan"), None, 1e-5, 0.1]})) == {
        "x": [None, None, 1e-5, 0.1]
    }


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


# ---------------------------------------------------------------- pipeline


def test_score_iter_chunked_by_tokens_or_records_is_score():
    lm = tiny_lm("gpt2")
    texts = [f"text {k}: " + "word " * (k % 7) for k in range(40)] + TEXTS
    want = surprisal.score(texts, model=lm)
    for kw in ({}, {"chunk_size": 3}, {"batch_tokens": 64}):
        got = list(surprisal.score_iter(iter(texts), model=lm, **kw))
        assert [t.tokens for t in got] == [t.tokens for t in want]
        for a, b in zip(got, want, strict=True):
            np.testing.assert_allclose(a.logprobs, b.logprobs, rtol=0, atol=1e-5)


def test_a_large_score_call_is_tokenized_a_chunk_ahead_with_the_same_results(monkeypatch):
    """Past PIPELINE_MIN_CHUNKS chunks on an accelerator, score() tokenizes on the worker
    thread chunk by chunk; every field is that of the one-piece call (batching changes only float
    rounding), the columns are one set of arrays, and the counts add up."""
    from surprisal import core, pipeline

    lm = tiny_lm("gpt2")
    texts = [f"text {k}: " + "word " * (k % 9) for k in range(150)] + TEXTS
    want = surprisal.score(texts, model=lm, extras=EXTRAS, top_k=3)
    calls = []
    real = pipeline.encode_flat
    monkeypatch.setattr(pipeline, "encode_flat", lambda *a, **k: calls.append(1) or real(*a, **k))
    monkeypatch.setattr(pipeline, "MIN_CHUNK_TOKENS", 100)
    monkeypatch.setattr(core, "PIPELINE_MIN_CHUNKS", 3)
    monkeypatch.setattr(core, "PIPELINE_ON_CPU", True)  # on an accelerator by default
    got = surprisal.score(texts, model=lm, extras=EXTRAS, top_k=3, batch_tokens=8)
    assert len(calls) >= 3  # tokenized in chunks, on the worker
    a, b = got.columns(), want.columns()
    assert a is got.flat and a.texts == b.texts and a.tokens == b.tokens
    np.testing.assert_array_equal(a.bounds, b.bounds)
    np.testing.assert_array_equal(a.token_ids, b.token_ids)
    np.testing.assert_array_equal(a.spans, b.spans)
    np.testing.assert_allclose(a.logprobs, b.logprobs, rtol=0, atol=1e-5)
    assert list(a.extras) == list(b.extras)
    for k in a.extras:
        np.testing.assert_allclose(a.extras[k], b.extras[k], rtol=0, atol=1e-5)
    assert got.stats.tokens_scored == want.stats.tokens_scored
    assert [t.total() for t in got] == pytest.approx([t.total() for t in want], abs=1e-4)


def test_chunks_by_tokens_follow_the_measured_ratio():
    from surprisal.pipeline import _chunks

    items = ["abcd"] * 100  # 4 characters each
    sizes = [len(c) for c in _chunks(iter(items), str, 10, None, [2.0])]
    assert sizes == [5] * 20  # 10 tokens at 2 characters per token: 20 characters
    assert [len(c) for c in _chunks(iter(items), str, 10, 7, [2.0])] == [7] * 14 + [2]


def test_prefetch_raises_where_the_stream_fails_and_stops_when_closed():
    from surprisal.pipeline import prefetched

    tok = tiny_tokenizer("byte-bpe")

    def stream():
        yield from ["a b", "c d"]
        raise RuntimeError("the input broke")

    got = []
    with pytest.raises(RuntimeError, match="the input broke"):
        for chunk, kept, encs in prefetched(
            stream(), str, tok, parse_special_tokens=False, chunk_tokens=1, chunk_size=1
        ):
            got.append((chunk, kept, encs.bounds.tolist()))
    assert [c for c, _, _ in got] == [["a b"], ["c d"]]  # the chunks before it came first
    gen = prefetched(
        iter(["x"] * 1000), str, tok, parse_special_tokens=False, chunk_tokens=1, chunk_size=1
    )
    next(gen)
    gen.close()  # the worker stops; nothing hangs
    assert not any(t.name == "surprisal-tokenize" and t.is_alive() for t in threading.enumerate())


# ---------------------------------------------------------------- device-built masks


@pytest.mark.parametrize("arch", ["gpt2", "llama", "qwen2", "gpt_neox"])
@pytest.mark.parametrize("pack", [True, False])
def test_device_built_masks_give_transformers_numbers(arch, pack, monkeypatch):
    """The 4D masks built from sequence numbers (used on CUDA, here forced on the CPU)
    give the same scores as transformers' own masks, packed and padded, both sides."""
    from surprisal import masks

    lm = tiny_lm(arch)
    texts = [*TEXTS, "a much longer text than the others, " * 3]
    want = surprisal.score(texts, model=lm, pack=pack, batch_tokens=128)
    monkeypatch.setattr(masks, "DEVICES", ("cuda", "cpu"))
    assert masks.enabled(lm)  # passed its probe
    for side in ("right", "left"):
        got = surprisal.score(texts, model=lm, pack=pack, batch_tokens=128, padding_side=side)
        for a, b in zip(got, want, strict=True):
            np.testing.assert_allclose(a.logprobs, b.logprobs, rtol=0, atol=2e-5)


def test_device_masks_are_not_used_where_layers_slide_or_the_probe_fails(monkeypatch):
    from surprisal import masks

    monkeypatch.setattr(masks, "DEVICES", ("cuda", "cpu"))
    assert not masks.enabled(tiny_lm("gemma2"))  # sliding-window layers: their own masks
    lm = tiny_lm("gpt2")

    def no_causality(model, seq, dtype):  # a wrong mask: every token sees the whole row
        B, T = seq.shape
        return torch.ones(B, 1, T, T, dtype=torch.bool)

    monkeypatch.setattr(masks, "mask_for", no_causality)
    assert not masks.probe(lm.body, lm.model, lm.device, lm.dtype)  # caught: not used


def test_sequence_ids_and_mask_by_hand():
    from surprisal import masks

    pos = np.array([[0, 1, 0, 1, 2, 0]])  # two packed texts and a free tail
    seq = masks.sequence_ids(np.ones_like(pos), pos, packed=True)
    assert seq.tolist() == [[0, 0, 1, 1, 1, 2]]
    m = masks.device_mask(torch.from_numpy(seq), torch.float32, additive=False)[0, 0]
    assert m.int().tolist() == [
        [1, 0, 0, 0, 0, 0],
        [1, 1, 0, 0, 0, 0],
        [0, 0, 1, 0, 0, 0],
        [0, 0, 1, 1, 0, 0],
        [0, 0, 1, 1, 1, 0],
        [0, 0, 0, 0, 0, 1],
    ]
    pad = masks.sequence_ids(np.array([[1, 1, 0]]), np.array([[0, 1, 0]]), packed=False)
    assert pad.tolist() == [[0, 0, -1]]
    m = masks.device_mask(torch.from_numpy(pad), torch.float32, additive=True)[0, 0]
    lo = torch.finfo(torch.float32).min
    assert m.tolist() == [[0, lo, lo], [0, 0, lo], [lo, lo, 0]]  # padding: itself only
