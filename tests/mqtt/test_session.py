"""The MQTT session state machine without sockets: packets and hub frames in, actions out."""

from __future__ import annotations

import pytest

from earlgate.hub.config import HubConfig
from earlgate.mqtt import packets as p
from earlgate.mqtt import reasons as r
from earlgate.mqtt.properties import Properties

from .helpers import make, message, reconnect

# -- CONNECT ----------------------------------------------------------------------


def test_connack_v5_announces_the_limits() -> None:
    config = HubConfig(mqtt_max_inflight=7, mqtt_max_packet_size=4096, mqtt_topic_alias_max=3)
    _, out = make(p.V5, config=config)
    (ack,) = out
    assert isinstance(ack, p.ConnAck) and ack.reason == 0 and not ack.session_present
    props = ack.properties
    assert (props.receive_maximum, props.maximum_packet_size) == (7, 4096)
    assert props.topic_alias_maximum == 3 and props.shared_available == 0


def test_connack_v311_is_accepted() -> None:
    _, out = make(p.V311)
    assert out == [p.ConnAck(False, 0)]


def test_session_expiry_is_capped_and_said() -> None:
    config = HubConfig(mqtt_session_expiry_max=60)
    h, out = make(p.V5, config=config, properties=Properties(session_expiry=0xFFFFFFFF))
    assert out[0].properties.session_expiry == 60 and h.session.expiry == 60


# -- PUBLISH from the client ------------------------------------------------------


def test_qos0_publish_is_a_hub_frame_without_id() -> None:
    h, _ = make()
    assert h.send(p.Publish("a/b", b'{"x":1}')) == []
    assert h.frames == [{"type": "publish", "data": {"x": 1}, "subject": "a/b"}]


@pytest.mark.parametrize("version", [p.V311, p.V5])
def test_qos1_puback_waits_for_the_hub(version: int) -> None:
    h, _ = make(version)
    assert h.send(p.Publish("a/b", b"1", 1, False, False, 5)) == []
    frame = h.frames[-1]
    assert frame["mqtt"] == {"qos": 1} and isinstance(frame["id"], int)
    assert h.answer(frame) == [p.PubAck(5)]


def test_refused_qos1_publish_v5_says_not_authorized() -> None:
    h, _ = make(p.V5)
    h.send(p.Publish("a/b", b"1", 1, False, False, 5))
    (ack,) = h.answer(h.frames[-1], "forbidden")
    assert ack.reason == r.NOT_AUTHORIZED and ack.properties.reason_string == "forbidden here"
    assert h.metrics.refused_publishes == 1


def test_refused_qos1_publish_v311_is_dropped_and_acked() -> None:
    h, _ = make(p.V311)
    h.send(p.Publish("a/b", b"1", 1, False, False, 5))
    assert h.answer(h.frames[-1], "forbidden") == [p.PubAck(5)]
    assert h.metrics.refused_publishes == 1


def test_qos2_from_the_client_is_delivered_once() -> None:
    h, _ = make(p.V5)
    h.send(p.Publish("a/b", b"1", 2, False, False, 9))
    assert h.answer(h.frames[-1]) == [p.PubRec(9)]
    # The PUBREC was lost: the client sends the PUBLISH again, DUP set.
    assert h.send(p.Publish("a/b", b"1", 2, False, True, 9)) == [p.PubRec(9)]
    assert len(h.frames) == 1
    assert h.send(p.PubRel(9)) == [p.PubComp(9)]
    assert h.send(p.PubRel(9)) == [p.PubComp(9, r.PACKET_ID_NOT_FOUND)]


def test_dup_while_the_verdict_is_pending_is_not_published_twice() -> None:
    h, _ = make(p.V311)
    h.send(p.Publish("a/b", b"1", 1, False, False, 3))
    assert h.send(p.Publish("a/b", b"1", 1, False, True, 3)) == []
    assert len(h.frames) == 1


def test_receive_maximum_exceeded() -> None:
    h, _ = make(p.V5, config=HubConfig(mqtt_max_inflight=2))
    h.send(p.Publish("a/b", b"1", 1, False, False, 1))
    h.send(p.Publish("a/b", b"1", 1, False, False, 2))
    (disconnect,) = h.send(p.Publish("a/b", b"1", 1, False, False, 3))
    assert disconnect.reason == r.RECEIVE_MAXIMUM_EXCEEDED and h.closed


def test_payload_format_invalid() -> None:
    h, _ = make(p.V5)
    (ack,) = h.send(p.Publish("a", b"\xff", 1, False, False, 4, Properties(payload_format=1)))
    assert ack == p.PubAck(4, r.PAYLOAD_FORMAT_INVALID, ack.properties) and not h.frames


def test_topic_aliases_from_the_client() -> None:
    h, _ = make(p.V5, config=HubConfig(mqtt_topic_alias_max=4))
    h.send(p.Publish("a/long/topic", b"1", properties=Properties(topic_alias=2)))
    h.send(p.Publish("", b"2", properties=Properties(topic_alias=2)))
    assert [f["subject"] for f in h.frames] == ["a/long/topic", "a/long/topic"]
    assert "topic_alias" not in h.frames[-1].get("mqtt", {})
    (bad,) = h.send(p.Publish("", b"3", properties=Properties(topic_alias=3)))
    assert bad.reason == r.PROTOCOL_ERROR and h.closed


def test_topic_alias_over_the_maximum() -> None:
    h, _ = make(p.V5, config=HubConfig(mqtt_topic_alias_max=4))
    (bad,) = h.send(p.Publish("a", b"1", properties=Properties(topic_alias=5)))
    assert bad.reason == r.TOPIC_ALIAS_INVALID


def test_message_expiry_and_properties_travel_in_the_frame() -> None:
    h, _ = make(p.V5)
    props = Properties(message_expiry=30, content_type="text/plain", user=[("k", "v")])
    h.send(p.Publish("a", b"hi", properties=props))
    meta = h.frames[-1]["mqtt"]
    assert meta["expires"] == int((h.wall.now + 30) * 1000)
    assert meta["content_type"] == "text/plain" and meta["user"] == [["k", "v"]]


# -- SUBSCRIBE --------------------------------------------------------------------


def test_suback_after_every_filter_then_the_retained_values() -> None:
    h, _ = make(p.V5)
    h.send(p.Subscribe(1, [p.SubscriptionRequest("a/+", 2), p.SubscriptionRequest("b/#", 0)]))
    first, second = h.frames
    assert first == {"type": "subscribe", "subject": "a/+", "id": first["id"], "last": True}
    assert h.answer(first) == []
    # a retained value for a/+ comes right after its ack: held until the SUBACK
    assert h.deliver(message("a/x", b"7", 1, retain=True), live=False) == []
    suback, retained = h.answer(second)
    assert suback == p.SubAck(1, [2, 0])
    assert retained.retain and retained.qos == 1 and retained.topic == "a/x"


@pytest.mark.parametrize(("version", "code"), [(p.V311, 0x80), (p.V5, r.TOPIC_FILTER_INVALID)])
def test_filters_that_are_not_hub_patterns(version: int, code: int) -> None:
    h, _ = make(version)
    (suback,) = h.send(
        p.Subscribe(1, [p.SubscriptionRequest("a//b"), p.SubscriptionRequest("$SYS/#")])
    )
    assert suback.reasons == [code, code] and not h.frames


def test_forbidden_and_shared_subscriptions() -> None:
    h, _ = make(p.V5)
    h.send(p.Subscribe(2, [p.SubscriptionRequest("x"), p.SubscriptionRequest("$share/g/a")]))
    (suback,) = h.answer(h.frames[-1], "forbidden")
    assert suback.reasons == [r.NOT_AUTHORIZED, r.SHARED_SUBSCRIPTIONS_NOT_SUPPORTED]
    assert suback.properties.reason_string


def test_forbidden_v311_is_0x80() -> None:
    h, _ = make(p.V311)
    h.send(p.Subscribe(2, [p.SubscriptionRequest("x", 1)]))
    assert h.answer(h.frames[-1], "forbidden") == [p.SubAck(2, [0x80])]


def test_retain_handling() -> None:
    h, _ = make(p.V5)
    h.subscribe("a", retain_handling=1)
    h.subscribe("a", retain_handling=1)  # exists now: no retained values
    h.subscribe("b", retain_handling=2)
    assert [f.get("last", False) for f in h.frames] == [True, False, False]


def test_unsubscribe() -> None:
    h, _ = make(p.V5)
    h.subscribe("a/#")
    (unsuback,) = h.send(p.Unsubscribe(4, ["a/#", "nope"]))
    assert unsuback == p.UnsubAck(4, [0, r.NO_SUBSCRIPTION_EXISTED])
    assert h.frames[-1] == {"type": "unsubscribe", "subject": "a/#"}
    assert h.deliver(message("a/b")) == []


# -- messages to the client ---------------------------------------------------------


def test_delivered_at_the_lower_qos_with_retain_cleared() -> None:
    h, _ = make(p.V5)
    h.subscribe("a/#", qos=1)
    (publish,) = h.deliver(message("a/b", b"x", 2, retain=True))
    assert publish.qos == 1 and not publish.retain and publish.packet_id
    (publish0,) = h.deliver(message("a/b", b"y", 0))
    assert publish0.qos == 0 and publish0.packet_id is None


def test_retain_as_published_and_subscription_ids() -> None:
    h, _ = make(p.V5)
    h.send(
        p.Subscribe(
            1, [p.SubscriptionRequest("a/#", 1, False, True)], Properties(subscription_ids=[42])
        )
    )
    h.answer(h.frames[-1])
    (publish,) = h.deliver(message("a/b", retain=True))
    assert publish.retain and publish.properties.subscription_ids == [42]


def test_inflight_window_and_queue() -> None:
    h, _ = make(p.V311, config=HubConfig(mqtt_max_inflight=2, mqtt_max_queued=2))
    h.subscribe("t")
    sent = [h.deliver(message("t", bytes([i]))) for i in range(5)]
    assert [len(x) for x in sent] == [1, 1, 0, 0, 0]
    assert h.metrics.queue_dropped == 1  # the oldest waiting one (payload 2)
    (next_one,) = h.send(p.PubAck(sent[0][0].packet_id))
    assert next_one.payload == b"\x03"


def test_qos2_to_the_client() -> None:
    h, _ = make(p.V5)
    h.subscribe("t", qos=2)
    (publish,) = h.deliver(message("t", qos=2))
    assert h.send(p.PubRec(publish.packet_id)) == [p.PubRel(publish.packet_id)]
    assert h.send(p.PubComp(publish.packet_id)) == []
    assert not h.session.outbound.inflight
    assert h.send(p.PubRec(999)) == [p.PubRel(999, r.PACKET_ID_NOT_FOUND)]


def test_resume_sends_unacknowledged_again_with_dup() -> None:
    h, _ = make(p.V5, clean=False, properties=Properties(session_expiry=100))
    h.subscribe("t", qos=2)
    (first,) = h.deliver(message("t", b"1", 2))
    (second,) = h.deliver(message("t", b"2", 2))
    h.send(p.PubRec(second.packet_id))
    h.take(h.session.connection_lost("gone"))
    assert not h.ended and h.session.subscriptions
    h.deliver(message("t", b"3", 1))  # queued while away
    assert h.deliver(message("t", b"q0", 0)) == []  # QoS 0 is not kept
    out = reconnect(h)
    assert out[0].session_present
    again, rel, queued = out[1:]
    assert again.dup and again.packet_id == first.packet_id and again.payload == b"1"
    assert rel == p.PubRel(second.packet_id)
    assert queued.payload == b"3" and not queued.dup
    assert h.metrics.redelivered == 1


def test_expired_messages_are_not_sent_and_the_rest_say_what_is_left() -> None:
    h, _ = make(p.V5)
    h.subscribe("t")
    assert h.deliver(message("t", expires=h.wall.now - 1)) == []
    (publish,) = h.deliver(message("t", expires=h.wall.now + 9.5))
    assert publish.properties.message_expiry == 10 and h.metrics.expired == 1


def test_topic_aliases_to_the_client() -> None:
    h, _ = make(p.V5, properties=Properties(topic_alias_maximum=1))
    h.subscribe("#", qos=0)
    a1, a2, b = (h.deliver(message(t, qos=0))[0] for t in ("a/b", "a/b", "c"))
    assert (a1.topic, a1.properties.topic_alias) == ("a/b", 1)
    assert (a2.topic, a2.properties.topic_alias) == ("", 1)
    assert (b.topic, b.properties.topic_alias) == ("c", None)


def test_no_local() -> None:
    h, _ = make(p.V5, tag="me")
    h.subscribe("t", no_local=True)
    h.send(p.Publish("t", b"1"))
    assert h.frames[-1]["mqtt"]["from"] == "me"
    assert h.deliver(message("t", origin="me")) == []
    assert len(h.deliver(message("t", origin="other"))) == 1


def test_the_clients_maximum_packet_size() -> None:
    h, _ = make(p.V5, properties=Properties(maximum_packet_size=64))
    h.subscribe("t")
    assert h.deliver(message("t", b"x" * 100)) == []
    assert h.metrics.too_large_for_client == 1 and not h.session.outbound.inflight


# -- keep alive, wills, disconnects -----------------------------------------------


WILL = p.Will("dev/status", b"gone", 1, True)


def test_keep_alive_expiry_closes_and_publishes_the_will() -> None:
    h, _ = make(p.V5, keep_alive=10, will=WILL)
    assert h.timers[-1] == h.clock.now + 15
    h.clock.now += 14
    h.send(p.PingReq())
    h.take(h.session.timer_due())  # early: the ping moved the deadline
    assert not h.closed and h.timers[-1] == h.clock.now + 15
    h.clock.now += 15
    (disconnect,) = h.take(h.session.timer_due())
    assert disconnect.reason == r.KEEP_ALIVE_TIMEOUT and h.closed and h.ended
    assert h.frames[-1]["subject"] == "dev/status" and h.frames[-1]["retain"] is True
    assert h.metrics.keep_alive_timeouts == 1 and h.metrics.wills == 1


@pytest.mark.parametrize(("reason", "will"), [(0x00, False), (r.DISCONNECT_WITH_WILL, True)])
def test_disconnect_reason_decides_the_will(reason: int, will: bool) -> None:
    h, _ = make(p.V5, will=WILL)
    h.send(p.Disconnect(reason))
    assert bool(h.frames) is will and h.ended and h.closed


def test_connection_lost_publishes_the_will() -> None:
    h, _ = make(p.V311, will=WILL)
    h.take(h.session.connection_lost("reset"))
    assert h.frames[-1]["data"] == "gone" and h.ended


def test_will_delay_and_a_resume_in_time_cancels_it() -> None:
    delay = p.Will("dev/status", b"gone", 0, False, Properties(will_delay=30))
    h, _ = make(p.V5, clean=False, will=delay, properties=Properties(session_expiry=300))
    h.take(h.session.connection_lost("reset"))
    assert not h.frames and h.timers[-1] == h.clock.now + 30
    reconnect(h)
    h.clock.now += 31
    h.take(h.session.timer_due())
    assert not h.frames


def test_will_published_after_its_delay() -> None:
    delay = p.Will("dev/status", b"gone", 0, False, Properties(will_delay=30))
    h, _ = make(p.V5, clean=False, will=delay, properties=Properties(session_expiry=300))
    h.take(h.session.connection_lost("reset"))
    h.clock.now += 30
    h.take(h.session.timer_due())
    assert h.frames[-1]["subject"] == "dev/status" and not h.ended
    h.clock.now += 270
    h.take(h.session.timer_due())
    assert h.ended  # the session expired


def test_session_expiry_cannot_be_set_at_disconnect_after_zero() -> None:
    h, _ = make(p.V5)
    (disconnect,) = h.send(p.Disconnect(0, Properties(session_expiry=10)))
    assert disconnect.reason == r.PROTOCOL_ERROR


def test_packets_a_client_must_not_send() -> None:
    h, _ = make(p.V5)
    (disconnect,) = h.send(p.SubAck(1, [0]))
    assert disconnect.reason == r.PROTOCOL_ERROR and "SUBACK" in disconnect.properties.reason_string


def test_token_expiry_from_the_hub_ends_the_session() -> None:
    h, _ = make(p.V5, will=WILL)
    (disconnect,) = h.take(h.session.hub_closed(4001, "token expired"))
    assert disconnect.reason == r.NOT_AUTHORIZED and h.ended and h.frames
