"""PeerJS signaling messages: their types, and the JSON frames on the wire.

PEERJS.md: "Messages are JSON text frames ``{type, src?, dst?, payload?}``".
Frames the server writes are built here, byte for byte as PeerServer's
``JSON.stringify`` writes them (keys in that order, absent keys left out), and
frames clients send are read here into :class:`Message`, or refused with a
:class:`MessageError` naming why, so that the router counts bad input instead
of failing on it. Nesting is bounded (:data:`MAX_DEPTH`) and numbers must fit
a double, so that whatever is read can be written again as JSON.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

import orjson

from earlgate.signal.errors import SignalError
from earlgate.wire.peerjs import MessageType, PeerId

__all__ = [
    "DEPTH_LIMIT",
    "FORWARDED",
    "MAX_DEPTH",
    "ErrorText",
    "Message",
    "MessageError",
    "MessageType",
    "PeerId",
    "dumps",
    "error_frame",
    "parse",
    "relay_frame",
]

# -- nesting (the message object itself is level 1) ----------------------------
MAX_DEPTH = 64  # default: peerjs's own messages are 3 levels deep, metadata aside
# orjson writes at most 254 levels; a deeper frame could not be relayed.
DEPTH_LIMIT = 254


# "OFFER, ANSWER, CANDIDATE (and LEAVE, EXPIRE) with dst: the server overwrites
# src with the sender's id and forwards {type,src,dst,payload}."
FORWARDED: Final = frozenset(
    {
        MessageType.OFFER,
        MessageType.ANSWER,
        MessageType.CANDIDATE,
        MessageType.LEAVE,
        MessageType.EXPIRE,
    }
)


class ErrorText(StrEnum):
    """The ``payload.msg`` of PeerServer's ERROR frames, word for word."""

    INVALID_WS_PARAMETERS = "No id, token, or key supplied to websocket server"
    INVALID_KEY = "Invalid key provided"
    CONNECTION_LIMIT_EXCEED = "Server has reached its concurrent user limit"


class MessageError(SignalError):
    """A client's frame is not a signaling message; ``reason`` is a metrics label."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Message:
    """A message a client sent, as far as the server reads it.

    ``type`` is ``None`` for a type PeerServer has no handler for ("Unknown
    types are dropped"); ``dst`` is ``None`` when absent or not a string.
    ``payload`` is kept as parsed JSON and ``has_payload`` tells an absent
    payload from ``null``, which PeerServer forwards.
    """

    type: MessageType | None
    raw_type: str
    dst: PeerId | None
    payload: Any = None
    has_payload: bool = False


_TYPES: Final = {member.value: member for member in MessageType}


def parse(data: bytes, max_depth: int = MAX_DEPTH) -> Message:
    """Read one client frame (text, or binary holding the same JSON).

    PeerServer parses ``data.toString()`` whatever the frame's opcode, so a
    binary frame of JSON is a message too.

    Args:
        data: the frame's payload.
        max_depth: arrays and objects nested deeper than this (the message
            itself is level 1) are refused; at most :data:`DEPTH_LIMIT`.

    Raises:
        MessageError: not JSON, nested too deep, a number past a double's
            range, not an object, or without a string ``type``.
    """
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        value = _loads_lenient(data, max_depth)
    if not isinstance(value, dict):
        raise MessageError("not_an_object", "a message must be a JSON object")
    # A frame cannot nest deeper than it has brackets: most are read without a walk.
    if data.count(b"[") + data.count(b"{") > max_depth and _deeper_than(value, max_depth):
        raise _too_deep(max_depth)
    raw_type = value.get("type")
    if not isinstance(raw_type, str):
        raise MessageError("no_type", "a message needs a string type")
    dst = value.get("dst")
    return Message(
        _TYPES.get(raw_type),
        raw_type,
        PeerId(dst) if isinstance(dst, str) else None,
        value.get("payload"),
        "payload" in value,
    )


class _BadNumber(ValueError):
    pass


def _loads_lenient(data: bytes, max_depth: int) -> Any:
    # JSON.parse reads what orjson refuses: lone surrogate escapes, integers
    # orjson has no type for. The standard library reads those too.
    try:
        return json.loads(
            data.decode("utf-8"),
            parse_constant=_no_constant,
            parse_float=_finite_float,
            parse_int=_finite_int,
        )
    except _BadNumber as exc:
        raise MessageError("bad_number", str(exc)) from None
    except RecursionError:
        # orjson stops at 1024 levels, the standard library near its recursion limit
        raise _too_deep(max_depth) from None
    except (UnicodeDecodeError, ValueError):
        raise MessageError("not_json", "the frame is not JSON") from None


def _too_deep(max_depth: int) -> MessageError:
    return MessageError("too_deep", f"a message must not nest deeper than {max_depth} levels")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # JSON.parse refuses NaN and Infinity too


def _finite_float(text: str) -> float:
    # JSON.parse reads 1e400 as Infinity, which JSON.stringify forwards as
    # null; a number no peerjs client writes is refused instead.
    value = float(text)
    if not math.isfinite(value):
        shown = text if len(text) <= 24 else text[:20] + "..."
        raise _BadNumber(f"the number {shown} is past a double's range")
    return value


def _finite_int(text: str) -> int:
    # Integers of up to 300 digits fit a double; past that the same test,
    # which also keeps int() off its 4300-digit conversion limit.
    if len(text) > 300:
        _finite_float(text)
    return int(text)


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether arrays and objects in ``value`` nest past ``limit`` levels (no recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        children = node.values() if isinstance(node, dict) else node
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def dumps(value: dict[str, Any]) -> bytes:
    """Serialize a frame; what orjson cannot write the standard library can."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value, separators=(",", ":")).encode()


def relay_frame(
    raw_type: str, src: PeerId, dst: PeerId, payload: Any = None, has_payload: bool = False
) -> bytes:
    """The frame forwarded to ``dst``: ``{type, src, dst, payload}``.

    PeerServer rebuilds each message as ``{type, src, dst, payload}`` and
    ``JSON.stringify`` drops ``payload`` when it is undefined; other fields a
    client added are not forwarded.
    """
    frame: dict[str, Any] = {"type": raw_type, "src": src, "dst": dst}
    if has_payload:
        frame["payload"] = payload
    return dumps(frame)


def error_frame(text: ErrorText) -> bytes:
    """``{"type":"ERROR","payload":{"msg":…}}`` as ``_sendErrorAndClose`` sends it."""
    return orjson.dumps({"type": MessageType.ERROR.value, "payload": {"msg": text.value}})


OPEN_FRAME: Final = orjson.dumps({"type": MessageType.OPEN.value})
# Case 3: '{"type":"ID-TAKEN","payload":{"msg":"ID is taken"}}'
ID_TAKEN_FRAME: Final = orjson.dumps(
    {"type": MessageType.ID_TAKEN.value, "payload": {"msg": "ID is taken"}}
)
