"""PeerJS's signaling vocabulary, shared by our server (``signal``) and our peer (``rtc``).

One ``MessageType`` for both ends (PeerServer's ``MessageType`` plus the
``INVALID-KEY`` a client may be sent), one ``PeerId`` type and the id rule of
PEERJS.md. Standard library only.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import NewType

__all__ = ["MessageType", "PeerId", "is_valid_id"]

PeerId = NewType("PeerId", str)


class MessageType(StrEnum):
    """The ``type`` of every signaling frame, as PeerServer and peerjs spell it."""

    OPEN = "OPEN"
    LEAVE = "LEAVE"
    CANDIDATE = "CANDIDATE"
    OFFER = "OFFER"
    ANSWER = "ANSWER"
    EXPIRE = "EXPIRE"
    HEARTBEAT = "HEARTBEAT"
    ID_TAKEN = "ID-TAKEN"
    ERROR = "ERROR"
    INVALID_KEY = "INVALID-KEY"


# PEERJS.md: "Client-side id rule: ^[A-Za-z0-9]+(?:[ _-][A-Za-z0-9]+)*$".
_ID_RULE = re.compile(r"[A-Za-z0-9]+(?:[ _-][A-Za-z0-9]+)*")


def is_valid_id(peer_id: str) -> bool:
    """Whether peerjs would accept ``peer_id`` (it refuses others as ``invalid-id``)."""
    return _ID_RULE.fullmatch(peer_id) is not None
