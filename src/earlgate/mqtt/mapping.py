"""MQTT application messages as hub publish frames and back (docs/mqtt.md, "Payloads").

One system, two protocols: what an MQTT client publishes is a hub publish
frame that WebSocket subscribers read like any other, and a frame a WebSocket
client publishes reaches MQTT subscribers as a PUBLISH. The rules:

- A payload that is JSON (and not a bare string or ``null``) is the frame's
  ``data``, its bytes copied into the frame as they came.
- UTF-8 text that is not JSON is ``data`` as a JSON string.
- Anything else is ``data`` as base64, with ``"mqtt": {"encoding": "base64"}``.
- An empty payload is a frame without ``data`` (with retain: deletes the
  retained value, as a WebSocket publish without data does).
- MQTT 5 properties that travel with the message sit in the frame's ``mqtt``
  object: ``qos``, ``content_type``, ``format``, ``response_topic``,
  ``correlation_data`` (base64), ``user`` (pairs), ``expires`` (ms since the
  epoch); ``from`` tags a publisher that has a no-local subscription.

Back to MQTT, ``data`` becomes the payload byte for byte: a string is its
UTF-8 text (base64-decoded with that encoding), anything else the exact JSON
bytes that the frame holds, found by :func:`member_span` without re-encoding.
Pure: no I/O, the wall clock is passed in.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from dataclasses import dataclass, field
from typing import Any, Final

import orjson

from earlgate.mqtt.packets import Publish
from earlgate.mqtt.properties import Properties

MQTT_FIELD: Final = "mqtt"
ENCODING_BASE64: Final = "base64"
ENCODING_JSON: Final = "json"  # a payload that is a JSON string, quotes included
_STRING_START = 0x22  # '"'


@dataclass(slots=True)
class Message:
    """An application message as MQTT sees it, read from a hub frame.

    ``expires`` is wall-clock seconds (MQTT 5 message expiry), None: never.
    ``properties`` holds only what travels with a message (content type,
    payload format, response topic, correlation data, user properties).
    """

    topic: str
    payload: bytes
    qos: int = 0
    retain: bool = False
    properties: Properties = field(default_factory=Properties)
    expires: float | None = None
    origin: str | None = None  # the publishing MQTT session's tag, for no-local subscriptions


# -- MQTT -> hub -----------------------------------------------------------------


def to_frame(
    publish: Publish, *, now: float, frame_id: int | None = None, origin: str | None = None
) -> bytes:
    """The hub publish frame of an MQTT PUBLISH received at wall time ``now``.

    ``frame_id`` asks the hub for its verdict (an ``ack`` or ``error`` with that
    id), which a QoS 1 or 2 publish needs before it is acknowledged. ``origin``
    tags the frame with the publishing session (``mqtt.from``), set while that
    session holds a no-local subscription that must not get it back.
    """
    payload = publish.payload
    meta: dict[str, Any] = {}
    if publish.qos:
        meta["qos"] = publish.qos
    if origin is not None:
        meta["from"] = origin
    data = _data_bytes(payload, meta)
    _meta_from_properties(publish.properties, now, meta)
    # ``data`` comes before ``subject``: the hub may splice its own fields in
    # before the closing brace, trimming the space there, and a payload's
    # trailing newline must survive that.
    out = bytearray(b'{"type":"publish"')
    if data is not None:
        out += b',"data":'
        out += data
    out += b',"subject":'
    out += orjson.dumps(publish.topic)
    if meta:
        out += b',"mqtt":'
        out += orjson.dumps(meta)
    if publish.retain:
        out += b',"retain":true'
    if frame_id is not None:
        out += b',"id":%d' % frame_id
    out += b"}"
    return bytes(out)


def message_of(publish: Publish, *, now: float, origin: str | None = None) -> Message:
    """The message that :func:`from_frame` reads from ``to_frame(publish, now=now)``.

    The hub core delivers an MQTT client's publish to this process's other
    sessions while the publish is being handed to it; they take this message
    instead of parsing the frame again. It must equal the round trip, which
    the mapping's tests check for every kind of payload and property.
    """
    props = publish.properties
    message = Message(publish.topic, publish.payload, publish.qos, publish.retain)
    kept = message.properties
    kept.content_type = props.content_type
    if props.payload_format == 1:
        kept.payload_format = 1
    if props.response_topic:
        kept.response_topic = props.response_topic
    kept.correlation_data = props.correlation_data
    if props.user:
        kept.user = list(props.user)
    message.origin = origin
    if props.message_expiry is not None:
        message.expires = int((now + props.message_expiry) * 1000) / 1000.0
    return message


def _data_bytes(payload: bytes, meta: dict[str, Any]) -> bytes | None:
    """The JSON of ``data`` for ``payload`` (None: no data), noting its encoding in ``meta``."""
    if not payload:
        return None
    try:
        # Leading space would not survive the way back (a member's value starts
        # at its first byte that is not space): such a payload is text.
        value = orjson.loads(payload) if payload[0] not in _SPACE else None
    except orjson.JSONDecodeError:
        value = None
    else:
        if value is not None and not isinstance(value, str):
            return payload  # JSON: copied as it came
        if isinstance(value, str):
            meta["encoding"] = ENCODING_JSON
            return payload
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        meta["encoding"] = ENCODING_BASE64
        return b'"%s"' % base64.b64encode(payload)
    return orjson.dumps(text)


def _meta_from_properties(props: Properties, now: float, meta: dict[str, Any]) -> None:
    if props.content_type is not None:
        meta["content_type"] = props.content_type
    if props.payload_format:
        meta["format"] = props.payload_format
    if props.response_topic is not None:
        meta["response_topic"] = props.response_topic
    if props.correlation_data is not None:
        meta["correlation_data"] = base64.b64encode(props.correlation_data).decode()
    if props.user:
        meta["user"] = [list(pair) for pair in props.user]
    if props.message_expiry is not None:
        meta["expires"] = int((now + props.message_expiry) * 1000)


# -- hub -> MQTT -----------------------------------------------------------------


def from_frame(raw: bytes, frame: dict[str, Any]) -> Message:
    """The MQTT message of a delivered publish frame: ``raw`` and its parsed ``frame``.

    Never raises: a WebSocket publisher's ``mqtt`` object that does not follow
    the rules is read for what it gets right and the rest is ignored.
    """
    meta = frame.get(MQTT_FIELD)
    if not isinstance(meta, dict):
        meta = {}
    qos = meta.get("qos")
    if not isinstance(qos, int) or isinstance(qos, bool) or not 0 <= qos <= 2:
        # Without an MQTT QoS: a publish that asked for the hub's ack is at least once.
        qos = 1 if frame.get("id") is not None else 0
    subject = frame.get("subject")
    message = Message(
        topic=subject if isinstance(subject, str) else "",
        payload=_payload(raw, frame, meta),
        qos=qos,
        retain=frame.get("retain") is True,
    )
    _properties_from_meta(meta, message)
    return message


def _payload(raw: bytes, frame: dict[str, Any], meta: dict[str, Any]) -> bytes:
    data = frame.get("data")
    if data is None:
        return b""
    encoding = meta.get("encoding")
    if isinstance(data, str) and encoding != ENCODING_JSON:
        if encoding == ENCODING_BASE64:
            try:
                return base64.b64decode(data, validate=True)
            except (binascii.Error, ValueError):
                pass  # not base64 after all: delivered as the text it is
        return data.encode("utf-8", "surrogatepass")
    span = member_span(raw, b"data")
    if span is None:  # pragma: no cover - parsed frames with data have its member
        return orjson.dumps(data)
    return raw[span[0] : span[1]]


def _properties_from_meta(meta: dict[str, Any], message: Message) -> None:
    props = message.properties
    value = meta.get("content_type")
    if isinstance(value, str):
        props.content_type = value
    value = meta.get("format")
    if value == 1:
        props.payload_format = 1
    value = meta.get("response_topic")
    if isinstance(value, str) and value:
        props.response_topic = value
    value = meta.get("correlation_data")
    if isinstance(value, str):
        try:
            props.correlation_data = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            pass
    value = meta.get("user")
    if isinstance(value, list):
        props.user = [
            (pair[0], pair[1])
            for pair in value
            if isinstance(pair, list)
            and len(pair) == 2
            and isinstance(pair[0], str)
            and isinstance(pair[1], str)
        ]
    value = meta.get("from")
    if isinstance(value, str):
        message.origin = value
    value = meta.get("expires")
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        message.expires = value / 1000.0


def remaining_expiry(expires: float, now: float) -> int:
    """MQTT 5 3.3.2.3.3: the expiry interval to send for a message expiring at
    ``expires``, in whole seconds rounded up; 0: it has expired."""
    left = expires - now
    return math.ceil(left) if left > 0 else 0


# -- finding a member's bytes ----------------------------------------------------

# A JSON string (the unrolled form: no backtracking per character), and the
# bytes that change the structure outside strings.
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_STRUCTURE = re.compile(rb'["{}\[\],:]')
_SPACE = b" \t\r\n"


def member_span(raw: bytes, name: bytes) -> tuple[int, int] | None:
    """Where the value of the top-level member ``name`` lies in the JSON object ``raw``.

    ``raw`` must be valid JSON (the hub parsed it). With duplicate names the
    last one counts, as for orjson. The span starts at the value's first byte
    and ends before the ``,`` or ``}`` after it: space after the value is
    part of it (a payload's trailing newline). Returns (start, end) or None.
    """
    depth = 0
    pos = 0
    found: tuple[int, int] | None = None
    value_start = -1  # inside the value of the member we look for
    key_seen = False  # a string at depth 1 that may be ``name``
    while True:
        match = _STRUCTURE.search(raw, pos)
        if match is None:
            return found
        at = match.start()
        char = raw[at]
        if char == _STRING_START:
            end = _STRING.match(raw, at)
            stop = end.end() if end is not None else len(raw)
            if depth == 1 and value_start < 0:
                key_seen = _is_name(raw[at + 1 : stop - 1], name)
            pos = stop
            continue
        pos = at + 1
        if char == 0x3A:  # ':'
            if depth == 1 and key_seen:
                value_start = pos
            key_seen = False
        elif char in b"{[":
            depth += 1
        elif char == 0x2C or char in b"}]":  # ',' or a close
            if depth == 1 and value_start >= 0:
                found = (_skip_space(raw, value_start), at)
                value_start = -1
            if char != 0x2C:
                depth -= 1
                if depth == 0:
                    return found


def _is_name(inner: bytes, name: bytes) -> bool:
    if inner == name:
        return True
    if b"\\" not in inner:
        return False
    try:
        return bool(orjson.loads(b'"%s"' % inner) == name.decode())
    except orjson.JSONDecodeError:
        return False


def _skip_space(raw: bytes, pos: int) -> int:
    while pos < len(raw) and raw[pos] in _SPACE:
        pos += 1
    return pos
