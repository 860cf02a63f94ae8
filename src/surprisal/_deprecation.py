"""Deprecation warnings, one way for the whole package (the policy: docs/stability.md).

A public name, argument or calling form that is going away keeps working for at least one
minor version and warns with :class:`FutureWarning` (shown to users by default, unlike
``DeprecationWarning``, which Python hides outside ``__main__`` and test runners). The
message names what is deprecated, what to use instead and the version that removes it.

>>> import warnings
>>> with warnings.catch_warnings(record=True) as got:
...     warnings.simplefilter("always")
...     warn_deprecated("generation(temperature=)", "sampling_temperature=", "0.3.0")
>>> got[0].category.__name__, "removed in surprisal 0.3.0" in str(got[0].message)
('FutureWarning', True)
"""

from __future__ import annotations

import functools
import inspect
import re
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["deprecated_positional", "renamed_keyword", "warn_deprecated"]

F = TypeVar("F", bound=Callable[..., Any])

_VERSION = re.compile(r"^\d+\.\d+\.\d+$")


def warn_deprecated(what: str, instead: str, removed_in: str, *, stacklevel: int = 3) -> None:
    """Warn (:class:`FutureWarning`) that ``what`` is deprecated.

    Args:
        what: the deprecated thing as the user wrote it (``"membership(g, lm)"``).
        instead: what to write instead (``"membership(g, model=lm)"``).
        removed_in: the version (``"MAJOR.MINOR.PATCH"``) whose release removes it: at
            least one minor version after the one that first warns.
        stacklevel: as for :func:`warnings.warn`; the default (3) points at the caller of
            the function that calls this one, i.e. the user's line.
    """
    if not _VERSION.match(removed_in):
        raise ValueError(f"removed_in must be a version like '0.3.0', got {removed_in!r}")
    warnings.warn(
        f"{what} is deprecated and will be removed in surprisal {removed_in}; "
        f"use {instead} instead.",
        FutureWarning,
        stacklevel=stacklevel,
    )


def deprecated_positional(names: tuple[str, ...], removed_in: str) -> Callable[[F], F]:
    """Decorate a function whose parameters ``names`` became keyword-only: the old calls,
    which passed them by position, still work and warn.

    The decorated function declares ``names`` keyword-only (after ``*``); positional
    arguments beyond its positional parameters are mapped onto ``names`` in order, with a
    :class:`FutureWarning` naming the keyword form. Too many positional arguments, or one
    given both ways, raise :class:`TypeError` as Python would.

    >>> @deprecated_positional(("model",), removed_in="0.3.0")
    ... def membership(grammar, *, model=None, n=10):
    ...     return grammar, model, n
    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     membership("g", "lm")
    ('g', 'lm', 10)
    """

    def wrap(fn: F) -> F:
        sig = inspect.signature(fn)
        params = list(sig.parameters.values())
        n_pos = sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params)
        kw_only = {p.name for p in params if p.kind is p.KEYWORD_ONLY}
        missing = [n for n in names if n not in kw_only]
        if missing:
            raise TypeError(f"{fn.__qualname__}: {missing} are not keyword-only parameters")

        @functools.wraps(fn)
        def inner(*args: Any, **kwargs: Any) -> Any:
            if len(args) > n_pos:
                extra = args[n_pos:]
                if len(extra) > len(names):
                    raise TypeError(
                        f"{fn.__qualname__}() takes {n_pos} positional arguments but "
                        f"{len(args)} were given"
                    )
                moved = names[: len(extra)]
                for name, value in zip(moved, extra, strict=True):
                    if name in kwargs:
                        raise TypeError(
                            f"{fn.__qualname__}() got multiple values for argument {name!r}"
                        )
                    kwargs[name] = value
                shown = ", ".join(f"{n}=..." for n in moved)
                warn_deprecated(
                    f"passing {', '.join(moved)} to {fn.__qualname__}() by position",
                    f"the keyword form {fn.__qualname__}(..., {shown})",
                    removed_in,
                )
                args = args[:n_pos]
            return fn(*args, **kwargs)

        return inner  # type: ignore[return-value]

    return wrap


def renamed_keyword(old: str, new: str, removed_in: str) -> Callable[[F], F]:
    """Decorate a function whose keyword ``old`` was renamed ``new``: ``old=`` still works
    and warns; giving both is a :class:`TypeError`.

    >>> @renamed_keyword("temperature", "sampling_temperature", removed_in="0.3.0")
    ... def generation(*, sampling_temperature=1.0):
    ...     return sampling_temperature
    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     generation(temperature=0.5)
    0.5
    """

    def wrap(fn: F) -> F:
        if new not in inspect.signature(fn).parameters:
            raise TypeError(f"{fn.__qualname__} has no parameter {new!r}")

        @functools.wraps(fn)
        def inner(*args: Any, **kwargs: Any) -> Any:
            if old in kwargs:
                if new in kwargs:
                    raise TypeError(
                        f"{fn.__qualname__}() got both {old}= (deprecated) and {new}=; "
                        f"pass {new}= only"
                    )
                warn_deprecated(f"{fn.__qualname__}({old}=)", f"{new}=", removed_in)
                kwargs[new] = kwargs.pop(old)
            return fn(*args, **kwargs)

        return inner  # type: ignore[return-value]

    return wrap
