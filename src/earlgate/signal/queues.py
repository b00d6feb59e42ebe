"""Messages held for peers that are not connected yet, and their expiry.

PEERJS.md: "If ``dst`` is not connected, the message is queued" and "A queue
that is not read within ``expire_timeout`` (default 5 s, checked every second)
expires: one ``{"type":"EXPIRE","src":<dst>,"dst":<src>}`` per (src,dst) pair
in it". A queue is read only when its peer connects, which empties and removes
it, so a queue's age is counted from its creation (PeerServer's
``MessageQueue.lastReadAt`` starts at creation). Queues live in a dict in
creation order, so a sweep stops at the first queue still young: it costs the
expired queues, not all of them.

Pure: the caller passes the time.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from earlgate.signal.messages import PeerId

__all__ = ["MessageQueues", "QueuedMessage"]


@dataclass(frozen=True, slots=True)
class QueuedMessage:
    """A frame, already rewritten for ``dst``, waiting for ``dst`` to connect."""

    src: PeerId
    dst: PeerId
    frame: bytes


@dataclass(slots=True)
class _Queue:
    created: float
    messages: list[QueuedMessage] = field(default_factory=list)


class MessageQueues:
    """One FIFO per absent peer, bounded in bytes all together.

    Args:
        max_bytes: frames held across all queues; a message past it is
            refused (PeerServer holds without bound).
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._queues: dict[PeerId, _Queue] = {}
        self.bytes = 0
        self.messages = 0

    def __len__(self) -> int:
        return len(self._queues)

    def __contains__(self, dst: object) -> bool:
        return dst in self._queues

    def __iter__(self) -> Iterator[PeerId]:
        return iter(self._queues)

    def add(self, message: QueuedMessage, now: float) -> bool:
        """Queue ``message`` for its ``dst``; False if that would pass ``max_bytes``."""
        if self.bytes + len(message.frame) > self.max_bytes:
            return False
        queue = self._queues.get(message.dst)
        if queue is None:
            queue = self._queues[message.dst] = _Queue(now)
        queue.messages.append(message)
        self.bytes += len(message.frame)
        self.messages += 1
        return True

    def drain(self, dst: PeerId) -> list[QueuedMessage]:
        """Remove and return ``dst``'s messages, oldest first (it has connected)."""
        queue = self._queues.pop(dst, None)
        if queue is None:
            return []
        self._account(queue)
        return queue.messages

    def discard(self, dst: PeerId) -> int:
        """Drop ``dst``'s messages without notice; return how many.

        checkBrokenConnections: "this.realm.clearMessageQueue(clientId)" when a
        silent peer is dropped.
        """
        return len(self.drain(dst))

    def expire(self, now: float, timeout: float) -> tuple[list[tuple[PeerId, PeerId]], int]:
        """Remove the queues ``timeout`` old or older.

        Returns:
            The distinct (src, dst) pairs of their messages in queue order (one
            EXPIRE is due for each), and how many messages were removed.
        """
        due: list[PeerId] = []
        for dst, queue in self._queues.items():
            # messagesExpire: "if (lastReadDiff < maxDiff) continue;"
            if now - queue.created < timeout:
                break
            due.append(dst)
        pairs: dict[tuple[PeerId, PeerId], None] = {}
        removed = 0
        for dst in due:
            queue = self._queues.pop(dst)
            self._account(queue)
            removed += len(queue.messages)
            for message in queue.messages:
                pairs[(message.src, message.dst)] = None
        return list(pairs), removed

    def _account(self, queue: _Queue) -> None:
        self.messages -= len(queue.messages)
        self.bytes -= sum(len(message.frame) for message in queue.messages)
