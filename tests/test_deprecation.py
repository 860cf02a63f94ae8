"""The deprecation helper: FutureWarning (shown to users by default), a message that names
the replacement and the version that removes the old form, pointing at the user's line."""

from __future__ import annotations

import warnings

import pytest

from surprisal._deprecation import deprecated_positional, renamed_keyword, warn_deprecated


def _caught(fn, *args, **kwargs):
    with warnings.catch_warnings(record=True) as got:
        warnings.simplefilter("always")
        out = fn(*args, **kwargs)
    return out, got


def test_warn_deprecated_category_message_and_location():
    def api():
        warn_deprecated("generation(temperature=)", "sampling_temperature=", "0.3.0")

    _, got = _caught(api)
    assert len(got) == 1
    w = got[0]
    assert w.category is FutureWarning  # not DeprecationWarning: hidden from users by default
    msg = str(w.message)
    assert "generation(temperature=)" in msg
    assert "use sampling_temperature= instead" in msg
    assert "removed in surprisal 0.3.0" in msg
    assert w.filename == __file__  # the user's line (the caller of api), not the helper


def test_future_warning_is_shown_under_default_filters():
    # Python's default filters ignore DeprecationWarning outside __main__; FutureWarning is
    # always shown. Reset to the defaults and check the warning comes through.
    with warnings.catch_warnings(record=True) as got:
        warnings.resetwarnings()
        warn_deprecated("x", "y", "1.0.0")
    assert [w.category for w in got] == [FutureWarning]


def test_warn_deprecated_rejects_a_bad_version():
    with pytest.raises(ValueError, match="removed_in"):
        warn_deprecated("x", "y", "soon")


@deprecated_positional(
    ("model", "grammar", "n"),
    removed_in="0.3.0",
    when=lambda args, kwargs: "model" not in kwargs and len(args) == 1 and args[0] == "lm",
)
def _membership(grammar=None, *, model, n=10, seed=0):
    return grammar, model, n, seed


def test_deprecated_positional_new_form_is_silent():
    out, got = _caught(_membership, "g", model="lm", n=3)
    assert out == ("g", "lm", 3, 0)
    assert got == []
    out, got = _caught(_membership, model="lm")
    assert out == (None, "lm", 10, 0) and got == []


def test_deprecated_positional_old_order_maps_and_warns():
    out, got = _caught(_membership, "lm", "g")  # the old membership(model, grammar)
    assert out == ("g", "lm", 10, 0)
    assert len(got) == 1 and got[0].category is FutureWarning
    msg = str(got[0].message)
    assert "passing model to _membership() by position" in msg
    assert "_membership(grammar, model=...)" in msg and "0.3.0" in msg
    assert got[0].filename == __file__
    out, got = _caught(_membership, "lm", "g", 5)
    assert out == ("g", "lm", 5, 0)
    assert "model, n to _membership()" in str(got[0].message)
    # as many positional arguments as the new form: `when` tells the old call apart
    out, got = _caught(_membership, "lm", seed=2)
    assert out == (None, "lm", 10, 2)
    assert len(got) == 1 and "passing model" in str(got[0].message)


def test_deprecated_positional_errors_like_python():
    with pytest.raises(TypeError, match="multiple values for argument 'model'"):
        _membership("lm", "g", model="other")
    with pytest.raises(TypeError, match="positional arguments"):
        _membership("lm", "g", 5, 6)
    with pytest.raises(TypeError, match="has no parameters"):
        deprecated_positional(("nope",), "0.3.0")(_membership.__wrapped__)


@renamed_keyword("temperature", "sampling_temperature", removed_in="0.3.0")
def _generation(g, *, sampling_temperature=1.0):
    return sampling_temperature


def test_renamed_keyword():
    out, got = _caught(_generation, "g", sampling_temperature=0.7)
    assert out == 0.7 and got == []
    out, got = _caught(_generation, "g", temperature=0.5)
    assert out == 0.5
    assert len(got) == 1 and got[0].category is FutureWarning
    msg = str(got[0].message)
    assert "_generation(temperature=)" in msg and "sampling_temperature=" in msg
    assert "0.3.0" in msg
    with pytest.raises(TypeError, match="both temperature="):
        _generation("g", temperature=0.5, sampling_temperature=0.7)
    with pytest.raises(TypeError, match="no parameter"):
        renamed_keyword("a", "b", "0.3.0")(lambda *, c=1: c)
