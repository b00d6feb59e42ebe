"""The payload mapping of docs/mqtt.md: MQTT payloads through hub frames, byte for byte."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from earlgate.hub import frames
from earlgate.mqtt.mapping import from_frame, member_span, message_of, remaining_expiry, to_frame
from earlgate.mqtt.packets import Publish
from earlgate.mqtt.properties import PUBLISH as PUBLISH_PROPERTIES
from earlgate.mqtt.properties import Properties
from earlgate.wire.codes import with_hub_fields

from . import strategies

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=12,
)


def _dumped(value: Any) -> bytes:
    """JSON as publishers write it: compact or indented, now and then a trailing newline."""
    shape = len(str(value))
    return json.dumps(value, indent=None if shape % 2 else 1).encode() + b"\n" * (shape % 3)


def _through_the_hub(raw: bytes, durable: bool = False) -> tuple[bytes, dict[str, Any]]:
    """What a subscriber gets: the hub parses the frame, a durable subject splices fields in."""
    message = frames.parse_frame(raw)
    raw = frames.without_hub_fields(message, raw)
    if durable:
        raw = with_hub_fields(raw, {"_offset": 7, "_epoch": "e1"})
    return raw, orjson.loads(raw)


@pytest.mark.fuzz
@given(
    payload=st.binary(max_size=64) | st.text().map(str.encode) | json_values.map(_dumped),
    durable=st.booleans(),
)
def test_any_payload_comes_back_byte_for_byte(payload: bytes, durable: bool) -> None:
    raw = to_frame(Publish("a/b", payload, 1, True, False, 1), now=0.0, frame_id=3)
    delivered, frame = _through_the_hub(raw, durable)
    message = from_frame(delivered, frame)
    assert message.payload == payload and message.topic == "a/b"
    assert message.qos == 1 and message.retain


@pytest.mark.parametrize(
    ("payload", "data", "encoding"),
    [
        (b'{"t": 21.5}', {"t": 21.5}, None),
        (b"21.50", 21.5, None),
        (b"ON", "ON", None),
        (b"null", "null", None),
        (b'"quoted"', "quoted", "json"),
        (b"\xff\x00\x01", "/wAB", "base64"),
        (b" 1", " 1", None),  # leading space: text, so that it comes back
    ],
)
def test_what_websocket_subscribers_see(payload: bytes, data: Any, encoding: str | None) -> None:
    frame = orjson.loads(to_frame(Publish("s", payload), now=0.0))
    assert frame["data"] == data
    assert frame.get("mqtt", {}).get("encoding") == encoding


def test_an_empty_payload_is_a_frame_without_data() -> None:
    assert "data" not in orjson.loads(to_frame(Publish("s", b"", 0, True), now=0.0))


@pytest.mark.parametrize(
    ("frame", "payload"),
    [
        ({"type": "publish", "subject": "s", "data": {"a": [1, 2]}}, b'{"a": [1, 2]}'),
        ({"type": "publish", "subject": "s", "data": "ON"}, b"ON"),
        ({"type": "publish", "subject": "s"}, b""),
        ({"type": "publish", "subject": "s", "data": None}, b""),
        ({"type": "publish", "subject": "s", "data": "AQI=", "mqtt": {"encoding": "base64"}},
         b"\x01\x02"),
        ({"type": "publish", "subject": "s", "data": "not base64!", "mqtt": {"encoding": "base64"}},
         b"not base64!"),
    ],
)  # fmt: skip
def test_websocket_frames_to_mqtt(frame: dict[str, Any], payload: bytes) -> None:
    raw = json.dumps(frame).encode()  # Python's separators: ", " and ": "
    assert from_frame(raw, orjson.loads(raw)).payload == payload


def test_qos_of_websocket_frames() -> None:
    plain = {"type": "publish", "subject": "s"}
    assert from_frame(b"{}", plain).qos == 0
    assert from_frame(b"{}", {**plain, "id": 4}).qos == 1
    assert from_frame(b"{}", {**plain, "mqtt": {"qos": 2}}).qos == 2
    assert from_frame(b"{}", {**plain, "mqtt": {"qos": "x"}}).qos == 0


def test_properties_round_trip_and_bad_ones_are_ignored() -> None:
    user = [("k", "1"), ("k", "2")]
    props = Properties(content_type="a/b", payload_format=1, response_topic="r/t",
                       correlation_data=b"\x00\x01", user=user, message_expiry=5)  # fmt: skip
    raw = to_frame(Publish("s", b"x", properties=props), now=100.0)
    message = from_frame(raw, orjson.loads(raw))
    got = message.properties
    assert (got.content_type, got.payload_format, got.response_topic) == ("a/b", 1, "r/t")
    assert got.correlation_data == b"\x00\x01" and got.user == user
    assert message.expires == 105.0 and remaining_expiry(105.0, 101.2) == 4
    meta = {"user": [["a"], 3, ["b", "c"]], "correlation_data": "%%", "expires": "x"}
    bad = {"type": "publish", "subject": "s", "data": 1, "mqtt": meta}
    message = from_frame(orjson.dumps(bad), bad)
    assert message.properties.user == [("b", "c")] and message.expires is None


@pytest.mark.fuzz
@given(
    obj=st.dictionaries(st.text(max_size=6), json_values, max_size=5),
    indent=st.sampled_from([None, 0, 2]),
)
def test_member_span_finds_what_orjson_parses(obj: dict[str, Any], indent: int | None) -> None:
    raw = json.dumps({**obj, "data": obj.get("x", [1, {"}": "]"}])}, indent=indent).encode()
    start, end = member_span(raw, b"data") or (0, 0)
    assert orjson.loads(raw[start:end]) == orjson.loads(raw)["data"]
    assert member_span(b'{"a":1}', b"data") is None


@pytest.mark.fuzz
@given(
    payload=st.binary(max_size=64) | st.text().map(str.encode) | json_values.map(_dumped),
    topic=strategies.topic,
    qos=st.integers(0, 2),
    retain=st.booleans(),
    props=strategies.properties(PUBLISH_PROPERTIES),
    origin=st.none() | st.just("a1b2c3"),
    now=st.floats(0, 2e9),
    durable=st.booleans(),
)
def test_the_message_handed_over_in_process_is_the_one_read_back(
    payload: bytes,
    topic: str,
    qos: int,
    retain: bool,
    props: Properties,
    origin: str | None,
    now: float,
    durable: bool,
) -> None:
    props.topic_alias = None
    props.subscription_ids = []
    if props.payload_format == 1:
        props.payload_format = None  # a non-UTF-8 payload said to be text is refused earlier
    publish = Publish(topic, payload, qos, retain, False, 1 if qos else None, props)
    raw = to_frame(publish, now=now, frame_id=2 if qos else None, origin=origin)
    delivered, frame = _through_the_hub(raw, durable)
    assert message_of(publish, now=now, origin=origin) == from_frame(delivered, frame)
