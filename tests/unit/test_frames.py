"""Frame parsing and encoding: bytes in, values or errors out."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from earlgate.hub import frames
from earlgate.hub.frames import parse_frame
from earlgate.wire.codes import FrameError, with_hub_fields


def test_parses_publish_and_thesis_form() -> None:
    assert parse_frame(b'{"type":"publish","subject":"a"}')["subject"] == "a"
    assert parse_frame('{"type":"publisher","subject":"s","published":1}')["type"] == "publisher"


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (b"", "bad_json"),
        (b"{", "bad_json"),
        (b"\xff", "bad_json"),
        (b"null", "bad_frame"),
        (b'"text"', "bad_frame"),
        (b"{}", "bad_frame"),
        (b'{"type":3}', "bad_frame"),
        (b'{"type":"x"}', "bad_frame"),
        (b'{"type":"ping","id":true}', "bad_frame"),
        (b'{"type":"ping","id":{}}', "bad_frame"),
    ],
)
def test_errors_carry_codes(payload: bytes, code: str) -> None:
    with pytest.raises(FrameError) as error:
        parse_frame(payload)
    assert error.value.code == code
    assert error.value.reason


def test_error_keeps_the_frame_id() -> None:
    with pytest.raises(FrameError) as error:
        parse_frame(b'{"type":"nope","id":7}')
    assert error.value.frame_id == 7


@given(st.binary(max_size=64))
def test_parser_never_raises_anything_else(payload: bytes) -> None:
    try:
        parse_frame(payload)
    except FrameError:
        pass


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=10,
)


@given(st.dictionaries(st.text(max_size=8), JSON_VALUES, max_size=5), st.integers(1, 10**12))
def test_hub_fields_are_spliced_without_touching_the_rest(body: dict, offset: int) -> None:
    raw = json.dumps(body).encode()
    spliced = json.loads(with_hub_fields(raw, {"_offset": offset, "_epoch": "e"}))
    assert spliced == {**body, "_offset": offset, "_epoch": "e"}


def test_hub_fields_keep_publisher_bytes() -> None:
    raw = b'{"type": "publish",  "subject":"a", "data":1.50} \n'
    assert with_hub_fields(raw, {"_offset": 3}) == (
        b'{"type": "publish",  "subject":"a", "data":1.50,"_offset":3}'
    )


def test_encoders() -> None:
    assert json.loads(frames.ack_frame(1, True)) == {"type": "ack", "id": 1, "recovered": True}
    assert json.loads(frames.pong_frame(None)) == {"type": "pong"}
    assert json.loads(frames.error_frame("bad_json", "why", "x")) == {
        "type": "error",
        "code": "bad_json",
        "reason": "why",
        "id": "x",
    }
