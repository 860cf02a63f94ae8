"""Input checks and small helpers shared by the statistics modules."""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

Alternative = Literal["two-sided", "greater", "less"]

#: Upper bound on the number of float64 cells materialised at once by the vectorised
#: resampling loops (8 MiB per array).
_CHUNK_CELLS = 1 << 20


# --------------------------------------------------------------------------------------
# validation helpers
# --------------------------------------------------------------------------------------


def check_nan(arr: np.ndarray, name: str) -> None:
    if arr.dtype.kind in "fc" and arr.size:
        bad = np.flatnonzero(np.isnan(arr.reshape(arr.shape[0], -1)).any(axis=1))
        if bad.size:
            raise ValueError(f"{name} contains NaN at index {int(bad[0])}")


def as_1d(x: ArrayLike, name: str = "x", *, allow_empty: bool = False) -> np.ndarray:
    """Convert to a 1-D float64 array, rejecting NaN (and emptiness unless allowed)."""
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.size == 0 and not allow_empty:
        raise ValueError(f"{name} is empty")
    check_nan(arr, name)
    return arr


def as_labels(labels: ArrayLike, n: int) -> np.ndarray:
    """Convert 0/1 or boolean labels to a bool array of length ``n``."""
    lab = np.asarray(labels)
    if lab.ndim != 1:
        raise ValueError(f"labels must be 1-D, got shape {lab.shape}")
    if lab.shape[0] != n:
        raise ValueError(f"length mismatch: {n} scores but {lab.shape[0]} labels")
    if lab.dtype == bool:
        return lab
    if lab.dtype.kind == "f":
        check_nan(lab, "labels")
    if lab.size and not np.all((lab == 0) | (lab == 1)):
        raise ValueError("labels must be boolean or 0/1")
    return lab.astype(bool)


def check_level(level: float) -> None:
    if not (0.0 < float(level) < 1.0):
        raise ValueError(f"level must be in (0, 1), got {level!r}")


def check_positive(value: int, name: str) -> int:
    if int(value) != value or int(value) < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def percentile_interval(boot: np.ndarray, level: float) -> tuple[float, float]:
    alpha = 1.0 - float(level)
    lo, hi = np.quantile(boot, [alpha / 2.0, 1.0 - alpha / 2.0])
    return float(lo), float(hi)


def chunk_rows(width: int) -> int:
    return max(1, _CHUNK_CELLS // max(1, width))
