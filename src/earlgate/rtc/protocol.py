"""The PeerJS signaling protocol as a peer speaks it: messages in, events out.

Pure: no sockets, no aiortc, no clock. :class:`earlgate.rtc.peer.Peer` owns
the WebSocket and feeds each text frame to :func:`parse`, which never raises:
whatever the server sends becomes one event (a malformed frame becomes
:class:`Malformed`). The builders return the text frames to send.

PEERJS.md, Server: "Messages are JSON text frames ``{type, src?, dst?,
payload?}``"; data connections are negotiated with ``OFFER``, ``ANSWER`` and
``CANDIDATE`` whose payloads carry a ``connectionId``.
"""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

import orjson

from earlgate.wire.peerjs import MessageType, PeerId, is_valid_id

__all__ = [
    "PROTOCOL_VERSION",
    "Candidate",
    "Event",
    "Malformed",
    "MessageType",
    "Offer",
    "Opened",
    "PeerGone",
    "PeerId",
    "Refused",
    "Relayed",
    "answer_payload",
    "candidate_payload",
    "encode",
    "heartbeat",
    "id_url",
    "is_valid_id",
    "new_connection_id",
    "new_token",
    "offer_payload",
    "parse",
    "socket_url",
]

# The ``version`` query parameter the browser client sends (npm peerjs 1.5.5).
PROTOCOL_VERSION = "1.5.5"

# -- message types (peerjs ServerMessageType) ----------------------------------


# peerjs DataConnection.ID_PREFIX
CONNECTION_ID_PREFIX = "dc_"
_TOKEN_ALPHABET = string.ascii_lowercase + string.digits


def new_token() -> str:
    """A random token like peerjs's ``randomToken()``: it proves a reconnect is ours."""
    return "".join(secrets.choice(_TOKEN_ALPHABET) for _ in range(11))


def new_connection_id() -> str:
    """A fresh ``connectionId`` (peerjs: ``"dc_" + randomToken()``)."""
    return CONNECTION_ID_PREFIX + new_token()


def _base(secure: bool, host: str, port: int, path: str, ws: bool) -> str:
    scheme = ("wss" if secure else "ws") if ws else ("https" if secure else "http")
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    if not path.endswith("/"):
        path += "/"
    if not path.startswith("/"):
        path = "/" + path
    return f"{scheme}://{host}:{port}{path}"


def id_url(host: str, port: int, path: str, key: str, secure: bool, ts: str) -> str:
    """``GET {path}{key}/id``: PEERJS.md "a fresh unused id as the plain body"."""
    query = urlencode({"ts": ts, "version": PROTOCOL_VERSION})
    return f"{_base(secure, host, port, path, ws=False)}{quote(key, safe='')}/id?{query}"


def socket_url(
    host: str, port: int, path: str, key: str, secure: bool, peer_id: str, token: str
) -> str:
    """``{path}peerjs?key=K&id=ID&token=T&version=V`` (PEERJS.md, Server: WebSocket)."""
    query = urlencode({"key": key, "id": peer_id, "token": token, "version": PROTOCOL_VERSION})
    return f"{_base(secure, host, port, path, ws=True)}peerjs?{query}"


# -- building ------------------------------------------------------------------


def encode(kind: MessageType, dst: str | None = None, payload: object = None) -> str:
    """One signaling frame. ``src`` is left out: the server writes it."""
    message: dict[str, Any] = {"type": kind.value}
    if payload is not None:
        message["payload"] = payload
    if dst is not None:
        message["dst"] = dst
    return orjson.dumps(message).decode()


def heartbeat() -> str:
    """PEERJS.md: "``HEARTBEAT`` (client sends every 5 s): refreshes liveness"."""
    return encode(MessageType.HEARTBEAT)


def offer_payload(
    sdp: str,
    connection_id: str,
    label: str,
    reliable: bool,
    serialization: str,
    metadata: object,
) -> dict[str, Any]:
    """PEERJS.md: "OFFER payload: ``{sdp:{type:"offer",sdp}, type:"data",
    connectionId:"dc_…", label, reliable, serialization, metadata}``"."""
    return {
        "sdp": {"type": "offer", "sdp": sdp},
        "type": "data",
        "connectionId": connection_id,
        "metadata": metadata,
        "label": label,
        "reliable": reliable,
        "serialization": serialization,
    }


def answer_payload(sdp: str, connection_id: str) -> dict[str, Any]:
    """PEERJS.md: "ANSWER payload: ``{sdp:{type:"answer",sdp}, type:"data",
    connectionId}`` (``sdp`` must be an object)"."""
    return {"sdp": {"type": "answer", "sdp": sdp}, "type": "data", "connectionId": connection_id}


def candidate_payload(
    candidate: str, sdp_mid: str | None, sdp_mline_index: int | None, connection_id: str
) -> dict[str, Any]:
    """PEERJS.md: "CANDIDATE payload: ``{candidate:{candidate,sdpMid,sdpMLineIndex,
    usernameFragment}, type:"data", connectionId}``"."""
    return {
        "candidate": {
            "candidate": candidate,
            "sdpMid": sdp_mid,
            "sdpMLineIndex": sdp_mline_index,
        },
        "type": "data",
        "connectionId": connection_id,
    }


# -- parsing -------------------------------------------------------------------


@dataclass(frozen=True)
class Opened:
    """``OPEN``: the server accepted our id."""


@dataclass(frozen=True)
class Refused:
    """The server refused us (``ERROR``, ``ID-TAKEN``, ``INVALID-KEY``).

    ``error_type`` is the peerjs error type the browser would report.
    """

    error_type: str
    message: str


@dataclass(frozen=True)
class Offer:
    """Another peer opens a data connection to us."""

    src: PeerId
    connection_id: str
    sdp: str
    label: str
    serialization: str
    reliable: bool
    metadata: Any


@dataclass(frozen=True)
class Relayed:
    """``ANSWER`` for one of our connections (``sdp`` set)."""

    src: PeerId
    connection_id: str
    sdp: str


@dataclass(frozen=True)
class Candidate:
    """A trickled remote ICE candidate (``candidate`` is the ``a=`` line's value)."""

    src: PeerId
    connection_id: str
    candidate: str
    sdp_mid: str | None
    sdp_mline_index: int | None


@dataclass(frozen=True)
class PeerGone:
    """``LEAVE`` (the peer left) or ``EXPIRE`` (our messages to it expired)."""

    src: PeerId
    expired: bool


@dataclass(frozen=True)
class Malformed:
    """A frame we cannot use; ``reason`` says why. Logged and dropped."""

    reason: str
    raw: str = field(repr=False, default="")


Event = Opened | Refused | Offer | Relayed | Candidate | PeerGone | Malformed


def parse(frame: str | bytes) -> Event:
    """Turn one server frame into an event. Never raises."""
    raw = frame if isinstance(frame, str) else frame.decode("utf-8", "replace")
    try:
        message = orjson.loads(frame)
    except orjson.JSONDecodeError:
        return Malformed("not JSON", raw)
    if not isinstance(message, dict):
        return Malformed("not a JSON object", raw)
    kind = message.get("type")
    payload = message.get("payload")
    src = message.get("src")
    if kind == MessageType.OPEN:
        return Opened()
    if kind == MessageType.ERROR:
        msg = payload.get("msg") if isinstance(payload, dict) else None
        text = msg if isinstance(msg, str) else "server error"
        # PEERJS.md: wrong key → ERROR "Invalid key provided"; peerjs itself
        # reports every ERROR as server-error.
        return Refused("server-error", text)
    if kind == MessageType.ID_TAKEN:
        return Refused("unavailable-id", "ID is taken")
    if kind == MessageType.INVALID_KEY:
        return Refused("invalid-key", "API key is invalid")
    if not isinstance(src, str):
        return Malformed(f"{kind!r} without a src", raw)
    if kind in (MessageType.LEAVE, MessageType.EXPIRE):
        return PeerGone(PeerId(src), expired=kind == MessageType.EXPIRE)
    if not isinstance(payload, dict):
        return Malformed(f"{kind!r} without a payload", raw)
    connection_id = payload.get("connectionId")
    if not isinstance(connection_id, str):
        return Malformed(f"{kind!r} without a connectionId", raw)
    if kind in (MessageType.OFFER, MessageType.ANSWER):
        return _parse_sdp(kind, PeerId(src), connection_id, payload, raw)
    if kind == MessageType.CANDIDATE:
        return _parse_candidate(PeerId(src), connection_id, payload, raw)
    return Malformed(f"unknown type {kind!r}", raw)


def _parse_sdp(
    kind: MessageType, src: PeerId, connection_id: str, payload: dict[str, Any], raw: str
) -> Event:
    description = payload.get("sdp")
    sdp = description.get("sdp") if isinstance(description, dict) else None
    if not isinstance(sdp, str):
        return Malformed(f"{kind} without an sdp", raw)
    if kind == MessageType.ANSWER:
        return Relayed(src, connection_id, sdp)
    if payload.get("type") != "data":
        return Malformed(f"offer of a {payload.get('type')!r} connection", raw)
    label = payload.get("label")
    serialization = payload.get("serialization")
    return Offer(
        src=src,
        connection_id=connection_id,
        sdp=sdp,
        label=label if isinstance(label, str) else connection_id,
        serialization=serialization if isinstance(serialization, str) else "binary",
        reliable=bool(payload.get("reliable")),
        metadata=payload.get("metadata"),
    )


def _parse_candidate(src: PeerId, connection_id: str, payload: dict[str, Any], raw: str) -> Event:
    body = payload.get("candidate")
    if not isinstance(body, dict) or not isinstance(body.get("candidate"), str):
        return Malformed("CANDIDATE without a candidate", raw)
    mid = body.get("sdpMid")
    index = body.get("sdpMLineIndex")
    return Candidate(
        src=src,
        connection_id=connection_id,
        candidate=body["candidate"],
        sdp_mid=mid if isinstance(mid, str) else None,
        sdp_mline_index=index if isinstance(index, int) and not isinstance(index, bool) else None,
    )
