"""MQTT control packets (3.1.1 and 5.0) as plain values.

One class per packet type of the fixed header (MQTT 5.0, 2.1.2). Fields that
exist only in MQTT 5 (properties, reason codes on acks) are ignored when a
packet is encoded for 3.1.1. Packet identifiers are 1..65535.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from earlgate.mqtt.properties import Properties

# -- protocol levels (3.1.2.2) -------------------------------------------------
V311: Final = 4
V5: Final = 5

# -- fixed header packet types (2.1.2) ----------------------------------------
CONNECT: Final = 1
CONNACK: Final = 2
PUBLISH: Final = 3
PUBACK: Final = 4
PUBREC: Final = 5
PUBREL: Final = 6
PUBCOMP: Final = 7
SUBSCRIBE: Final = 8
SUBACK: Final = 9
UNSUBSCRIBE: Final = 10
UNSUBACK: Final = 11
PINGREQ: Final = 12
PINGRESP: Final = 13
DISCONNECT: Final = 14
AUTH: Final = 15


@dataclass(slots=True)
class Will:
    """The message a CONNECT asks the server to publish if the client vanishes."""

    topic: str
    payload: bytes = b""
    qos: int = 0
    retain: bool = False
    properties: Properties = field(default_factory=Properties)


@dataclass(slots=True)
class Connect:
    protocol_level: int = V311
    client_id: str = ""
    clean_start: bool = True
    keep_alive: int = 60
    username: str | None = None
    password: bytes | None = None
    will: Will | None = None
    properties: Properties = field(default_factory=Properties)
    protocol_name: str = "MQTT"
    type: int = field(default=CONNECT, init=False, repr=False)


@dataclass(slots=True)
class ConnAck:
    session_present: bool = False
    reason: int = 0  # an MQTT 5 reason code, or a 3.1.1 return code when encoded for 3.1.1
    properties: Properties = field(default_factory=Properties)
    type: int = field(default=CONNACK, init=False, repr=False)


@dataclass(slots=True)
class Publish:
    topic: str
    payload: bytes = b""
    qos: int = 0
    retain: bool = False
    dup: bool = False
    packet_id: int | None = None  # present exactly when qos > 0
    properties: Properties = field(default_factory=Properties)
    type: int = field(default=PUBLISH, init=False, repr=False)


@dataclass(slots=True)
class PubAck:
    packet_id: int
    reason: int = 0
    properties: Properties = field(default_factory=Properties)
    type: int = field(default=PUBACK, init=False, repr=False)


@dataclass(slots=True)
class PubRec:
    packet_id: int
    reason: int = 0
    properties: Properties = field(default_factory=Properties)
    type: int = field(default=PUBREC, init=False, repr=False)


@dataclass(slots=True)
class PubRel:
    packet_id: int
    reason: int = 0
    properties: Properties = field(default_factory=Properties)
    type: int = field(default=PUBREL, init=False, repr=False)


@dataclass(slots=True)
class PubComp:
    packet_id: int
    reason: int = 0
    properties: Properties = field(default_factory=Properties)
    type: int = field(default=PUBCOMP, init=False, repr=False)


@dataclass(slots=True)
class SubscriptionRequest:
    """One topic filter of a SUBSCRIBE with its options (3.8.3.1)."""

    filter: str
    qos: int = 0
    no_local: bool = False
    retain_as_published: bool = False
    retain_handling: int = 0  # 0: send retained, 1: only if new, 2: never


@dataclass(slots=True)
class Subscribe:
    packet_id: int
    subscriptions: list[SubscriptionRequest]
    properties: Properties = field(default_factory=Properties)
    type: int = field(default=SUBSCRIBE, init=False, repr=False)


@dataclass(slots=True)
class SubAck:
    packet_id: int
    reasons: list[int]
    properties: Properties = field(default_factory=Properties)
    type: int = field(default=SUBACK, init=False, repr=False)


@dataclass(slots=True)
class Unsubscribe:
    packet_id: int
    filters: list[str]
    properties: Properties = field(default_factory=Properties)
    type: int = field(default=UNSUBSCRIBE, init=False, repr=False)


@dataclass(slots=True)
class UnsubAck:
    packet_id: int
    reasons: list[int] = field(default_factory=list)  # MQTT 5 only
    properties: Properties = field(default_factory=Properties)
    type: int = field(default=UNSUBACK, init=False, repr=False)


@dataclass(slots=True)
class PingReq:
    type: int = field(default=PINGREQ, init=False, repr=False)


@dataclass(slots=True)
class PingResp:
    type: int = field(default=PINGRESP, init=False, repr=False)


@dataclass(slots=True)
class Disconnect:
    reason: int = 0
    properties: Properties = field(default_factory=Properties)
    type: int = field(default=DISCONNECT, init=False, repr=False)


@dataclass(slots=True)
class Auth:
    """MQTT 5 only: extended authentication exchange."""

    reason: int = 0
    properties: Properties = field(default_factory=Properties)
    type: int = field(default=AUTH, init=False, repr=False)


Ack = PubAck | PubRec | PubRel | PubComp
Packet = (
    Connect
    | ConnAck
    | Publish
    | PubAck
    | PubRec
    | PubRel
    | PubComp
    | Subscribe
    | SubAck
    | Unsubscribe
    | UnsubAck
    | PingReq
    | PingResp
    | Disconnect
    | Auth
)
