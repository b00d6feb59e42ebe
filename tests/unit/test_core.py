"""The hub core with in-memory sessions: no sockets, no event loop."""

from __future__ import annotations

import json

from coresessions import feed, make_session
from earlgate.broker.memory import MemoryBroker
from earlgate.hub.actions import Publish, Replay, ReplayKind, Send
from earlgate.hub.config import HubConfig
from earlgate.hub.core import Hub


class Unhealthy(MemoryBroker):
    def healthy(self) -> bool:
        return False


def frame(**fields: object) -> bytes:
    return json.dumps(fields).encode()


def test_unreachable_broker_answers_unavailable() -> None:
    hub = Hub(Unhealthy())
    session, received = make_session(hub)
    feed(hub, session, frame(type="publish", subject="a", id=1))
    assert received == [
        {"type": "error", "code": "unavailable", "reason": "broker is unreachable", "id": 1}
    ]
    status, body = hub.publish_http(frame(type="publish", subject="a"))
    assert status == 503 and body["code"] == "unavailable"


def test_unreachable_broker_local_delivery_without_id_only() -> None:
    hub = Hub(Unhealthy(durable=["d/#"]))
    publisher, answers = make_session(hub)
    subscriber, received = make_session(hub)
    feed(hub, subscriber, frame(type="subscribe", subject="#"))
    feed(hub, publisher, frame(type="publish", subject="a", data=1, retain=True))
    feed(hub, publisher, frame(type="publish", subject="a", data=2, id=7))
    feed(hub, publisher, frame(type="publish", subject="d/x", data=3))
    feed(hub, publisher, frame(type="publish", subject="b", data=4))
    assert [(m["subject"], m["data"]) for m in received] == [("a", 1), ("b", 4)]
    assert [(m["code"], m.get("id")) for m in answers] == [
        ("unavailable", 7),
        ("unavailable", None),
    ]
    assert hub.statistics()["local_only"] == 2
    assert hub.broker.store.last_offset == 0 and len(hub.broker.retained_store) == 0


def test_shedding_answers_overloaded() -> None:
    hub = Hub(MemoryBroker())
    session, received = make_session(hub)
    hub.shedding = True
    feed(hub, session, frame(type="publish", subject="a", id=1))
    assert received[0]["code"] == "overloaded"
    feed(hub, session, frame(type="ping", id=2))  # still served
    assert received[1] == {"type": "pong", "id": 2}


def test_a_bug_in_handling_becomes_an_error_frame(monkeypatch) -> None:
    hub = Hub(MemoryBroker())
    session, received = make_session(hub)

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(hub.broker, "publish", broken)
    feed(hub, session, frame(type="publish", subject="a"))
    assert received[0]["type"] == "error"
    feed(hub, session, frame(type="ping"))
    assert received[1]["type"] == "pong"


def test_close_session_releases_subscriptions() -> None:
    hub = Hub(MemoryBroker(), HubConfig())
    session, _ = make_session(hub)
    feed(hub, session, frame(type="subscribe", subject="a/+"))
    feed(hub, session, frame(type="subscribe", subject="b"))
    assert hub.metrics.subscriptions == 2
    hub.close_session(session)
    assert hub.metrics.subscriptions == 0 and len(hub.index) == 0
    assert hub.metrics.connections_open == 0


def test_since_replays_stored_then_held_live_without_duplicates() -> None:
    hub = Hub(MemoryBroker(durable=["d/#"]))
    pub, _ = make_session(hub)
    for i in range(3):
        feed(hub, pub, frame(type="publish", subject="d/x", data=i, retain=True))
    sub, received = make_session(hub)
    (replay,) = hub.handle_frame(sub, frame(type="subscribe", subject="d/x", id=1, since=1))
    assert isinstance(replay, Replay) and replay.kind is ReplayKind.HISTORY
    feed(hub, pub, frame(type="publish", subject="d/x", data=3))  # during the replay: held
    assert received == []
    stored = hub.broker.store.replay("d/x", 1, None)
    for action in hub.history_read(replay, stored):
        assert isinstance(action, Send)
        action.session.send(action.raw)
    hub.replay_over(replay)
    assert received[0] == {"type": "ack", "id": 1, "recovered": True}
    assert [m["data"] for m in received[1:]] == [1, 2, 3]
    assert [m["_offset"] for m in received[1:]] == [2, 3, 4]


def test_a_plain_publish_returns_no_action_and_an_acked_one_a_publish() -> None:
    hub = Hub(MemoryBroker())
    session, received = make_session(hub)
    assert hub.handle_frame(session, frame(type="publish", subject="a")) == ()
    (publish,) = hub.handle_frame(session, frame(type="publish", subject="a", id=4))
    assert isinstance(publish, Publish) and publish.frame_id == 4
    (ack,) = hub.publish_done(publish, None, "")
    assert ack == Send(session, b'{"type":"ack","id":4}')
    assert received == []


def test_the_publish_rate_limit_reads_the_injected_clock() -> None:
    now = [0.0]
    hub = Hub(MemoryBroker(), clock=lambda: now[0])
    session, received = make_session(hub)
    from earlgate.hub.session import TokenBucket

    session.bucket = TokenBucket(1.0, 1.0, now[0])
    feed(hub, session, frame(type="publish", subject="a", id=1))
    feed(hub, session, frame(type="publish", subject="a", id=2))
    now[0] = 1.0
    feed(hub, session, frame(type="publish", subject="a", id=3))
    assert [(m["type"], m["id"]) for m in received] == [("ack", 1), ("error", 2), ("ack", 3)]
    assert received[1]["code"] == "rate_limited"
