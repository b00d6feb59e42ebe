"""Errors of WebRTC peers, named with PeerJS's error types.

A browser's ``peer.on("error", err => err.type)`` and ours carry the same
strings, so code and logs read alike on both sides::

    PeerError                 .type: a PeerErrorType or a ConnectionErrorType
    └── DataConnectionError   raised by one DataConnection (.type a ConnectionErrorType)

Misusing the API (a bad argument) raises ``ValueError``/``TypeError`` instead.
"""

from __future__ import annotations

import enum

__all__ = ["ConnectionErrorType", "DataConnectionError", "PeerError", "PeerErrorType"]


class PeerErrorType(enum.StrEnum):
    """peerjs ``PeerErrorType``."""

    BROWSER_INCOMPATIBLE = "browser-incompatible"
    DISCONNECTED = "disconnected"
    INVALID_ID = "invalid-id"
    INVALID_KEY = "invalid-key"
    NETWORK = "network"
    PEER_UNAVAILABLE = "peer-unavailable"
    SSL_UNAVAILABLE = "ssl-unavailable"
    SERVER_ERROR = "server-error"
    SOCKET_ERROR = "socket-error"
    SOCKET_CLOSED = "socket-closed"
    UNAVAILABLE_ID = "unavailable-id"
    WEBRTC = "webrtc"


class ConnectionErrorType(enum.StrEnum):
    """peerjs ``DataConnectionErrorType`` and ``BaseConnectionErrorType``."""

    NEGOTIATION_FAILED = "negotiation-failed"
    CONNECTION_CLOSED = "connection-closed"
    NOT_OPEN_YET = "not-open-yet"
    MESSAGE_TOO_BIG = "message-too-big"


class PeerError(Exception):
    """Something went wrong with a peer; ``type`` says what, as peerjs would."""

    def __init__(self, type: PeerErrorType | ConnectionErrorType, message: str) -> None:
        super().__init__(f"{type.value}: {message}")
        self.type = type
        self.message = message


class DataConnectionError(PeerError):
    """Something went wrong with one data connection."""

    def __init__(self, type: ConnectionErrorType, message: str) -> None:
        super().__init__(type, message)
