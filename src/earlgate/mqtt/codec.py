"""MQTT 3.1.1 and 5.0 packets to bytes and back, without I/O.

:func:`encode` turns a packet into its bytes for one protocol level.
:class:`Decoder` takes bytes as they arrive (any split), buffers a partial
packet and hands out complete ones; it refuses a packet over its
``max_packet_size`` as soon as the fixed header shows the size, before
buffering the body. Everything malformed raises :class:`MqttError` with the
MQTT 5 reason code and a message naming the fault (MQTT 5.0, 4.13: the
receiver then closes the connection, with a DISCONNECT in MQTT 5).

A server-side decoder starts without a protocol level: the first packet must
be a CONNECT, whose level (4 for 3.1.1, 5) then applies to every later packet.
"""

from __future__ import annotations

from earlgate.mqtt import packets as p
from earlgate.mqtt import properties as props
from earlgate.mqtt.primitives import (
    MAX_VARINT,
    Reader,
    decode_utf8,
    put_binary,
    put_u16,
    put_utf8,
    put_varint,
)
from earlgate.mqtt.properties import Properties, decode_properties, encode_properties
from earlgate.mqtt.reasons import (
    MALFORMED_PACKET,
    PACKET_TOO_LARGE,
    PROTOCOL_ERROR,
    TOPIC_NAME_INVALID,
    UNSUPPORTED_PROTOCOL_VERSION,
    MqttError,
)

# Fixed header flags each type must carry (2.1.3); PUBLISH's are its own.
_FLAGS = {p.PUBREL: 0x2, p.SUBSCRIBE: 0x2, p.UNSUBSCRIBE: 0x2}
PACKET_NAMES = {
    p.CONNECT: "CONNECT", p.CONNACK: "CONNACK", p.PUBLISH: "PUBLISH", p.PUBACK: "PUBACK",
    p.PUBREC: "PUBREC", p.PUBREL: "PUBREL", p.PUBCOMP: "PUBCOMP", p.SUBSCRIBE: "SUBSCRIBE",
    p.SUBACK: "SUBACK", p.UNSUBSCRIBE: "UNSUBSCRIBE", p.UNSUBACK: "UNSUBACK",
    p.PINGREQ: "PINGREQ", p.PINGRESP: "PINGRESP", p.DISCONNECT: "DISCONNECT", p.AUTH: "AUTH",
}  # fmt: skip
_ACK_TYPES: dict[int, type[p.Ack]] = {
    p.PUBACK: p.PubAck,
    p.PUBREC: p.PubRec,
    p.PUBREL: p.PubRel,
    p.PUBCOMP: p.PubComp,
}
DEFAULT_MAX_PACKET_SIZE = 1024 * 1024


# -- encoding -----------------------------------------------------------------


def encode(packet: p.Packet, version: int) -> bytes:
    """The bytes of ``packet`` at protocol level ``version`` (4 or 5)."""
    v5 = version == p.V5
    kind = packet.type
    body = bytearray()
    flags = _FLAGS.get(kind, 0)
    if isinstance(packet, p.Publish):
        flags = (packet.dup << 3) | (packet.qos << 1) | int(packet.retain)
        put_utf8(body, packet.topic)
        if packet.qos:
            if not packet.packet_id:
                raise ValueError("a PUBLISH with QoS > 0 needs a packet id")
            put_u16(body, packet.packet_id)
        if v5:
            encode_properties(body, packet.properties)
        body += packet.payload
    elif isinstance(packet, p.PubAck | p.PubRec | p.PubRel | p.PubComp):
        put_u16(body, packet.packet_id)
        if v5 and (packet.reason or not packet.properties.is_empty()):
            body.append(packet.reason)
            if not packet.properties.is_empty():
                encode_properties(body, packet.properties)
    elif isinstance(packet, p.Connect):
        _encode_connect(body, packet)
    elif isinstance(packet, p.ConnAck):
        body.append(int(packet.session_present))
        body.append(packet.reason)
        if v5:
            encode_properties(body, packet.properties)
    elif isinstance(packet, p.Subscribe):
        put_u16(body, packet.packet_id)
        if v5:
            encode_properties(body, packet.properties)
        for sub in packet.subscriptions:
            put_utf8(body, sub.filter)
            options = sub.qos
            if v5:
                options |= (sub.no_local << 2) | (sub.retain_as_published << 3)
                options |= sub.retain_handling << 4
            body.append(options)
    elif isinstance(packet, p.SubAck):
        put_u16(body, packet.packet_id)
        if v5:
            encode_properties(body, packet.properties)
        body += bytes(packet.reasons)
    elif isinstance(packet, p.Unsubscribe):
        put_u16(body, packet.packet_id)
        if v5:
            encode_properties(body, packet.properties)
        for topic_filter in packet.filters:
            put_utf8(body, topic_filter)
    elif isinstance(packet, p.UnsubAck):
        put_u16(body, packet.packet_id)
        if v5:
            encode_properties(body, packet.properties)
            body += bytes(packet.reasons)
    elif isinstance(packet, p.Disconnect | p.Auth):
        if kind == p.AUTH and not v5:
            raise ValueError("AUTH exists only in MQTT 5")
        if v5 and (packet.reason or not packet.properties.is_empty()):
            body.append(packet.reason)
            if not packet.properties.is_empty():
                encode_properties(body, packet.properties)
    head = bytearray((kind << 4 | flags,))
    put_varint(head, len(body))
    head += body
    return bytes(head)


def _encode_connect(body: bytearray, packet: p.Connect) -> None:
    v5 = packet.protocol_level == p.V5
    put_utf8(body, packet.protocol_name)
    body.append(packet.protocol_level)
    will = packet.will
    flags = int(packet.clean_start) << 1
    if will is not None:
        flags |= 0x04 | (will.qos << 3) | (int(will.retain) << 5)
    if packet.password is not None:
        flags |= 0x40
    if packet.username is not None:
        flags |= 0x80
    body.append(flags)
    put_u16(body, packet.keep_alive)
    if v5:
        encode_properties(body, packet.properties)
    put_utf8(body, packet.client_id)
    if will is not None:
        if v5:
            encode_properties(body, will.properties)
        put_utf8(body, will.topic)
        put_binary(body, will.payload)
    if packet.username is not None:
        put_utf8(body, packet.username)
    if packet.password is not None:
        put_binary(body, packet.password)


# -- decoding -----------------------------------------------------------------


class Decoder:
    """Bytes in, complete packets out, for one connection.

    Args:
        max_packet_size: the largest packet (fixed header included) accepted.
        version: the protocol level; None: learn it from the first CONNECT.
    """

    def __init__(
        self, max_packet_size: int = DEFAULT_MAX_PACKET_SIZE, version: int | None = None
    ) -> None:
        if not 2 <= max_packet_size <= MAX_VARINT + 5:
            raise ValueError(f"max packet size {max_packet_size} is out of range")
        self.max_packet_size = max_packet_size
        self.version = version
        self._buffer = bytearray()
        self._pos = 0

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        """Buffer ``data``; :meth:`next_packet` hands out what it completes."""
        if self._pos and self._pos >= len(self._buffer) // 2:
            del self._buffer[: self._pos]
            self._pos = 0
        self._buffer += data

    def buffered(self) -> int:
        """Bytes received and not yet part of a packet handed out."""
        return len(self._buffer) - self._pos

    def packets(self, data: bytes | bytearray | memoryview = b"") -> list[p.Packet]:
        """Feed ``data`` and return every complete packet (raises on the first bad one)."""
        if data:
            self.feed(data)
        out = []
        while (packet := self.next_packet()) is not None:
            out.append(packet)
        return out

    def next_packet(self) -> p.Packet | None:
        """The next complete packet, or None until more bytes arrive."""
        buffer, pos = self._buffer, self._pos
        end = len(buffer)
        if end - pos < 2:
            if end > pos and self.version is None and buffer[pos] >> 4 != p.CONNECT:
                self._not_connect(buffer[pos] >> 4)
            return None
        if self.version is None and buffer[pos] >> 4 != p.CONNECT:
            # Refused from its first byte: no need to wait for the body of what
            # is not MQTT at all (an HTTP request, a TLS hello).
            self._not_connect(buffer[pos] >> 4)
        length = 0
        shift = 0
        at = pos + 1
        while True:
            if at >= end:
                return None
            byte = buffer[at]
            length |= (byte & 0x7F) << shift
            at += 1
            if not byte & 0x80:
                if at - pos > 2 and byte == 0:
                    raise MqttError(
                        MALFORMED_PACKET, "remaining length is not in its shortest encoding"
                    )
                break
            shift += 7
            if at - pos > 4:
                raise MqttError(MALFORMED_PACKET, "remaining length is longer than four bytes")
        total = at - pos + length
        if total > self.max_packet_size:
            raise MqttError(
                PACKET_TOO_LARGE,
                f"packet of {total} bytes is over the maximum packet size "
                f"of {self.max_packet_size}",
            )
        if at + length > end:
            return None
        self._pos = at + length
        return self._decode(buffer[pos], bytes(buffer[at : at + length]))

    @staticmethod
    def _not_connect(kind: int) -> None:
        name = PACKET_NAMES.get(kind, f"packet type {kind}")
        raise MqttError(PROTOCOL_ERROR, f"first packet must be CONNECT, got {name}")

    def _decode(self, first: int, body: bytes) -> p.Packet:
        kind, flags = first >> 4, first & 0x0F
        if kind == p.PUBLISH:
            return self._publish(flags, body)
        name = PACKET_NAMES.get(kind)
        if name is None or (kind == p.AUTH and self.version == p.V311):
            raise MqttError(MALFORMED_PACKET, f"unknown packet type {kind}")
        if flags != _FLAGS.get(kind, 0):
            raise MqttError(
                MALFORMED_PACKET, f"reserved flag bits of {name} are 0x{flags:X}, "
                f"must be 0x{_FLAGS.get(kind, 0):X}"
            )  # fmt: skip
        if kind == p.CONNECT:
            return self._connect(body)
        if self.version is None:
            raise MqttError(PROTOCOL_ERROR, f"first packet must be CONNECT, got {name}")
        reader = Reader(body)
        v5 = self.version == p.V5
        packet: p.Packet
        if kind in _ACK_TYPES:
            packet_id = _packet_id(reader, name)
            reason = 0
            properties = Properties()
            if v5 and reader.remaining():
                reason = reader.u8("reason code")
                if reader.remaining():
                    properties = decode_properties(reader, kind)
            packet = _ACK_TYPES[kind](packet_id, reason, properties)
        elif kind == p.SUBSCRIBE:
            packet = self._subscribe(reader, v5)
        elif kind == p.UNSUBSCRIBE:
            packet_id = _packet_id(reader, name)
            properties = decode_properties(reader, kind) if v5 else Properties()
            filters = []
            while reader.remaining():
                filters.append(reader.utf8("topic filter"))
            if not filters:
                raise MqttError(PROTOCOL_ERROR, "UNSUBSCRIBE has no topic filter")
            packet = p.Unsubscribe(packet_id, filters, properties)
        elif kind in (p.PINGREQ, p.PINGRESP):
            packet = p.PingReq() if kind == p.PINGREQ else p.PingResp()
        elif kind in (p.DISCONNECT, p.AUTH):
            reason = reader.u8("reason code") if v5 and reader.remaining() else 0
            properties = (
                decode_properties(reader, kind) if reader.remaining() and v5 else Properties()
            )
            packet = (
                p.Disconnect(reason, properties)
                if kind == p.DISCONNECT
                else p.Auth(reason, properties)
            )
        elif kind == p.CONNACK:
            ack_flags = reader.u8("connect acknowledge flags")
            if ack_flags & 0xFE:
                raise MqttError(MALFORMED_PACKET, "reserved bits of the CONNACK flags are set")
            reason = reader.u8("connect reason code")
            properties = decode_properties(reader, kind) if v5 else Properties()
            packet = p.ConnAck(bool(ack_flags), reason, properties)
        elif kind == p.SUBACK:
            packet_id = _packet_id(reader, name)
            properties = decode_properties(reader, kind) if v5 else Properties()
            packet = p.SubAck(packet_id, list(reader.rest()), properties)
        else:  # UNSUBACK
            packet_id = _packet_id(reader, name)
            properties = decode_properties(reader, kind) if v5 else Properties()
            packet = p.UnsubAck(packet_id, list(reader.rest()) if v5 else [], properties)
        if reader.remaining():
            raise MqttError(MALFORMED_PACKET, f"{reader.remaining()} bytes left over after {name}")
        return packet

    def _publish(self, flags: int, body: bytes) -> p.Publish:
        if self.version is None:
            raise MqttError(PROTOCOL_ERROR, "first packet must be CONNECT, got PUBLISH")
        qos = (flags >> 1) & 3
        if qos == 3:
            raise MqttError(MALFORMED_PACKET, "PUBLISH with QoS 3")
        dup = bool(flags & 0x08)
        if dup and not qos:
            raise MqttError(MALFORMED_PACKET, "PUBLISH with QoS 0 has the DUP flag set")
        reader = Reader(body)
        topic = reader.utf8("topic name")
        if "+" in topic or "#" in topic:
            raise MqttError(TOPIC_NAME_INVALID, f"topic name {topic[:64]!r} contains a wildcard")
        v5 = self.version == p.V5
        if not topic and not v5:
            raise MqttError(TOPIC_NAME_INVALID, "topic name is empty")
        packet_id = _packet_id(reader, "PUBLISH") if qos else None
        properties = decode_properties(reader, props.PUBLISH) if v5 else Properties()
        return p.Publish(topic, reader.rest(), qos, bool(flags & 1), dup, packet_id, properties)

    def _connect(self, body: bytes) -> p.Connect:
        if self.version is not None:
            raise MqttError(PROTOCOL_ERROR, "a second CONNECT on the connection")
        reader = Reader(body)
        name = reader.utf8("protocol name")
        level = reader.u8("protocol level")
        if name not in ("MQTT", "MQIsdp"):
            raise MqttError(UNSUPPORTED_PROTOCOL_VERSION, f"unknown protocol name {name[:32]!r}")
        if name == "MQIsdp" or level not in (p.V311, p.V5):
            self.version = p.V311  # answered in 3.1.1's form, which every client reads
            raise MqttError(
                UNSUPPORTED_PROTOCOL_VERSION,
                f"protocol {name} level {level} is not supported: use MQTT 3.1.1 (4) or 5",
            )
        self.version = level
        v5 = level == p.V5
        flags = reader.u8("connect flags")
        if flags & 0x01:
            raise MqttError(MALFORMED_PACKET, "reserved bit 0 of the connect flags is set")
        will_flag, will_qos, will_retain = flags & 0x04, (flags >> 3) & 3, bool(flags & 0x20)
        if will_qos == 3:
            raise MqttError(MALFORMED_PACKET, "will QoS is 3")
        if not will_flag and (will_qos or will_retain):
            raise MqttError(MALFORMED_PACKET, "will QoS or retain set without the will flag")
        has_password, has_username = bool(flags & 0x40), bool(flags & 0x80)
        if has_password and not has_username and not v5:
            raise MqttError(MALFORMED_PACKET, "password flag set without the user name flag")
        keep_alive = reader.u16("keep alive")
        properties = decode_properties(reader, props.CONNECT) if v5 else Properties()
        client_id = reader.utf8("client identifier")
        will = None
        if will_flag:
            will_props = decode_properties(reader, props.WILL) if v5 else Properties()
            topic = reader.utf8("will topic")
            if not topic or "+" in topic or "#" in topic:
                raise MqttError(
                    TOPIC_NAME_INVALID, f"will topic {topic[:64]!r} is not a topic name"
                )
            will = p.Will(topic, reader.binary("will payload"), will_qos, will_retain, will_props)
        username = reader.utf8("user name") if has_username else None
        password = reader.binary("password") if has_password else None
        if reader.remaining():
            raise MqttError(MALFORMED_PACKET, f"{reader.remaining()} bytes left over after CONNECT")
        return p.Connect(
            level, client_id, bool(flags & 0x02), keep_alive, username, password, will,
            properties, name,
        )  # fmt: skip

    def _subscribe(self, reader: Reader, v5: bool) -> p.Subscribe:
        packet_id = _packet_id(reader, "SUBSCRIBE")
        properties = decode_properties(reader, props.SUBSCRIBE) if v5 else Properties()
        subscriptions = []
        while reader.remaining():
            topic_filter = reader.utf8("topic filter")
            options = reader.u8("subscription options")
            qos = options & 3
            if qos == 3:
                raise MqttError(
                    MALFORMED_PACKET, f"subscription to {topic_filter[:64]!r} asks QoS 3"
                )
            reserved = options & (0xC0 if v5 else 0xFC)
            if reserved:
                raise MqttError(
                    MALFORMED_PACKET, "reserved bits of the subscription options are set"
                )
            handling = (options >> 4) & 3
            if handling == 3:
                raise MqttError(MALFORMED_PACKET, "retain handling 3 is reserved")
            subscriptions.append(
                p.SubscriptionRequest(
                    topic_filter, qos, bool(options & 4), bool(options & 8), handling
                )
            )
        if not subscriptions:
            raise MqttError(PROTOCOL_ERROR, "SUBSCRIBE has no topic filter")
        return p.Subscribe(packet_id, subscriptions, properties)


def _packet_id(reader: Reader, name: str) -> int:
    packet_id = reader.u16("packet identifier")
    if not packet_id:
        raise MqttError(PROTOCOL_ERROR, f"{name} has packet identifier 0")
    return packet_id


__all__ = ["DEFAULT_MAX_PACKET_SIZE", "PACKET_NAMES", "Decoder", "decode_utf8", "encode"]
