"""Whole, bounded messages out of data frames, fed one frame at a time."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import pytest
from picows import WSFrame, WSMsgType

from earlgate.server.websocket import MessageAssembler, MessageTooLarge, UnexpectedContinuation


@dataclass
class FakeFrame:
    msg_type: WSMsgType
    payload: bytes
    fin: bool = True

    @property
    def payload_size(self) -> int:
        return len(self.payload)

    def get_payload_as_bytes(self) -> bytes:
        return self.payload

    def get_payload_as_memoryview(self) -> memoryview:
        return memoryview(self.payload)


def frame(kind: WSMsgType, payload: bytes, fin: bool = True) -> WSFrame:
    return cast(WSFrame, FakeFrame(kind, payload, fin))


def test_a_whole_frame_is_a_message() -> None:
    assembler = MessageAssembler(8)
    assert assembler.feed(frame(WSMsgType.TEXT, b"12345678")) == b"12345678"


def test_fragments_are_joined_byte_by_byte() -> None:
    assembler = MessageAssembler(8)
    assert assembler.feed(frame(WSMsgType.BINARY, b"1", fin=False)) is None
    for byte in b"234":
        assert assembler.feed(frame(WSMsgType.CONTINUATION, bytes([byte]), fin=False)) is None
    assert assembler.feed(frame(WSMsgType.CONTINUATION, b"5")) == b"12345"
    with pytest.raises(UnexpectedContinuation):
        assembler.feed(frame(WSMsgType.CONTINUATION, b"6"))


def test_too_large_counts_every_fragment_and_drops_the_message() -> None:
    assembler = MessageAssembler(4)
    with pytest.raises(MessageTooLarge) as single:
        assembler.feed(frame(WSMsgType.TEXT, b"12345"))
    assert single.value.size == 5
    assembler.feed(frame(WSMsgType.TEXT, b"123", fin=False))
    with pytest.raises(MessageTooLarge) as joined:
        assembler.feed(frame(WSMsgType.CONTINUATION, b"45"))
    assert joined.value.size == 5
    with pytest.raises(UnexpectedContinuation):
        assembler.feed(frame(WSMsgType.CONTINUATION, b""))
