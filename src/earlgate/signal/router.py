"""The PeerServer protocol as a pure state machine: events in, actions out.

Theory of operation. The I/O layer numbers each WebSocket connection
(:data:`ConnId`) and tells the router what happens to it: :meth:`open` with the
query of its URL, :meth:`receive` for each complete message, :meth:`closed`
when it is gone. Timers call :meth:`expire_queues` and :meth:`check_liveness`.
Each call returns a list of :class:`Send` and :class:`Close` actions for the
I/O layer to carry out in order. A :class:`Send` that relays a peer's message
carries ``relay``; when the I/O layer cannot deliver it, it calls
:meth:`delivery_failed`, which returns the LEAVE for the sender.

State: the registry maps peer ids to clients (PeerServer's "realm"); each
client has one current connection. A connection is *attached* to a client, or
to nothing (refused at the handshake, replaced, left with LEAVE, or closed by
the server), in which case what it sends is ignored. The router reads the time
from the clock it was given and never sleeps, so tests drive it with a fake
clock.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NewType

from earlgate.signal.config import SignalConfig
from earlgate.signal.liveness import LivenessTracker
from earlgate.signal.messages import (
    FORWARDED,
    ID_TAKEN_FRAME,
    OPEN_FRAME,
    ErrorText,
    Message,
    MessageError,
    MessageType,
    PeerId,
    error_frame,
    parse,
    relay_frame,
)
from earlgate.signal.queues import MessageQueues, QueuedMessage

__all__ = ["Action", "Close", "ConnId", "Relay", "Send", "SignalingRouter"]

ConnId = NewType("ConnId", int)

# -- close codes (RFC 6455 section 7.4.1) ------------------------------------------
NO_STATUS = None  # a close frame without a code, as PeerServer's socket.close() sends
NORMAL = 1000
MESSAGE_TOO_BIG = 1009


@dataclass(frozen=True, slots=True)
class Relay:
    """Whose message a :class:`Send` carries: ``src`` sent it to ``dst``."""

    src: PeerId
    dst: PeerId


@dataclass(frozen=True, slots=True)
class Send:
    """Write ``frame`` as one text message on ``conn``."""

    conn: ConnId
    frame: bytes
    relay: Relay | None = None


@dataclass(frozen=True, slots=True)
class Close:
    """Close ``conn``: with a close frame (``code`` None: one without a status),
    or at once without flushing when ``abort``."""

    conn: ConnId
    code: int | None = NO_STATUS
    reason: str = ""
    abort: bool = False


Action = Send | Close


@dataclass(eq=False, slots=True)
class _Client:
    peer_id: PeerId
    token: str
    conn: ConnId


class SignalingRouter:
    """PeerServer's realm, message handler, queues and liveness, without I/O.

    Args:
        config: key, limits and timeouts.
        clock: monotonic seconds; injected so that tests control time.
    """

    def __init__(self, config: SignalConfig, clock: Callable[[], float]) -> None:
        self.config = config
        self.clock = clock
        self._clients: dict[PeerId, _Client] = {}
        self._conns: dict[ConnId, _Client | None] = {}
        self.queues = MessageQueues(config.max_queued_bytes)
        self.liveness: LivenessTracker[_Client] = LivenessTracker(config.alive_timeout)
        self.handshakes: Counter[str] = Counter()
        self.dropped: Counter[str] = Counter()
        self.removed: Counter[str] = Counter()
        self.messages_received = 0
        self.messages_relayed = 0
        self.messages_queued = 0
        self.messages_expired = 0
        self.expire_notices = 0

    # -- introspection ---------------------------------------------------------

    def peer_ids(self) -> list[PeerId]:
        """Connected peers, in the order they registered (``GET /peers``)."""
        return list(self._clients)

    def is_connected(self, peer_id: str) -> bool:
        return peer_id in self._clients

    @property
    def connections(self) -> int:
        """WebSocket connections the router knows, attached or not."""
        return len(self._conns)

    def statistics(self) -> dict[str, Any]:
        return {
            "peers": len(self._clients),
            "connections": len(self._conns),
            "queues": len(self.queues),
            "queued_now": self.queues.messages,
            "queued_bytes": self.queues.bytes,
            "received": self.messages_received,
            "relayed": self.messages_relayed,
            "queued": self.messages_queued,
            "expired": self.messages_expired,
            "expire_notices": self.expire_notices,
            "handshakes": dict(self.handshakes),
            "dropped": dict(self.dropped),
            "removed": dict(self.removed),
        }

    # -- connection events -----------------------------------------------------

    def open(self, conn: ConnId, query: Mapping[str, str]) -> list[Action]:
        """A WebSocket ``{path}peerjs?key=K&id=ID&token=T`` has connected."""
        if conn in self._conns:
            raise ValueError(f"connection {conn} is already open")
        self._conns[conn] = None
        peer_id, token, key = query.get("id"), query.get("token"), query.get("key")
        # 1. "missing id/token/key -> send ERROR ..., close"
        if not peer_id or not token or not key:
            return self._refuse(conn, ErrorText.INVALID_WS_PARAMETERS, "invalid_parameters")
        # 2. "wrong key -> ERROR "Invalid key provided", close"
        if key != self.config.key:
            return self._refuse(conn, ErrorText.INVALID_KEY, "invalid_key")
        pid = PeerId(peer_id)
        client = self._clients.get(pid)
        if client is not None:
            # 3. "id connected with another token -> ID-TAKEN, close"
            if token != client.token:
                self.handshakes["id_taken"] += 1
                return [Send(conn, ID_TAKEN_FRAME), Close(conn)]
            # 4. "same id and same token -> the new socket replaces the old one (no OPEN)"
            return self._replace(client, conn)
        # 5. "at the concurrent limit -> ERROR ..."
        if len(self._clients) >= self.config.concurrent_limit:
            return self._refuse(conn, ErrorText.CONNECTION_LIMIT_EXCEED, "limit")
        # 6. "else -> {"type":"OPEN"}, then deliver the messages queued for that id, in order"
        client = _Client(pid, token, conn)
        self._clients[pid] = client
        self._conns[conn] = client
        self.liveness.track(client, self.clock())
        self.handshakes["open"] += 1
        return [Send(conn, OPEN_FRAME), *self._deliver_queued(pid)]

    def _refuse(self, conn: ConnId, text: ErrorText, outcome: str) -> list[Action]:
        self.handshakes[outcome] += 1
        return [Send(conn, error_frame(text)), Close(conn)]

    def _replace(self, client: _Client, conn: ConnId) -> list[Action]:
        old = client.conn
        client.conn = conn
        self._conns[conn] = client
        # PeerServer leaves the old socket open; it can only be a dead one of the
        # same client (tokens are per Peer object), so close it.
        self._conns[old] = None
        self.liveness.track(client, self.clock())
        self.handshakes["replaced"] += 1
        actions: list[Action] = [Close(old, NORMAL, "replaced by a new connection")]
        actions += self._deliver_queued(client.peer_id)
        return actions

    def _deliver_queued(self, dst: PeerId) -> list[Action]:
        client = self._clients[dst]
        return [self._forward(m.src, client, m.frame) for m in self.queues.drain(dst)]

    def closed(self, conn: ConnId) -> list[Action]:
        """``conn`` is gone (closed by either side or lost)."""
        client = self._conns.pop(conn, None)
        # socket.on("close"): "if (client.getSocket() === socket) realm.removeClientById(...)"
        if client is not None and client.conn == conn:
            self._unregister(client, "closed")
        return []

    def _unregister(self, client: _Client, why: str) -> None:
        if self._clients.get(client.peer_id) is client:
            del self._clients[client.peer_id]
            self.removed[why] += 1
        self.liveness.forget(client)

    # -- messages --------------------------------------------------------------

    def receive(self, conn: ConnId, data: bytes) -> list[Action]:
        """A complete message arrived on ``conn``; never raises on its content."""
        client = self._conns.get(conn)
        if client is None:
            self.dropped["not_attached"] += 1
            return []
        self.messages_received += 1
        try:
            message = parse(data, self.config.max_depth)
        except MessageError as exc:
            self.dropped[exc.reason] += 1
            return []
        if message.type is MessageType.HEARTBEAT:
            self.liveness.beat(client, self.clock())
            return []
        if message.type not in FORWARDED:
            # "Unknown types are dropped."
            self.dropped["unknown_type"] += 1
            return []
        return self._transmit(client, message)

    def _transmit(self, client: _Client, message: Message) -> list[Action]:
        src, dst = client.peer_id, message.dst
        if not dst:
            if message.type is MessageType.LEAVE:
                # TransmissionHandler: "else if (type === LEAVE && !dstId)
                # realm.removeClientById(srcId)". PeerServer leaves the socket
                # open, still sending as that id once another client holds it;
                # a socket that left has no id to send as, so it is closed.
                return self._leave(client)
            self.dropped["no_dst"] += 1
            return []
        # "the server overwrites src with the sender's id and forwards {type,src,dst,payload}"
        frame = relay_frame(message.raw_type, src, dst, message.payload, message.has_payload)
        return self._route(src, dst, frame, message.type)

    def _leave(self, client: _Client) -> list[Action]:
        self._conns[client.conn] = None
        self._unregister(client, "leave")
        return [Close(client.conn, NORMAL, "left")]

    def _route(
        self, src: PeerId, dst: PeerId, frame: bytes, kind: MessageType | None
    ) -> list[Action]:
        client = self._clients.get(dst)
        if client is not None:
            return [self._forward(src, client, frame)]
        # "If dst is not connected, the message is queued (LEAVE/EXPIRE are dropped)."
        if kind is MessageType.LEAVE or kind is MessageType.EXPIRE:
            self.dropped["dst_absent"] += 1
            return []
        if self.queues.add(QueuedMessage(src, dst, frame), self.clock()):
            self.messages_queued += 1
        else:
            self.dropped["queue_full"] += 1
        return []

    def _forward(self, src: PeerId, client: _Client, frame: bytes) -> Send:
        self.messages_relayed += 1
        return Send(client.conn, frame, Relay(src, client.peer_id))

    def delivery_failed(self, send: Send) -> list[Action]:
        """The I/O layer could not write ``send``: drop its recipient, tell its sender.

        PEERJS.md: "If sending to ``dst`` fails, close ``dst`` and send
        ``{type:"LEAVE",src:dst,dst:src}`` to the sender."
        """
        relay = send.relay
        if relay is None:
            return []
        self.messages_relayed -= 1
        actions: list[Action] = []
        client = self._conns.get(send.conn)
        if client is not None and client.conn == send.conn:
            self._conns[send.conn] = None
            self._unregister(client, "send_failed")
            actions.append(Close(send.conn, abort=True))
        frame = relay_frame(MessageType.LEAVE.value, relay.dst, relay.src)
        actions += self._route(relay.dst, relay.src, frame, MessageType.LEAVE)
        return actions

    # -- timers ----------------------------------------------------------------

    def expire_queues(self) -> list[Action]:
        """Expire old queues; EXPIRE each distinct (src, dst) sender in them."""
        pairs, removed = self.queues.expire(self.clock(), self.config.expire_timeout)
        self.messages_expired += removed
        actions: list[Action] = []
        for src, dst in pairs:
            # messagesExpire: handle(undefined, {type: EXPIRE, src: message.dst, dst: message.src})
            frame = relay_frame(MessageType.EXPIRE.value, dst, src)
            sent = self._route(dst, src, frame, MessageType.EXPIRE)
            self.expire_notices += len(sent)
            actions += sent
        return actions

    def check_liveness(self) -> list[Action]:
        """Drop the peers silent for ``alive_timeout``: close, clear their queue."""
        actions: list[Action] = []
        for client in self.liveness.expired(self.clock()):
            if client.conn in self._conns:
                self._conns[client.conn] = None
            self._unregister(client, "alive_timeout")
            self.dropped["alive_timeout_queue"] += self.queues.discard(client.peer_id)
            actions.append(Close(client.conn))
        return actions

    def close_all(self, code: int, reason: str) -> list[Action]:
        """Close every connection (shutdown)."""
        return [Close(conn, code, reason) for conn in self._conns]


def oversize(conn: ConnId, size: int, limit: int) -> Close:
    """The close for a message over the frame limit: 1009, the others unaffected."""
    return Close(conn, MESSAGE_TOO_BIG, f"message of {size} bytes is over {limit}")
