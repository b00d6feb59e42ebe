"""A connection's bounded send buffer and the slow-consumer policy.

websockets' broadcast guide: never await each client's send in turn, or the
slowest reader sets everyone's pace. The hub writes to a transport directly
while it accepts data; once the transport's own buffer crosses its high-water
mark (``pause``), frames queue here, bounded in bytes. Past the bound the
policy decides: drop the oldest queued frames (counted), or give up on the
connection. Pure: the transport's write function is injected.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from earlgate.hub.config import SlowConsumerPolicy


class SendQueue:
    """One connection's frames waiting for its transport to drain, bounded in bytes."""

    __slots__ = (
        "_queue",
        "_write",
        "disconnect_requested",
        "dropped",
        "dropped_unreported",
        "limit",
        "paused",
        "policy",
        "queued_bytes",
    )

    def __init__(
        self, write: Callable[[bytes], None], limit: int, policy: SlowConsumerPolicy
    ) -> None:
        self._write = write
        self.limit = limit
        self.policy = policy
        self.paused = False
        self._queue: deque[bytes] | None = None  # made at the first pause: ~600 B each
        self.queued_bytes = 0
        self.dropped = 0  # frames dropped by the policy since the connection opened
        self.dropped_unreported = 0  # not yet announced to the client
        self.disconnect_requested = False

    def __len__(self) -> int:
        return len(self._queue) if self._queue is not None else 0

    def send(self, raw: bytes) -> int:
        """Write or queue ``raw``; return how many frames the policy dropped."""
        if not self.paused and not self._queue:
            self._write(raw)
            return 0
        if self.disconnect_requested:
            return 1
        queue = self._queue
        if queue is None:
            queue = self._queue = deque()
        queue.append(raw)
        self.queued_bytes += len(raw)
        if self.queued_bytes <= self.limit:
            return 0
        if self.policy is SlowConsumerPolicy.DISCONNECT:
            self.disconnect_requested = True
            self.clear()
            return 0
        dropped = 0
        while self.queued_bytes > self.limit and len(queue) > 1:
            self.queued_bytes -= len(queue.popleft())
            dropped += 1
        self.dropped += dropped
        self.dropped_unreported += dropped
        return dropped

    def prepend(self, raw: bytes) -> None:
        """Queue ``raw`` ahead of everything queued (for notices about the queue)."""
        if self._queue is None:
            self._queue = deque()
        self._queue.appendleft(raw)
        self.queued_bytes += len(raw)

    def pause(self) -> None:
        self.paused = True

    def resume(self) -> None:
        """The transport drained: write what is queued until it pushes back again."""
        self.paused = False
        queue = self._queue
        while queue and not self.paused:
            raw = queue.popleft()
            self.queued_bytes -= len(raw)
            self._write(raw)
        if queue is not None and not queue and self._queue is queue:
            self._queue = None  # drained: an idle connection holds no deque

    def clear(self) -> None:
        self._queue = None
        self.queued_bytes = 0
