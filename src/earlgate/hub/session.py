"""One client connection as the hub core sees it, independent of the transport.

A session owns its subscriptions, its access grants, its publish rate bucket and
its send queue. While a subscribe with ``last`` or ``since`` is being answered, live
messages for the session are held back and released after the replay, minus the
durable ones the replay already carried: PROTOCOL.md's "no gap and no duplicate".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import orjson

from earlgate.hub.auth import Grants
from earlgate.hub.config import SlowConsumerPolicy
from earlgate.hub.sendqueue import SendQueue

DROPPED_SUBJECT = "$hub/dropped"


class Closer(Protocol):
    def __call__(self, code: int, reason: str) -> None: ...


class TokenBucket:
    """Allows ``rate`` events per second on average, ``burst`` at once."""

    __slots__ = ("burst", "rate", "stamp", "tokens")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.stamp = now

    def take(self, now: float) -> bool:
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class Session:
    """Per-connection state of the hub core."""

    __slots__ = (
        "__weakref__",
        "_held",
        "_replayed",
        "bucket",
        "close",
        "closed",
        "grants",
        "name",
        "queue",
        "replaying",
        "subscriptions",
    )

    def __init__(
        self,
        write: Callable[[bytes], None],
        close: Closer,
        *,
        send_buffer: int,
        policy: SlowConsumerPolicy,
        grants: Grants | None = None,
        bucket: TokenBucket | None = None,
        name: str = "",
    ) -> None:
        self.queue = SendQueue(write, send_buffer, policy)
        self.close = close
        self.grants = grants
        self.bucket = bucket
        self.name = name
        self.subscriptions: set[str] = set()
        self.closed = False
        self.replaying = 0
        # Made by the first replay only: most connections never replay.
        self._held: list[tuple[str, bytes, int | None]] | None = None
        self._replayed: dict[str, int] | None = None

    def __repr__(self) -> str:
        return f"<Session {self.name} subs={len(self.subscriptions)}>"

    def deliver(self, subject: str, raw: bytes, offset: int | None) -> int:
        """Send a live message; return how many frames the slow-consumer policy dropped."""
        if self.replaying:
            if self._held is None:
                self._held = []
            self._held.append((subject, raw, offset))
            return 0
        return self.send(raw)

    def send(self, raw: bytes) -> int:
        dropped = self.queue.send(raw)
        if self.queue.disconnect_requested and not self.closed:
            self.closed = True
            self.close(1008, "slow consumer: send buffer limit exceeded")
        return dropped

    def begin_replay(self) -> None:
        self.replaying += 1

    def replayed(self, subject: str, offset: int) -> None:
        """Note that the replay carried ``subject`` up to ``offset``."""
        if self._replayed is None:
            self._replayed = {}
        if offset > self._replayed.get(subject, 0):
            self._replayed[subject] = offset

    def end_replay(self) -> int:
        """Release held live messages not already replayed; return frames dropped."""
        self.replaying -= 1
        if self.replaying:
            return 0
        held, self._held = self._held or [], None
        replayed, self._replayed = self._replayed or {}, None
        dropped = 0
        for subject, raw, offset in held:
            if offset is not None and offset <= replayed.get(subject, 0):
                continue
            dropped += self.send(raw)
        return dropped

    def pause_writing(self) -> None:
        self.queue.pause()

    def resume_writing(self) -> None:
        queue = self.queue
        if queue.dropped_unreported:
            # Tell the client where its gap is: before the frames still queued.
            count, queue.dropped_unreported = queue.dropped_unreported, 0
            notice = {"dropped": count, "total": queue.dropped}
            queue.prepend(
                orjson.dumps({"type": "publish", "subject": DROPPED_SUBJECT, "data": notice})
            )
        queue.resume()
