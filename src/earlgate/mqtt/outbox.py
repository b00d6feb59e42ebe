"""A connection's bounded send buffer for MQTT packets: only QoS 0 may be dropped.

The hub's slow-consumer rule, for MQTT: packets go straight to the transport
while it accepts data; once it pushes back they queue here, bounded by the
hub's ``send_buffer`` bytes. Past the bound the oldest queued QoS 0 PUBLISH
packets are dropped and counted (``drop-oldest``), or the connection is given
up on (``disconnect``). Acknowledgements and QoS 1 and 2 packets are never
dropped: the inflight window bounds the latter, and a client that sends
without reading is paused instead (:attr:`Outbox.over_limit`). Pure: the write
function is injected.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from earlgate.hub.config import SlowConsumerPolicy


class Outbox:
    """Packets waiting for one connection's transport to drain."""

    __slots__ = ("_queue", "_write", "dropped", "limit", "paused", "policy", "queued_bytes")

    def __init__(
        self, write: Callable[[bytes], None], limit: int, policy: SlowConsumerPolicy
    ) -> None:
        self._write = write
        self.limit = limit
        self.policy = policy
        self.paused = False
        self._queue: deque[tuple[bytes, bool]] = deque()
        self.queued_bytes = 0
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._queue)

    @property
    def over_limit(self) -> bool:
        return self.queued_bytes > self.limit

    def send(self, raw: bytes, droppable: bool) -> int:
        """Write or queue ``raw``; return how many QoS 0 packets were dropped."""
        if not self.paused and not self._queue:
            self._write(raw)
            return 0
        self._queue.append((raw, droppable))
        self.queued_bytes += len(raw)
        if self.queued_bytes <= self.limit or self.policy is SlowConsumerPolicy.DISCONNECT:
            return 0
        queue = self._queue
        kept: list[tuple[bytes, bool]] = []  # acknowledgements and QoS >= 1 at the front
        dropped = 0
        while queue and self.queued_bytes > self.limit:
            item = queue.popleft()
            if item[1]:
                self.queued_bytes -= len(item[0])
                dropped += 1
            else:
                kept.append(item)
        queue.extendleft(reversed(kept))
        self.dropped += dropped
        return dropped

    def pause(self) -> None:
        self.paused = True

    def resume(self) -> None:
        """The transport drained: write what is queued until it pushes back again."""
        self.paused = False
        queue = self._queue
        while queue and not self.paused:
            raw, _ = queue.popleft()
            self.queued_bytes -= len(raw)
            self._write(raw)

    def flush(self) -> None:
        """Hand everything queued to the transport (before it closes)."""
        self.paused = False
        self.resume()
