"""Small text and JSON helpers shared by the result, record and report modules."""

from __future__ import annotations

import math
from typing import Any


def short(text: str, n: int = 40) -> str:
    """``text`` cut to ``n`` characters, an ellipsis marking the cut."""
    return text if len(text) <= n else text[: n - 1] + "\u2026"


def num(x: float) -> float | None:
    """A finite float, or None (JSON has no NaN or infinity; -inf is a top-k fill)."""
    return float(x) if math.isfinite(x) else None


def nan_to_none(x: Any) -> Any:
    """NaN floats to None, recursively through dicts and lists (JSON has no NaN)."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: nan_to_none(v) for k, v in x.items()}
    if isinstance(x, list):
        return [nan_to_none(v) for v in x]
    return x
