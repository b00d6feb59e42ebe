"""MQTT 5 properties (section 2.2.2): their identifiers, types and where each may appear.

A packet's properties are one :class:`Properties` value: every property is an
optional field, user properties a list of pairs, subscription identifiers a
list (a PUBLISH may carry several). The table :data:`PROPERTY_TYPES` drives
both encoding and decoding; :data:`ALLOWED` says which packet may carry which
property, and a decoder that meets one elsewhere raises ``MALFORMED_PACKET``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Final

from earlgate.mqtt.primitives import (
    Reader,
    put_binary,
    put_u16,
    put_u32,
    put_utf8,
    put_varint,
)
from earlgate.mqtt.reasons import MALFORMED_PACKET, PROTOCOL_ERROR, MqttError

# -- property value types ------------------------------------------------------
BYTE: Final = "byte"
U16: Final = "u16"
U32: Final = "u32"
VARINT: Final = "varint"
UTF8: Final = "utf8"
BINARY: Final = "binary"
PAIR: Final = "pair"

# -- packet kinds a property may appear in (fixed header types; WILL = the CONNECT's will)
CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 1, 2, 3, 4, 5, 6, 7
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, DISCONNECT, AUTH = 8, 9, 10, 11, 14, 15
WILL: Final = 100

_ACKS = {PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK, UNSUBACK}

# identifier: (field name, type, packets it may appear in)
PROPERTY_TYPES: Final[dict[int, tuple[str, str, frozenset[int]]]] = {
    0x01: ("payload_format", BYTE, frozenset({PUBLISH, WILL})),
    0x02: ("message_expiry", U32, frozenset({PUBLISH, WILL})),
    0x03: ("content_type", UTF8, frozenset({PUBLISH, WILL})),
    0x08: ("response_topic", UTF8, frozenset({PUBLISH, WILL})),
    0x09: ("correlation_data", BINARY, frozenset({PUBLISH, WILL})),
    0x0B: ("subscription_ids", VARINT, frozenset({PUBLISH, SUBSCRIBE})),
    0x11: ("session_expiry", U32, frozenset({CONNECT, CONNACK, DISCONNECT})),
    0x12: ("assigned_client_id", UTF8, frozenset({CONNACK})),
    0x13: ("server_keep_alive", U16, frozenset({CONNACK})),
    0x15: ("auth_method", UTF8, frozenset({CONNECT, CONNACK, AUTH})),
    0x16: ("auth_data", BINARY, frozenset({CONNECT, CONNACK, AUTH})),
    0x17: ("request_problem_info", BYTE, frozenset({CONNECT})),
    0x18: ("will_delay", U32, frozenset({WILL})),
    0x19: ("request_response_info", BYTE, frozenset({CONNECT})),
    0x1A: ("response_info", UTF8, frozenset({CONNACK})),
    0x1C: ("server_reference", UTF8, frozenset({CONNACK, DISCONNECT})),
    0x1F: ("reason_string", UTF8, frozenset({CONNACK, DISCONNECT, AUTH} | _ACKS)),
    0x21: ("receive_maximum", U16, frozenset({CONNECT, CONNACK})),
    0x22: ("topic_alias_maximum", U16, frozenset({CONNECT, CONNACK})),
    0x23: ("topic_alias", U16, frozenset({PUBLISH})),
    0x24: ("maximum_qos", BYTE, frozenset({CONNACK})),
    0x25: ("retain_available", BYTE, frozenset({CONNACK})),
    0x26: (
        "user",
        PAIR,
        frozenset({CONNECT, CONNACK, PUBLISH, WILL, SUBSCRIBE})
        | frozenset({UNSUBSCRIBE, DISCONNECT, AUTH} | _ACKS),
    ),
    0x27: ("maximum_packet_size", U32, frozenset({CONNECT, CONNACK})),
    0x28: ("wildcard_available", BYTE, frozenset({CONNACK})),
    0x29: ("subscription_ids_available", BYTE, frozenset({CONNACK})),
    0x2A: ("shared_available", BYTE, frozenset({CONNACK})),
}
IDENTIFIER_OF: Final = {name: ident for ident, (name, _, _) in PROPERTY_TYPES.items()}
# Properties that may appear more than once (2.2.2.2: others twice is a Protocol Error).
REPEATABLE: Final = frozenset({0x26, 0x0B})


@dataclass(slots=True)
class Properties:
    """The properties of one MQTT 5 packet; None (or empty) = absent."""

    payload_format: int | None = None
    message_expiry: int | None = None
    content_type: str | None = None
    response_topic: str | None = None
    correlation_data: bytes | None = None
    subscription_ids: list[int] = field(default_factory=list)
    session_expiry: int | None = None
    assigned_client_id: str | None = None
    server_keep_alive: int | None = None
    auth_method: str | None = None
    auth_data: bytes | None = None
    request_problem_info: int | None = None
    will_delay: int | None = None
    request_response_info: int | None = None
    response_info: str | None = None
    server_reference: str | None = None
    reason_string: str | None = None
    receive_maximum: int | None = None
    topic_alias_maximum: int | None = None
    topic_alias: int | None = None
    maximum_qos: int | None = None
    retain_available: int | None = None
    user: list[tuple[str, str]] = field(default_factory=list)
    maximum_packet_size: int | None = None
    wildcard_available: int | None = None
    subscription_ids_available: int | None = None
    shared_available: int | None = None

    def present(self) -> list[tuple[int, Any]]:
        """(identifier, value) of every property set, in identifier order."""
        out: list[tuple[int, Any]] = []
        for ident, (name, _, _) in PROPERTY_TYPES.items():
            value = getattr(self, name)
            if value is None or (isinstance(value, list) and not value):
                continue
            out.append((ident, value))
        return out

    def is_empty(self) -> bool:
        return not self.present()

    def as_dict(self) -> dict[str, Any]:
        """The properties that are set, by name (for logs and tests)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if _set(getattr(self, f.name))}


def _set(value: object) -> bool:
    return value is not None and not (isinstance(value, list) and not value)


def encode_properties(out: bytearray, props: Properties) -> None:
    """Append the property length and the properties (2.2.2)."""
    body = bytearray()
    for ident, value in props.present():
        kind = PROPERTY_TYPES[ident][1]
        items = value if isinstance(value, list) else (value,)
        for item in items:
            body.append(ident)
            if kind == BYTE:
                body.append(item)
            elif kind == U16:
                put_u16(body, item)
            elif kind == U32:
                put_u32(body, item)
            elif kind == VARINT:
                put_varint(body, item)
            elif kind == UTF8:
                put_utf8(body, item)
            elif kind == BINARY:
                put_binary(body, item)
            else:
                put_utf8(body, item[0])
                put_utf8(body, item[1])
    put_varint(out, len(body))
    out += body


# Values a property may not take (3.1.2.11, 3.2.2.3, 3.3.2.3): a Protocol Error.
_BOOLEAN = frozenset({0x01, 0x17, 0x19, 0x24, 0x25, 0x28, 0x29, 0x2A})
_NONZERO = frozenset({0x0B, 0x21, 0x23, 0x27})


def decode_properties(reader: Reader, packet: int) -> Properties:
    """Read a property length and the properties allowed in ``packet`` (a kind above)."""
    length = reader.varint("property length")
    end = reader.pos + length
    if end > reader.end:
        raise MqttError(MALFORMED_PACKET, "property length runs past the end of the packet")
    props = Properties()
    if not length:
        return props
    seen: set[int] = set()
    sub = Reader(reader.data, reader.pos, end)
    while sub.pos < end:
        ident = sub.varint("property identifier")
        entry = PROPERTY_TYPES.get(ident)
        if entry is None:
            raise MqttError(MALFORMED_PACKET, f"unknown property identifier 0x{ident:02X}")
        name, kind, allowed = entry
        if packet not in allowed:
            raise MqttError(
                MALFORMED_PACKET,
                f"property {name} (0x{ident:02X}) is not allowed in {_NAMES[packet]}",
            )
        # 3.8.2.1.2: a SUBSCRIBE carries at most one subscription identifier.
        if ident in seen and (ident not in REPEATABLE or (ident == 0x0B and packet == SUBSCRIBE)):
            raise MqttError(PROTOCOL_ERROR, f"property {name} appears twice")
        seen.add(ident)
        value: Any
        if kind == BYTE:
            value = sub.u8(name)
        elif kind == U16:
            value = sub.u16(name)
        elif kind == U32:
            value = sub.u32(name)
        elif kind == VARINT:
            value = sub.varint(name)
        elif kind == UTF8:
            value = sub.utf8(name)
        elif kind == BINARY:
            value = sub.binary(name)
        else:
            value = (sub.utf8("user property name"), sub.utf8("user property value"))
        if ident in _BOOLEAN and value not in (0, 1):
            raise MqttError(PROTOCOL_ERROR, f"property {name} must be 0 or 1, got {value}")
        if ident in _NONZERO and value == 0:
            raise MqttError(PROTOCOL_ERROR, f"property {name} must not be 0")
        if ident == 0x26:
            props.user.append(value)
        elif ident == 0x0B:
            props.subscription_ids.append(value)
        else:
            setattr(props, name, value)
    reader.pos = end
    return props


_NAMES = {
    CONNECT: "CONNECT",
    CONNACK: "CONNACK",
    PUBLISH: "PUBLISH",
    PUBACK: "PUBACK",
    PUBREC: "PUBREC",
    PUBREL: "PUBREL",
    PUBCOMP: "PUBCOMP",
    SUBSCRIBE: "SUBSCRIBE",
    SUBACK: "SUBACK",
    UNSUBSCRIBE: "UNSUBSCRIBE",
    UNSUBACK: "UNSUBACK",
    DISCONNECT: "DISCONNECT",
    AUTH: "AUTH",
    WILL: "the will properties of CONNECT",
}
