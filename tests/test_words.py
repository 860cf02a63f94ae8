"""Word aggregation and the Pimentel & Meister (2024) beginning-of-word correction, by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

import surprisal
from surprisal.results import TextScore


def _ts(text, tokens, spans, lps, bow=None):
    return TextScore(
        text=text,
        token_ids=np.arange(len(tokens)),
        tokens=tokens,
        spans=np.array(spans, dtype=np.int64),
        logprobs=np.array(lps, dtype=np.float32),
        bow=None if bow is None else np.log(np.array(bow, dtype=np.float64)).astype(np.float32),
    )


def test_words_sum_their_tokens():
    ts = _ts(
        "The cat sat",
        ["The", "Ġc", "at", "Ġsat"],
        [(0, 3), (3, 5), (5, 7), (7, 11)],
        [-1.0, -2.0, -3.0, -4.0],
    )
    w = ts.words()
    assert w.words == ["The", "cat", "sat"]
    assert w.spans.tolist() == [[0, 3], [4, 7], [8, 11]]
    assert w.token_ranges.tolist() == [[0, 1], [1, 3], [3, 4]]
    assert w.surprisal().tolist() == pytest.approx([1.0, 5.0, 4.0])
    assert w.surprisal("bits").tolist() == pytest.approx(
        [1 / math.log(2), 5 / math.log(2), 4 / math.log(2)]
    )


def test_pimentel_meister_correction_by_hand():
    # bow[i]: probability that token i starts a new word, given everything before it;
    # bow[4]: after the last token (EOS counts as a word end).
    bow = [0.5, 0.9, 0.1, 0.8, 0.7]
    ts = _ts(
        "The cat sat",
        ["The", "Ġc", "at", "Ġsat"],
        [(0, 3), (3, 5), (5, 7), (7, 11)],
        [-1.0, -2.0, -3.0, -4.0],
        bow,
    )
    w = ts.words(correction="pimentel-meister")
    L = np.log
    want = [
        1 - L(0.9),  # "The": no word-start marker at the text start, so no denominator
        5 - L(0.8) + L(0.9),  # "cat" = Ġc at; ends where the next token starts a word
        4 - L(0.7) + L(0.8),  # "sat": the end of the text
    ]
    assert w.surprisal().tolist() == pytest.approx(want, abs=1e-6)
    assert w.correction == "pimentel-meister"


def test_whitespace_tokens_go_to_the_next_word_or_the_last():
    ts = _ts("a  b ", ["a", "Ġ", "Ġb", "Ġ"], [(0, 1), (1, 2), (2, 4), (4, 5)], [-1, -2, -3, -4])
    w = ts.words()
    assert w.words == ["a", "b"]
    assert w.token_ranges.tolist() == [[0, 1], [1, 4]]
    assert w.surprisal().sum() == pytest.approx(ts.total())


def test_whitespace_only_text_has_no_words():
    ts = _ts("  ", ["Ġ", "Ġ"], [(0, 1), (1, 2)], [-1, -2])
    assert ts.words().words == []


def test_correction_needs_bow_extra(gpt2_lm):
    s = surprisal.score(["The cat sat on the mat."], model=gpt2_lm)
    with pytest.raises(ValueError, match=r"extras=\['bow'\]"):
        s.words(correction="pimentel-meister")
    with pytest.raises(ValueError, match=r"correction must be None, 'pimentel-meister' or"):
        s.words(correction="pm")
    s = surprisal.score(
        ["The cat sat on the mat.", "  two  spaces "], model=gpt2_lm, extras=["bow"]
    )
    for ts in s:
        plain = ts.words()
        corr = ts.words(correction="pimentel-meister")
        assert plain.surprisal().sum() == pytest.approx(ts.total(), abs=1e-4)
        assert corr.words == plain.words
        # the correction telescopes: word-start terms cancel between neighbours
        bow = ts.bow.astype(np.float64)
        marked = [ts.tokens[a][0] in "Ġ▁" for a, _ in corr.token_ranges]
        start = sum(bow[a] for (a, _), m in zip(corr.token_ranges, marked, strict=True) if m)
        end = sum(bow[b] for _, b in corr.token_ranges)
        assert corr.surprisal().sum() == pytest.approx(ts.total() - end + start, abs=1e-4)


# ------------------------------------------------------------------ the Words object


def _cat_sat():
    return _ts(
        "The cat sat.",
        ["The", "Ġc", "at", "Ġsat", "."],
        [(0, 3), (3, 5), (5, 7), (7, 11), (11, 12)],
        [-1.0, -2.0, -3.0, -4.0, -0.5],
    )


def test_words_object_indexes_iterates_and_frames():
    w = _cat_sat().words()
    assert isinstance(w, surprisal.words.Words) and surprisal.WordScore is surprisal.words.Words
    assert len(w) == 3 and w.words == ["The", "cat", "sat."]
    assert w[1] == surprisal.words.Word("cat", (4, 7), (1, 3), 5.0)
    assert w[-1].text == "sat." and [x.text for x in w[0:2]] == ["The", "cat"]
    assert [x.surprisal_nats for x in w] == pytest.approx([1.0, 5.0, 4.5])
    with pytest.raises(IndexError):
        w[3]
    assert w.surprisal().dtype == np.float32 and w.surprisal("bits").dtype == np.float32
    assert w.surprisal("bits") == pytest.approx(np.array([1.0, 5.0, 4.5]) / math.log(2))
    assert w.total() == pytest.approx(10.5)
    df = w.to_pandas()
    assert list(df.columns) == [
        "word_index",
        "word",
        "start",
        "end",
        "token_start",
        "token_end",
        "surprisal",
    ]
    assert df["surprisal"].tolist() == pytest.approx([1.0, 5.0, 4.5])
    assert df.attrs["correction"] is None
    assert repr(w) == "Words(3 words, nats, correction=None: 'The' 1.00, 'cat' 5.00, 'sat.' 4.50)"


def test_scores_words_is_a_list_of_words(gpt2_lm):
    s = surprisal.score(["The cat sat on the mat.", "A dog."], model=gpt2_lm)
    ws = s.words()
    assert len(ws) == 2 and [len(w) for w in ws] == [6, 2]
    assert ws[1].words == ["A", "dog."] and next(iter(ws)).words[0] == "The"
    assert repr(ws) == "WordsList(2 texts, 8 words, correction=None)"
    for w, ts in zip(ws, s, strict=True):
        assert w.surprisal().dtype == np.float32
        # float32-consistent: the word sums equal the token sums to float32 precision
        assert float(w.surprisal().astype(np.float64).sum()) == pytest.approx(ts.total(), rel=1e-6)
    df = ws.to_pandas("bits")
    assert df["text_index"].tolist() == [0] * 6 + [1] * 2
    want = np.concatenate([ws[0].surprisal("bits"), ws[1].surprisal("bits")])
    assert df["surprisal"].to_numpy() == pytest.approx(want)
    assert [a.tolist() for a in ws.surprisal()] == [w.surprisal().tolist() for w in ws]


# ------------------------------------------------------------------ your own segmentation


def test_presplit_words_by_hand():
    ts = _cat_sat()
    w = ts.words(words=["The", "cat", "sat", "."])
    assert w.words == ["The", "cat", "sat", "."]
    assert w.spans.tolist() == [[0, 3], [4, 7], [8, 11], [11, 12]]
    assert w.token_ranges.tolist() == [[0, 1], [1, 3], [3, 4], [4, 5]]
    assert w.surprisal().tolist() == pytest.approx([1.0, 5.0, 4.0, 0.5])
    # a word may span whitespace ("cat sat"), and characters may be left out ("The")
    w = ts.words(words=["cat sat", "."])
    assert w.token_ranges.tolist() == [[0, 4], [4, 5]]  # "The" goes to the next word
    assert w.surprisal().tolist() == pytest.approx([10.0, 0.5])


def test_presplit_word_sharing_a_token_is_nan():
    ts = _ts(
        "The cat sat.",
        ["The", "Ġcat", "Ġsat."],
        [(0, 3), (3, 7), (7, 12)],
        [-1.0, -2.0, -3.0],
    )
    w = ts.words(words=["The", "cat", "sat", "."])
    assert w.surprisal()[:2].tolist() == pytest.approx([1.0, 2.0])
    assert np.isnan(w.surprisal()[2:]).all()  # "sat." is one token: it cannot be shared out
    assert w.token_ranges.tolist()[2:] == [[2, 3], [2, 3]]


def test_presplit_words_errors(gpt2_lm):
    s = surprisal.score(["The cat sat.", "A dog."], model=gpt2_lm, extras=["bow"])
    with pytest.raises(ValueError, match=r"word 1 'cow' for text 1 does not appear"):
        s.words(words=[["The", "cat", "sat."], ["A", "cow"]])
    with pytest.raises(ValueError, match="word 1 'The' for text 0 does not appear"):
        s.words(words=[["cat", "The"], ["A"]])  # out of order
    with pytest.raises(ValueError, match="one list of words per text: got 1 lists for 2"):
        s.words(words=[["The"]])
    with pytest.raises(ValueError, match="without a correction"):
        s.words("pimentel-meister", words=[["The"], ["A"]])
    with pytest.raises(TypeError, match="list of strings"):
        s.words(words=["The cat sat.", "A dog."])
    ws = s.words(words=[["The", "cat", "sat", "."], ["A", "dog", "."]])
    assert [len(w) for w in ws] == [4, 3]
    for w, ts in zip(ws, s, strict=True):  # GPT-2 style: "." is its own token here
        assert float(np.nansum(w.surprisal().astype(float))) == pytest.approx(ts.total(), rel=1e-6)


# ------------------------------------------------------------------ wordsprobability 0.17


def _wordsprobability_by_hand(lm, text):
    """The package's per-word formula, from float64 logits (tests/conftest.py), by loops."""
    import string

    from conftest import ref_logits

    tok = lm.tokenizer
    ids = tok(text, add_special_tokens=False)["input_ids"]
    pieces = tok.convert_ids_to_tokens(ids)
    seq = [tok.bos_token_id, *ids, tok.eos_token_id]
    p = ref_logits(lm.model, seq).exp().numpy()  # (T, V)
    V = p.shape[1]
    vocab = tok.get_vocab()
    bow_ids = {i for w, i in vocab.items() if w.startswith("Ġ")} | {tok.eos_token_id}
    weight = np.zeros(V)  # bos_fix weights: mid + punct + eos
    for w, i in vocab.items():
        if i >= V:
            continue
        is_bow = w.startswith("Ġ")
        is_punct = w[0] in string.punctuation and i != tok.eos_token_id
        useless = i >= tok.vocab_size
        weight[i] = (1 - is_bow - is_punct - useless) + is_punct
    weight[tok.eos_token_id] += 1

    def log_bow(j):  # before token j (j = len(ids): after the text)
        return math.log(sum(p[j, i] for i in bow_ids))

    out, cur, start = [], 0.0, 0
    for j, piece in enumerate(pieces):
        if j > 0 and piece.startswith("Ġ"):
            out.append(cur - log_bow(j))
            cur, start = 0.0, j
        if j == start:
            cur += log_bow(j) if j > 0 else math.log(float(p[0] @ weight))
        cur -= math.log(p[j, seq[j + 1]])
    out.append(cur - log_bow(len(ids)))
    return out


TEXTS = ["The cat sat on the mat.", "Colorless green ideas sleep furiously.", "a\tb c\rd  e"]


def test_wordsprobability_by_hand(gpt2_lm):
    s = surprisal.score(TEXTS, model=gpt2_lm, extras=["bow"])
    ws = s.words(correction="wordsprobability", model=gpt2_lm)
    assert ws[2].words == ["a\tb", "c\rd", "", "e"]  # tab and CR do not begin words there
    for text, w in zip(TEXTS, ws, strict=True):
        want = _wordsprobability_by_hand(gpt2_lm, text)
        assert w.surprisal().tolist() == pytest.approx(want, abs=1e-4)
        assert w.correction == "wordsprobability"
    # the two conventions differ (first-word term, newline/tab/CR masses)
    pm = s[0].words(correction="pimentel-meister").surprisal()
    assert np.abs(pm - ws[0].surprisal()).max() > 1e-3


def test_wordsprobability_matches_the_package(gpt2_lm, monkeypatch):
    wpm = pytest.importorskip("wordsprobability.main")
    from wordsprobability.models.bow_lm import GPT2BaseModel

    class Tiny(GPT2BaseModel):  # the package's GPT-2 class on our tiny model (no download)
        def _initialise_model(self):
            return gpt2_lm.model, gpt2_lm.tokenizer

    monkeypatch.setattr(wpm, "get_model", lambda name: Tiny())
    s = surprisal.score(TEXTS, model=gpt2_lm)
    for text, w in zip(TEXTS, s.words(correction="wordsprobability", model=gpt2_lm), strict=True):
        df = wpm.get_surprisal_per_word(text, "gpt2-small")
        assert len(df) == len(w)
        assert np.abs(df["surprisal"].to_numpy(dtype=float) - w.surprisal()).max() <= 1e-3


def test_wordsprobability_errors(gpt2_lm, llama_lm):
    s = surprisal.score(["The cat sat.", " padded "], model=gpt2_lm)
    with pytest.raises(ValueError, match="model=lm"):
        s.words(correction="wordsprobability")
    with pytest.raises(ValueError, match=r"text 1 starts or ends with whitespace.*strip"):
        s.words(correction="wordsprobability", model=gpt2_lm)
    with pytest.raises(ValueError, match="GPT-2-style"):
        surprisal.score(["The cat."], model=llama_lm)[0].words(
            correction="wordsprobability", model=llama_lm
        )
