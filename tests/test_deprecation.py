"""The deprecation helper: FutureWarning (shown to users by default), a message that names
the replacement and the version that removes the old form, pointing at the user's line."""

from __future__ import annotations

import warnings

import pytest

from surprisal._deprecation import renamed_keyword, warn_deprecated


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
