"""A mux rule's window in the gateway: its multiplexer and the timer that closes it.

The multiplexer (:class:`~earlgate.gateway.mux.Multiplexer`) is pure; the lane
gives it the event loop's clock, arms a timer at its deadline and hands each
aggregate to the gateway's ``deliver`` for the rule's target.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import orjson

from earlgate.gateway.mux import Batch, Multiplexer
from earlgate.gateway.outbox import Item
from earlgate.gateway.routes import Mux
from earlgate.gateway.stats import RouteStats

__all__ = ["PART_OVERHEAD", "MuxLane"]

# Per-part overhead of the aggregate envelope (src, seq, ts keys), for the size limit.
PART_OVERHEAD = 64


class MuxLane:
    """One mux rule's multiplexer and its window timer."""

    def __init__(
        self,
        rule: Mux,
        stats: RouteStats,
        deliver: Callable[[str, Item], None],
        *,
        window: float,
        max_parts: int,
        max_bytes: int,
    ) -> None:
        self.rule = rule
        self.stats = stats
        self.deliver = deliver
        self.loop = asyncio.get_running_loop()
        self.mux = Multiplexer(
            window=window, max_parts=max_parts, max_bytes=max_bytes, clock=self.loop.time
        )
        self._timer: asyncio.TimerHandle | None = None

    def add(self, src: str, value: Any) -> None:
        ts = value.get("ts") if isinstance(value, dict) else None
        if not isinstance(ts, int | float) or isinstance(ts, bool):
            ts = None  # no sender timestamp: the part carries its arrival time
        try:
            size = len(value) if isinstance(value, bytes) else len(orjson.dumps(value))
        except TypeError:
            self.stats.dropped["unserializable"] += 1
            return
        batch = self.mux.add(src, value, ts=ts, size=size + len(src) + PART_OVERHEAD)
        if batch is not None:
            self._emit(batch)
        self._arm()

    def _arm(self) -> None:
        deadline = self.mux.deadline()
        if deadline is not None and self._timer is None:
            self._timer = self.loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        batch = self.mux.poll()
        if batch is not None:
            self._emit(batch)
        self._arm()

    def _emit(self, batch: Batch) -> None:
        self.stats.processing.record(int(batch.build_s * 1e9))
        self.stats.parts_out += batch.parts
        arrived = time.perf_counter_ns() - int(batch.held_s * 1e9)
        self.deliver(self.rule.to, Item(batch.message, self.stats, arrived))

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch = self.mux.flush()
        if batch is not None:
            self._emit(batch)
