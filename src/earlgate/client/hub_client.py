"""``HubClient``: the asyncio client for the hub, with reconnect and resume.

What users of Socket.IO and MQTT clients complain about is what this client is
for: messages lost during a reconnect, silent disconnects, unbounded buffering.
It reconnects by itself with jittered exponential backoff, subscribes again to
everything it had, resumes durable subjects from the last ``_offset`` it saw
(no gap, no duplicate: PROTOCOL.md's ``since``/``epoch``), and buffers
publishes made while disconnected in a bounded queue that says so when full.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import ssl
import time
from collections import deque
from types import TracebackType
from typing import Any

import orjson
from picows import (
    WSCloseCode,
    WSFrame,
    WSListener,
    WSMsgType,
    WSTransport,
    ws_connect,
)

from earlgate.client.subscription import Subscription as Subscription
from earlgate.wire.subjects import check_pattern, check_subject, is_wildcard, matches

logger = logging.getLogger(__name__)


class HubClientError(Exception):
    """Root of the client's errors."""


class HubError(HubClientError):
    """The hub refused a frame; ``code`` is PROTOCOL.md's error code."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason


class QueueFullError(HubClientError):
    """The outgoing queue is full (the hub is unreachable or slower than the caller)."""


class ClosedError(HubClientError):
    """The client was closed."""


class _Listener(WSListener):
    def __init__(self, client: HubClient) -> None:
        super().__init__()
        self.client = client
        self.transport: WSTransport | None = None

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type in (WSMsgType.TEXT, WSMsgType.BINARY):
            try:
                message = orjson.loads(frame.get_payload_as_memoryview())
            except orjson.JSONDecodeError:
                logger.warning("hub sent a frame that is not JSON")
                return
            if isinstance(message, dict):
                self.client._on_message(message)
        elif frame.msg_type is WSMsgType.CLOSE:
            self.client.last_close = (int(frame.get_close_code().value), frame.get_close_reason())
            self.client._on_disconnected(self)  # from now on, publishes queue
            transport.send_close(frame.get_close_code())
            transport.disconnect()

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.client._on_disconnected(self)

    def pause_writing(self) -> None:
        self.client._paused = True

    def resume_writing(self) -> None:
        self.client._paused = False
        self.client._flush()


class HubClient:
    """A connection to a hub that survives disconnects.

    Use as ``async with HubClient(url) as client:``; ``publish`` and
    ``subscribe`` work before the first connection is up (they are queued).
    """

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        ssl_context: ssl.SSLContext | None = None,
        reconnect: bool = True,
        backoff_initial: float = 0.1,
        backoff_max: float = 5.0,
        queue_size: int = 10_000,
        subscription_size: int = 100_000,
        ack_timeout: float = 10.0,
        connect_timeout: float = 5.0,
    ) -> None:
        self.url = url
        self.token = token
        self.ssl_context = ssl_context
        self.reconnect = reconnect
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.queue_size = queue_size
        self.subscription_size = subscription_size
        self.ack_timeout = ack_timeout
        self.connect_timeout = connect_timeout
        self.connected = asyncio.Event()
        self.connects = 0  # successful connections so far
        self.last_close: tuple[int, str] | None = None
        self.last_error: BaseException | None = None
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._acking: dict[int, Subscription] = {}  # subscribe frames awaiting their ack
        self._subscriptions: list[Subscription] = []
        self._outgoing: deque[bytes] = deque()
        self._listener: _Listener | None = None
        self._paused = False
        self._closed = False
        self._runner: asyncio.Task[None] | None = None
        self._disconnected = asyncio.Event()

    # -- lifecycle --------------------------------------------------------

    async def __aenter__(self) -> HubClient:
        await self.connect()
        return self

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def connect(self, wait: bool = True) -> None:
        """Start the connection loop; with ``wait``, return once connected."""
        if self._runner is None:
            self._runner = asyncio.get_running_loop().create_task(self._run())
        if wait:
            waiter = asyncio.ensure_future(self.connected.wait())
            done, _ = await asyncio.wait(
                {waiter, self._runner}, return_when=asyncio.FIRST_COMPLETED
            )
            if waiter not in done:
                waiter.cancel()
                if self._runner.done() and not self._runner.cancelled():
                    self._runner.exception()  # retrieved here, raised below as ours
                error = self.last_error or ConnectionError(f"cannot connect to {self.url}")
                raise HubClientError(f"cannot connect to {self.url}: {error}") from error

    async def close(self) -> None:
        """Close the connection and stop reconnecting; pending acks fail."""
        if self._closed:
            return
        self._closed = True
        listener = self._listener
        if listener is not None and listener.transport is not None:
            with contextlib.suppress(Exception):
                self._flush()
                listener.transport.send_close(WSCloseCode.OK)
                listener.transport.disconnect()
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._runner
        for future in self._pending.values():
            if not future.done():
                future.set_exception(ClosedError("client closed"))
        self._pending.clear()
        for sub in self._subscriptions:
            sub.closed = True
            sub._ready.set()

    async def _run(self) -> None:
        delay = self.backoff_initial
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else None
        while not self._closed:
            try:
                _, listener = await asyncio.wait_for(
                    ws_connect(
                        lambda: _Listener(self),
                        self.url,
                        ssl_context=self.ssl_context,
                        extra_headers=headers,
                        max_frame_size=16 * 1024 * 1024,
                    ),
                    self.connect_timeout,
                )
            except Exception as exc:  # refused, handshake rejected, timed out
                self.last_error = exc
                if not self.reconnect:
                    raise
                logger.debug("connect to %s failed: %s", self.url, exc)
            else:
                assert isinstance(listener, _Listener)
                self._listener = listener
                self._disconnected.clear()
                self.connects += 1
                delay = self.backoff_initial
                self._on_connected()
                await self._disconnected.wait()
                if not self.reconnect:
                    return
            if self._closed:
                return
            # Full jitter: spread reconnects of many clients after a hub restart.
            await asyncio.sleep(random.uniform(0, delay))
            delay = min(delay * 2, self.backoff_max)

    def _on_connected(self) -> None:
        self._paused = False
        for sub in self._subscriptions:
            frame_id = next(self._ids)
            self._expect(frame_id, sub)
            self._send_now(orjson.dumps(sub._resubscribe_frame(frame_id)))
        self.connected.set()
        self._flush()

    def _on_disconnected(self, listener: _Listener) -> None:
        if listener is not self._listener:
            return
        self._listener = None
        self.connected.clear()
        self._disconnected.set()
        # Acks for frames sent on the lost connection will never come.
        for future in self._pending.values():
            if not future.done():
                future.set_exception(ConnectionError("connection to the hub lost"))
        self._pending.clear()

    # -- sending ----------------------------------------------------------

    def _send_now(self, raw: bytes) -> None:
        listener = self._listener
        assert listener is not None and listener.transport is not None
        listener.transport.send(WSMsgType.TEXT, raw)

    def _send(self, raw: bytes) -> None:
        if self._closed:
            raise ClosedError("client closed")
        if self._listener is not None and not self._paused and not self._outgoing:
            self._send_now(raw)
            return
        if len(self._outgoing) >= self.queue_size:
            raise QueueFullError(
                f"outgoing queue full ({self.queue_size} frames): "
                + ("hub not connected" if self._listener is None else "hub reads too slowly")
            )
        self._outgoing.append(raw)

    def _flush(self) -> None:
        while self._outgoing and self._listener is not None and not self._paused:
            self._send_now(self._outgoing.popleft())

    def _expect(self, frame_id: int, sub: Subscription | None = None) -> asyncio.Future[Any]:
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        if sub is not None:
            self._acking[frame_id] = sub
            future.add_done_callback(lambda _: self._acking.pop(frame_id, None))
        self._pending[frame_id] = future
        return future

    async def _request(self, frame: dict[str, Any]) -> dict[str, Any]:
        frame_id = next(self._ids)
        frame["id"] = frame_id
        future = self._expect(frame_id)
        try:
            self._send(orjson.dumps(frame))
        except HubClientError:
            self._pending.pop(frame_id, None)
            raise
        try:
            return await asyncio.wait_for(future, self.ack_timeout)
        finally:
            self._pending.pop(frame_id, None)

    async def publish(
        self,
        subject: str,
        data: Any = None,
        *,
        retain: bool = False,
        ack: bool = False,
        published: float | None = None,
        **fields: Any,
    ) -> None:
        """Publish ``data`` on ``subject``.

        With ``ack=True`` wait until the hub accepted it (stored, on a durable
        subject) and raise :class:`HubError` if it refused; otherwise return
        once the frame is written or queued.
        """
        check_subject(subject)
        frame: dict[str, Any] = {
            "type": "publish",
            "subject": subject,
            # Microsecond resolution: latencies on one machine are often under 1 ms.
            "published": round(time.time() * 1000, 3) if published is None else published,
            **fields,
        }
        if data is not None:
            frame["data"] = data
        if retain:
            frame["retain"] = True
        if ack:
            await self._request(frame)
        else:
            self._send(orjson.dumps(frame))

    async def refresh_token(self, token: str) -> list[str]:
        """Give the hub a fresh token before the current one expires.

        Used for reconnects from then on too. Returns the patterns the new
        token no longer allows (the hub dropped those subscriptions); raises
        :class:`HubError` (``forbidden``) when the hub refuses the token.
        """
        answer = await self._request({"type": "auth", "token": token})
        self.token = token
        revoked = answer.get("revoked", [])
        return [p for p in revoked if isinstance(p, str)]

    async def ping(self) -> float:
        """Round-trip time to the hub in seconds."""
        started = time.perf_counter()
        await self._request({"type": "ping"})
        return time.perf_counter() - started

    async def subscribe(
        self, pattern: str, *, last: bool = False, since: int | None = None, resume: bool = False
    ) -> Subscription:
        """Start receiving messages on ``pattern``; returns an async iterator.

        ``since`` (exact subjects only) replays stored messages after that offset.
        ``resume`` (any pattern over durable subjects) makes every reconnect
        resume from the last message seen of each subject, including subjects
        first published while disconnected.
        If connected, waits for the hub's ack and raises :class:`HubError` if it
        refused (bad subject, forbidden).
        """
        check_pattern(pattern)
        if since is not None and is_wildcard(pattern):
            raise ValueError("since needs a single subject: resume a pattern with resume=True")
        if since is not None and resume:
            raise ValueError("use since or resume, not both")
        sub = Subscription(self, pattern, last, since, self.subscription_size, resume)
        self._subscriptions.append(sub)
        if self._listener is not None:
            frame_id = next(self._ids)
            future = self._expect(frame_id, sub)
            self._send_now(orjson.dumps(sub._resubscribe_frame(frame_id)))
            try:
                await asyncio.wait_for(future, self.ack_timeout)
            except HubError:
                self._subscriptions.remove(sub)
                raise
            finally:
                self._pending.pop(frame_id, None)
        return sub

    async def unsubscribe(self, sub: Subscription) -> None:
        if sub in self._subscriptions:
            self._subscriptions.remove(sub)
            sub.closed = True
            sub._ready.set()
            if not any(s.pattern == sub.pattern for s in self._subscriptions):
                with contextlib.suppress(HubClientError):
                    self._send(orjson.dumps({"type": "unsubscribe", "subject": sub.pattern}))

    # -- receiving --------------------------------------------------------

    def _on_message(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        frame_id = message.get("id")
        if kind in ("ack", "pong", "error") and isinstance(frame_id, int):
            future = self._pending.get(frame_id)
            sub = self._acking.pop(frame_id, None)
            if sub is not None and kind == "ack":
                sub._acked(message)  # now: replayed messages may follow in this same read
            if future is not None and not future.done():
                if kind == "error":
                    future.set_exception(
                        HubError(str(message.get("code")), str(message.get("reason")))
                    )
                else:
                    future.set_result(message)
            return
        if kind == "error":
            logger.warning("hub error: %s %s", message.get("code"), message.get("reason"))
            return
        subject = message.get("subject")
        if not isinstance(subject, str):
            return
        for sub in self._subscriptions:
            if matches(sub.pattern, subject):
                sub._push(message)
