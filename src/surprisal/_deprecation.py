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

__all__ = ["renamed_keyword", "warn_deprecated"]

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
