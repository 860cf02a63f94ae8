"""Measure the coverage of the mean's default 95% interval (``surprisal.stats.summarize``:
Student t below 5 items, the studentized bootstrap from 5) on normal, t3, lognormal and
80/20 bimodal data at n = 3, 5, 8, 15, 30; prints the table docs/concepts.md and
``surprisal.stats.summary.COVERAGE`` carry. Seeded; about a minute on 2 CPU cores.

    python scripts/coverage_table.py [reps]
"""

from __future__ import annotations

import sys

import numpy as np

from surprisal.stats import summarize

REPS = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
NS = (3, 5, 8, 15, 30)


def draws(name: str, rng: np.random.Generator, size: tuple[int, int]) -> tuple[np.ndarray, float]:
    """(values, true mean)."""
    if name == "normal":
        return rng.normal(size=size), 0.0
    if name == "t3":
        return rng.standard_t(3, size=size), 0.0
    if name == "lognormal":
        return rng.lognormal(0.0, 1.0, size=size), float(np.exp(0.5))
    # bimodal: 80% around 0, 20% around 6 (sd 1 each)
    hi = rng.random(size) < 0.2
    return rng.normal(size=size) + 6.0 * hi, 1.2


def main() -> None:
    print(f"coverage of 95% intervals, {REPS} samples per cell")
    print("distribution  " + "  ".join(f"n={n:<3d}" for n in NS))
    for name in ("normal", "t3", "lognormal", "bimodal"):
        row = []
        for n in NS:
            rng = np.random.default_rng(1000 + n)
            x, mu = draws(name, rng, (REPS, n))
            hit = 0
            for r in range(REPS):
                s = summarize(x[r], n_boot=2000, seed=r)
                hit += s.ci_low <= mu <= s.ci_high
            row.append(hit / REPS)
        print(f"{name:<13s} " + "  ".join(f"{c:.3f}" for c in row), flush=True)


if __name__ == "__main__":
    main()
