"""Fewer event-loop wake-ups under light, spread-out traffic (``--coalesce-ms``).

With a thousand publishers each sending at its own phase, the hub's loop wakes
for almost every message: one ``epoll_wait`` return, a handful of events, back
to sleep. Each wake-up costs a kernel entry, a context switch and the loop's
own bookkeeping, whatever it brings. :class:`TurnCoalescer` lets a short turn
be followed by a pause that tops it up to ``window`` seconds, so the events
that arrive meanwhile are all returned by the next poll and handled in one
turn.

Bounds: a pause happens only in a turn that handled a message (an idle hub
blocks in its poll as before), at most once per turn, and lasts at most
``window`` (validated at most 10 ms), so no message, timer, heartbeat or
keep-alive waits longer than ``window`` beyond what it would have; a turn that
already took ``window`` is not paused at all, so a busy hub is never slowed.
:func:`pause_for` is the pure decision.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

__all__ = ["TurnCoalescer", "pause_for"]


def pause_for(started: float, now: float, window: float) -> float:
    """Seconds to pause at the end of a turn whose work began at ``started``.

    The remainder of ``window`` since ``started``; none when the turn already
    took that long (or the clock went backwards: then ``window`` at most).
    """
    return min(max(window - (now - started), 0.0), window)


class TurnCoalescer:
    """Pauses the loop at the end of short turns that handled messages.

    Call :meth:`note` for each message handled; the first note of a turn
    schedules one end-of-turn callback, which sleeps :func:`pause_for`.

    Args:
        window: seconds from the start of a turn's work to the next poll, > 0.
        loop: the loop to pause (default: the running one at the first note).
        clock: monotonic seconds; ``sleep``: blocks the thread (injected for tests).
    """

    __slots__ = (
        "_clock",
        "_loop",
        "_scheduled",
        "_sleep",
        "_started",
        "pauses",
        "paused_s",
        "window",
    )

    def __init__(
        self,
        window: float,
        loop: asyncio.AbstractEventLoop | None = None,
        clock: Callable[[], float] = time.perf_counter,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not window > 0:
            raise ValueError(f"coalescing window must be positive, not {window!r}")
        self.window = window
        self._loop = loop
        self._clock = clock
        self._sleep = sleep
        self._scheduled = False
        self._started = 0.0
        self.pauses = 0  # turns followed by a pause
        self.paused_s = 0.0  # seconds paused in all

    def note(self) -> None:
        """A message was handled in this turn."""
        if self._scheduled:
            return
        self._scheduled = True
        self._started = self._clock()
        loop = self._loop
        if loop is None:  # looked up once: get_running_loop costs a getpid system call
            loop = self._loop = asyncio.get_running_loop()
        loop.call_soon(self._end_of_turn)

    def _end_of_turn(self) -> None:
        self._scheduled = False
        pause = pause_for(self._started, self._clock(), self.window)
        if pause > 0:
            self.pauses += 1
            self.paused_s += pause
            self._sleep(pause)

    def statistics(self) -> dict[str, float]:
        """For ``/stats``: the window, and how often and how long the loop paused."""
        return {
            "window_ms": self.window * 1000.0,
            "pauses": self.pauses,
            "paused_s": round(self.paused_s, 4),
        }
