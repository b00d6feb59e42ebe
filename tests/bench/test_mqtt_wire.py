"""The MQTT load generator's payloads, PUBLISH templates and send schedule (pure)."""

from __future__ import annotations

import json

import pytest

from earlgate.bench.mqtt_wire import (
    STAMP_WIDTH,
    WARMUP_PAYLOAD,
    PhaseSchedule,
    PublishTemplate,
    format_stamp,
    puback,
    read_stamp,
    read_ws_stamp,
    stamp_payload,
)
from earlgate.mqtt import packets as p
from earlgate.mqtt.codec import Decoder, encode

NOW_MS = 1764000000000.125


def test_a_stamp_has_a_fixed_width_and_reads_back() -> None:
    assert format_stamp(NOW_MS) == b"1764000000000.125"
    assert len(format_stamp(1.0e12)) == STAMP_WIDTH
    payload = stamp_payload(NOW_MS)
    assert json.loads(payload) == {"t": NOW_MS}
    assert read_stamp(payload) == NOW_MS


def test_a_padded_payload_is_json_of_the_asked_size() -> None:
    payload = stamp_payload(NOW_MS, 50)
    assert len(payload) == 50
    assert json.loads(payload)["t"] == NOW_MS
    assert read_stamp(payload) == NOW_MS
    assert len(stamp_payload(NOW_MS, 10)) == len(stamp_payload(NOW_MS))  # never shorter than bare


def test_warmup_marker_and_foreign_payloads() -> None:
    assert read_stamp(WARMUP_PAYLOAD) is None
    for foreign in (b"", b"hello", b'{"t":12', b'{"w":2}', b'{"t":1764000000000.1x5}'):
        with pytest.raises(ValueError, match="not a load generator payload"):
            read_stamp(foreign)
    with pytest.raises(ValueError, match="does not fit"):
        format_stamp(1e14)


def test_hub_websocket_frames_carry_the_payload_as_data() -> None:
    frame = b'{"type":"publish","subject":"subject00001","data":' + stamp_payload(NOW_MS, 40) + b"}"
    assert read_ws_stamp(frame) == NOW_MS
    assert read_ws_stamp(b'{"type":"publish","subject":"s","data":{"w":1}}') is None
    for other in (b'{"type":"ack","id":1}', b"not json", b'{"data":"text"}'):
        with pytest.raises(ValueError, match="not a frame"):
            read_ws_stamp(other)


@pytest.mark.parametrize("version", [p.V311, p.V5])
@pytest.mark.parametrize("qos", [0, 1])
def test_template_packets_decode_with_their_stamp_and_id(version: int, qos: int) -> None:
    template = PublishTemplate("subject00042", qos, 50, version)
    decoder = Decoder(version=version)
    for packet_id in (1, 258, 65535):
        data = template.packet(format_stamp(NOW_MS + packet_id), packet_id)
        assert len(data) == len(template)
        (packet,) = decoder.packets(data)
        assert isinstance(packet, p.Publish)
        assert packet.topic == "subject00042" and packet.qos == qos
        assert packet.packet_id == (packet_id if qos else None)
        assert read_stamp(packet.payload) == NOW_MS + packet_id
        assert len(packet.payload) == 50


@pytest.mark.parametrize("version", [p.V311, p.V5])
def test_puback_is_the_codecs_with_its_id(version: int) -> None:
    decoder = Decoder(version=version)
    for packet_id in (1, 300, 65535):
        assert puback(packet_id, version) == encode(p.PubAck(packet_id), version)
        assert decoder.packets(puback(packet_id, version)) == [p.PubAck(packet_id)]


def test_template_refuses_what_it_cannot_send() -> None:
    with pytest.raises(ValueError, match="QoS 2"):
        PublishTemplate("t", 2)
    with pytest.raises(ValueError, match="packet identifier 0"):
        PublishTemplate("t", 1).packet(format_stamp(NOW_MS), 0)


def test_each_publisher_sends_at_its_own_phase() -> None:
    schedule = PhaseSchedule(publishers=4, period=1.0, start=10.0, rounds=2)
    assert schedule.total == 8
    assert [schedule.time_of(i) for i in range(8)] == [
        10.0, 10.25, 10.5, 10.75, 11.0, 11.25, 11.5, 11.75,
    ]  # fmt: skip
    assert schedule.end == 11.75
    assert schedule.due(9.99) == 0
    assert schedule.due(10.0) == 1
    assert schedule.due(10.3) == 2
    assert schedule.due(11.0) == 5
    assert schedule.due(100.0) == 8  # bounded in count, however late the loop looks


def test_schedule_for_a_duration_counts_whole_periods() -> None:
    assert PhaseSchedule.for_duration(10, 0.25, 0.0, 2.0).rounds == 8
    assert PhaseSchedule.for_duration(10, 0.25, 0.0, 2.1).rounds == 8
    assert PhaseSchedule.for_duration(3, 0.3, 0.0, 0.9).rounds == 3  # no float shortfall
    with pytest.raises(ValueError, match="publishers >= 1"):
        PhaseSchedule(0, 0.25, 0.0, 1)
