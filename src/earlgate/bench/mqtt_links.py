"""The MQTT load generator's connections: MQTT over TCP or WebSocket, the hub's WebSocket.

A subscriber connects over MQTT (TCP), the hub's own WebSocket protocol (JSON
frames on ``/ws``) or MQTT over WebSocket (subprotocol ``mqtt``); a publisher
over MQTT. :class:`MqttPeer` is one MQTT connection's packets whatever carries
its bytes: our codec's :class:`~earlgate.mqtt.codec.Decoder` turns bytes into
packets, CONNACK and SUBACK complete the handshake's futures, PUBACKs are
counted, QoS 1 deliveries acknowledged. A :class:`Receiver` records each
stamped message's response time. :func:`open_all` opens every connection or
none; :func:`close_all` says DISCONNECT and closes them, bounded in time.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, cast
from urllib.parse import urlsplit

import orjson
from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

from earlgate.bench.loadgen import Tally
from earlgate.bench.mqtt_wire import puback, read_stamp, read_ws_stamp
from earlgate.mqtt import packets as p
from earlgate.mqtt.codec import Decoder, encode
from earlgate.mqtt.reasons import MqttError

__all__ = [
    "HANDSHAKE_TIMEOUT",
    "SUBSCRIBER_KINDS",
    "VERSION",
    "Link",
    "MqttLoadError",
    "MqttPeer",
    "Receiver",
    "TcpLink",
    "close_all",
    "connect_publisher",
    "connect_subscriber",
    "open_all",
]

SUBSCRIBER_KINDS = ("mqtt", "hub-ws", "mqtt-ws")
VERSION = p.V311  # what every MQTT device and broker speaks
HANDSHAKE_TIMEOUT = 30.0  # seconds for a connection's CONNECT/CONNACK or SUBSCRIBE/SUBACK
CLOSE_TIMEOUT = 10.0  # seconds to wait for every connection to be closed after a run


class MqttLoadError(RuntimeError):
    """The load could not be set up: a refused connection, CONNACK or subscription."""


class Receiver:
    """A subscriber's measurements: warm-up markers and stamped messages."""

    __slots__ = ("on_warm", "tally", "warm")

    def __init__(self, tally: Tally, on_warm: Callable[[], None]) -> None:
        self.tally = tally
        self.on_warm = on_warm
        self.warm = False

    def stamp(self, sent_ms: float | None) -> None:
        if sent_ms is None:
            if not self.warm:
                self.warm = True
                self.on_warm()
            return
        tally = self.tally
        if not tally.measuring:
            return
        latency_ms = max(time.time() * 1000.0 - sent_ms, 0.0)
        ns = int(latency_ms * 1e6)
        tally.received += 1
        tally.latency.record(ns)
        tally.window.record(ns)
        tally.latency_sq_ms += latency_ms * latency_ms


class MqttPeer:
    """One MQTT connection's packets, whatever carries its bytes (TCP or WebSocket).

    Bytes in (:meth:`data`), replies out through ``send``; CONNACK and SUBACK
    complete futures, PUBACKs are counted, PUBLISHes go to ``receiver`` and are
    acknowledged at QoS 1.
    """

    def __init__(
        self, send: Callable[[bytes], None], tally: Tally, receiver: Receiver | None
    ) -> None:
        loop = asyncio.get_running_loop()
        self.send = send
        self.tally = tally
        self.receiver = receiver
        self.decoder = Decoder(version=VERSION)
        self.connack: asyncio.Future[None] = loop.create_future()
        self.suback: asyncio.Future[None] = loop.create_future()
        for future in (self.connack, self.suback):
            # A publisher never waits for a SUBACK: its failure is counted, not logged.
            future.add_done_callback(_retrieved)
        self.acked = 0
        self.closing = False  # we are closing it: its end is not an error

    def data(self, data: bytes | bytearray | memoryview) -> None:
        try:
            packets = self.decoder.packets(data)
        except MqttError as exc:
            self.fail(f"malformed packet from the server: {exc}")
            return
        replies = []
        for packet in packets:
            if isinstance(packet, p.Publish):
                if self.receiver is not None:
                    try:
                        self.receiver.stamp(read_stamp(packet.payload))
                    except ValueError:
                        self.tally.errors += 1  # a payload that is not ours
                if packet.qos and packet.packet_id:
                    replies.append(puback(packet.packet_id, VERSION))
            elif isinstance(packet, p.PubAck):
                self.acked += 1
            elif isinstance(packet, p.ConnAck):
                if packet.reason:
                    self.fail(f"CONNACK refused the connection (return code {packet.reason})")
                elif not self.connack.done():
                    self.connack.set_result(None)
            elif isinstance(packet, p.SubAck):
                if any(code >= 0x80 for code in packet.reasons):
                    self.fail(f"SUBACK refused the subscription ({packet.reasons})")
                elif not self.suback.done():
                    self.suback.set_result(None)
        if replies:
            self.send(b"".join(replies))

    def fail(self, why: str) -> None:
        """The connection failed: a handshake waiting on it raises, the run counts it."""
        if not self.closing:
            self.tally.errors += 1
        for future in (self.connack, self.suback):
            if not future.done():
                future.set_exception(MqttLoadError(why))


def _retrieved(future: asyncio.Future[None]) -> None:
    if not future.cancelled():
        future.exception()


class TcpLink(asyncio.Protocol):
    def __init__(self, tally: Tally, receiver: Receiver | None) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.peer = MqttPeer(self.write, tally, receiver)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def data_received(self, data: bytes) -> None:
        self.peer.data(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.peer.fail("the server closed the connection")
        if not self.closed.done():
            self.closed.set_result(None)

    def close(self) -> None:
        self.peer.closing = True
        self.write(encode(p.Disconnect(), VERSION))
        if self.transport is not None:
            self.transport.close()


class _WsMqttLink(WSListener):
    """MQTT over WebSocket: every binary frame is part of the packet byte stream."""

    def __init__(self, tally: Tally, receiver: Receiver) -> None:
        super().__init__()
        self.transport: WSTransport | None = None
        self.peer = MqttPeer(self.write, tally, receiver)

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport

    def write(self, data: bytes) -> None:
        if self.transport is not None:
            self.transport.send(WSMsgType.BINARY, data)

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type is WSMsgType.BINARY:
            self.peer.data(frame.get_payload_as_bytes())

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.peer.fail("the server closed the connection")

    def close(self) -> None:
        self.peer.closing = True
        if self.transport is not None:
            self.write(encode(p.Disconnect(), VERSION))
            self.transport.send_close()
            self.transport.disconnect()


class _HubWsLink(WSListener):
    """A subscriber on the hub's own protocol: JSON frames, our payload as ``data``."""

    def __init__(self, receiver: Receiver) -> None:
        super().__init__()
        self.receiver = receiver
        self.transport: WSTransport | None = None
        self.closing = False

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        if not self.closing:
            self.receiver.tally.errors += 1

    def close(self) -> None:
        self.closing = True
        if self.transport is not None:
            self.transport.send_close()
            self.transport.disconnect()

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type is not WSMsgType.TEXT:
            return
        try:
            stamp = read_ws_stamp(frame.get_payload_as_memoryview())
        except ValueError:
            if b'"type":"error"' in frame.get_payload_as_bytes():
                self.receiver.tally.errors += 1
            return  # else the subscribe's ack
        self.receiver.stamp(stamp)


def _host_port(url: str, default: int) -> tuple[str, int]:
    parts = urlsplit(url)
    if parts.hostname is None:
        raise ValueError(f"{url!r} has no host")
    return parts.hostname, parts.port or default


Link = TcpLink | _WsMqttLink | _HubWsLink


async def connect_publisher(
    url: str, client_id: str, tally: Tally, receiver: Receiver | None, source: str | None
) -> TcpLink:
    loop = asyncio.get_running_loop()
    host, port = _host_port(url, 1883)
    local: dict[str, Any] = {"local_addr": (source, 0)} if source else {}
    _, link = await loop.create_connection(lambda: TcpLink(tally, receiver), host, port, **local)
    try:
        link.write(encode(p.Connect(VERSION, client_id, keep_alive=0), VERSION))
        await _answer(link.peer.connack, "CONNACK")
    except BaseException:
        link.close()
        raise
    return link


async def _answer(future: asyncio.Future[None], what: str) -> None:
    """Until the server's ``what`` completes ``future``; a TimeoutError naming it after
    :data:`HANDSHAKE_TIMEOUT` seconds."""
    try:
        await asyncio.wait_for(future, HANDSHAKE_TIMEOUT)
    except TimeoutError:
        raise TimeoutError(f"no {what} within {HANDSHAKE_TIMEOUT:.0f} s") from None


async def _subscribe(peer: MqttPeer, topic: str, qos: int) -> None:
    peer.send(encode(p.Subscribe(1, [p.SubscriptionRequest(topic, qos)]), VERSION))
    await _answer(peer.suback, "SUBACK")


async def connect_subscriber(
    kind: str, url: str, topic: str, qos: int, client_id: str, receiver: Receiver,
    source: str | None,
) -> Link:  # fmt: skip
    """A connected, subscribed subscriber of ``kind``."""
    local: dict[str, Any] = {"local_addr": (source, 0)} if source else {}
    tally = receiver.tally
    link: Link
    if kind == "mqtt":
        link = await connect_publisher(url, client_id, tally, receiver, source)
        peer = link.peer
    elif kind == "mqtt-ws":
        _, listener = await ws_connect(
            lambda: _WsMqttLink(tally, receiver), url,
            websocket_handshake_timeout=HANDSHAKE_TIMEOUT,
            extra_headers={"Sec-WebSocket-Protocol": "mqtt"}, **local,
        )  # fmt: skip
        assert isinstance(listener, _WsMqttLink)
        link, peer = listener, listener.peer
        link.write(encode(p.Connect(VERSION, client_id, keep_alive=0), VERSION))
    elif kind == "hub-ws":
        _, hub = await ws_connect(
            lambda: _HubWsLink(receiver), url, websocket_handshake_timeout=HANDSHAKE_TIMEOUT,
            **local,
        )  # fmt: skip
        assert isinstance(hub, _HubWsLink) and hub.transport is not None
        # No wait for the ack: the warm-up round proves the subscription works.
        hub.transport.send(WSMsgType.TEXT, orjson.dumps({"type": "subscribe", "subject": topic}))
        return hub
    else:
        raise ValueError(f"unknown subscriber kind {kind!r}; choose from {SUBSCRIBER_KINDS}")
    try:
        await _answer(peer.connack, "CONNACK")
        await _subscribe(peer, topic, qos)
    except BaseException:
        link.close()
        raise
    return link


async def open_all(openers: list[Awaitable[Link]]) -> list[Link]:
    """Every connection, or none: on the first failure the others are closed."""
    results = await asyncio.gather(*openers, return_exceptions=True)
    links = [r for r in results if not isinstance(r, BaseException)]
    failed = [r for r in results if isinstance(r, BaseException)]
    if failed:
        await close_all(links)
        error = failed[0]
        if isinstance(error, MqttLoadError | TimeoutError):
            raise type(error)(f"{len(failed)} of {len(results)} connections failed: {error}")
        raise MqttLoadError(f"{len(failed)} of {len(results)} connections failed: {error!r}")
    return links


async def close_all(links: list[Link]) -> None:
    """DISCONNECT and close everyone; wait (bounded) until the sockets are closed."""
    waits: list[Awaitable[Any]] = []
    for link in links:
        link.close()
        if isinstance(link, TcpLink):
            waits.append(link.closed)
        elif link.transport is not None:
            waits.append(link.transport.wait_disconnected())
    if waits:
        try:
            await asyncio.wait_for(asyncio.gather(*waits, return_exceptions=True), CLOSE_TIMEOUT)
        except TimeoutError:
            pass  # the sockets are closed on our side; a server slow to answer is not our wait
