"""Splitting large BinaryPack messages into DataChannel-sized chunks and back.

PEERJS.md, Serializations: "values over 16300 bytes are split into 16300-byte
slices sent as ``pack({__peerData:<msg id from 1>, n, data, total})`` and
reassembled by ``n``. ``close({flush:true})`` sends
``{__peerData:{type:"close"}}``." The slices are of the *packed* bytes; the
receiver concatenates them and unpacks the result. peerjs's comment on the
number: "The original 60000 bytes setting does not work when sending data from
Firefox to Chrome, which is 'cut off' after 16384 bytes".

:class:`Chunker` is the sending half (one per connection: message ids count
up per connection), :class:`Reassembler` the receiving half. Both are pure:
frames in, values out. The receiver is stricter than peerjs's, which trusts its
peer: a repeated slice is ignored instead of counted, and slices that would
build a message over ``max_message_size`` or leave more than ``max_pending``
messages half-built are refused, so a peer cannot make us hold unbounded memory.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, TypeGuard

from earlgate.rtc.binarypack import BinaryPackError, pack, unpack

__all__ = [
    "CHUNKED_MTU",
    "CLOSE_FRAME",
    "ChunkError",
    "Chunker",
    "CloseRequest",
    "Data",
    "Reassembler",
    "is_js_truthy",
]

# peerjs BinaryPackChunker: "readonly chunkedMTU = 16300"
CHUNKED_MTU = 16300
PEER_DATA = "__peerData"
# BufferedConnection.close({flush: true}): send({__peerData: {type: "close"}})
CLOSE_FRAME = pack({PEER_DATA: {"type": "close"}})

# Defaults of the receiving limits.
MAX_MESSAGE_SIZE = 64 * 1024 * 1024
MAX_PENDING = 64
# Each slice held counts this much on top of its data toward max_message_size,
# so that a flood of empty slices is bounded too.
SLICE_OVERHEAD = 64
# A reassembled message may itself be a chunk only this many times over.
MAX_NESTING = 2


class ChunkError(BinaryPackError):
    """A ``__peerData`` chunk is malformed or over the receiver's limits."""


def is_js_truthy(value: object) -> bool:
    """Whether JavaScript would take ``value`` as true in ``if (value)``.

    peerjs tests ``if (peerData)``; an empty dict or list is truthy there.
    """
    if value is None or value is False:
        return False
    if isinstance(value, int | float):
        return value == value and value != 0  # NaN and zero are falsy
    if isinstance(value, str):
        return value != ""
    return True


class Chunker:
    """Turns values into the binary frames peerjs would send for them.

    Args:
        mtu: the largest packed value sent whole (peerjs: ``chunkedMTU``).
        first_id: the first chunked message's id (peerjs: ``_dataCount = 1``).
    """

    def __init__(self, mtu: int = CHUNKED_MTU, first_id: int = 1) -> None:
        if mtu < 1:
            raise ValueError("mtu must be at least 1 byte")
        self.mtu = mtu
        self.next_id = first_id

    def frames(self, value: object) -> list[bytes]:
        """Pack ``value``; one frame when it fits, else one per slice.

        BinaryPack._send: "if (!chunked && blob.byteLength > this.chunker.chunkedMTU)
        { this._sendChunks(blob); }"
        """
        return self.split(pack(value))

    def split(self, blob: bytes) -> list[bytes]:
        """Chunk an already packed value, if it is over the MTU."""
        if len(blob) <= self.mtu:
            return [blob]
        message_id = self.next_id
        self.next_id += 1
        total = -(-len(blob) // self.mtu)
        frames = []
        for n, start in enumerate(range(0, len(blob), self.mtu)):
            data = blob[start : start + self.mtu]
            # Key order as peerjs writes it: __peerData, n, data, total.
            frames.append(pack({PEER_DATA: message_id, "n": n, "data": data, "total": total}))
        return frames


@dataclass(frozen=True)
class Data:
    """A complete value received."""

    value: Any


@dataclass(frozen=True)
class CloseRequest:
    """The peer closed with ``flush``: close the connection as peerjs does."""


@dataclass
class _Partial:
    total: int
    slices: dict[int, bytes] = field(default_factory=dict)
    size: int = 0


class Reassembler:
    """Turns received binary frames back into values.

    Args:
        max_message_size: the largest reassembled message accepted, in bytes.
        max_pending: messages half-built at once; past it the oldest is dropped.
    """

    def __init__(self, max_message_size: int = MAX_MESSAGE_SIZE, max_pending: int = MAX_PENDING):
        self.max_message_size = max_message_size
        self.max_pending = max_pending
        self._partial: OrderedDict[Any, _Partial] = OrderedDict()
        self.dropped = 0  # half-built messages given up

    @property
    def pending(self) -> int:
        """How many messages are half-built."""
        return len(self._partial)

    def feed(self, frame: bytes | bytearray | memoryview) -> Data | CloseRequest | None:
        """Take one binary frame; return what it completes, if anything.

        Raises:
            BinaryPackError: the frame is not BinaryPack.
            ChunkError: it is a malformed chunk or over the limits.
        """
        return self._handle(unpack(frame), 0)

    def _handle(self, message: Any, nesting: int) -> Data | CloseRequest | None:
        # BinaryPack._handleDataMessage: "const peerData = deserializedData['__peerData'];
        # if (peerData) { if (peerData.type === 'close') ...; this._handleChunk(...) }"
        if not isinstance(message, dict) or not is_js_truthy(message.get(PEER_DATA)):
            return Data(message)
        peer_data = message[PEER_DATA]
        if isinstance(peer_data, dict) and peer_data.get("type") == "close":
            return CloseRequest()
        blob = self._add_chunk(message)
        if blob is None:
            return None
        if nesting >= MAX_NESTING:
            raise ChunkError("reassembled message is a chunk nested too deeply")
        return self._handle(unpack(blob), nesting + 1)

    def _add_chunk(self, chunk: dict[Any, Any]) -> bytes | None:
        message_id = chunk[PEER_DATA]
        n, total, data = chunk.get("n"), chunk.get("total"), chunk.get("data")
        if isinstance(message_id, list | dict):
            raise ChunkError("chunk id must be a number or a string")
        if not isinstance(data, bytes):
            raise ChunkError("chunk data must be bytes")
        if not _is_count(total) or total < 1:
            raise ChunkError(f"chunk total must be a positive integer, not {total!r}")
        if not _is_count(n) or not 0 <= n < total:
            raise ChunkError(f"chunk index {n!r} is not in 0..{total - 1}")
        if total * SLICE_OVERHEAD > self.max_message_size:
            raise ChunkError(f"{total} chunks cannot make a message of the size accepted")
        return self._store(message_id, n, total, data)

    def _store(self, message_id: Any, n: int, total: int, data: bytes) -> bytes | None:
        partial = self._partial.get(message_id)
        if partial is None:
            partial = _Partial(total)
            self._partial[message_id] = partial
            while len(self._partial) > self.max_pending:
                self._partial.popitem(last=False)
                self.dropped += 1
        elif partial.total != total:
            self._forget(message_id)
            raise ChunkError(f"chunk total changed from {partial.total} to {total}")
        if n in partial.slices:
            return None
        partial.size += len(data) + SLICE_OVERHEAD
        if partial.size > self.max_message_size:
            self._forget(message_id)
            raise ChunkError(f"chunked message over {self.max_message_size} bytes")
        partial.slices[n] = data
        if len(partial.slices) < total:
            return None
        del self._partial[message_id]
        return b"".join(partial.slices[i] for i in range(total))

    def _forget(self, message_id: Any) -> None:
        del self._partial[message_id]
        self.dropped += 1


def _is_count(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)
