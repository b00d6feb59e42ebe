"""The MQTT codec: round trips of every packet in 3.1.1 and 5, and every fault named.

Example counts come from the hypothesis profile (tests/conftest.py): ``make fuzz``
runs these with many more.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from earlgate.mqtt import packets as p
from earlgate.mqtt import reasons as r
from earlgate.mqtt.codec import Decoder, encode
from earlgate.mqtt.properties import Properties
from earlgate.mqtt.reasons import MqttError

from .strategies import packet


def _decoder(version: int, packet_: p.Packet) -> Decoder:
    # A CONNECT sets the level itself; anything else is read at a known level.
    return Decoder(version=None if isinstance(packet_, p.Connect) else version)


@pytest.mark.parametrize("version", [p.V311, p.V5])
@pytest.mark.fuzz
@given(data=st.data())
def test_every_packet_round_trips(version: int, data: st.DataObject) -> None:
    original = data.draw(packet(version))
    raw = encode(original, version)
    assert Decoder(version=version if not isinstance(original, p.Connect) else None).packets(
        raw
    ) == [original]


@pytest.mark.parametrize("version", [p.V311, p.V5])
@pytest.mark.fuzz
@given(data=st.data())
def test_packets_split_anywhere_decode_the_same(version: int, data: st.DataObject) -> None:
    stream = data.draw(st.lists(packet(version).filter(lambda x: not isinstance(x, p.Connect)),
                                min_size=1, max_size=4))  # fmt: skip
    raw = b"".join(encode(x, version) for x in stream)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(raw)), max_size=6)))
    decoder = Decoder(version=version)
    got: list[p.Packet] = []
    last = 0
    for cut in [*cuts, len(raw)]:
        got += decoder.packets(raw[last:cut])
        last = cut
    assert got == stream
    assert decoder.buffered() == 0


@pytest.mark.parametrize("version", [None, p.V311, p.V5])
@pytest.mark.fuzz
@given(raw=st.binary(max_size=64))
def test_arbitrary_bytes_raise_only_mqtt_errors(version: int | None, raw: bytes) -> None:
    decoder = Decoder(max_packet_size=1000, version=version)
    try:
        decoder.packets(raw)
    except MqttError as exc:
        assert 0x80 <= exc.reason <= 0xA2 and exc.message


@pytest.mark.parametrize("version", [p.V311, p.V5])
@pytest.mark.fuzz
@given(data=st.data())
def test_mutated_packets_raise_only_mqtt_errors(version: int, data: st.DataObject) -> None:
    raw = bytearray(encode(data.draw(packet(version)), version))
    for _ in range(data.draw(st.integers(1, 3))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    try:
        Decoder(version=None if raw[0] >> 4 == 1 else version).packets(bytes(raw))
    except MqttError:
        pass


def _error(raw: bytes, version: int | None = p.V311, **kw: int) -> MqttError:
    with pytest.raises(MqttError) as caught:
        Decoder(version=version, **kw).packets(raw)
    return caught.value


def test_remaining_length_longer_than_four_bytes() -> None:
    exc = _error(b"\x30\xff\xff\xff\xff\x01", max_packet_size=2**28)
    assert exc.reason == r.MALFORMED_PACKET and "longer than four bytes" in exc.message


def test_remaining_length_not_shortest() -> None:
    exc = _error(b"\xc0\x80\x00")
    assert "shortest" in exc.message


def test_packet_too_large_refused_from_its_header() -> None:
    decoder = Decoder(max_packet_size=100, version=p.V5)
    with pytest.raises(MqttError) as caught:
        decoder.packets(b"\x30\xe8\x07")  # says 1000 bytes follow; none has come yet
    assert caught.value.reason == r.PACKET_TOO_LARGE and "100" in caught.value.message


@pytest.mark.parametrize(
    ("topic", "words"),
    [(b"\x00\x02a\x00", "U+0000"), (b"\x00\x02\xc3\x28", "not valid UTF-8"),
     (b"\x00\x03\xed\xa0\x80", "not valid UTF-8")],
)  # fmt: skip
def test_bad_strings(topic: bytes, words: str) -> None:
    exc = _error(bytes([0x30, len(topic)]) + topic)
    assert exc.reason == r.MALFORMED_PACKET and words in exc.message


def test_qos_3_and_dup_on_qos_0() -> None:
    assert "QoS 3" in _error(b"\x36\x05\x00\x01a\x00\x01").message
    assert "DUP" in _error(b"\x38\x03\x00\x01a").message


def test_wildcards_in_publish() -> None:
    exc = _error(b"\x30\x05\x00\x03a/#")
    assert exc.reason == r.TOPIC_NAME_INVALID and "wildcard" in exc.message


def test_reserved_flag_bits() -> None:
    exc = _error(b"\x80\x06\x00\x01\x00\x01a\x00")  # SUBSCRIBE must carry 0b0010
    assert exc.reason == r.MALFORMED_PACKET and "reserved flag bits of SUBSCRIBE" in exc.message
    assert "reserved flag bits of PINGREQ" in _error(b"\xc1\x00").message


def test_unknown_packet_type() -> None:
    assert "unknown packet type 0" in _error(b"\x00\x00").message
    assert "unknown packet type 15" in _error(b"\xf0\x00").message  # AUTH is MQTT 5 only


def test_property_not_allowed_for_the_packet() -> None:
    # PUBACK with reason 0 and a topic alias (0x23), which only PUBLISH may carry
    exc = _error(b"\x40\x07\x00\x01\x00\x03\x23\x00\x05", version=p.V5)
    assert exc.reason == r.MALFORMED_PACKET and "topic_alias" in exc.message
    assert "PUBACK" in exc.message


def test_two_subscription_identifiers_in_subscribe() -> None:
    # SUBSCRIBE id 1, properties: subscription id 1 twice (3.8.2.1.2), filter "a" QoS 0
    raw = b"\x82\x0a\x00\x01\x04\x0b\x01\x0b\x02\x00\x01a\x00"
    exc = _error(raw, version=p.V5)
    assert exc.reason == r.PROTOCOL_ERROR and "appears twice" in exc.message


def test_duplicate_property_is_protocol_error() -> None:
    exc = _error(b"\x30\x0a\x00\x01a\x06\x02\x00\x00\x00\x01\x02", version=p.V5)
    assert exc.reason in (r.PROTOCOL_ERROR, r.MALFORMED_PACKET)


def test_unsupported_protocol_version() -> None:
    raw = encode(p.Connect(protocol_level=p.V311, client_id="x"), p.V311)
    raw = raw.replace(b"MQTT\x04", b"MQTT\x06")
    decoder = Decoder()
    with pytest.raises(MqttError) as caught:
        decoder.packets(raw)
    assert caught.value.reason == r.UNSUPPORTED_PROTOCOL_VERSION
    assert decoder.version == p.V311  # so the CONNACK is written in 3.1.1's form


def test_mqisdp_3_1_refused() -> None:
    body = b"\x00\x06MQIsdp\x03\x02\x00\x3c\x00\x01x"
    assert _error(bytes([0x10, len(body)]) + body, version=None).reason == 0x84


def test_first_packet_must_be_connect() -> None:
    exc = _error(b"\xc0\x00", version=None)
    assert exc.reason == r.PROTOCOL_ERROR and "CONNECT" in exc.message


def test_second_connect_is_protocol_error() -> None:
    raw = encode(p.Connect(client_id="a"), p.V311)
    exc = _error(raw + raw, version=None)
    assert exc.reason == r.PROTOCOL_ERROR


def test_connect_reserved_flag_and_will_flags() -> None:
    good = encode(p.Connect(client_id="a"), p.V311)
    flags_at = good.index(b"MQTT\x04") + 5
    for flags, words in [(0x03, "reserved bit 0"), (0x1A, "will QoS"), (0x42, "password")]:
        raw = bytearray(good)
        raw[flags_at] = flags
        assert words in _error(bytes(raw), version=None).message


def test_subscribe_option_faults() -> None:
    assert "QoS 3" in _error(b"\x82\x06\x00\x01\x00\x01a\x03").message
    assert "reserved bits" in _error(b"\x82\x06\x00\x01\x00\x01a\x04").message  # no-local in 3.1.1
    exc = _error(b"\x82\x07\x00\x01\x00\x00\x01a\x30", version=p.V5)
    assert "retain handling 3" in exc.message
    assert _error(b"\x82\x02\x00\x01").reason == r.PROTOCOL_ERROR  # no filter at all


def test_packet_id_zero() -> None:
    assert "packet identifier 0" in _error(b"\x40\x02\x00\x00").message


def test_publish_v5_properties_round_trip_exactly() -> None:
    props = Properties(
        payload_format=1, message_expiry=30, content_type="application/json",
        response_topic="reply/to", correlation_data=b"\x01\x02", user=[("a", "1"), ("a", "2")],
        topic_alias=3, subscription_ids=[7, 300],
    )  # fmt: skip
    packet_ = p.Publish("t/x", b"{}", 1, True, False, 9, props)
    assert Decoder(version=p.V5).packets(encode(packet_, p.V5)) == [packet_]
