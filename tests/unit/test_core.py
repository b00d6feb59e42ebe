"""The hub core with in-memory sessions: no sockets, one event loop for replays."""

from __future__ import annotations

import asyncio
import json

from coresessions import make_session
from earlgate.broker.memory import MemoryBroker
from earlgate.hub.config import HubConfig
from earlgate.hub.core import Hub


class Unhealthy(MemoryBroker):
    def healthy(self) -> bool:
        return False


def frame(**fields: object) -> bytes:
    return json.dumps(fields).encode()


async def test_unreachable_broker_answers_unavailable() -> None:
    hub = Hub(Unhealthy())
    session, received = make_session(hub)
    hub.handle_frame(session, frame(type="publish", subject="a", id=1))
    assert received == [
        {"type": "error", "code": "unavailable", "reason": "broker is unreachable", "id": 1}
    ]
    status, body = await hub.publish_http(frame(type="publish", subject="a"))
    assert status == 503 and body["code"] == "unavailable"


def test_unreachable_broker_local_delivery_without_id_only() -> None:
    hub = Hub(Unhealthy(durable=["d/#"]))
    publisher, answers = make_session(hub)
    subscriber, received = make_session(hub)
    hub.handle_frame(subscriber, frame(type="subscribe", subject="#"))
    hub.handle_frame(publisher, frame(type="publish", subject="a", data=1, retain=True))
    hub.handle_frame(publisher, frame(type="publish", subject="a", data=2, id=7))
    hub.handle_frame(publisher, frame(type="publish", subject="d/x", data=3))
    hub.handle_frame(publisher, frame(type="publish", subject="b", data=4))
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
    hub.handle_frame(session, frame(type="publish", subject="a", id=1))
    assert received[0]["code"] == "overloaded"
    hub.handle_frame(session, frame(type="ping", id=2))  # still served
    assert received[1] == {"type": "pong", "id": 2}


def test_a_bug_in_handling_becomes_an_error_frame(monkeypatch) -> None:
    hub = Hub(MemoryBroker())
    session, received = make_session(hub)

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(hub.broker, "publish", broken)
    hub.handle_frame(session, frame(type="publish", subject="a"))
    assert received[0]["type"] == "error"
    hub.handle_frame(session, frame(type="ping"))
    assert received[1]["type"] == "pong"


def test_close_session_releases_subscriptions() -> None:
    hub = Hub(MemoryBroker(), HubConfig())
    session, _ = make_session(hub)
    hub.handle_frame(session, frame(type="subscribe", subject="a/+"))
    hub.handle_frame(session, frame(type="subscribe", subject="b"))
    assert hub.metrics.subscriptions == 2
    hub.close_session(session)
    assert hub.metrics.subscriptions == 0 and len(hub.index) == 0
    assert hub.metrics.connections_open == 0


def test_last_and_since_on_the_event_loop() -> None:
    async def scenario() -> list[dict]:
        hub = Hub(MemoryBroker(durable=["d/#"]))
        pub, _ = make_session(hub)
        for i in range(3):
            hub.handle_frame(pub, frame(type="publish", subject="d/x", data=i, retain=True))
        sub, received = make_session(hub)
        hub.handle_frame(sub, frame(type="subscribe", subject="d/x", id=1, since=1))
        hub.handle_frame(pub, frame(type="publish", subject="d/x", data=3))  # during the replay
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        return received

    received = asyncio.run(scenario())
    assert received[0] == {"type": "ack", "id": 1, "recovered": True}
    assert [m["data"] for m in received[1:]] == [1, 2, 3]
    assert [m["_offset"] for m in received[1:]] == [2, 3, 4]
