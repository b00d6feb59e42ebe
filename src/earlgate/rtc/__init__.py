"""WebRTC peers that talk to PeerJS: the codecs of its data connections.

``binarypack`` is the BinaryPack serialization of ``binary`` connections and
``chunking`` the 16,300-byte slicing peerjs applies to large packed values.
Both are pure (bytes in, values out) and import nothing from aiortc.
"""

from __future__ import annotations

from earlgate.rtc.binarypack import BinaryPackError, pack, unpack
from earlgate.rtc.chunking import (
    CHUNKED_MTU,
    CLOSE_FRAME,
    Chunker,
    ChunkError,
    CloseRequest,
    Data,
    Reassembler,
)

__all__ = [
    "CHUNKED_MTU",
    "CLOSE_FRAME",
    "BinaryPackError",
    "ChunkError",
    "Chunker",
    "CloseRequest",
    "Data",
    "Reassembler",
    "pack",
    "unpack",
]
