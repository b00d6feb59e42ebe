"""Multiplexing and demultiplexing as state machines (sans-I/O, clocks injected).

:class:`Multiplexer` buffers parts for a window (the thesis used one message
period, 250 ms) and then yields one aggregate; it also closes a window early
when it holds ``max_parts`` parts or ``max_bytes`` of payload, so memory stays
bounded whatever the senders do. The I/O layer calls :meth:`Multiplexer.add`
for each message, and :meth:`Multiplexer.poll` at :meth:`Multiplexer.deadline`.

:class:`Demultiplexer` splits aggregates back into parts and keeps, per
source, the next expected sequence number, counting parts lost (a gap) and
repeated (a duplicate, which it drops).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from earlgate.gateway.aggregate import Part, decode, encode


@dataclass(slots=True)
class Batch:
    """An aggregate ready to send, with what it cost to build."""

    message: dict[str, Any]
    parts: int
    held_s: float  # how long its oldest part waited in the window
    build_s: float  # processing delay: time to assemble the aggregate


@dataclass
class Multiplexer:
    """Collects parts from many sources into one aggregate per window."""

    window: float = 0.25
    max_parts: int = 1000
    max_bytes: int = 256 * 1024
    clock: Callable[[], float] = time.monotonic
    timer: Callable[[], float] = time.perf_counter
    now_ms: Callable[[], float] = field(default=lambda: time.time() * 1000.0)
    _parts: list[Part] = field(default_factory=list, init=False)
    _bytes: int = field(default=0, init=False)
    _opened: float | None = field(default=None, init=False)
    _seq: dict[str, int] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        if not self.window > 0:
            raise ValueError("mux window must be > 0 seconds")
        if self.max_parts < 1 or self.max_bytes < 1:
            raise ValueError("mux max_parts and max_bytes must be >= 1")

    def add(
        self,
        src: str,
        data: Any,
        *,
        ts: float | None = None,
        dst: str | None = None,
        size: int | None = None,
    ) -> Batch | None:
        """Take one message; returns a batch when this message filled the window."""
        seq = self._seq.get(src, 0)
        self._seq[src] = seq + 1
        if size is None:
            size = len(orjson.dumps(data))
        if self._parts and self._bytes + size > self.max_bytes:
            full = self._flush()
            self._start()
            self._append(Part(src, seq, self.now_ms() if ts is None else ts, data, dst), size)
            return full
        if not self._parts:
            self._start()
        self._append(Part(src, seq, self.now_ms() if ts is None else ts, data, dst), size)
        if len(self._parts) >= self.max_parts or self._bytes >= self.max_bytes:
            return self._flush()
        return None

    def deadline(self) -> float | None:
        """Clock time at which the open window closes (None: nothing buffered)."""
        return None if self._opened is None else self._opened + self.window

    def poll(self) -> Batch | None:
        """The window's aggregate if its time has come."""
        due = self.deadline()
        if due is None or self.clock() < due:
            return None
        return self._flush()

    def flush(self) -> Batch | None:
        """Whatever is buffered, now (on shutdown)."""
        return self._flush() if self._parts else None

    @property
    def buffered(self) -> int:
        return len(self._parts)

    def _start(self) -> None:
        self._opened = self.clock()

    def _append(self, part: Part, size: int) -> None:
        self._parts.append(part)
        self._bytes += size

    def _flush(self) -> Batch:
        started = self.timer()
        parts, self._parts, self._bytes = self._parts, [], 0
        opened, self._opened = self._opened, None
        message = encode(parts)
        held = self.clock() - opened if opened is not None else 0.0
        return Batch(message, len(parts), held, self.timer() - started)


@dataclass
class SourceCounters:
    """What one source's sequence numbers say."""

    received: int = 0
    lost: int = 0
    duplicates: int = 0
    next_seq: int = 0


@dataclass
class Demultiplexer:
    """Splits aggregates into parts, dropping repeats and counting gaps per source."""

    timer: Callable[[], float] = time.perf_counter
    sources: dict[str, SourceCounters] = field(default_factory=dict)
    last_split_s: float = 0.0

    def split(self, message: object) -> list[Part]:
        """The new parts of ``message`` in order (raises ``AggregateError`` if malformed)."""
        started = self.timer()
        fresh: list[Part] = []
        for part in decode(message):
            counters = self.sources.get(part.src)
            if counters is None:
                # A source first seen mid-stream (we joined late) starts where it is.
                counters = self.sources[part.src] = SourceCounters(next_seq=part.seq)
            if part.seq < counters.next_seq:
                counters.duplicates += 1
                continue
            counters.lost += part.seq - counters.next_seq
            counters.next_seq = part.seq + 1
            counters.received += 1
            fresh.append(part)
        self.last_split_s = self.timer() - started
        return fresh
