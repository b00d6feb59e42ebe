"""Several messages in one WebSocket frame, for clients that ask for it.

A browser pays for every frame it receives (an IPC hop from the network
process, a task, an event), far more than for parsing the JSON in it; a hub
fanning thousands of messages a second into one page spends most of the
page's CPU on frames. A client that connects with ``?batch=1`` accepts
frames holding several JSON messages, one per line (JSON text never holds a
raw newline). What one loop turn writes to such a connection leaves as one
frame at the end of that turn, so batching adds no timer and no delay
beyond the turn; a batch is cut at ``max_bytes``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

__all__ = ["BatchFlusher", "LineBatch", "wants_batches"]


def wants_batches(query: dict[str, list[str]]) -> bool:
    """Whether a connection's query string asked for batched frames (``batch=1``)."""
    return query.get("batch", ["0"])[-1] in ("1", "true", "yes")


class LineBatch:
    """The messages one connection was given in this loop turn, not yet sent."""

    __slots__ = ("_flusher", "_parts", "_send", "_size", "max_bytes")

    def __init__(
        self, send: Callable[[bytes], None], flusher: BatchFlusher, max_bytes: int
    ) -> None:
        self._send = send
        self._flusher = flusher
        self.max_bytes = max_bytes
        self._parts: list[bytes] = []
        self._size = 0

    def __len__(self) -> int:
        return len(self._parts)

    def add(self, raw: bytes) -> None:
        """Hold ``raw`` for the end of the turn; send at once what would pass ``max_bytes``."""
        if self._parts and self._size + len(raw) + 1 > self.max_bytes:
            self.flush()
        if not self._parts:
            self._flusher.due(self)
        self._parts.append(raw)
        self._size += len(raw) + 1

    def flush(self) -> None:
        """Send what is held as one frame (before a close, or at the end of the turn)."""
        parts = self._parts
        if not parts:
            return
        self._parts = []
        self._size = 0
        self._send(parts[0] if len(parts) == 1 else b"\n".join(parts))


class BatchFlusher:
    """One callback per loop turn that sends every connection's held batch."""

    __slots__ = ("_due", "_loop", "_scheduled", "frames", "messages")

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self._loop = loop
        self._due: list[LineBatch] = []
        self._scheduled = False
        self.frames = 0  # batched frames sent
        self.messages = 0  # messages they held

    def due(self, batch: LineBatch) -> None:
        self._due.append(batch)
        if not self._scheduled:
            self._scheduled = True
            loop = self._loop
            if loop is None:  # looked up once: get_running_loop costs a getpid system call
                loop = self._loop = asyncio.get_running_loop()
            loop.call_soon(self.flush_all)

    def flush_all(self) -> None:
        self._scheduled = False
        due, self._due = self._due, []
        for batch in due:
            held = len(batch)
            if held:
                self.frames += 1
                self.messages += held
                batch.flush()
