"""Bounded per-subject history with offsets: the in-memory durable store.

PROTOCOL.md, Order and delivery: durable subjects "store every message with a
monotonically increasing `_offset` and the store's `_epoch`". One counter
serves the whole store, so offsets never repeat within an epoch even when a
subject's ring is dropped and created again; per subject they increase, with
gaps. A ring per subject keeps the newest ``retention`` messages and remembers
the highest offset it ever evicted, which is what decides whether a replay is
complete. Pure: no clock, no I/O.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque

from earlgate.broker.base import Replay
from earlgate.wire.subjects import matches

SUBJECTS_PER_TURN = 4096  # subjects looked at between yields to the event loop


class SubjectRing:
    """The newest messages of one subject, each with its offset."""

    __slots__ = ("lost_upto", "messages")

    def __init__(self, retention: int, lost_upto: int) -> None:
        self.messages: deque[tuple[int, bytes]] = deque(maxlen=retention)
        # Messages with an offset up to this one may have existed and are gone.
        self.lost_upto = lost_upto

    def append(self, offset: int, raw: bytes) -> int:
        """Add a message; returns the size of the one the ring evicted (0: none)."""
        evicted = 0
        if len(self.messages) == self.messages.maxlen:
            self.lost_upto, old = self.messages[0]
            evicted = len(old)
        self.messages.append((offset, raw))
        return evicted

    def drop_oldest(self) -> int:
        """Evict the oldest message (for the store's byte bound); returns its size."""
        self.lost_upto, old = self.messages.popleft()
        return len(old)

    def after(self, since: int) -> tuple[bool, list[tuple[int, bytes]]]:
        """Messages with an offset above ``since``; ``False`` if some may be lost."""
        return since >= self.lost_upto, [(o, raw) for o, raw in self.messages if o > since]


class HistoryStore:
    """Rings for many subjects: at most ``max_subjects`` rings and ``max_bytes`` of frames.

    Rings are kept in the order they were last appended to. Over
    ``max_subjects``, the ring appended to least recently is dropped whole;
    over ``max_bytes``, the oldest messages of that ring go first (and the ring
    with them once empty). Either way the ring remembers, or the store's
    eviction count records, that a replay from before is incomplete.
    """

    def __init__(
        self,
        epoch: str,
        retention: int = 1000,
        max_subjects: int = 100_000,
        max_bytes: int = 512 * 1024 * 1024,
    ) -> None:
        if retention < 1:
            raise ValueError("retention must be at least 1 message")
        self.epoch = epoch
        self.retention = retention
        self.max_subjects = max_subjects
        self.max_bytes = max_bytes
        self.bytes = 0
        self.last_offset = 0
        self._rings: OrderedDict[str, SubjectRing] = OrderedDict()
        self.evicted_subjects = 0
        self.evicted_for_bytes = 0  # messages dropped to stay under max_bytes

    def __len__(self) -> int:
        return len(self._rings)

    def append(self, subject: str, raw: bytes) -> int:
        """Store ``raw`` (already carrying its offset) as the next message."""
        ring = self._rings.get(subject)
        if ring is None:
            if len(self._rings) >= self.max_subjects:
                self._drop_ring()
            # A subject seen before may have been evicted: anything older is unknown.
            lost = self.last_offset if self.evicted_subjects else 0
            ring = self._rings[subject] = SubjectRing(self.retention, lost)
        else:
            self._rings.move_to_end(subject)
        self.last_offset += 1
        self.bytes += len(raw) - ring.append(self.last_offset, raw)
        while self.bytes > self.max_bytes and self._rings:
            oldest = next(iter(self._rings.values()))
            self.bytes -= oldest.drop_oldest()
            self.evicted_for_bytes += 1
            if not oldest.messages:
                self._drop_ring()
        return self.last_offset

    def _drop_ring(self) -> None:
        _, ring = self._rings.popitem(last=False)
        self.bytes -= sum(len(raw) for _, raw in ring.messages)
        self.evicted_subjects += 1

    def replay(self, subject: str, since: int, epoch: str | None) -> Replay:
        if epoch is not None and epoch != self.epoch:
            # Offsets of another epoch mean nothing here: send all we have.
            ring = self._rings.get(subject)
            return Replay(self.epoch, False, list(ring.messages) if ring else [])
        if since > self.last_offset:
            return Replay(self.epoch, False, [])
        ring = self._rings.get(subject)
        if ring is None:
            return Replay(self.epoch, not self.evicted_subjects, [])
        complete, messages = ring.after(since)
        return Replay(self.epoch, complete, messages)

    async def positions(self, pattern: str, limit: int) -> dict[str, tuple[int, str]]:
        """Last offset of every stored subject matching ``pattern`` (at most ``limit`` + 1).

        A scan of the store's subjects, yielding to the event loop every
        :data:`SUBJECTS_PER_TURN` of them.
        """
        found: dict[str, tuple[int, str]] = {}
        for index, (subject, ring) in enumerate(list(self._rings.items())):
            if index and index % SUBJECTS_PER_TURN == 0:
                await asyncio.sleep(0)
            if ring.messages and matches(pattern, subject):
                found[subject] = (ring.messages[-1][0], self.epoch)
                if len(found) > limit:
                    break
        return found
