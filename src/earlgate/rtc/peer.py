"""``Peer``: a PeerJS peer in Python, on aiortc and a signaling WebSocket.

The asyncio API follows PeerJS's::

    async with Peer("sensor-1", host="127.0.0.1", port=9000) as peer:
        conn = await peer.connect("dashboard", serialization="json")
        conn.send({"t": 21.5})
        async for incoming in peer.connections():
            async for value in incoming: ...

The signaling socket is the only I/O here; what its frames mean is
:mod:`earlgate.rtc.protocol`. Established data connections do not depend on
it: when the socket drops, the peer says ``disconnected`` and (with
``reconnect=True``, the default) reconnects with the same id and token while
the DataChannels go on.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
import urllib.request
from collections.abc import AsyncIterator, Sequence
from typing import Any

import websockets
from aiortc import RTCConfiguration, RTCIceServer
from aiortc.rtcconfiguration import RTCIceTransportPolicy
from websockets.asyncio.client import ClientConnection

from earlgate.rtc import protocol
from earlgate.rtc.connection import DataConnection
from earlgate.rtc.errors import PeerError, PeerErrorType
from earlgate.rtc.events import EventEmitter
from earlgate.rtc.serialization import SERIALIZATIONS

__all__ = ["HEARTBEAT_INTERVAL", "Peer"]

logger = logging.getLogger("earlgate.rtc")

# peerjs: "pingInterval: 5000" (PEERJS.md: "HEARTBEAT (client sends every 5 s)").
HEARTBEAT_INTERVAL = 5.0
# Waits between reconnection attempts, then the last one again.
RECONNECT_DELAYS = (0.25, 0.5, 1.0, 2.0, 5.0)

IceServer = RTCIceServer | str


class Peer(EventEmitter):
    """One peer, known to the signaling server by ``id``.

    Args:
        id: our peer id; ``None`` asks the server for one.
        host, port, path, key, secure: where the PeerServer is (``secure``: TLS).
        ice_servers: STUN/TURN servers: :class:`aiortc.RTCIceServer` or URL strings.
            None are used by default (aiortc would otherwise reach for a public
            STUN server, PEERJS.md).
        ice_transport_policy: ``"all"``, or ``"relay"`` to use TURN relays only.
        reconnect: reconnect to the server by itself when the socket drops.
        ssl_context: for ``secure`` servers with their own CA.

    Events: ``open`` (id), ``connection`` (DataConnection), ``disconnected``,
    ``close``, ``error`` (:class:`PeerError`).
    """

    def __init__(
        self,
        id: str | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 9000,
        path: str = "/",
        key: str = "peerjs",
        secure: bool = False,
        ice_servers: Sequence[IceServer] = (),
        ice_transport_policy: str = "all",
        reconnect: bool = True,
        heartbeat_interval: float = HEARTBEAT_INTERVAL,
        ssl_context: ssl.SSLContext | None = None,
        debug: bool = False,
    ) -> None:
        super().__init__()
        if id is not None and not protocol.is_valid_id(id):
            raise ValueError(f"invalid-id: {id!r} is not a valid peer id")
        if ice_transport_policy not in ("all", "relay"):
            raise ValueError("ice_transport_policy is 'all' or 'relay'")
        self.id = id
        self.host, self.port, self.path, self.key, self.secure = host, port, path, key, secure
        self.configuration = RTCConfiguration(
            iceServers=[s if isinstance(s, RTCIceServer) else RTCIceServer(s) for s in ice_servers],
            iceTransportPolicy=RTCIceTransportPolicy(ice_transport_policy),
        )
        self.auto_reconnect = reconnect
        self.heartbeat_interval = heartbeat_interval
        self.ssl_context = ssl_context
        self.debug = debug
        self.token = protocol.new_token()
        self._connections: dict[tuple[str, str], DataConnection] = {}
        self._incoming: asyncio.Queue[DataConnection | None] = asyncio.Queue()
        self._ws: ClientConnection | None = None
        self._runner: asyncio.Task[None] | None = None
        self._open = asyncio.Event()
        self._first: asyncio.Future[None] | None = None
        self.destroyed = False
        self._manual_disconnect = False

    def __repr__(self) -> str:
        return f"<Peer {self.id} at {self.host}:{self.port}>"

    # -- state ----------------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        """Connected to the server (peerjs ``peer.open``)."""
        return self._open.is_set()

    @property
    def disconnected(self) -> bool:
        """The signaling socket is down (peerjs ``peer.disconnected``)."""
        return not self._open.is_set()

    @property
    def connections_by_peer(self) -> dict[str, list[DataConnection]]:
        """Open and opening data connections, by remote peer id."""
        result: dict[str, list[DataConnection]] = {}
        for (peer, _), conn in self._connections.items():
            result.setdefault(peer, []).append(conn)
        return result

    async def wait_open(self) -> None:
        """Wait until the signaling socket is (again) open."""
        await self._open.wait()

    # -- signaling socket -------------------------------------------------------

    async def open(self) -> str:
        """Get an id if we have none, connect to the server, wait for ``OPEN``.

        Raises:
            PeerError: ``unavailable-id``, ``server-error``, ``invalid-key``,
                ``network`` (server unreachable) or ``socket-error``.
        """
        if self.destroyed:
            raise PeerError(PeerErrorType.DISCONNECTED, "this peer was destroyed")
        if self.id is None:
            self.id = await self._fetch_id()
        self._first = asyncio.get_running_loop().create_future()
        self._manual_disconnect = False
        self._runner = asyncio.create_task(self._run())
        try:
            await self._first
        except BaseException:
            await self._stop_runner()
            raise
        self.emit("open", self.id)
        return self.id

    async def _fetch_id(self) -> str:
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

    async def _run(self) -> None:
        """Keep the signaling socket up: connect, read, reconnect."""
        attempt = 0
        while not self.destroyed and not self._manual_disconnect:
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
                        self._set_open()
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
                if was_open and not self.destroyed:
                    self.emit("disconnected", self.id)
            if self._first is not None and not self._first.done():
                message = "the server closed the socket before OPEN"
                self._abort(PeerError(PeerErrorType.SOCKET_CLOSED, message))
                return
            if not self.auto_reconnect or self._manual_disconnect or self.destroyed:
                return
            await asyncio.sleep(RECONNECT_DELAYS[min(attempt, len(RECONNECT_DELAYS) - 1)])
            attempt += 1

    def _set_open(self) -> None:
        if not self._open.is_set():
            self._open.set()
            if self._first is not None and not self._first.done():
                self._first.set_result(None)
            elif self._first is not None:
                self.emit("open", self.id)

    def _abort(self, error: PeerError) -> None:
        if self._first is not None and not self._first.done():
            self._first.set_exception(error)
        self.emit("error", error)

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

    def _send_signal(self, frame: str) -> None:
        ws = self._ws
        if ws is None:
            logger.warning("%r: signaling socket down, dropped %s", self, frame[:80])
            return
        task = asyncio.ensure_future(ws.send(frame))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(_ignore_closed)

    # -- routing ----------------------------------------------------------------------

    def _dispatch(self, event: protocol.Event) -> None:
        if self.debug:
            logger.debug("%r <- %r", self, event)
        match event:
            case protocol.Opened():
                self._set_open()
            case protocol.Refused(error_type, message):
                raise PeerError(PeerErrorType(error_type), message)
            case protocol.Offer():
                self._accept(event)
            case protocol.Relayed() | protocol.Candidate():
                conn = self._connections.get((event.src, event.connection_id))
                if conn is not None:
                    conn.handle(event)
                elif self.debug:
                    logger.debug("%r: no connection %s for %r", self, event.connection_id, event)
            case protocol.PeerGone(src, expired):
                if expired:
                    # Peer._handleMessage EXPIRE: "Could not connect to peer ${peerId}"
                    message = f"Could not connect to peer {src}"
                    error = PeerError(PeerErrorType.PEER_UNAVAILABLE, message)
                    for (peer, _), conn in list(self._connections.items()):
                        if peer == src and not conn.open:
                            conn._fail(error)
                            conn._spawn_close()
                    self.emit("error", error)
                else:
                    # LEAVE: "this._cleanupPeer(peerId)"
                    for (peer, _), conn in list(self._connections.items()):
                        if peer == src:
                            conn._spawn_close()
            case protocol.Malformed(reason):
                logger.warning("%r: dropped a signaling frame: %s", self, reason)

    def _new_connection(self, peer: str, connection_id: str, **options: Any) -> DataConnection:
        conn = DataConnection(
            peer,
            connection_id=connection_id,
            configuration=self.configuration,
            signal=self._send_signal,
            debug=self.debug,
            **options,
        )
        key = (peer, connection_id)
        self._connections[key] = conn
        conn.on("close", lambda: self._forget(key, conn))
        return conn

    def _forget(self, key: tuple[str, str], conn: DataConnection) -> None:
        if self._connections.get(key) is conn:
            del self._connections[key]

    def _accept(self, offer: protocol.Offer) -> None:
        old = self._connections.get((offer.src, offer.connection_id))
        if old is not None:
            # Peer._handleMessage OFFER: "Offer received for existing Connection ID"
            old._spawn_close()
            del self._connections[(offer.src, offer.connection_id)]
        if offer.serialization not in SERIALIZATIONS:
            logger.warning("%r: offer with unknown serialization %r", self, offer.serialization)
            return
        conn = self._new_connection(
            offer.src,
            offer.connection_id,
            label=offer.label,
            serialization=offer.serialization,
            reliable=offer.reliable,
            metadata=offer.metadata,
        )
        task = asyncio.ensure_future(self._answer(conn, offer.sdp))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _answer(self, conn: DataConnection, sdp: str) -> None:
        try:
            await conn.start_incoming(sdp)
        except Exception as exc:
            logger.warning("%r: cannot answer %r: %s", self, conn, exc)
            self.emit("error", PeerError(PeerErrorType.WEBRTC, f"cannot answer: {exc}"))
            await conn.close()
            return
        self._incoming.put_nowait(conn)
        self.emit("connection", conn)

    # -- public API ---------------------------------------------------------------------

    async def connect(
        self,
        peer: str,
        label: str | None = None,
        serialization: str = "binary",
        reliable: bool = False,
        metadata: Any = None,
        *,
        ordered: bool | None = None,
        max_retransmits: int | None = None,
        max_packet_lifetime: int | None = None,
    ) -> DataConnection:
        """Open a data connection to ``peer`` and wait until its channel is open.

        ``reliable=False`` is peerjs's default: an unordered but fully reliable
        channel. ``ordered`` overrides the order; ``max_retransmits`` or
        ``max_packet_lifetime`` (ms) make it partially reliable.

        Raises:
            PeerError: ``disconnected`` (no server), ``peer-unavailable``.
            DataConnectionError: ``negotiation-failed``, ``connection-closed``.

        Bound the wait with ``asyncio.timeout``: ICE through an unreachable
        relay takes a while to give up.
        """
        if serialization not in SERIALIZATIONS:
            raise ValueError(f"unknown serialization {serialization!r}")
        if max_retransmits is not None and max_packet_lifetime is not None:
            raise ValueError("give max_retransmits or max_packet_lifetime, not both")
        if not self.is_open:
            raise PeerError(PeerErrorType.DISCONNECTED, "not connected to the signaling server")
        connection_id = protocol.new_connection_id()
        conn = self._new_connection(
            peer,
            connection_id,
            label=label or connection_id,
            serialization=serialization,
            reliable=reliable,
            metadata=metadata,
            ordered=ordered,
            max_retransmits=max_retransmits,
            max_packet_lifetime=max_packet_lifetime,
        )
        try:
            await conn.start_outgoing()
            await conn.wait_open()
        except BaseException:
            await conn.close()
            raise
        return conn

    async def accept(self) -> DataConnection:
        """The next incoming data connection (answered; maybe not open yet)."""
        conn = await self._incoming.get()
        if conn is None:
            self._incoming.put_nowait(None)
            raise PeerError(PeerErrorType.DISCONNECTED, "this peer was destroyed")
        return conn

    async def connections(self) -> AsyncIterator[DataConnection]:
        """Incoming data connections, as they come, until the peer is destroyed."""
        while True:
            try:
                yield await self.accept()
            except PeerError:
                return

    async def disconnect(self) -> None:
        """Close the signaling socket; data connections stay (peerjs ``disconnect()``)."""
        self._manual_disconnect = True
        await self._stop_runner()

    async def reconnect(self) -> None:
        """Reconnect to the server with our id and token (peerjs ``reconnect()``)."""
        if self.destroyed:
            raise PeerError(PeerErrorType.DISCONNECTED, "this peer was destroyed")
        if self._runner is not None and not self._runner.done() and not self._manual_disconnect:
            await self.wait_open()
            return
        await self._stop_runner()
        await self.open()

    async def _stop_runner(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            runner.cancel()
            await asyncio.wait([runner])

    async def destroy(self) -> None:
        """Close every data connection and the signaling socket (peerjs ``destroy()``)."""
        if self.destroyed:
            return
        self.destroyed = True
        await self._stop_runner()
        for conn in list(self._connections.values()):
            await conn.close()
        self._incoming.put_nowait(None)
        self.emit("close")

    async def __aenter__(self) -> Peer:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.destroy()


def _ignore_closed(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.debug("signaling send failed: %s", task.exception())
