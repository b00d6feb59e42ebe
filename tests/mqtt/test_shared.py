"""Shared subscriptions without sockets: the $share syntax, whose turn it is, and the
session's side of it (joining, leaving, delivering, handing over when it ends)."""

from __future__ import annotations

import pytest

from earlgate.hub.config import HubConfig
from earlgate.mqtt import packets as p
from earlgate.mqtt import reasons as r
from earlgate.mqtt.actions import Handover, JoinShare, LeaveShare
from earlgate.mqtt.properties import Properties
from earlgate.mqtt.shared import (
    AWAY,
    BUSY,
    READY,
    Group,
    SharedGroups,
    ShareError,
    ShareKey,
    parse_share,
)

from .helpers import Harness, make, message, reconnect

KEY = ShareKey("g", "a/+")

# -- the $share syntax (4.8.2) --------------------------------------------------------


def test_a_shared_subscription_is_name_and_filter() -> None:
    assert parse_share("$share/workers/jobs/#") == ShareKey("workers", "jobs/#")
    assert parse_share("$share/g/a/+").full == "$share/g/a/+"
    assert parse_share("jobs/#") is None
    assert parse_share("$sharex/g/a") is None  # not the prefix: refused as a hub pattern


@pytest.mark.parametrize(
    ("bad", "says"),
    [
        ("$share/", "needs a share name"),
        ("$share//a", "needs a share name"),
        ("$share/g", "needs a topic filter"),
        ("$share/g/", "needs a topic filter"),
        ("$share/g+/a", "must not contain"),
        ("$share/#/a", "must not contain"),
        ("$share/g/a//b", "empty level"),
        ("$share/g/$SYS/x", "starts with '[$]'"),
        ("$share/" + "n" * 257 + "/a", "longer than 256 bytes"),
    ],
)
def test_malformed_shared_subscriptions_say_why(bad: str, says: str) -> None:
    with pytest.raises(ShareError, match=says):
        parse_share(bad)


# -- whose turn it is ----------------------------------------------------------------


def test_members_take_turns_in_the_order_they_joined() -> None:
    group: Group[str] = Group()
    for name in "abc":
        assert group.join(name)
    assert not group.join("a")  # already a member
    picks = [group.pick(lambda _: READY) for _ in range(7)]
    assert picks == ["a", "b", "c", "a", "b", "c", "a"]


def test_a_member_that_cannot_take_it_is_passed_over() -> None:
    group: Group[str] = Group()
    for name in "abc":
        group.join(name)
    ranks = {"a": READY, "b": None, "c": READY}
    assert [group.pick(ranks.get) for _ in range(4)] == ["a", "c", "a", "c"]
    assert group.pick(lambda _: None) is None


def test_a_ready_member_comes_before_a_busy_or_away_one() -> None:
    group: Group[str] = Group()
    for name in "abc":
        group.join(name)
    ranks = {"a": AWAY, "b": BUSY, "c": READY}
    assert [group.pick(ranks.get) for _ in range(2)] == ["c", "c"]
    ranks["c"] = AWAY
    assert group.pick(ranks.get) == "b"
    ranks["b"] = AWAY
    # All away: they still take turns from the one after b (their kept sessions queue it).
    assert [group.pick(ranks.get) for _ in range(3)] == ["c", "a", "b"]


def test_leaving_keeps_the_turn_with_the_next_member() -> None:
    group: Group[str] = Group()
    for name in "abcd":
        group.join(name)
    assert group.pick(lambda _: READY) == "a"
    assert group.pick(lambda _: READY) == "b"  # c is next
    assert group.leave("a") and not group.leave("a")
    assert group.pick(lambda _: READY) == "c"
    group.leave("d")  # the turn was on d: it goes round to b
    assert [group.pick(lambda _: READY) for _ in range(3)] == ["b", "c", "b"]


def test_a_group_lives_while_it_has_members() -> None:
    groups: SharedGroups[str] = SharedGroups()
    other = ShareKey("h", "a/+")  # another group on the same filter
    assert groups.join(KEY, "a") and not groups.join(KEY, "b") and groups.join(other, "a")
    assert len(groups) == 2
    assert not groups.leave(KEY, "a") and not groups.leave(KEY, "zz")
    assert groups.pick(KEY, lambda _: READY) == "b"
    assert groups.leave(KEY, "b") and len(groups) == 1
    assert groups.pick(KEY, lambda _: READY) is None


# -- the session's side ----------------------------------------------------------------


def shared_session(version: int = p.V5, **kw: object) -> Harness:
    h, out = make(version, shared=True, **kw)
    if version == p.V5:
        assert out[0].properties.shared_available == 1
    return h


def join(h: Harness, topic_filter: str = "$share/g/a/+", qos: int = 1, **options: object) -> None:
    """SUBSCRIBE to a shared filter and let the I/O layer admit the session."""
    packet_id = h.next_id()
    h.send(p.Subscribe(packet_id, [p.SubscriptionRequest(topic_filter, qos, **options)]))
    joined = h.shares[-1]
    assert isinstance(joined, JoinShare) and joined.key.full == topic_filter
    assert h.answer({"id": joined.frame_id}) == [p.SubAck(packet_id, [qos])]


def test_joining_asks_the_io_layer_not_the_hub_and_sends_no_retained_values() -> None:
    h = shared_session()
    join(h, "$share/g/a/+", qos=2, retain_handling=0)
    assert h.frames == []  # no subscribe frame of its own, no retained values asked for
    assert h.session.subscriptions["$share/g/a/+"].share == KEY


def test_a_refused_join_is_the_suback_reason() -> None:
    h = shared_session()
    h.send(p.Subscribe(4, [p.SubscriptionRequest("$share/g/a/+", 1)]))
    joined = h.shares[-1]
    assert isinstance(joined, JoinShare)
    answer = {"type": "error", "code": "forbidden", "reason": "no", "id": joined.frame_id}
    (suback,) = h.take(h.session.hub_answer(answer))
    assert suback == p.SubAck(4, [r.NOT_AUTHORIZED], Properties(reason_string="no"))
    assert "$share/g/a/+" not in h.session.subscriptions


def test_no_local_on_a_shared_subscription_is_a_protocol_error() -> None:
    h = shared_session()
    request = p.SubscriptionRequest("$share/g/a", 1, no_local=True)
    (disconnect,) = h.send(p.Subscribe(1, [p.SubscriptionRequest("x"), request]))
    assert isinstance(disconnect, p.Disconnect) and disconnect.reason == r.PROTOCOL_ERROR
    assert "No Local" in (disconnect.properties.reason_string or "")
    assert h.frames == [] and h.shares == [] and h.closed


@pytest.mark.parametrize(("version", "code"), [(p.V5, r.TOPIC_FILTER_INVALID), (p.V311, 0x80)])
def test_a_malformed_share_is_refused(version: int, code: int) -> None:
    h = shared_session(version)
    (suback,) = h.send(p.Subscribe(1, [p.SubscriptionRequest("$share/g+/a")]))
    assert suback.reasons == [code] and h.shares == []


def test_mqtt_311_clients_may_share_too() -> None:
    h = shared_session(p.V311)
    join(h, "$share/g/a/+", qos=1)


@pytest.mark.parametrize(("version", "code"), [(p.V5, 0x9E), (p.V311, 0x80)])
def test_where_the_hub_cannot_share_it_says_so(version: int, code: int) -> None:
    h, out = make(version)
    if version == p.V5:
        assert out[0].properties.shared_available == 0
    (suback,) = h.send(p.Subscribe(1, [p.SubscriptionRequest("$share/g/a")]))
    assert suback.reasons == [code] and h.shares == []


def test_shared_and_other_subscriptions_count_for_the_limit_together() -> None:
    h = shared_session(config=HubConfig(max_subscriptions=2))
    join(h, "$share/g/a")
    h.send(p.Subscribe(7, [p.SubscriptionRequest("b", 1), p.SubscriptionRequest("$share/h/c")]))
    (frame,) = h.frames
    (suback,) = h.answer(frame)
    assert suback.reasons == [1, r.QUOTA_EXCEEDED]
    assert "limit of 2" in (suback.properties.reason_string or "")
    join(h, "$share/g/a", qos=0)  # the same filter again is no new one


def test_unsubscribing_leaves_the_group() -> None:
    h = shared_session()
    join(h)
    assert h.send(p.Unsubscribe(9, ["$share/g/a/+"])) == [p.UnsubAck(9, [r.SUCCESS])]
    assert h.shares[-1] == LeaveShare(KEY) and h.frames == []
    assert h.send(p.Unsubscribe(10, ["$share/g/a/+"])) == [
        p.UnsubAck(10, [r.NO_SUBSCRIPTION_EXISTED])
    ]


def test_a_revoked_share_leaves_the_group() -> None:
    h = shared_session()
    join(h)
    assert h.take(h.session.unshare("$share/g/a/+")) == [] and h.shares[-1] == LeaveShare(KEY)
    assert h.session.unshare("$share/g/a/+") == []


def test_the_group_delivers_at_the_granted_qos_with_the_subscription_id() -> None:
    h = shared_session()
    h.send(
        p.Subscribe(1, [p.SubscriptionRequest("$share/g/a/+", 1)], Properties(subscription_ids=[5]))
    )
    joined = h.shares[-1]
    assert isinstance(joined, JoinShare)
    h.answer({"id": joined.frame_id})
    # The live path does not match a shared subscription: only the group delivers.
    assert h.deliver(message("a/b", qos=2)) == []
    (publish,) = h.take(h.session.deliver_shared(KEY, message("a/b", qos=2, retain=True)))
    assert isinstance(publish, p.Publish)
    assert (publish.qos, publish.retain, publish.properties.subscription_ids) == (1, False, [5])
    (publish,) = h.take(h.session.deliver_shared(KEY, message("a/b", qos=0)))
    assert publish.qos == 0


def test_a_non_shared_subscription_of_the_same_session_is_its_own() -> None:
    h = shared_session()
    join(h)
    h.subscribe("a/b", qos=0)
    (publish,) = h.deliver(message("a/b", qos=1))
    assert publish.qos == 0


def test_rank_follows_the_window_and_the_connection() -> None:
    h = shared_session(
        config=HubConfig(mqtt_max_inflight=1), properties=Properties(session_expiry=60)
    )
    join(h, qos=1)
    session = h.session
    assert session.share_rank(KEY, 1) == READY
    assert session.share_rank(ShareKey("other", "a/+"), 1) is None  # not a member
    h.take(session.deliver_shared(KEY, message("a/b")))
    assert session.share_rank(KEY, 1) == BUSY and session.share_rank(KEY, 0) == READY
    h.take(session.connection_lost("gone"))
    assert session.share_rank(KEY, 1) == AWAY and session.share_rank(KEY, 0) is None
    h.take(session.end())
    assert session.share_rank(KEY, 1) is None


def test_a_kept_session_keeps_its_shared_messages_for_its_return() -> None:
    h = shared_session(properties=Properties(session_expiry=60))
    join(h)
    h.take(h.session.deliver_shared(KEY, message("a/b", b"m1")))
    h.take(h.session.connection_lost("gone"))
    assert not [a for a in h.shares if isinstance(a, Handover)]
    again = reconnect(h, session_expiry=60)
    assert [(x.payload, x.dup) for x in again if isinstance(x, p.Publish)] == [(b"m1", True)]


def test_an_ended_session_hands_over_what_its_client_does_not_have() -> None:
    h = shared_session(config=HubConfig(mqtt_max_inflight=2))
    join(h, qos=2)
    for payload in (b"m1", b"m2", b"m3", b"m4"):
        h.take(h.session.deliver_shared(KEY, message("a/b", payload, qos=2)))
    h.take(h.session.deliver_shared(KEY, message("a/b", b"zero", qos=0)))
    first = [x for x in h.sent if isinstance(x, p.Publish) and x.payload == b"m1"][0]
    h.send(p.PubRec(first.packet_id or 0))  # m1 has reached the client: it stays there
    h.take(h.session.connection_lost("gone"))  # no session expiry: the session ends
    (handover,) = [a for a in h.shares if isinstance(a, Handover)]
    assert [c.message.payload for c in handover.copies] == [b"m2", b"m3", b"m4"]
    assert {c.key for c in handover.copies} == {KEY} and h.ended
