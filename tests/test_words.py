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
    with pytest.raises(ValueError, match="correction must be"):
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
