"""Timing helpers shared by the in-process benchmarks."""

from __future__ import annotations

import time
from collections.abc import Callable


def best_rate(run: Callable[[], None], count: int, repeat: int) -> float:
    """Events per second of the fastest of `repeat` runs (the least disturbed by other load)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return count / best
