"""The three serializations of PeerJS data connections, frames in and out.

PEERJS.md, Serializations:

- ``raw``: "bytes or text passed through; no chunking";
- ``json`` (peerjs ≥ 1.5): "UTF-8 JSON sent as **binary** frames; a text frame
  crashes a 1.5 browser receiver. Accept text frames too (peerjs 1.4).
  Messages ≥ 16300 bytes are refused (``message-too-big``)";
- ``binary`` / ``binary-utf8`` / ``default``: BinaryPack, chunked over 16300
  bytes (:mod:`earlgate.rtc.chunking`).

Pure: a :class:`Codec` turns a value into the frames to send and each received
frame into the values it completes. One codec per connection (chunk ids count
per connection).
"""

from __future__ import annotations

from typing import Any, Protocol

import orjson

from earlgate.rtc.chunking import CHUNKED_MTU, Chunker, CloseRequest, Data, Reassembler
from earlgate.rtc.errors import ConnectionErrorType, DataConnectionError

__all__ = [
    "SERIALIZATIONS",
    "BinaryCodec",
    "Codec",
    "Frame",
    "JsonCodec",
    "RawCodec",
    "codec_for",
]

Frame = bytes | str


class Codec(Protocol):
    def encode(self, value: object) -> list[Frame]:
        """The frames that carry ``value``.

        Raises:
            TypeError: the serialization cannot carry this value.
            DataConnectionError: ``message-too-big``.
        """
        ...

    def decode(self, frame: Frame) -> Data | CloseRequest | None:
        """What one received frame completes, if anything.

        Raises:
            ValueError: the frame is not of this serialization.
        """
        ...


class RawCodec:
    """``raw``: bytes and text as they are."""

    def encode(self, value: object) -> list[Frame]:
        if isinstance(value, str | bytes):
            return [value]
        if isinstance(value, bytearray | memoryview):
            return [bytes(value)]
        raise TypeError(f"a raw connection sends bytes or str, not {type(value).__name__}")

    def decode(self, frame: Frame) -> Data:
        return Data(frame)


class JsonCodec:
    """``json``: UTF-8 JSON in binary frames (text frames accepted)."""

    def encode(self, value: object) -> list[Frame]:
        try:
            data = orjson.dumps(value)
        except TypeError as exc:
            raise TypeError(f"cannot send as JSON: {exc}") from exc
        # Json.send: "if (encodedData.byteLength >= util.chunkedMTU) { this.emitError(
        # DataConnectionErrorType.MessageToBig, ...); return; }"
        if len(data) >= CHUNKED_MTU:
            raise DataConnectionError(
                ConnectionErrorType.MESSAGE_TOO_BIG,
                f"JSON message of {len(data)} bytes; a json connection sends under {CHUNKED_MTU}",
            )
        return [data]

    def decode(self, frame: Frame) -> Data:
        try:
            value: Any = orjson.loads(frame)
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"not JSON: {exc}") from exc
        return Data(value)


class BinaryCodec:
    """``binary``: BinaryPack, chunked and reassembled."""

    def __init__(self) -> None:
        self.chunker = Chunker()
        self.reassembler = Reassembler()

    def encode(self, value: object) -> list[Frame]:
        try:
            return list(self.chunker.frames(value))
        except ValueError as exc:
            raise TypeError(f"cannot send with BinaryPack: {exc}") from exc

    def decode(self, frame: Frame) -> Data | CloseRequest | None:
        if isinstance(frame, str):
            return Data(frame)
        return self.reassembler.feed(frame)


# peerjs Peer._serializers: raw, json, binary, binary-utf8 and default (= binary).
SERIALIZATIONS = ("binary", "binary-utf8", "default", "json", "raw")


def codec_for(serialization: str) -> Codec:
    """The codec of a serialization name, as peerjs spells it."""
    if serialization == "raw":
        return RawCodec()
    if serialization == "json":
        return JsonCodec()
    if serialization in ("binary", "binary-utf8", "default"):
        return BinaryCodec()
    raise ValueError(f"unknown serialization {serialization!r}: one of {', '.join(SERIALIZATIONS)}")
