"""One bounded queue per destination, so a slow peer never holds up another.

Sending on a DataChannel never blocks in aiortc: what the SCTP association
cannot send yet waits in the channel and shows as ``bufferedAmount``, without
limit. The gateway hands a message to a destination's channel only while its
``bufferedAmount`` is under a high-water mark; past it, messages wait in the
destination's own queue of at most ``limit`` messages, the oldest dropped
(and counted) first, and the queue drains when the channel says
``bufferedamountlow`` (W3C WebRTC 6.2: "fire an event named
bufferedamountlow" once the amount falls to the threshold). Other
destinations keep their own queues and are never waited for (the broadcast
rule of websockets' docs: never ``await`` each client in turn).
"""

from __future__ import annotations

import logging
import time
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiortc.exceptions import InvalidStateError

from earlgate.gateway.metrics import RouteStats
from earlgate.rtc import DataConnection, DataConnectionError
from earlgate.rtc.events import guarded

__all__ = ["Item", "Outbox"]

logger = logging.getLogger("earlgate.gateway")


@dataclass(slots=True)
class Item:
    """A message for one destination, with the route it took and when it arrived."""

    value: Any
    route: RouteStats
    arrived_ns: int


class Outbox:
    """The messages waiting for one destination peer."""

    def __init__(
        self,
        peer: str,
        *,
        limit: int,
        high_water: int,
        clock_ns: Callable[[], int] = time.perf_counter_ns,
    ) -> None:
        if limit < 1 or high_water < 1:
            raise ValueError("outbox limit and high_water must be >= 1")
        self.peer = peer
        self.limit = limit
        self.high_water = high_water
        self.clock_ns = clock_ns
        self.conn: DataConnection | None = None
        self.queue: deque[Item] = deque()
        self.sent = 0
        self.dropped = 0  # oldest messages dropped because the queue was full
        self.failed = 0  # messages the channel refused (too big, wrong type, closed)
        self._hooked: weakref.WeakSet[DataConnection] = weakref.WeakSet()

    def __repr__(self) -> str:
        return f"<Outbox to {self.peer}: {len(self.queue)} queued>"

    @property
    def writable(self) -> bool:
        conn = self.conn
        return conn is not None and conn.open and conn.buffered_amount < self.high_water

    def attach(self, conn: DataConnection) -> None:
        """Send through ``conn`` from now on (the destination's newest open connection)."""
        self.conn = conn
        channel = conn.channel
        if channel is not None and conn not in self._hooked:
            self._hooked.add(conn)
            channel.bufferedAmountLowThreshold = self.high_water // 2

            def low() -> None:
                if self.conn is conn:
                    self.drain()

            channel.on("bufferedamountlow", guarded(low))
        self.drain()

    def detach(self, conn: DataConnection) -> None:
        if self.conn is conn:
            self.conn = None

    def put(self, item: Item) -> None:
        """Send now if the channel has room, else queue (dropping the oldest when full)."""
        if not self.queue and self.writable:
            self._send(item)
            return
        if len(self.queue) >= self.limit:
            old = self.queue.popleft()
            old.route.dropped["queue_full"] += 1
            self.dropped += 1
        self.queue.append(item)

    def drain(self) -> None:
        """Send queued messages while the channel has room."""
        while self.queue and self.writable:
            self._send(self.queue.popleft())

    def _send(self, item: Item) -> None:
        assert self.conn is not None
        try:
            self.conn.send(item.value)
        except (DataConnectionError, InvalidStateError, TypeError, ValueError) as exc:
            # Too big for the serialization, a type it cannot carry, or closing.
            logger.debug("%r: cannot send: %s", self, exc)
            item.route.dropped["send_failed"] += 1
            self.failed += 1
            return
        self.sent += 1
        item.route.messages_out += 1
        item.route.latency.record(self.clock_ns() - item.arrived_ns)
