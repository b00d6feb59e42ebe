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
import logging
import random
import ssl
import time
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

from earlgate.client.errors import ClosedError as ClosedError
from earlgate.client.errors import HubClientError as HubClientError
from earlgate.client.errors import HubError as HubError
from earlgate.client.errors import QueueFullError as QueueFullError
from earlgate.client.state import (
    Answered,
    ClientState,
    Delivered,
    HubErrorReported,
    Refused,
)
from earlgate.client.subscription import Subscription as Subscription

logger = logging.getLogger(__name__)


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
        self.client._state.pause_writing()

    def resume_writing(self) -> None:
        self.client._state.resume_writing()


class HubClient:
    """A connection to a hub that survives disconnects.

    Use as ``async with HubClient(url) as client:``; ``publish`` and
    ``subscribe`` work before the first connection is up (they are queued).

    The protocol state (subscriptions, resume positions, frame ids awaiting an
    answer, the outgoing queue) is a :class:`~earlgate.client.state.ClientState`;
    this class connects, reconnects, writes what it says and turns its answers
    into futures.
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
        self._state = ClientState(self._write, queue_size)
        self._futures: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._listener: _Listener | None = None
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
        with contextlib.suppress(Exception):
            self._state.close()  # sends what is queued first
        if listener is not None and listener.transport is not None:
            with contextlib.suppress(Exception):
                listener.transport.send_close(WSCloseCode.OK)
                listener.transport.disconnect()
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._runner
        self._fail(self._state.disconnected(), ClosedError("client closed"))
        self._fail(list(self._futures), ClosedError("client closed"))
        for sub in self._state.subscriptions:
            if isinstance(sub, Subscription):
                sub._wake()

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
                self._state.connected()  # resubscribes, then what was queued
                self.connected.set()
                await self._disconnected.wait()
                if not self.reconnect:
                    return
            if self._closed:
                return
            # Full jitter: spread reconnects of many clients after a hub restart.
            await asyncio.sleep(random.uniform(0, delay))
            delay = min(delay * 2, self.backoff_max)

    def _on_disconnected(self, listener: _Listener) -> None:
        if listener is not self._listener:
            return
        self._listener = None
        self.connected.clear()
        self._disconnected.set()
        # Acks for frames sent on the lost connection will never come.
        self._fail(self._state.disconnected(), ConnectionError("connection to the hub lost"))

    # -- the state machine's I/O ------------------------------------------

    def _write(self, raw: bytes) -> None:
        listener = self._listener
        assert listener is not None and listener.transport is not None
        listener.transport.send(WSMsgType.TEXT, raw)

    def _fail(self, frame_ids: list[int], error: BaseException) -> None:
        for frame_id in frame_ids:
            future = self._futures.pop(frame_id, None)
            if future is not None and not future.done():
                future.set_exception(error)

    async def _answer(self, frame_id: int) -> dict[str, Any]:
        """Wait for the hub's answer to ``frame_id`` (raises :class:`HubError`)."""
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._futures[frame_id] = future
        try:
            return await asyncio.wait_for(future, self.ack_timeout)
        finally:
            self._futures.pop(frame_id, None)
            self._state.forget(frame_id)

    async def _request(self, frame: dict[str, Any]) -> dict[str, Any]:
        return await self._answer(self._state.request(frame))

    # -- the API ------------------------------------------------------------

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
        frame_id = self._state.publish(
            subject,
            data,
            now=time.time(),
            retain=retain,
            ack=ack,
            published=published,
            fields=fields,
        )
        if frame_id is not None:
            await self._answer(frame_id)

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
        sub = Subscription(self, pattern, last, since, self.subscription_size, resume)
        frame_id = self._state.subscribe(sub)
        if frame_id is not None:
            try:
                await self._answer(frame_id)
            except HubError:
                self._state.remove(sub)
                raise
        return sub

    async def unsubscribe(self, sub: Subscription) -> None:
        if self._state.unsubscribe(sub):
            sub._wake()

    # -- receiving --------------------------------------------------------

    def _on_message(self, message: dict[str, Any]) -> None:
        for event in self._state.frame_received(message):
            if isinstance(event, Delivered):
                if isinstance(event.subscription, Subscription):
                    event.subscription._wake()
            elif isinstance(event, Answered):
                future = self._futures.get(event.id)
                if future is not None and not future.done():
                    future.set_result(event.frame)
            elif isinstance(event, Refused):
                future = self._futures.get(event.id)
                if future is not None and not future.done():
                    future.set_exception(HubError(event.code, event.reason))
                elif event.subscription is not None:
                    logger.warning(
                        "hub refused resubscribing to %s: %s %s",
                        event.subscription.pattern,
                        event.code,
                        event.reason,
                    )
            elif isinstance(event, HubErrorReported):
                logger.warning("hub error: %s %s", event.code, event.reason)
