"""The client's protocol state machine: what to send, and what a received frame means.

Pure: no asyncio, no sockets, no clock (the time a publish is stamped with is
passed in). The connection layer (:mod:`earlgate.client.hub_client`) feeds it
events and acts on what it answers:

- :meth:`ClientState.connected`: a connection is up. Every subscription is
  sent again (resuming from where it stands), then the publishes queued
  while away.
- :meth:`ClientState.frame_received`: a decoded frame from the hub. Returns
  events: :class:`Delivered` (a message queued on a subscription),
  :class:`Answered` / :class:`Refused` (the ack, pong or error for a frame id
  awaiting one), :class:`HubErrorReported` (an error not tied to one of our
  frames). Answers for ids nobody awaits are ignored.
- :meth:`ClientState.disconnected`: the connection is gone; returns the ids
  whose answers will never come.
- :meth:`ClientState.pause_writing` / :meth:`ClientState.resume_writing`: the
  transport's write buffer is full / drained again.

Frames leave through the ``write`` callable given at construction, one JSON
text frame at a time, synchronously: a ``pause_writing`` that the write
triggers stops the flush of the queue at the next frame.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from earlgate.client.errors import ClosedError, HubClientError, QueueFullError
from earlgate.client.resume import SubscriptionState
from earlgate.wire.subjects import check_subject, matches

Write = Callable[[bytes], None]

# Frame types that answer a frame of ours by its ``id`` (PROTOCOL.md).
ANSWERS = frozenset({"ack", "pong", "error"})


@dataclass(frozen=True)
class Delivered:
    """``message`` was queued on ``subscription`` (not a duplicate)."""

    subscription: SubscriptionState
    message: dict[str, Any]


@dataclass(frozen=True)
class Answered:
    """The hub acked (or ponged) frame ``id``; ``frame`` is its answer."""

    id: int
    frame: dict[str, Any]


@dataclass(frozen=True)
class Refused:
    """The hub answered frame ``id`` with an error.

    ``subscription`` is set when the frame was a (re)subscribe.
    """

    id: int
    code: str
    reason: str
    subscription: SubscriptionState | None = None


@dataclass(frozen=True)
class HubErrorReported:
    """An ``error`` frame that answers none of our frames: worth a log line."""

    code: str
    reason: str


Event = Delivered | Answered | Refused | HubErrorReported


class ClientState:
    """Subscriptions, frame ids awaiting an answer, and the bounded outgoing queue.

    Args:
        write: sends one text frame on the current connection; only called
            while connected.
        queue_size: frames held while disconnected or while the transport
            cannot take more; past it sending raises :class:`QueueFullError`.
    """

    def __init__(self, write: Write, queue_size: int = 10_000) -> None:
        self._write = write
        self.queue_size = queue_size
        self.subscriptions: list[SubscriptionState] = []
        self.online = False  # between connected() and disconnected()
        self.writable = True  # the transport takes more (no pause_writing pending)
        self.closed = False
        self._ids = itertools.count(1)
        # Frame ids awaiting an ack/pong/error; the subscription for a subscribe.
        self._pending: dict[int, SubscriptionState | None] = {}
        self._outgoing: deque[bytes] = deque()

    @property
    def pending(self) -> dict[int, SubscriptionState | None]:
        """A copy of the frame ids awaiting an answer."""
        return dict(self._pending)

    @property
    def queued(self) -> int:
        """Frames waiting in the outgoing queue."""
        return len(self._outgoing)

    # -- connection events -----------------------------------------------

    def connected(self) -> None:
        """A connection is up: subscribe again to everything, then flush the queue."""
        self.online = True
        self.writable = True
        for sub in self.subscriptions:
            self._write(orjson.dumps(sub.subscribe_frame(self._expect(sub))))
        self._flush()

    def disconnected(self) -> list[int]:
        """The connection is gone: from now on frames queue.

        Returns:
            The ids sent on the lost connection whose answers will never come.
        """
        self.online = False
        lost = list(self._pending)
        self._pending.clear()
        return lost

    def pause_writing(self) -> None:
        self.writable = False

    def resume_writing(self) -> None:
        self.writable = True
        self._flush()

    def close(self) -> None:
        """Send what is queued if the transport takes it; refuse anything more."""
        self.closed = True
        for sub in self.subscriptions:
            sub.closed = True
        if self.online:
            self._flush()

    # -- what the caller sends -------------------------------------------

    def publish(
        self,
        subject: str,
        data: Any = None,
        *,
        now: float,
        retain: bool = False,
        ack: bool = False,
        published: float | None = None,
        fields: dict[str, Any] | None = None,
    ) -> int | None:
        """Send or queue a ``publish`` frame.

        Args:
            now: the current time in seconds since the epoch; the frame's
                ``published`` (milliseconds) unless ``published`` is given.
            ack: give the frame an id and await its answer.

        Returns:
            The frame id with ``ack``, else ``None``.

        Raises:
            SubjectError: ``subject`` is not a valid subject.
            QueueFullError: the frame cannot be sent now and the queue is full.
            ClosedError: the client was closed.
        """
        check_subject(subject)
        frame: dict[str, Any] = {
            "type": "publish",
            "subject": subject,
            # Microsecond resolution: latencies on one machine are often under 1 ms.
            "published": round(now * 1000, 3) if published is None else published,
            **(fields or {}),
        }
        if data is not None:
            frame["data"] = data
        if retain:
            frame["retain"] = True
        if ack:
            return self.request(frame)
        self._send(orjson.dumps(frame))
        return None

    def request(self, frame: dict[str, Any]) -> int:
        """Send or queue ``frame`` with a fresh ``id`` that awaits an answer.

        Raises:
            QueueFullError: the frame cannot be sent now and the queue is full.
            ClosedError: the client was closed.
        """
        frame_id = self._expect(None)
        frame["id"] = frame_id
        try:
            self._send(orjson.dumps(frame))
        except HubClientError:
            del self._pending[frame_id]
            raise
        return frame_id

    def forget(self, frame_id: int) -> None:
        """Stop awaiting an answer for ``frame_id`` (timed out, cancelled)."""
        self._pending.pop(frame_id, None)

    def subscribe(self, sub: SubscriptionState) -> int | None:
        """Add a subscription; if connected, send its ``subscribe`` frame at once.

        Returns:
            The frame id whose ack says the hub took it, or ``None`` when not
            connected (it is sent on connecting).
        """
        self.subscriptions.append(sub)
        if not self.online:
            return None
        frame_id = self._expect(sub)
        self._write(orjson.dumps(sub.subscribe_frame(frame_id)))
        return frame_id

    def remove(self, sub: SubscriptionState) -> None:
        """Drop a subscription the hub refused (nothing to send)."""
        if sub in self.subscriptions:
            self.subscriptions.remove(sub)

    def unsubscribe(self, sub: SubscriptionState) -> bool:
        """Drop a subscription; tell the hub when no other one has its pattern.

        Returns:
            Whether ``sub`` was subscribed.
        """
        if sub not in self.subscriptions:
            return False
        self.subscriptions.remove(sub)
        sub.closed = True
        if not any(s.pattern == sub.pattern for s in self.subscriptions):
            try:
                self._send(orjson.dumps({"type": "unsubscribe", "subject": sub.pattern}))
            except HubClientError:
                pass  # closed or queue full: the hub forgets it with the connection
        return True

    # -- what the hub sends ----------------------------------------------

    def frame_received(self, frame: dict[str, Any]) -> list[Event]:
        """Turn a decoded frame from the hub into events (never raises on bad input)."""
        kind = frame.get("type")
        frame_id = frame.get("id")
        if kind in ANSWERS and isinstance(frame_id, int):
            if frame_id not in self._pending:
                return []  # not ours, or no longer awaited
            sub = self._pending.pop(frame_id)
            if kind == "error":
                return [Refused(frame_id, str(frame.get("code")), str(frame.get("reason")), sub)]
            if sub is not None:
                # docs/hub.md: "the ack comes first, then the retained/stored
                # messages": positions merge before the replay that follows.
                sub.acked(frame)
            return [Answered(frame_id, frame)]
        if kind == "error":
            return [HubErrorReported(str(frame.get("code")), str(frame.get("reason")))]
        subject = frame.get("subject")
        if not isinstance(subject, str):
            return []
        return [
            Delivered(sub, frame)
            for sub in self.subscriptions
            if matches(sub.pattern, subject) and sub.push(frame)
        ]

    # -- internals ---------------------------------------------------------

    def _expect(self, sub: SubscriptionState | None) -> int:
        frame_id = next(self._ids)
        self._pending[frame_id] = sub
        return frame_id

    def _send(self, raw: bytes) -> None:
        if self.closed:
            raise ClosedError("client closed")
        if self.online and self.writable and not self._outgoing:
            self._write(raw)
            return
        if len(self._outgoing) >= self.queue_size:
            raise QueueFullError(
                f"outgoing queue full ({self.queue_size} frames): "
                + ("hub not connected" if not self.online else "hub reads too slowly")
            )
        self._outgoing.append(raw)

    def _flush(self) -> None:
        while self._outgoing and self.online and self.writable:
            self._write(self._outgoing.popleft())
