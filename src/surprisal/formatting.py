"""Small text and JSON helpers shared by the result, record, statistics and report modules.

How an interval is printed beside its estimate, in every text and HTML report (:func:`ci`):
an interval from one item, or one of zero width (every value, or every bootstrap resample,
the same), measures no uncertainty, so it is printed as ``n/a`` with the reason, never as a
result (``[95% CI 5.267, 5.267]``). The numbers on the result objects are unchanged.

>>> ci(1.0, 2.0, level=0.95, spec=".3f")
'[95% CI 1.000, 2.000]'
>>> ci(5.267, 5.267, n=1, level=0.95)
'[95% CI n/a (n=1)]'
>>> ci(0.0, 0.0)
'[n/a (zero width: no variation to measure)]'
"""

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


def temperature_label(c: float | str) -> str:
    """``"T=0.7"`` for a temperature, the name itself for a named condition (``"reference"``)."""
    return c if isinstance(c, str) else f"T={c:g}"


def ci(
    lo: float, hi: float, *, n: int | None = None, spec: str = "+.3f", level: float | None = None
) -> str:
    """``[95% CI lo, hi]`` (``[lo, hi]`` without ``level``), each end in format ``spec``; or
    ``n/a`` and why, when ``n`` (the items the interval is from) is below 2 or the interval
    has zero width."""
    head = f"{level * 100:g}% CI " if level is not None else ""
    if n is not None and n < 2:
        return f"[{head}n/a (n={n})]"
    if math.isnan(lo) and math.isnan(hi):
        return f"[{head}n/a]"
    if math.isfinite(lo) and lo == hi:
        return f"[{head}n/a (zero width: no variation to measure)]"
    return f"[{head}{_cell(lo, spec)}, {_cell(hi, spec)}]"


def _cell(v: float, spec: str) -> str:
    return format(v, spec) if math.isfinite(v) else "n/a"
