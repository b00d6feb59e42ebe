"""The client's state machine without a hub or an event loop: events in, frames out."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from earlgate.client.errors import ClosedError, QueueFullError
from earlgate.client.resume import SubscriptionState
from earlgate.client.state import (
    Answered,
    ClientState,
    Delivered,
    HubErrorReported,
    Refused,
)
from earlgate.wire.subjects import SubjectError

NOW = 1_700_000_000.0


class Wire:
    """Collects what the state machine writes, decoded."""

    def __init__(self) -> None:
        self.raw: list[bytes] = []

    def __call__(self, raw: bytes) -> None:
        self.raw.append(raw)

    def take(self) -> list[dict[str, Any]]:
        frames = [orjson.loads(raw) for raw in self.raw]
        self.raw.clear()
        return frames


def make(queue_size: int = 10) -> tuple[ClientState, Wire]:
    wire = Wire()
    return ClientState(wire, queue_size), wire


def message(subject: str, offset: int | None = None, epoch: str | None = None, **more: Any):
    frame: dict[str, Any] = {"type": "message", "subject": subject, **more}
    if offset is not None:
        frame["_offset"] = offset
    if epoch is not None:
        frame["_epoch"] = epoch
    return frame


def test_exact_subscription_resubscribes_with_since_and_epoch_after_reconnect() -> None:
    state, wire = make()
    sub = SubscriptionState("d/a", since=0)
    assert state.subscribe(sub) is None  # not connected: sent on connecting
    assert wire.take() == []
    state.connected()
    assert wire.take() == [{"type": "subscribe", "subject": "d/a", "id": 1, "since": 0}]
    state.frame_received({"type": "ack", "id": 1, "recovered": True})
    state.frame_received(message("d/a", 4, "e1", data=1))
    state.frame_received(message("d/a", 9, "e1", data=2))
    assert (sub.offset, sub.epoch, sub.recovered) == (9, "e1", True)
    assert state.disconnected() == []
    state.connected()
    assert wire.take() == [
        {"type": "subscribe", "subject": "d/a", "id": 2, "since": 9, "epoch": "e1"}
    ]


def test_plain_and_last_subscriptions_resubscribe_as_they_started() -> None:
    state, wire = make()
    state.subscribe(SubscriptionState("p/+"))
    state.subscribe(SubscriptionState("r/x", last=True))
    state.connected()
    assert wire.take() == [
        {"type": "subscribe", "subject": "p/+", "id": 1},
        {"type": "subscribe", "subject": "r/x", "id": 2, "last": True},
    ]


def test_pattern_resume_starts_with_true_then_sends_its_positions() -> None:
    state, wire = make()
    state.connected()
    sub = SubscriptionState("d/+", resume=True)
    assert state.subscribe(sub) == 1
    assert wire.take() == [{"type": "subscribe", "subject": "d/+", "id": 1, "resume": True}]
    assert state.disconnected() == [1]
    state.connected()  # a reconnect before the first ack: still a fresh start
    assert wire.take() == [{"type": "subscribe", "subject": "d/+", "id": 2, "resume": True}]
    events = state.frame_received({"type": "ack", "id": 2, "positions": {"d/a": [41, "e1"]}})
    assert events == [Answered(2, {"type": "ack", "id": 2, "positions": {"d/a": [41, "e1"]}})]
    assert sub.positions == {"d/a": (41, "e1")}
    state.frame_received(message("d/a", 57, "e1"))
    state.frame_received(message("d/b", 60, "e1"))
    state.disconnected()
    state.connected()
    assert wire.take() == [
        {
            "type": "subscribe",
            "subject": "d/+",
            "id": 3,
            "resume": {"d/a": [57, "e1"], "d/b": [60, "e1"]},
        }
    ]


def test_ack_positions_merge_before_the_replayed_messages() -> None:
    state, _ = make()
    sub = SubscriptionState("d/+", resume=True)
    state.subscribe(sub)
    state.connected()
    state.frame_received({"type": "ack", "id": 1, "positions": {"d/a": [7, "e1"]}})
    state.frame_received(message("d/a", 8, "e1"))
    state.frame_received(message("d/old", 5, "e1"))
    state.disconnected()
    state.connected()  # resume {"d/a": [8, "e1"], "d/old": [5, "e1"]}
    ack = {
        "type": "ack",
        "id": 2,
        "recovered": False,
        # d/a: a new epoch, replayed from 0; d/new: first published while away;
        # d/old: the hub's position is behind ours, ours stays.
        "positions": {"d/a": [0, "e2"], "d/new": [0, "e2"], "d/old": [3, "e1"]},
    }
    state.frame_received(ack)
    assert sub.positions == {"d/a": (0, "e2"), "d/new": (0, "e2"), "d/old": (5, "e1")}
    replay = [message("d/a", 1, "e2"), message("d/new", 2, "e2"), message("d/old", 4, "e1")]
    delivered = [e for frame in replay for e in state.frame_received(frame)]
    assert delivered == [Delivered(sub, replay[0]), Delivered(sub, replay[1])]
    # The epoch change is counted once, from the ack, not again per replayed message.
    assert (sub.recovered, sub.unrecovered, sub.duplicates) == (False, 1, 1)
    assert sub.positions == {"d/a": (1, "e2"), "d/new": (2, "e2"), "d/old": (5, "e1")}


def test_pattern_duplicates_are_per_subject_and_epoch() -> None:
    state, _ = make()
    sub = SubscriptionState("d/+", resume=True)
    state.subscribe(sub)
    frames = [
        message("d/a", 5, "e1", data="a5"),
        message("d/b", 3, "e1", data="b3"),  # lower offset, other subject: new
        message("d/a", 5, "e1", data="again"),  # seen
        message("d/a", 4, "e1", data="older"),  # seen (before the last one)
        message("d/a", 2, "e2", data="a2 new epoch"),  # another epoch: new
    ]
    for frame in frames:
        state.frame_received(frame)
    assert [m["data"] for m in drain(sub)] == ["a5", "b3", "a2 new epoch"]
    assert (sub.duplicates, sub.unrecovered) == (2, 1)
    assert sub.positions == {"d/a": (2, "e2"), "d/b": (3, "e1")}


def test_exact_subject_duplicates_and_a_replay_in_a_new_epoch() -> None:
    state, _ = make()
    sub = SubscriptionState("d/a", since=0)
    state.subscribe(sub)
    state.connected()
    for offset in (1, 2, 2, 1, 3):
        state.frame_received(message("d/a", offset, "e1", data=offset))
    assert [m["data"] for m in drain(sub)] == [1, 2, 3]
    assert sub.duplicates == 2
    state.disconnected()
    state.connected()
    # recovered=false: the replay that follows is in the new epoch, from its start.
    state.frame_received({"type": "ack", "id": 2, "recovered": False})
    assert sub.epoch is None and sub.unrecovered == 1
    state.frame_received(message("d/a", 1, "e2", data="new"))
    assert [m["data"] for m in drain(sub)] == ["new"]
    assert (sub.offset, sub.epoch, sub.unrecovered, sub.duplicates) == (1, "e2", 1, 2)


@pytest.mark.parametrize(("pattern", "resume", "since"), [("d/a", False, 0), ("d/+", True, None)])
def test_a_live_message_of_a_new_epoch_means_history_was_lost(
    pattern: str, resume: bool, since: int | None
) -> None:
    state, _ = make()
    sub = SubscriptionState(pattern, since=since, resume=resume)
    state.subscribe(sub)
    state.connected()
    state.frame_received({"type": "ack", "id": 1, "recovered": True})
    state.frame_received(message("d/a", 10, "e1"))
    assert (sub.recovered, sub.unrecovered) == (True, 0)
    events = state.frame_received(message("d/a", 1, "e2", data="after restart"))
    assert [e.message["data"] for e in events if isinstance(e, Delivered)] == ["after restart"]
    assert (sub.recovered, sub.unrecovered, sub.duplicates) == (False, 1, 0)


def test_requests_are_answered_by_id_and_unknown_ids_ignored() -> None:
    state, wire = make()
    state.connected()
    ping = state.request({"type": "ping"})
    auth = state.request({"type": "auth", "token": "t"})
    assert wire.take() == [
        {"type": "ping", "id": 1},
        {"type": "auth", "token": "t", "id": 2},
    ]
    assert set(state.pending) == {ping, auth}
    assert state.frame_received({"type": "pong", "id": ping}) == [
        Answered(ping, {"type": "pong", "id": ping})
    ]
    assert state.frame_received({"type": "pong", "id": ping}) == []  # answered already
    refusal = {"type": "error", "id": auth, "code": "forbidden", "reason": "bad token"}
    assert state.frame_received(refusal) == [Refused(auth, "forbidden", "bad token")]
    assert state.pending == {}
    assert state.frame_received({"type": "ack", "id": 99}) == []
    assert state.frame_received({"type": "error", "id": 99, "code": "x", "reason": "y"}) == []
    assert state.frame_received({"type": "error", "code": "bad_frame", "reason": "no"}) == [
        HubErrorReported("bad_frame", "no")
    ]


def test_a_forgotten_request_is_no_longer_answered() -> None:
    state, _ = make()
    state.connected()
    sub = SubscriptionState("d/a", since=0)
    frame_id = state.subscribe(sub)
    assert frame_id is not None
    state.forget(frame_id)  # timed out
    assert state.frame_received({"type": "ack", "id": frame_id, "recovered": False}) == []
    assert (sub.recovered, sub.unrecovered) == (None, 0)


def test_subscribe_acks_and_refusals_name_the_subscription() -> None:
    state, _ = make()
    state.connected()
    good, bad = SubscriptionState("a/+"), SubscriptionState("b/+")
    assert (state.subscribe(good), state.subscribe(bad)) == (1, 2)
    state.frame_received({"type": "ack", "id": 1})
    events = state.frame_received(
        {"type": "error", "id": 2, "code": "forbidden", "reason": "not yours"}
    )
    assert events == [Refused(2, "forbidden", "not yours", bad)]
    state.remove(bad)
    assert state.subscriptions == [good]


def test_publish_frames_and_the_injected_clock() -> None:
    state, wire = make()
    state.connected()
    assert state.publish("s/x", {"v": 1}, now=1.0123456, retain=True) is None
    assert state.publish("s/y", now=NOW, published=5.0, fields={"trace": "t1"}) is None
    assert state.publish("s/z", 3, now=NOW, ack=True) == 1
    assert wire.take() == [
        {
            "type": "publish",
            "subject": "s/x",
            "published": 1012.346,
            "data": {"v": 1},
            "retain": True,
        },
        {"type": "publish", "subject": "s/y", "published": 5.0, "trace": "t1"},
        {"type": "publish", "subject": "s/z", "published": NOW * 1000, "data": 3, "id": 1},
    ]
    with pytest.raises(SubjectError):
        state.publish("a/+", now=NOW)
    assert wire.take() == [] and state.pending == {1: None}


def test_outgoing_queue_is_bounded_and_flushed_after_the_resubscribes() -> None:
    state, wire = make(queue_size=2)
    state.subscribe(SubscriptionState("q/x"))
    state.publish("q/x", 0, now=NOW)
    state.publish("q/x", 1, now=NOW, ack=True)
    with pytest.raises(QueueFullError, match=r"queue full \(2 frames\): hub not connected"):
        state.publish("q/x", 2, now=NOW)
    with pytest.raises(QueueFullError):
        state.request({"type": "ping"})
    assert state.queued == 2 and list(state.pending) == [1]  # the refused ping left nothing
    state.connected()
    assert [(f["type"], f.get("data"), f["id"] if "id" in f else None) for f in wire.take()] == [
        ("subscribe", None, 3),
        ("publish", 0, None),
        ("publish", 1, 1),
    ]
    assert state.queued == 0


def test_a_paused_transport_queues_and_stops_the_flush_at_the_next_frame() -> None:
    wire = Wire()

    def write(raw: bytes) -> None:
        wire(raw)
        state.pause_writing()  # every write fills the transport's buffer

    state = ClientState(write, queue_size=2)
    state.publish("w/x", 0, now=NOW)
    state.publish("w/x", 1, now=NOW)
    state.connected()
    assert [f["data"] for f in wire.take()] == [0]
    state.publish("w/x", 2, now=NOW)
    with pytest.raises(QueueFullError, match="hub reads too slowly"):
        state.publish("w/x", 3, now=NOW)
    state.resume_writing()
    assert [f["data"] for f in wire.take()] == [1]
    assert state.queued == 1


def test_disconnected_fails_what_was_awaited_on_the_lost_connection() -> None:
    state, wire = make()
    state.connected()
    sub = SubscriptionState("d/a", since=0)
    sub_id = state.subscribe(sub)
    ping = state.request({"type": "ping"})
    state.frame_received({"type": "pong", "id": ping})  # answered: not failed
    late = state.request({"type": "ping"})
    assert state.disconnected() == [sub_id, late]
    assert state.pending == {} and not state.online
    assert state.frame_received({"type": "ack", "id": sub_id, "recovered": False}) == []
    assert sub.recovered is None
    queued = state.request({"type": "ping"})  # queued now, awaited again
    assert wire.take()[-1] == {"type": "ping", "id": late} and state.queued == 1
    assert state.disconnected() == [queued]


def test_subscribe_argument_errors() -> None:
    with pytest.raises(ValueError, match="since needs a single subject"):
        SubscriptionState("d/+", since=3)
    with pytest.raises(ValueError, match="since or resume"):
        SubscriptionState("d/a", since=3, resume=True)
    with pytest.raises(SubjectError):
        SubscriptionState("$hub/x")
    with pytest.raises(SubjectError):
        SubscriptionState("a/#/b")


def test_unsubscribe_tells_the_hub_when_the_last_of_a_pattern_goes() -> None:
    state, wire = make()
    state.connected()
    one, two = SubscriptionState("u/+"), SubscriptionState("u/+")
    state.subscribe(one)
    state.subscribe(two)
    wire.take()
    assert state.unsubscribe(one) is True and one.closed
    assert wire.take() == []
    assert state.unsubscribe(two) is True
    assert wire.take() == [{"type": "unsubscribe", "subject": "u/+"}]
    assert state.unsubscribe(two) is False


def test_messages_reach_every_matching_subscription_and_the_queue_is_bounded() -> None:
    state, _ = make()
    wide, narrow, other = (SubscriptionState(p, maxsize=2) for p in ("m/#", "m/+/t", "x/+"))
    for sub in (wide, narrow, other):
        state.subscribe(sub)
    for i in range(3):
        events = state.frame_received(message("m/a/t", data=i))
        assert [e.subscription for e in events if isinstance(e, Delivered)] == [wide, narrow]
    assert state.frame_received({"type": "message", "data": "no subject"}) == []
    assert [m["data"] for m in drain(wide)] == [1, 2] and wide.dropped == 1
    assert drain(other) == []


def test_close_refuses_what_comes_after_and_closes_the_subscriptions() -> None:
    state, wire = make()
    sub = SubscriptionState("c/x")
    state.subscribe(sub)
    state.connected()
    state.pause_writing()
    state.publish("c/x", 1, now=NOW)
    wire.take()
    state.close()
    assert wire.take() == [] and state.queued == 1  # the transport still takes nothing
    assert sub.closed
    with pytest.raises(ClosedError):
        state.publish("c/x", 2, now=NOW)
    with pytest.raises(ClosedError):
        state.request({"type": "ping"})
    assert state.unsubscribe(sub) is True and state.queued == 1


def drain(sub: SubscriptionState) -> list[dict[str, Any]]:
    out = []
    while (item := sub.get_nowait()) is not None:
        out.append(item)
    return out
