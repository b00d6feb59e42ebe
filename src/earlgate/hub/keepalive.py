"""Pings for idle WebSocket connections from one periodic sweep, not a task each.

picows's own auto-ping runs an asyncio task per connection (a coroutine, a
sleeping future and a timer: about 1.2 KiB an idle connection, docs/hub.md).
The hub's connections are stamped with the time of the last sweep when a frame
arrives instead, and one timer sweeps them all every eighth of the shorter of
``--ping-interval`` and ``--ping-timeout``: a connection that sent nothing for
the interval (up to a quarter of it more) is pinged, and one whose pong is
``--ping-timeout`` late (up to an eighth more) is closed with 1001. Pure: the
sweep's clock and the connections are the caller's.
"""

from __future__ import annotations

from enum import Enum

__all__ = ["Keepalive", "Verdict"]


class Verdict(Enum):
    WAIT = "wait"
    PING = "ping"
    CLOSE = "close"


class Keepalive:
    """When to ping an idle connection and when to give up on its pong."""

    __slots__ = ("interval", "now", "period", "timeout")

    def __init__(self, interval: float, timeout: float, now: float) -> None:
        if interval <= 0 or timeout <= 0:
            raise ValueError(f"ping interval {interval} and timeout {timeout} must be positive")
        self.interval = interval
        self.timeout = timeout
        self.period = min(interval, timeout) / 8  # seconds between sweeps
        self.now = now  # the last sweep's time: what a frame's arrival is stamped with

    def verdict(self, heard_at: float, pinged_at: float | None, now: float) -> Verdict:
        """What a connection last heard at ``heard_at`` (a sweep's time) needs at ``now``.

        ``pinged_at``: when its unanswered ping went out, None when none is.
        A stamp can be up to one period older than the frame it stands for,
        so a connection is pinged only once ``interval + period`` have passed
        since it: never before ``interval`` of real silence.
        """
        if pinged_at is not None:
            return Verdict.CLOSE if now - pinged_at >= self.timeout else Verdict.WAIT
        if now - heard_at >= self.interval + self.period:
            return Verdict.PING
        return Verdict.WAIT
