"""Progress bars (issue 24, item 9): one labelled bar per call, with a total (an ETA) on a
terminal; none when stderr is not a terminal unless asked (progress=True, --progress).

``_Bars`` stands in for tqdm and records each bar the package makes; a captured stderr is
not a terminal, and ``_Terminal`` is a stderr that says it is one.
"""

from __future__ import annotations

import io
import sys

import pytest

import surprisal
from surprisal import _progress, grammar
from surprisal.cli import main
from surprisal.corpus import score_to_file

TEXTS = [f"text {i}: the cat sat on the mat" for i in range(24)]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, lms):
    d = tmp_path_factory.mktemp("gpt2")
    lms["gpt2"].model.save_pretrained(d)
    lms["gpt2"].tokenizer.save_pretrained(d)
    return str(d)


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class _Bars:
    """Records every bar the package makes (its keywords, and the bar) instead of drawing."""

    def __init__(self, monkeypatch) -> None:
        self.made: list[dict] = []
        self.bars: list[_FakeBar] = []
        monkeypatch.setattr(_progress, "_make_bar", self._make)

    def _make(self, **kwargs):
        self.made.append(kwargs)
        self.bars.append(_FakeBar(kwargs))
        return self.bars[-1]

    @property
    def labels(self) -> list[str]:
        return [b["desc"] for b in self.made]


class _FakeBar:
    def __init__(self, kwargs) -> None:
        self.total, self.n = kwargs.get("total"), 0
        self.totals = [self.total]  # every total it was given (the ETA's estimates)

    def update(self, n: int) -> None:
        self.n += n

    def refresh(self) -> None:
        self.totals.append(self.total)

    def close(self) -> None:
        pass


def test_score_file_shows_one_labelled_bar_when_asked(model_dir, tmp_path, monkeypatch):
    bars = _Bars(monkeypatch)
    inp = tmp_path / "in.txt"
    inp.write_text("\n".join(f"text {i}" for i in range(30)) + "\n", encoding="utf-8")
    base = ["score", "--model", model_dir, str(inp), "--chunk-size", "4"]
    assert main([*base, "-o", str(tmp_path / "a.jsonl")]) == 0
    assert bars.made == []  # not a terminal, not asked
    assert main([*base, "-o", str(tmp_path / "b.jsonl"), "--progress"]) == 0
    assert bars.labels == ["scoring into b.jsonl"]
    assert bars.bars[0].total == 30 == bars.bars[0].n  # the input's lines, counted up front


def test_no_bar_into_a_log_even_for_a_long_call(gpt2_lm, capsys):
    """A captured stderr is not a terminal: a call of many batches draws nothing (it drew a
    bar before, and `surprisal demo` ~28 of them)."""
    surprisal.score(TEXTS, model=gpt2_lm, batch_tokens=16)
    grammar.membership(grammar.zoo["dyck1"], model=gpt2_lm, n=6, max_len=6, null_draws=1)
    err = capsys.readouterr().err
    assert "%|" not in err and "tok/s" not in err


def test_membership_is_one_labelled_bar_over_every_pass(gpt2_lm, monkeypatch):
    """The model and its two chance twins: one bar named for the call (not three named
    "surprisal"), whose total covers all three passes."""
    bars = _Bars(monkeypatch)
    grammar.membership("dyck1", model=gpt2_lm, n=6, max_len=6, null_draws=2, progress=True)
    assert bars.labels == ["membership dyck1"]
    bar = bars.bars[0]
    assert bar.n == bar.total and bar.total > 0
    assert bar.totals[0] == bar.total  # the first estimate: three passes of equal size


def test_a_terminal_gets_one_bar_per_long_call_and_none_for_a_short_one(gpt2_lm, monkeypatch):
    bars = _Bars(monkeypatch)
    monkeypatch.setattr(sys, "stderr", _Terminal())
    surprisal.score(TEXTS, model=gpt2_lm, batch_tokens=16)  # many batches
    assert bars.labels == ["surprisal"]
    surprisal.score(TEXTS[:2], model=gpt2_lm)  # one batch: a bar would only flash
    assert bars.labels == ["surprisal"]
    surprisal.score(TEXTS, model=gpt2_lm, batch_tokens=16, progress=False)
    assert bars.labels == ["surprisal"]


def test_score_to_file_bar_counts_texts_with_a_total(gpt2_lm, tmp_path, monkeypatch):
    bars = _Bars(monkeypatch)
    score_to_file(TEXTS, tmp_path / "s.jsonl", model=gpt2_lm, chunk_size=5, progress=True)
    assert bars.labels == ["scoring into s.jsonl"]
    assert bars.bars[0].total == len(TEXTS) == bars.bars[0].n
    assert bars.made[0]["unit"] == "text"
