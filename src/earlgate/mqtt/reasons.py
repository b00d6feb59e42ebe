"""MQTT reason codes and the one error every malformed or refused input raises.

MQTT 5.0 section 2.4 numbers every outcome (a "reason code"); MQTT 3.1.1 has
only CONNACK return codes and SUBACK's 0x80. The codec and the protocol core
speak MQTT 5 reason codes throughout and map them down for 3.1.1 at the edge
(:func:`connack_code_v4`).

Exceptions::

    MqttError            the peer sent something we refuse; carries ``reason``
"""

from __future__ import annotations

from typing import Final

# -- reason codes (MQTT 5.0, 2.4) --------------------------------------------
SUCCESS: Final = 0x00
GRANTED_QOS_1: Final = 0x01
GRANTED_QOS_2: Final = 0x02
DISCONNECT_WITH_WILL: Final = 0x04
NO_MATCHING_SUBSCRIBERS: Final = 0x10
NO_SUBSCRIPTION_EXISTED: Final = 0x11
UNSPECIFIED_ERROR: Final = 0x80
MALFORMED_PACKET: Final = 0x81
PROTOCOL_ERROR: Final = 0x82
IMPLEMENTATION_SPECIFIC: Final = 0x83
UNSUPPORTED_PROTOCOL_VERSION: Final = 0x84
CLIENT_ID_NOT_VALID: Final = 0x85
BAD_USERNAME_OR_PASSWORD: Final = 0x86
NOT_AUTHORIZED: Final = 0x87
SERVER_UNAVAILABLE: Final = 0x88
SERVER_BUSY: Final = 0x89
SERVER_SHUTTING_DOWN: Final = 0x8B
BAD_AUTHENTICATION_METHOD: Final = 0x8C
KEEP_ALIVE_TIMEOUT: Final = 0x8D
SESSION_TAKEN_OVER: Final = 0x8E
TOPIC_FILTER_INVALID: Final = 0x8F
TOPIC_NAME_INVALID: Final = 0x90
PACKET_ID_IN_USE: Final = 0x91
PACKET_ID_NOT_FOUND: Final = 0x92
RECEIVE_MAXIMUM_EXCEEDED: Final = 0x93
TOPIC_ALIAS_INVALID: Final = 0x94
PACKET_TOO_LARGE: Final = 0x95
MESSAGE_RATE_TOO_HIGH: Final = 0x96
QUOTA_EXCEEDED: Final = 0x97
PAYLOAD_FORMAT_INVALID: Final = 0x99
QOS_NOT_SUPPORTED: Final = 0x9B
SHARED_SUBSCRIPTIONS_NOT_SUPPORTED: Final = 0x9E
SUBSCRIPTION_IDS_NOT_SUPPORTED: Final = 0xA1

# -- CONNACK return codes of MQTT 3.1.1 (3.2.2.3) ------------------------------
V4_ACCEPTED: Final = 0
V4_UNACCEPTABLE_PROTOCOL_VERSION: Final = 1
V4_IDENTIFIER_REJECTED: Final = 2
V4_SERVER_UNAVAILABLE: Final = 3
V4_BAD_USERNAME_OR_PASSWORD: Final = 4
V4_NOT_AUTHORIZED: Final = 5
V4_SUBACK_FAILURE: Final = 0x80

_V4_CONNACK = {
    SUCCESS: V4_ACCEPTED,
    UNSUPPORTED_PROTOCOL_VERSION: V4_UNACCEPTABLE_PROTOCOL_VERSION,
    CLIENT_ID_NOT_VALID: V4_IDENTIFIER_REJECTED,
    BAD_USERNAME_OR_PASSWORD: V4_BAD_USERNAME_OR_PASSWORD,
    BAD_AUTHENTICATION_METHOD: V4_BAD_USERNAME_OR_PASSWORD,
    NOT_AUTHORIZED: V4_NOT_AUTHORIZED,
}


def connack_code_v4(reason: int) -> int:
    """The 3.1.1 CONNACK return code closest to an MQTT 5 reason code."""
    return _V4_CONNACK.get(reason, V4_SERVER_UNAVAILABLE)


class MqttError(Exception):
    """The peer sent something malformed or not allowed.

    ``reason`` is the MQTT 5 reason code to answer with (in a CONNACK before
    the connection is accepted, else in a DISCONNECT); the message names what
    was wrong.
    """

    def __init__(self, reason: int, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message

    def __repr__(self) -> str:
        return f"MqttError(0x{self.reason:02X}, {self.message!r})"
