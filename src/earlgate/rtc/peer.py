"""``Peer``: a PeerJS peer in Python, on aiortc and a signaling WebSocket.

The asyncio API follows PeerJS's::

    async with Peer("sensor-1", host="127.0.0.1", port=9000) as peer:
        conn = await peer.connect("dashboard", serialization="json")
        conn.send({"t": 21.5})
        async for incoming in peer.connections():
            async for value in incoming: ...

The peer routes what the signaling server says to its data connections.
The socket itself is :mod:`earlgate.rtc.signaling`; what its frames mean is
:mod:`earlgate.rtc.protocol`. Established data connections do not depend on
it: when the socket drops, the peer says ``disconnected`` and (with
``reconnect=True``, the default) reconnects with the same id and token while
the DataChannels go on.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import AsyncIterator, Sequence
from typing import Any

from aiortc import RTCConfiguration, RTCIceServer
from aiortc.rtcconfiguration import RTCIceTransportPolicy

from earlgate.rtc import protocol
from earlgate.rtc.connection import DataConnection
from earlgate.rtc.errors import PeerError, PeerErrorType
from earlgate.rtc.events import EventEmitter
from earlgate.rtc.serialization import SERIALIZATIONS
from earlgate.rtc.signaling import HEARTBEAT_INTERVAL, SignalingSocket

__all__ = ["HEARTBEAT_INTERVAL", "Peer"]

logger = logging.getLogger("earlgate.rtc")

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
        self.ssl_context = ssl_context
        self.debug = debug
        self.token = protocol.new_token()
        self._connections: dict[tuple[str, str], DataConnection] = {}
        self._incoming: asyncio.Queue[DataConnection | None] = asyncio.Queue()
        self._signaling = SignalingSocket(
            host=host,
            port=port,
            path=path,
            key=key,
            secure=secure,
            ssl_context=ssl_context,
            token=self.token,
            dispatch=self._dispatch,
            emit=self.emit,
            reconnect=reconnect,
            heartbeat_interval=heartbeat_interval,
            debug=debug,
        )
        self.destroyed = False

    def __repr__(self) -> str:
        return f"<Peer {self.id} at {self.host}:{self.port}>"

    # -- state ----------------------------------------------------------------------

    @property
    def auto_reconnect(self) -> bool:
        """Reconnect to the server by itself when the socket drops."""
        return self._signaling.reconnect

    @property
    def heartbeat_interval(self) -> float:
        """Seconds between the ``HEARTBEAT`` frames sent to the server."""
        return self._signaling.heartbeat_interval

    @property
    def is_open(self) -> bool:
        """Connected to the server (peerjs ``peer.open``)."""
        return self._signaling.is_open

    @property
    def disconnected(self) -> bool:
        """The signaling socket is down (peerjs ``peer.disconnected``)."""
        return not self._signaling.is_open

    @property
    def connections_by_peer(self) -> dict[str, list[DataConnection]]:
        """Open and opening data connections, by remote peer id."""
        result: dict[str, list[DataConnection]] = {}
        for (peer, _), conn in self._connections.items():
            result.setdefault(peer, []).append(conn)
        return result

    async def wait_open(self) -> None:
        """Wait until the signaling socket is (again) open."""
        await self._signaling.wait_open()

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
            self.id = await self._signaling.fetch_id()
        await self._signaling.start(self.id)
        self.emit("open", self.id)
        return self.id

    # -- routing ----------------------------------------------------------------------

    def _dispatch(self, event: protocol.Event) -> None:
        if self.debug:
            logger.debug("%r <- %r", self, event)
        match event:
            case protocol.Opened():
                self._signaling.set_open()
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
            signal=self._signaling.send,
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
        await self._signaling.disconnect()

    async def reconnect(self) -> None:
        """Reconnect to the server with our id and token (peerjs ``reconnect()``)."""
        if self.destroyed:
            raise PeerError(PeerErrorType.DISCONNECTED, "this peer was destroyed")
        if self._signaling.running:
            await self.wait_open()
            return
        await self._signaling.stop()
        await self.open()

    async def destroy(self) -> None:
        """Close every data connection and the signaling socket (peerjs ``destroy()``)."""
        if self.destroyed:
            return
        self.destroyed = True
        await self._signaling.close()
        for conn in list(self._connections.values()):
            await conn.close()
        self._incoming.put_nowait(None)
        self.emit("close")

    async def __aenter__(self) -> Peer:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.destroy()
