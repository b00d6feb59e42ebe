"""When each publisher of the load generator sends: the arrival process, pure.

Three ways to pace N publishers that each send once per ``period``:

- ``slots``: the publishers are dealt into :data:`SLOTS` groups (publisher i
  in group ``i % SLOTS``) and a group's messages leave together, one group every
  ``period / SLOTS``. At 1,000 publishers that is 20 messages at once, which the
  hub handles in one loop turn: cheaper per message than independent devices
  would be. The plan the load generator always used, kept so older figures stay
  reproducible.
- ``spread`` (the default): publisher i has its own phase,
  ``period * (i + phase) / N``, and sends alone when due. Evenly spaced like
  devices with independent clocks, but reproducible.
- ``poisson``: each publisher's gaps are exponential with mean ``period``,
  seeded, so bursts happen as they would between unsynchronised devices.

:func:`firings` yields ``(due, publishers)`` in time order from a given start
(no clock is read here); the asyncio layer (:mod:`earlgate.bench.pacing`)
sends each firing when it is due.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Iterator

__all__ = [
    "ARRIVALS",
    "DEFAULT_ARRIVAL",
    "SLOTS",
    "Firing",
    "check_arrival",
    "describe",
    "due_times",
    "firings",
    "slot_groups",
]

ARRIVALS = ("slots", "spread", "poisson")
DEFAULT_ARRIVAL = "spread"
SLOTS = 50  # groups per period of the ``slots`` arrival

Firing = tuple[float, tuple[int, ...]]  # (due time, publishers that send then)

_DESCRIPTIONS = {
    "slots": f"publishers dealt into {SLOTS} groups per period, "
    "each group's messages sent together",
    "spread": "each publisher at its own phase of the period, sent alone when due",
    "poisson": "each publisher's gaps exponential with mean = period (seed {seed})",
}


def describe(arrival: str, seed: int = 0) -> str:
    """One line for a report: ``arrival: spread (each publisher at its own phase ...)``."""
    check_arrival(arrival)
    return f"arrival: {arrival} ({_DESCRIPTIONS[arrival].format(seed=seed)})"


def check_arrival(arrival: str) -> None:
    """Raises ValueError naming ``arrival`` and the choices unless it is in :data:`ARRIVALS`."""
    if arrival not in ARRIVALS:
        raise ValueError(f"arrival {arrival!r}: choose from {', '.join(ARRIVALS)}")


def slot_groups(publishers: int) -> list[tuple[int, ...]]:
    """The ``slots`` plan: ``min(SLOTS, publishers)`` groups, publisher i in ``i % groups``."""
    count = min(SLOTS, publishers)
    return [tuple(range(group, publishers, count)) for group in range(count)]


def firings(
    arrival: str,
    publishers: int,
    period: float,
    start: float,
    *,
    seed: int = 0,
    stream: int = 0,
    phase: float = 0.0,
) -> Iterator[Firing]:
    """Every send of ``publishers`` publishers from ``start`` on, in time order, forever.

    ``phase`` (0 <= phase < 1, in units of the gap between two publishers) shifts
    the ``spread`` phases, so that P load processes given phases 0, 1/P, ...
    interleave instead of sending together. ``seed`` and ``stream`` (e.g. the
    process's first publisher) pick the ``poisson`` draws: the same pair gives
    the same times. ``slots`` and ``spread`` use neither seed nor stream.

    Raises:
        ValueError: an unknown arrival, ``publishers < 1``, ``period <= 0`` or
            a phase outside [0, 1).
    """
    check_arrival(arrival)
    if publishers < 1:
        raise ValueError(f"publishers {publishers}: need at least 1")
    if not period > 0:
        raise ValueError(f"period {period}: need a period > 0 seconds")
    if not 0 <= phase < 1:
        raise ValueError(f"phase {phase}: need 0 <= phase < 1")
    if arrival == "slots":
        return _slots(publishers, period, start)
    if arrival == "spread":
        return _spread(publishers, period, start, phase)
    return _poisson(publishers, period, start, random.Random(f"{seed}/{stream}"))


def _slots(publishers: int, period: float, start: float) -> Iterator[Firing]:
    # The load generator's original arithmetic: a group is due at
    # start + period * group / groups, then each due plus period.
    groups = slot_groups(publishers)
    dues = [start + period * group / len(groups) for group in range(len(groups))]
    while True:
        for group, members in enumerate(groups):
            yield dues[group], members
            dues[group] = dues[group] + period


def _spread(publishers: int, period: float, start: float, phase: float) -> Iterator[Firing]:
    offsets = [period * (index + phase) / publishers for index in range(publishers)]
    singles = [(index,) for index in range(publishers)]
    for cycle in itertools.count():
        base = start + cycle * period
        for index in range(publishers):
            yield base + offsets[index], singles[index]


def _poisson(publishers: int, period: float, start: float, rng: random.Random) -> Iterator[Firing]:
    rate = 1.0 / period
    # Exponential gaps are memoryless, so the first send after ``start`` is one gap away.
    heap = [(start + rng.expovariate(rate), index) for index in range(publishers)]
    heapq.heapify(heap)
    singles = [(index,) for index in range(publishers)]
    while True:
        due, index = heap[0]
        yield due, singles[index]
        heapq.heapreplace(heap, (due + rng.expovariate(rate), index))


def due_times(plan: Iterator[Firing], publishers: int, until: float) -> list[list[float]]:
    """Each publisher's due times before ``until``, read off ``plan`` (for checks and plots)."""
    times: list[list[float]] = [[] for _ in range(publishers)]
    for due, members in plan:
        if due >= until:
            break
        for index in members:
            times[index].append(due)
    return times
