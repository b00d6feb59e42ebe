"""The signaling socket of a :class:`~earlgate.rtc.peer.Peer`: connect, heartbeat, reconnect.

A peer's only I/O besides its RTCPeerConnections. What the frames mean is
:mod:`earlgate.rtc.protocol`; what to do about them is the peer's (the
``dispatch`` it gives). Established data connections do not depend on this
socket: when it drops it says ``disconnected`` and, with ``reconnect``, comes
back with the same id and token while the DataChannels go on.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
import urllib.request
from collections.abc import Callable
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection

from earlgate.rtc import protocol
from earlgate.rtc.errors import PeerError, PeerErrorType

__all__ = ["HEARTBEAT_INTERVAL", "RECONNECT_DELAYS", "SignalingSocket"]

logger = logging.getLogger("earlgate.rtc")

# peerjs: "pingInterval: 5000" (PEERJS.md: "HEARTBEAT (client sends every 5 s)").
HEARTBEAT_INTERVAL = 5.0
# Waits between reconnection attempts, then the last one again.
RECONNECT_DELAYS = (0.25, 0.5, 1.0, 2.0, 5.0)


class SignalingSocket:
    """One peer's WebSocket to the PeerServer, kept up in a background task.

    Args:
        host, port, path, key, secure, ssl_context: where the PeerServer is.
        token: the peer's token, the same on every reconnection.
        dispatch: called with each parsed frame; a :class:`PeerError` it raises
            (the server refused us) ends the socket and is reported.
        emit: the peer's events: ``open`` (id) again after a reconnection,
            ``disconnected`` (id), ``error`` (:class:`PeerError`).
        reconnect: reconnect by itself when the socket drops.
        heartbeat_interval: seconds between ``HEARTBEAT`` frames.
        debug: log each dropped socket.
    """

    def __init__(
        self,
        *,
        host: str,
        port: int,
        path: str,
        key: str,
        secure: bool,
        ssl_context: ssl.SSLContext | None,
        token: str,
        dispatch: Callable[[protocol.Event], None],
        emit: Callable[..., None],
        reconnect: bool = True,
        heartbeat_interval: float = HEARTBEAT_INTERVAL,
        debug: bool = False,
    ) -> None:
        self.host, self.port, self.path, self.key, self.secure = host, port, path, key, secure
        self.ssl_context = ssl_context
        self.token = token
        self.reconnect = reconnect
        self.heartbeat_interval = heartbeat_interval
        self.debug = debug
        self.id: str | None = None
        self.closed = False
        self._dispatch = dispatch
        self._emit = emit
        self._ws: ClientConnection | None = None
        self._runner: asyncio.Task[None] | None = None
        self._open = asyncio.Event()
        self._first: asyncio.Future[None] | None = None
        self._manual_disconnect = False
        self._tasks: set[asyncio.Task[None]] = set()

    def __repr__(self) -> str:
        return f"<Peer {self.id} at {self.host}:{self.port}>"

    @property
    def is_open(self) -> bool:
        """The server said ``OPEN`` and the socket is still up."""
        return self._open.is_set()

    @property
    def running(self) -> bool:
        """Connected or reconnecting, not stopped by :meth:`disconnect`."""
        return self._runner is not None and not self._runner.done() and not self._manual_disconnect

    async def wait_open(self) -> None:
        await self._open.wait()

    async def fetch_id(self) -> str:
        """Ask the server for a new peer id (``GET {path}{key}/id``)."""
        url = protocol.id_url(
            self.host, self.port, self.path, self.key, self.secure, str(time.time())
        )

        def get() -> str:
            with urllib.request.urlopen(url, timeout=5, context=self.ssl_context) as reply:
                return bytes(reply.read()).decode().strip()

        try:
            new_id = await asyncio.to_thread(get)
        except OSError as exc:
            message = f"could not get an id from {url}: {exc}"
            raise PeerError(PeerErrorType.NETWORK, message) from exc
        if not new_id:
            raise PeerError(PeerErrorType.SERVER_ERROR, f"{url} gave an empty id")
        return new_id

    async def start(self, peer_id: str) -> None:
        """Connect as ``peer_id`` and wait for ``OPEN``; keep reconnecting after that.

        Raises:
            PeerError: ``unavailable-id``, ``server-error``, ``invalid-key``,
                ``network`` (server unreachable) or ``socket-error``.
        """
        self.id = peer_id
        self._first = asyncio.get_running_loop().create_future()
        self._manual_disconnect = False
        self._runner = asyncio.create_task(self._run())
        try:
            await self._first
        except BaseException:
            await self.stop()
            raise

    async def disconnect(self) -> None:
        """Close the socket and stay away; ``disconnected`` is said if it was open."""
        self._manual_disconnect = True
        await self.stop()

    async def close(self) -> None:
        """Close the socket for good, without a ``disconnected`` event (the peer is destroyed)."""
        self.closed = True
        await self.stop()

    async def stop(self) -> None:
        """Cancel the background task and wait for it; :meth:`start` may follow."""
        runner, self._runner = self._runner, None
        if runner is not None:
            runner.cancel()
            await asyncio.wait([runner])

    async def _run(self) -> None:
        """Keep the signaling socket up: connect, read, reconnect."""
        attempt = 0
        while not self.closed and not self._manual_disconnect:
            assert self.id is not None
            url = protocol.socket_url(
                self.host, self.port, self.path, self.key, self.secure, self.id, self.token
            )
            try:
                async with websockets.connect(
                    url, ssl=self.ssl_context if self.secure else None, compression=None
                ) as ws:
                    self._ws = ws
                    attempt = 0
                    if self._first is not None and self._first.done():
                        # A reconnect: Node's PeerServer answers OPEN only if it had
                        # forgotten us; one that still knows our id and token just
                        # swaps the socket (PEERJS.md, WebSocket case 4).
                        self.set_open()
                    await self._serve(ws)
            except PeerError as exc:
                self._abort(exc)
                return
            except (OSError, websockets.InvalidHandshake, websockets.ConnectionClosed) as exc:
                if self._first is not None and not self._first.done():
                    self._abort(PeerError(PeerErrorType.NETWORK, f"cannot reach the server: {exc}"))
                    return
                if self.debug:
                    logger.debug("%r: signaling socket: %s", self, exc)
            finally:
                self._ws = None
                was_open = self._open.is_set()
                self._open.clear()
                if was_open and not self.closed:
                    self._emit("disconnected", self.id)
            if self._first is not None and not self._first.done():
                message = "the server closed the socket before OPEN"
                self._abort(PeerError(PeerErrorType.SOCKET_CLOSED, message))
                return
            if not self.reconnect or self._manual_disconnect or self.closed:
                return
            await asyncio.sleep(RECONNECT_DELAYS[min(attempt, len(RECONNECT_DELAYS) - 1)])
            attempt += 1

    def set_open(self) -> None:
        """The server knows us: the first ``OPEN`` ends :meth:`start`, a later one says ``open``."""
        if not self._open.is_set():
            self._open.set()
            if self._first is not None and not self._first.done():
                self._first.set_result(None)
            elif self._first is not None:
                self._emit("open", self.id)

    def _abort(self, error: PeerError) -> None:
        if self._first is not None and not self._first.done():
            self._first.set_exception(error)
        self._emit("error", error)

    async def _serve(self, ws: ClientConnection) -> None:
        heartbeat = asyncio.create_task(self._heartbeat(ws))
        try:
            async for frame in ws:
                self._dispatch(protocol.parse(frame))
        finally:
            heartbeat.cancel()

    async def _heartbeat(self, ws: ClientConnection) -> None:
        # Socket._scheduleHeartbeat: send {type: "HEARTBEAT"} every pingInterval.
        while True:
            await asyncio.sleep(self.heartbeat_interval)
            try:
                await ws.send(protocol.heartbeat())
            except websockets.ConnectionClosed:
                return

    def send(self, frame: str) -> None:
        """Send ``frame`` without waiting; dropped, with a warning, while the socket is down."""
        ws = self._ws
        if ws is None:
            logger.warning("%r: signaling socket down, dropped %s", self, frame[:80])
            return
        task = asyncio.ensure_future(ws.send(frame))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(_ignore_closed)


def _ignore_closed(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.debug("signaling send failed: %s", task.exception())
