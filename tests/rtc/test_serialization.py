"""The json, binary and raw codecs: values in, frames out, and back."""

from __future__ import annotations

import pytest

from earlgate.rtc.chunking import CLOSE_FRAME, CloseRequest, Data
from earlgate.rtc.errors import DataConnectionError
from earlgate.rtc.serialization import BinaryCodec, JsonCodec, RawCodec, codec_for


def test_json_is_utf8_in_binary_frames_and_accepts_text() -> None:
    codec = JsonCodec()
    assert codec.encode({"t": "é", "n": [1, None]}) == ['{"t":"é","n":[1,null]}'.encode()]
    assert codec.decode(b'{"a":1}') == Data({"a": 1})
    assert codec.decode('{"a":1}') == Data({"a": 1})  # peerjs 1.4 sent text
    with pytest.raises(ValueError):
        codec.decode(b"{nope")
    with pytest.raises(TypeError):
        codec.encode(object())


def test_json_refuses_16300_bytes_like_peerjs() -> None:
    codec = JsonCodec()
    assert len(codec.encode("x" * 16297)[0]) == 16299
    with pytest.raises(DataConnectionError) as info:
        codec.encode("x" * 16298)  # 16300 bytes with the quotes
    assert info.value.type == "message-too-big"


def test_binary_chunks_and_reassembles_out_of_order() -> None:
    sender, receiver = BinaryCodec(), BinaryCodec()
    value = {"big": "é" * 20000, "bytes": bytes(range(256)) * 10}
    frames = sender.encode(value)
    assert len(frames) == 3  # 42,5xx packed bytes in 16,300-byte slices
    results = [receiver.decode(f) for f in reversed(frames)]  # unordered channel
    assert results[:-1] == [None, None] and results[-1] == Data(value)
    assert receiver.decode(CLOSE_FRAME) == CloseRequest()
    assert receiver.decode("text frame") == Data("text frame")
    assert sender.encode(1) == [b"\x01"]


def test_raw_passes_bytes_and_text() -> None:
    codec = RawCodec()
    assert codec.encode(b"\x00") == [b"\x00"]
    assert codec.encode(bytearray(b"ab")) == [b"ab"]
    assert codec.encode("t") == ["t"]
    assert codec.decode(b"\x01") == Data(b"\x01")
    with pytest.raises(TypeError):
        codec.encode(1)


def test_names() -> None:
    assert isinstance(codec_for("default"), BinaryCodec)
    assert isinstance(codec_for("binary-utf8"), BinaryCodec)
    with pytest.raises(ValueError):
        codec_for("msgpack")
