"""Chunking and reassembly: byte-exact with peerjs's chunker, and robust on receipt."""

from __future__ import annotations

import random
from typing import Any

import pytest
from binarypack_vectors import VECTORS, matches, materialize
from hypothesis import given
from hypothesis import strategies as st

from earlgate.rtc.binarypack import BinaryPackError, pack, unpack
from earlgate.rtc.chunking import (
    CHUNKED_MTU,
    CLOSE_FRAME,
    Chunker,
    ChunkError,
    CloseRequest,
    Data,
    Reassembler,
    is_js_truthy,
)


def test_frames_are_byte_exact_with_peerjs() -> None:
    # The generator used one util (one message counter) for every case, in order.
    chunker = Chunker()
    for vector in VECTORS["chunk"]:
        value = materialize(vector["value"])
        assert len(pack(value)) == vector["packed_len"]
        frames = chunker.frames(value)
        assert len(frames) == len(vector["frames"]), vector["name"]
        for frame, expected in zip(frames, vector["frames"], strict=True):
            assert matches(frame, expected), vector["name"]


def test_peerjs_frames_reassemble() -> None:
    reassembler = Reassembler()
    value = "0123456789" * 4000  # the 40 KB string of the acceptance tests
    frames = Chunker().frames(value)
    assert len(frames) == 3
    assert [reassembler.feed(frame) for frame in frames] == [None, None, Data(value)]
    assert reassembler.pending == 0


def test_mtu_boundary() -> None:
    chunker = Chunker()
    whole = bytes(CHUNKED_MTU - 3)  # da + u16 length + data = exactly the MTU
    assert chunker.frames(whole) == [pack(whole)]
    assert chunker.next_id == 1
    frames = chunker.frames(bytes(CHUNKED_MTU - 2))
    assert len(frames) == 2
    assert unpack(frames[1]) == {"__peerData": 1, "n": 1, "data": b"\x00", "total": 2}
    assert chunker.next_id == 2


def test_close_frame_is_peerjs_close() -> None:
    assert CLOSE_FRAME.hex() == "81ba5f5f706565724461746181b474797065b5636c6f7365"
    assert Reassembler().feed(CLOSE_FRAME) == CloseRequest()


@given(
    st.binary(min_size=1, max_size=5000) | st.text(max_size=3000),
    st.integers(min_value=16, max_value=700),
    st.randoms(use_true_random=False),
)
def test_any_order_any_mtu_round_trips(value: Any, mtu: int, rnd: random.Random) -> None:
    frames = Chunker(mtu=mtu).frames(value)
    rnd.shuffle(frames)
    reassembler = Reassembler()
    results = [reassembler.feed(frame) for frame in frames]
    assert results[-1] == Data(value)
    assert all(result is None for result in results[:-1])


def test_interleaved_messages() -> None:
    chunker = Chunker(mtu=100)
    a, b = chunker.frames(bytes(range(250))), chunker.frames("x" * 300)
    reassembler = Reassembler()
    out = [reassembler.feed(frame) for pair in zip(a, b, strict=False) for frame in pair]
    out += [reassembler.feed(frame) for frame in b[len(a) :]]
    assert [r for r in out if r is not None] == [Data(bytes(range(250))), Data("x" * 300)]


def test_repeated_slice_is_ignored() -> None:
    frames = Chunker(mtu=50).frames(bytes(120))
    reassembler = Reassembler()
    assert reassembler.feed(frames[0]) is None
    assert reassembler.feed(frames[0]) is None  # peerjs would count it and corrupt
    assert reassembler.feed(frames[1]) is None
    assert reassembler.feed(frames[2]) == Data(bytes(120))


@pytest.mark.parametrize(
    "value",
    [
        {"__peerData": 0, "n": 1},  # falsy id: plain data, as in peerjs
        {"__peerData": "", "x": 1},
        {"__peerData": None},
        {"other": 1},
        [1, 2],
        "text",
        None,
    ],
)
def test_non_chunks_are_data(value: Any) -> None:
    assert Reassembler().feed(pack(value)) == Data(value)


@pytest.mark.parametrize(
    "chunk",
    [
        {"__peerData": 1, "n": 0, "data": b"x", "total": 0},
        {"__peerData": 1, "n": 2, "data": b"x", "total": 2},
        {"__peerData": 1, "n": -1, "data": b"x", "total": 2},
        {"__peerData": 1, "n": True, "data": b"x", "total": 2},
        {"__peerData": 1, "n": 0, "data": "x", "total": 2},
        {"__peerData": 1, "n": 0, "total": 2},
        {"__peerData": [1], "n": 0, "data": b"x", "total": 2},
        {"__peerData": 1, "n": 0, "data": b"x", "total": 10**9},
        {"__peerData": {"type": "other"}, "n": 0, "data": b"x", "total": 2},
    ],
)
def test_malformed_chunks_raise_chunk_error(chunk: dict[str, Any]) -> None:
    with pytest.raises(ChunkError):
        Reassembler().feed(pack(chunk))


def test_chunk_error_is_a_binarypack_error() -> None:
    assert issubclass(ChunkError, BinaryPackError)
    with pytest.raises(BinaryPackError):
        Reassembler().feed(b"\xd8")


def test_size_limit_drops_the_message() -> None:
    frames = Chunker(mtu=1000).frames(bytes(5000))
    reassembler = Reassembler(max_message_size=3200)
    for frame in frames[:3]:
        assert reassembler.feed(frame) is None
    with pytest.raises(ChunkError, match="over 3200 bytes"):
        reassembler.feed(frames[3])
    assert reassembler.pending == 0
    assert reassembler.dropped == 1


def test_total_that_changes_drops_the_message() -> None:
    reassembler = Reassembler()
    reassembler.feed(pack({"__peerData": 5, "n": 0, "data": b"a", "total": 3}))
    with pytest.raises(ChunkError, match="changed"):
        reassembler.feed(pack({"__peerData": 5, "n": 1, "data": b"b", "total": 2}))
    assert reassembler.pending == 0


def test_oldest_half_built_message_is_evicted() -> None:
    reassembler = Reassembler(max_pending=2)
    for message_id in (1, 2, 3):
        chunk = {"__peerData": message_id, "n": 0, "data": b"\x07", "total": 2}
        assert reassembler.feed(pack(chunk)) is None
    assert reassembler.pending == 2
    assert reassembler.dropped == 1
    for message_id in (3, 2):
        last = {"__peerData": message_id, "n": 1, "data": b"", "total": 2}
        assert reassembler.feed(pack(last)) == Data(7)
    # Message 1 was given up: its last slice starts it again instead of finishing it.
    assert reassembler.feed(pack({"__peerData": 1, "n": 1, "data": b"", "total": 2})) is None
    assert reassembler.pending == 1


def test_reassembled_close_request() -> None:
    frames = Chunker(mtu=10).split(CLOSE_FRAME)
    reassembler = Reassembler()
    assert [reassembler.feed(frame) for frame in frames][-1] == CloseRequest()


def test_nesting_is_bounded() -> None:
    blob = pack("payload" * 10)
    for message_id in range(1, 5):
        blob = pack({"__peerData": message_id, "n": 0, "data": blob, "total": 1})
    with pytest.raises(ChunkError, match="nested"):
        Reassembler().feed(blob)


@pytest.mark.parametrize(
    "value, truthy",
    [(None, False), (0, False), (0.0, False), (float("nan"), False), ("", False)]
    + [(False, False), (1, True), ("0", True), ({}, True), ([], True), (b"", True)],
)
def test_js_truthiness(value: Any, truthy: bool) -> None:
    assert is_js_truthy(value) is truthy


def test_mtu_must_be_positive() -> None:
    with pytest.raises(ValueError):
        Chunker(mtu=0)
