"""What the hub measures about itself: the thesis's metrics, always on.

The thesis (chapter 2.6) measured message events per second, message service
time, event-loop lag (node-toobusy), response time, and CPU with sar. The hub
keeps counters and histograms here, cheap enough to update on every message,
and rolls a one-second window so that an experiment harness reading ``/stats``
every second sees per-second figures. Pure: the caller passes the clock and
CPU readings to :meth:`HubMetrics.tick`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from earlgate.metrics.histogram import Histogram


@dataclass
class WindowSample:
    """One closed window (normally one second) of the hub's activity."""

    start: float
    seconds: float
    messages_in: int
    messages_out: int
    bytes_in: int
    bytes_out: int
    connections_opened: int
    connections_closed: int
    dropped: int
    cpu_percent: float
    service_time: Histogram
    loop_lag: Histogram

    def as_dict(self) -> dict[str, Any]:
        per_s = 1.0 / self.seconds if self.seconds > 0 else 0.0
        return {
            "start": round(self.start, 3),
            "seconds": round(self.seconds, 3),
            "messages_in_per_s": round(self.messages_in * per_s, 1),
            "messages_out_per_s": round(self.messages_out * per_s, 1),
            "bytes_in_per_s": round(self.bytes_in * per_s, 1),
            "bytes_out_per_s": round(self.bytes_out * per_s, 1),
            "connections_opened_per_s": round(self.connections_opened * per_s, 1),
            "connections_closed_per_s": round(self.connections_closed * per_s, 1),
            "dropped_per_s": round(self.dropped * per_s, 1),
            "cpu_percent": round(self.cpu_percent, 1),
            "service_time_ms": self.service_time.summary_ms(),
            "loop_lag_ms": self.loop_lag.summary_ms(),
        }


@dataclass
class HubMetrics:
    """Counters (totals since start) plus the window being filled."""

    messages_in: int = 0
    messages_out: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    connections_open: int = 0
    connections_opened: int = 0
    connections_closed: int = 0
    subscriptions: int = 0
    http_requests: int = 0
    retained_deleted: int = 0  # retained publishes without data, which delete the value
    dropped: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    service_time: Histogram = field(default_factory=Histogram)  # cumulative
    loop_lag: Histogram = field(default_factory=Histogram)  # cumulative
    cpu_seconds: float = 0.0
    # The window being filled; merged into the cumulative histograms by tick().
    window_service_time: Histogram = field(default_factory=Histogram)
    window_loop_lag: Histogram = field(default_factory=Histogram)
    last: WindowSample | None = None
    _mark: tuple[float, float, int, int, int, int, int, int, int] | None = None

    def drop(self, reason: str, count: int = 1) -> None:
        self.dropped[reason] += count

    def error(self, code: str) -> None:
        self.errors[code] += 1

    def tick(self, now: float, cpu_seconds: float) -> WindowSample | None:
        """Close the current window at wall time ``now`` and open a new one."""
        self.cpu_seconds = cpu_seconds
        dropped = sum(self.dropped.values())
        counters = (
            self.messages_in,
            self.messages_out,
            self.bytes_in,
            self.bytes_out,
            self.connections_opened,
            self.connections_closed,
            dropped,
        )
        mark = self._mark
        service, lag = self.window_service_time, self.window_loop_lag
        self.window_service_time, self.window_loop_lag = Histogram(), Histogram()
        self.service_time.merge(service)
        self.loop_lag.merge(lag)
        self._mark = (now, cpu_seconds, *counters)
        if mark is None:
            return None
        start, cpu_before, *before = mark
        seconds = now - start
        d = [after - b for after, b in zip(counters, before, strict=True)]
        self.last = WindowSample(
            start=start,
            seconds=seconds,
            messages_in=d[0],
            messages_out=d[1],
            bytes_in=d[2],
            bytes_out=d[3],
            connections_opened=d[4],
            connections_closed=d[5],
            dropped=d[6],
            cpu_percent=100.0 * (cpu_seconds - cpu_before) / seconds if seconds > 0 else 0.0,
            service_time=service,
            loop_lag=lag,
        )
        return self.last

    def totals(self) -> dict[str, Any]:
        return {
            "messages_in": self.messages_in,
            "messages_out": self.messages_out,
            "bytes_in": self.bytes_in,
            "bytes_out": self.bytes_out,
            "connections_open": self.connections_open,
            "connections_opened": self.connections_opened,
            "connections_closed": self.connections_closed,
            "subscriptions": self.subscriptions,
            "http_requests": self.http_requests,
            "retained_deleted": self.retained_deleted,
            "dropped": dict(self.dropped),
            "errors": dict(self.errors),
            "cpu_seconds": round(self.cpu_seconds, 3),
            "service_time_ms": self.service_time.summary_ms(),
            "loop_lag_ms": self.loop_lag.summary_ms(),
        }
