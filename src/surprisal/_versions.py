"""The versions a result was computed with: surprisal, torch and transformers.

Written into every settings file (``*.meta.json``) and result's metadata, so a number can
be traced to the code that produced it.

>>> from surprisal._versions import versions
>>> sorted(versions())
['surprisal', 'torch', 'transformers']
"""

from __future__ import annotations

import functools
from importlib.metadata import PackageNotFoundError, version


@functools.cache
def versions() -> dict[str, str]:
    """``{"surprisal": ..., "torch": ..., "transformers": ...}`` of this process (torch's
    and transformers' installed distribution versions; "unknown" where one is not
    installed as a distribution)."""

    def of(dist: str) -> str:
        try:
            return version(dist)
        except PackageNotFoundError:
            return "unknown"

    return {
        "surprisal": of("surprisal-lm"),
        "torch": of("torch"),
        "transformers": of("transformers"),
    }
