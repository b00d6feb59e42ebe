"""The hub's wire frames: parsing what clients send, encoding what the hub answers.

PROTOCOL.md: "Frames are UTF-8 JSON text frames, one JSON object per frame. A
binary frame holding UTF-8 JSON is accepted the same way." Everything here is
pure: bytes in, values or bytes out. A parser never raises anything but
:class:`~earlgate.wire.codes.FrameError`, which carries the error code the hub
sends back; the codes and frame types themselves are in :mod:`earlgate.wire.codes`.
"""

from __future__ import annotations

from typing import Any

import orjson

from earlgate.wire.codes import (
    BAD_FRAME,
    BAD_JSON,
    CLIENT_TYPES,
    MAX_ID_INTEGER,
    FrameError,
    FrameId,
    is_hub_field,
)


def parse_frame(payload: bytes | bytearray | memoryview | str) -> dict[str, Any]:
    """Decode one client frame into its JSON object, checking the common fields.

    Checks that the payload is UTF-8 JSON, an object, has a known ``type`` and
    that ``id`` (when present) is a string or an integer the hub can echo
    exactly.
    """
    try:
        message = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise FrameError(BAD_JSON, f"frame is not valid UTF-8 JSON: {exc}") from None
    if not isinstance(message, dict):
        raise FrameError(BAD_FRAME, f"frame must be a JSON object, got {type_name(message)}")
    frame_id = message.get("id")
    if frame_id is not None and not _exact_id(frame_id):
        raise FrameError(
            BAD_FRAME, "field 'id' must be a string or an integer between -(2^53-1) and 2^53-1"
        )
    kind = message.get("type")
    if not isinstance(kind, str) or kind not in CLIENT_TYPES:
        if kind is None:
            reason = "frame has no 'type'"
        elif not isinstance(kind, str):
            reason = f"field 'type' must be a string, got {type_name(kind)}"
        else:
            reason = f"unknown frame type {kind[:64]!r}"
        raise FrameError(BAD_FRAME, reason, frame_id)
    return message


def _exact_id(frame_id: object) -> bool:
    if isinstance(frame_id, str):
        return True
    return (
        isinstance(frame_id, int)
        and not isinstance(frame_id, bool)
        and -MAX_ID_INTEGER <= frame_id <= MAX_ID_INTEGER
    )


def without_hub_fields(message: dict[str, Any], raw: bytes) -> bytes:
    """A publish frame's bytes with the fields that belong to the hub removed.

    PROTOCOL.md: fields "starting with `_`" are the hub's own (``_offset``,
    ``_epoch``); a publisher that sends them could forge a delivery's offset.
    Frames without such fields (all well-behaved ones) keep their bytes.
    """
    # A key starting with "_" shows in the bytes as "_ or, escaped, as "\u005f:
    # frames without either (all well-behaved ones) skip the look at every key.
    if (b'"_' not in raw and b'"\\u005' not in raw) or not any(
        is_hub_field(key) for key in message
    ):
        return raw
    kept = {key: value for key, value in message.items() if not is_hub_field(key)}
    try:
        return orjson.dumps(kept)
    except orjson.JSONEncodeError as exc:
        raise FrameError(
            BAD_FRAME, f"frame with hub fields ('_...') cannot be re-encoded: {exc}"
        ) from None


def check_publish_fields(message: dict[str, Any]) -> bool:
    """Check a publish frame's optional fields; return its ``retain`` flag."""
    published = message.get("published")
    if published is not None and (
        isinstance(published, bool) or not isinstance(published, int | float)
    ):
        raise FrameError(
            BAD_FRAME, "field 'published' must be a number (ms since epoch)", message.get("id")
        )
    retain = message.get("retain", False)
    if not isinstance(retain, bool):
        raise FrameError(BAD_FRAME, "field 'retain' must be a boolean", message.get("id"))
    return retain


def check_subscribe_fields(message: dict[str, Any]) -> tuple[bool, int | None, str | None]:
    """Check a subscribe frame's ``last``, ``since`` and ``epoch``; return them."""
    frame_id = message.get("id")
    last = message.get("last", False)
    if not isinstance(last, bool):
        raise FrameError(BAD_FRAME, "field 'last' must be a boolean", frame_id)
    since = message.get("since")
    if since is not None and (isinstance(since, bool) or not isinstance(since, int) or since < 0):
        raise FrameError(BAD_FRAME, "field 'since' must be a non-negative integer", frame_id)
    epoch = message.get("epoch")
    if epoch is not None and not isinstance(epoch, str):
        raise FrameError(BAD_FRAME, "field 'epoch' must be a string", frame_id)
    return last, since, epoch


def type_name(value: object) -> str:
    """The JSON name of a decoded value's type, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def error_frame(code: str, reason: str, frame_id: FrameId | None = None) -> bytes:
    frame: dict[str, Any] = {"type": "error", "code": code, "reason": reason}
    if frame_id is not None:
        frame["id"] = frame_id
    return orjson.dumps(frame)


def ack_frame(
    frame_id: FrameId,
    recovered: bool | None = None,
    revoked: list[str] | None = None,
    positions: dict[str, list[Any]] | None = None,
) -> bytes:
    frame: dict[str, Any] = {"type": "ack", "id": frame_id}
    if recovered is not None:
        frame["recovered"] = recovered
    if positions is not None:
        frame["positions"] = positions
    if revoked is not None:
        frame["revoked"] = revoked
    return orjson.dumps(frame)


def pong_frame(frame_id: FrameId | None) -> bytes:
    frame: dict[str, Any] = {"type": "pong"}
    if frame_id is not None:
        frame["id"] = frame_id
    return orjson.dumps(frame)
