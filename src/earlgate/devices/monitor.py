"""A live view of what flows through a hub: subjects, rates, latest values, latency.

The monitor is a subscriber like any dashboard. Its statistics are pure
(:class:`SubjectStats` takes receive times as arguments); the rich table is
rendered from them.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from rich.table import Table

from earlgate.metrics.percentile import percentile

WINDOW_S = 5.0


def _ms(values: list[float], fraction: float) -> str:
    """A latency percentile for the table; "-" without any (nothing yet, or no
    ``published`` time to measure from, as for MQTT publishers)."""
    return f"{percentile(values, fraction):.2f}" if values else "-"


@dataclass
class SubjectStats:
    """What one subject did recently."""

    count: int = 0
    latest: Any = None
    arrivals: deque[float] = field(default_factory=lambda: deque(maxlen=4096))
    latencies_ms: deque[float] = field(default_factory=lambda: deque(maxlen=1024))

    def add(self, message: dict[str, Any], received: float) -> None:
        self.count += 1
        self.latest = message.get("data")
        self.arrivals.append(received)
        published = message.get("published")
        if isinstance(published, int | float):
            self.latencies_ms.append(max(received * 1000.0 - published, 0.0))

    def rate(self, now: float) -> float:
        """Messages per second over the last few seconds (from inter-arrival times)."""
        recent = [t for t in self.arrivals if now - t <= WINDOW_S]
        span = recent[-1] - recent[0] if len(recent) > 1 else 0.0
        return (len(recent) - 1) / span if span > 0 else 0.0


@dataclass
class Monitor:
    subjects: dict[str, SubjectStats] = field(default_factory=dict)

    def add(self, message: dict[str, Any], received: float | None = None) -> None:
        subject = message.get("subject")
        if isinstance(subject, str):
            stats = self.subjects.setdefault(subject, SubjectStats())
            stats.add(message, time.time() if received is None else received)

    def latencies(self) -> list[float]:
        return [v for stats in self.subjects.values() for v in stats.latencies_ms]

    def table(self, now: float | None = None, hub_stats: dict[str, Any] | None = None) -> Table:
        now = time.time() if now is None else now
        all_latencies = self.latencies()
        title = (
            f"earlgate hub — publish→deliver latency p50 {_ms(all_latencies, 0.5)} ms"
            f", p99 {_ms(all_latencies, 0.99)} ms"
        )
        if hub_stats:
            last = hub_stats.get("last_second") or {}
            title += (
                f" · {last.get('messages_in_per_s', 0):.0f} in/s"
                f" · {last.get('messages_out_per_s', 0):.0f} out/s"
                f" · service p99 {last.get('service_time_ms', {}).get('p99', 0):.3f} ms"
                f" · loop lag p99 {last.get('loop_lag_ms', {}).get('p99', 0):.2f} ms"
            )
        table = Table(title=title, expand=True)
        table.add_column("subject")
        table.add_column("msgs", justify="right")
        table.add_column("rate/s", justify="right")
        table.add_column("p50 ms", justify="right")
        table.add_column("p99 ms", justify="right")
        table.add_column("latest value", overflow="fold")
        for subject in sorted(self.subjects):
            stats = self.subjects[subject]
            latencies = list(stats.latencies_ms)
            table.add_row(
                subject,
                str(stats.count),
                f"{stats.rate(now):.1f}",
                _ms(latencies, 0.5),
                _ms(latencies, 0.99),
                _short(stats.latest),
            )
        return table


def _short(value: Any) -> str:
    if isinstance(value, dict) and "object" in value and isinstance(value["object"], dict):
        obj = value["object"]
        return f"{obj.get('value')} {obj.get('unit', '')} (activity)"
    text = str(value)
    return text if len(text) <= 60 else text[:57] + "..."
