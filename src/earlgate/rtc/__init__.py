"""WebRTC peers that talk to PeerJS browsers, on aiortc.

The pure core imports nothing from aiortc: ``binarypack`` (the BinaryPack
serialization of ``binary`` connections), ``chunking`` (the 16,300-byte
slicing peerjs applies to large packed values), ``serialization`` (the raw,
json and binary codecs) and ``protocol`` (the signaling messages). The I/O
around them: ``peer`` (:class:`Peer`), ``signaling`` (its socket to the
signaling server) and ``connection`` (:class:`DataConnection`, one
RTCPeerConnection each).
"""

from __future__ import annotations

import logging

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
from earlgate.rtc.connection import DataConnection
from earlgate.rtc.errors import ConnectionErrorType, DataConnectionError, PeerError, PeerErrorType
from earlgate.rtc.peer import Peer

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = [
    "ConnectionErrorType",
    "DataConnection",
    "DataConnectionError",
    "Peer",
    "PeerError",
    "PeerErrorType",
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
