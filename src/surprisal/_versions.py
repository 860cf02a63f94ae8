"""The versions a number was computed with: surprisal, torch and transformers."""

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
