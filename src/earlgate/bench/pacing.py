"""Sends the load generator's firings when they are due, and measures its own lateness.

The schedule is :func:`earlgate.bench.arrival.firings`; this is the asyncio
layer around it. One loop timer is pending at a time: when it fires, every
firing due by then (within the loop's clock resolution, the same rule asyncio
applies to its own timers) is sent, and the timer is set for the next due time.
So a ``spread`` run at 9,000 publishers × 4 Hz costs one timer per message and
no heap of 9,000 handles, and nothing is grouped that the loop would not group.

Each send's lateness (the loop's time when it went out minus its due time) is
recorded, so a report can show that the generator kept up: a send more than
``late_after`` seconds behind is counted late. The wake-ups that sent are
counted too: sends per wake-up is how many messages actually left together
(with ``slots``, a group; otherwise what the loop's timing merged, e.g. when
the selector's 1 ms granularity lets several due times pass in one wait).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Any

from earlgate.bench.arrival import Firing
from earlgate.metrics.histogram import Histogram, bucket_of

__all__ = ["LATE_AFTER_S", "Pacer"]

# A send more than 2 ms after its due time counts as late: twice the 1 ms
# granularity of the selector's wait, so a late send was held up by something
# other than the wait's rounding (a busy loop, a descheduled process).
LATE_AFTER_S = 0.002


class Pacer:
    """Calls ``send(publishers)`` for each firing of ``plan`` due before ``stop_at``."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        plan: Iterator[Firing],
        send: Callable[[tuple[int, ...]], None],
        stop_at: float,
        *,
        late_after: float = LATE_AFTER_S,
    ) -> None:
        if late_after < 0:
            raise ValueError(f"late_after {late_after}: need >= 0 seconds")
        self._loop = loop
        self._plan = plan
        self._send = send
        self._stop_at = stop_at
        self._late_after = late_after
        self._resolution = time.get_clock_info("monotonic").resolution
        self._next = next(plan)
        self.sent = 0
        self.late = 0
        self.wakeups = 0
        self.lateness = Histogram()
        self.done = False

    def start(self) -> None:
        """Set the first timer; sends then follow until ``stop_at``."""
        self._loop.call_at(self._next[0], self._tick)

    def _tick(self) -> None:
        clock = self._loop.time
        horizon = clock() + self._resolution
        due, members = self._next
        lateness = self.lateness
        if due <= horizon and due < self._stop_at:
            self.wakeups += 1
        while due <= horizon:
            if due >= self._stop_at:
                self.done = True
                return
            behind = clock() - due
            self._send(members)
            count = len(members)
            self.sent += count
            if behind > self._late_after:
                self.late += count
            ns = int(behind * 1e9) if behind > 0 else 0
            lateness.counts[bucket_of(ns)] += count
            lateness.total += count
            lateness.sum_ns += ns * count
            if ns > lateness.max_ns:
                lateness.max_ns = ns
            due, members = self._next = next(self._plan)
        self._loop.call_at(due, self._tick)

    def statistics(self) -> dict[str, Any]:
        """Sends so far, how many were late, and the lateness distribution in ms."""
        return {
            "sent": self.sent,
            "sent_late": self.late,
            "wakeups": self.wakeups,
            "late_after_ms": self._late_after * 1000.0,
            "lateness_ms": self.lateness.summary_ms(),
        }
