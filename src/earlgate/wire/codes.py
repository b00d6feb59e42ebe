"""The hub protocol's vocabulary: error codes, frame types, close codes, hub fields.

PROTOCOL.md names these; the hub, the brokers, the clients and the gateway all
speak them. Pure: no third-party package, no I/O. Parsing the JSON of a frame
is the hub's business (:mod:`earlgate.hub.frames`).
"""

from __future__ import annotations

import functools
import json
from typing import Final

# Error codes (PROTOCOL.md, "Hub -> client").
BAD_JSON: Final = "bad_json"
BAD_FRAME: Final = "bad_frame"
BAD_SUBJECT: Final = "bad_subject"
TOO_LARGE: Final = "too_large"
FORBIDDEN: Final = "forbidden"
RATE_LIMITED: Final = "rate_limited"
OVERLOADED: Final = "overloaded"
UNAVAILABLE: Final = "unavailable"

# Frame types a client may send.
SUBSCRIBE: Final = "subscribe"
UNSUBSCRIBE: Final = "unsubscribe"
PUBLISH: Final = "publish"
PUBLISHER: Final = "publisher"  # the thesis's form, a synonym of publish
PING: Final = "ping"
AUTH: Final = "auth"  # a fresh token for the open connection
CLIENT_TYPES: Final = frozenset({SUBSCRIBE, UNSUBSCRIBE, PUBLISH, PUBLISHER, PING, AUTH})

# Close codes of our own (RFC 6455 7.4.2: 4000-4999 are for applications).
CLOSE_TOKEN_EXPIRED: Final = 4001

# Fields that belong to the hub (PROTOCOL.md: "all starting with `_`").
HUB_FIELD_PREFIX: Final = "_"
OFFSET_FIELD: Final = "_offset"
OFFSET_KEY: Final = b'"%s":' % OFFSET_FIELD.encode()  # encoded once, spliced per message
EPOCH_FIELD: Final = "_epoch"

FrameId = str | int

# An ``id`` is echoed in acks and errors. A JSON number is exact in every
# client (JavaScript included) only up to 2^53 - 1; larger integers, and
# fractions, would come back changed, so they are refused.
MAX_ID_INTEGER: Final = 2**53 - 1


class FrameError(Exception):
    """A frame was refused; ``code`` is the PROTOCOL.md error code to answer with."""

    def __init__(self, code: str, reason: str, frame_id: FrameId | None = None) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason
        self.frame_id = frame_id


def is_hub_field(key: str) -> bool:
    """Whether a frame's field is the hub's own (a publisher may not set it)."""
    return key.startswith(HUB_FIELD_PREFIX)


def with_hub_fields(raw: bytes, fields: dict[str, int | str]) -> bytes:
    """Add the hub's own ``_`` fields to a frame without re-encoding the rest.

    PROTOCOL.md: subscribers receive "the publish frame as the publisher sent
    it"; "the hub may add fields of its own, all starting with `_`". Splicing
    keeps the publisher's bytes (key order, number formatting) intact. The
    hub's fields are integers and strings, written compactly as UTF-8.
    """
    return splice_fields(raw, encode_hub_fields(fields))


def encode_hub_fields(fields: dict[str, int | str]) -> bytes:
    """``fields`` as the inside of a JSON object (``"_offset":7,"_epoch":"9f3c"``)."""
    return b",".join([b"%s:%s" % (_json_string(key), _json_value(v)) for key, v in fields.items()])


def splice_fields(raw: bytes, encoded: bytes) -> bytes:
    """Add already encoded fields (:func:`encode_hub_fields`) at the end of a frame."""
    body = raw.rstrip()
    if not body.endswith(b"}"):  # pragma: no cover - parse_frame guarantees an object
        raise ValueError("not a JSON object")
    if not encoded:
        return bytes(body)
    head = body[:-1].rstrip()
    separator = b"" if head.endswith(b"{") else b","
    return head + separator + encoded + b"}"


def _json_value(value: int | str) -> bytes:
    return b"%d" % value if isinstance(value, int) else _json_string(value)


@functools.lru_cache(maxsize=256)
def _json_string(text: str) -> bytes:
    """``text`` as a JSON string: printable ASCII without quote or backslash (every hub
    field name and epoch) as it is, anything else through ``json``. The same few
    names and epochs come with every message, hence the cache."""
    if text.isascii() and text.isprintable() and '"' not in text and "\\" not in text:
        return b'"%s"' % text.encode()
    return json.dumps(text, ensure_ascii=False).encode()
