"""The two carriers of MQTT bytes: a TCP connection and a WebSocket at ``/mqtt``.

Each only moves bytes between its transport and a
:class:`~earlgate.mqtt.connection.MqttConnection`. MQTT 5.0, 6.0: "MQTT
Control Packets MUST be sent in WebSocket binary data frames. If any other
type of data frame is received the recipient MUST close the Network
Connection", and "a single WebSocket data frame can contain multiple or
partial MQTT Control Packets": the frames' bytes are one stream.
"""

from __future__ import annotations

import asyncio
from typing import cast

from picows import WSCloseCode, WSFrame, WSListener, WSMsgType, WSTransport

from earlgate.mqtt.bridge import MqttBridge
from earlgate.mqtt.connection import MqttConnection


class MqttTcpProtocol(asyncio.Protocol):
    """One client on the MQTT TCP port."""

    def __init__(self, bridge: MqttBridge, connections: set[MqttConnection]) -> None:
        self._bridge = bridge
        self._connections = connections
        self._conn: MqttConnection | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        tcp = cast(asyncio.Transport, transport)
        self._conn = MqttConnection(
            self._bridge, tcp.write, tcp.close, tcp.pause_reading, tcp.resume_reading
        )
        self._connections.add(self._conn)

    def data_received(self, data: bytes) -> None:
        if self._conn is not None:
            self._conn.feed(data)

    def eof_received(self) -> bool:
        return False  # the client half-closed: close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        conn = self._conn
        if conn is not None:
            self._connections.discard(conn)
            conn.lost()

    def pause_writing(self) -> None:
        if self._conn is not None:
            self._conn.pause_writing()

    def resume_writing(self) -> None:
        if self._conn is not None:
            self._conn.resume_writing()


class MqttWebSocketListener(WSListener):
    """One client on ``/mqtt`` of the hub's WebSocket port."""

    def __init__(self, bridge: MqttBridge, connections: set[MqttConnection]) -> None:
        super().__init__()
        self._bridge = bridge
        self._connections = connections
        self._transport: WSTransport | None = None
        self._conn: MqttConnection | None = None

    def on_ws_connected(self, transport: WSTransport) -> None:
        self._transport = transport
        self._conn = MqttConnection(self._bridge, self._write, self._close)
        self._connections.add(self._conn)

    def _write(self, raw: bytes) -> None:
        transport = self._transport
        if transport is not None and not transport.is_close_frame_sent:
            transport.send(WSMsgType.BINARY, raw)

    def _close(self) -> None:
        transport = self._transport
        if transport is not None:
            if not transport.is_close_frame_sent:
                transport.send_close(WSCloseCode.OK)
            transport.disconnect()

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        conn = self._conn
        if conn is None:
            return
        kind = frame.msg_type
        if kind is WSMsgType.BINARY or kind is WSMsgType.CONTINUATION:
            conn.feed(frame.get_payload_as_bytes())
        elif kind is WSMsgType.TEXT:
            transport.send_close(WSCloseCode.UNSUPPORTED_DATA, b"MQTT needs binary frames")
            conn.close()  # the connection's loss then ends the session as abnormal
        elif kind is WSMsgType.CLOSE:
            if not transport.is_close_frame_sent:
                transport.send_close(frame.get_close_code())
            transport.disconnect()

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        conn = self._conn
        if conn is not None:
            self._connections.discard(conn)
            conn.lost()
        self._transport = None

    def pause_writing(self) -> None:
        if self._conn is not None:
            self._conn.pause_writing()

    def resume_writing(self) -> None:
        if self._conn is not None:
            self._conn.resume_writing()
