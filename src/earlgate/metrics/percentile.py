"""The percentile of a list of values, shared by the benches and the live views (pure).

One definition of a percentile for every figure we print, so that a p99 in
one report means what it means in another: the nearest rank, the smallest
value with at least ``fraction`` of the values at or below it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

__all__ = ["percentile"]


def percentile(values: Iterable[float], fraction: float) -> float:
    """The nearest-rank percentile of ``values``, ``fraction`` in 0-1 (0.99: p99).

    Raises:
        ValueError: ``values`` is empty or ``fraction`` is outside 0-1.
    """
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction {fraction!r}: expected 0-1")
    ordered = sorted(values)
    if not ordered:
        raise ValueError("the percentile of no values")
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]
