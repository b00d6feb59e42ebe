"""The pure router: what it counts, what it keeps, and the JSON form of its events.

What it answers to each event is in the shared vectors (test_router_vectors.py).
"""

from __future__ import annotations

from typing import Any

import pytest

from earlgate.gateway.aggregate import Part, encode
from earlgate.gateway.router import (
    Drop,
    HubMessage,
    MuxInto,
    PeerJoined,
    PeerLeft,
    PeerMessage,
    Publish,
    Refuse,
    Router,
    RouterError,
    Send,
    Subscribe,
    Unsubscribe,
    event_from_json,
)
from earlgate.gateway.routes import parse_routes
from earlgate.gateway.stats import GatewayMetrics

ROUTES: dict[str, Any] = {
    "forward": [{"from": "arm-*", "to": ["arm-*", "logger"]}],
    "mux": [{"from": "sensor-*", "to": "cloud"}],
    "demux": [{"from": "cloud", "to": "spare"}],
    "bridge": [
        {"peer": "th-*", "publish": "sensors/{peer}", "subscribe": "commands/{peer}"},
        {"peer": "th-*", "subscribe": "commands/{peer}"},
    ],
}


def make_router() -> tuple[Router, GatewayMetrics]:
    metrics = GatewayMetrics()
    ticks = iter(range(1000))
    return Router(parse_routes(ROUTES), metrics, timer=lambda: next(ticks) * 0.001), metrics


def test_it_counts_what_it_routes() -> None:
    router, metrics = make_router()
    for peer in ("arm-1", "arm-2", "th-1"):
        router.handle(PeerJoined(peer))
    assert router.handle(PeerMessage("arm-1", 1)) == [
        Send("arm-2", 1, "forward#1"),
        Send("logger", 1, "forward#1"),
    ]
    assert router.handle(PeerMessage("sensor-1", {"ts": 5})) == [
        MuxInto("mux#1", "sensor-1", {"ts": 5})
    ]
    assert router.handle(PeerMessage("th-1", {"ts": 5})) == [
        Publish("sensors/th-1", {"ts": 5}, 5, "bridge#1")
    ]
    router.handle(HubMessage("th-1", "commands/th-1", {"data": "on"}))
    assert router.handle(PeerMessage("nobody", 0)) == [Drop("unrouted", None, "nobody")]
    assert metrics.received == 4 and metrics.unrouted == 1
    counts = {name: s.messages_in for name, s in metrics.routes.items()}
    assert counts == {"forward#1": 1, "mux#1": 1, "bridge#1": 2}


def test_shared_subjects_subscribe_once_and_leave_cleanly() -> None:
    router, metrics = make_router()
    assert router.handle(PeerJoined("th-1")) == [Subscribe("th-1", "commands/th-1", "bridge#1")]
    assert router.handle(PeerJoined("th-1")) == []  # a second connection of the same peer
    hub = HubMessage("th-1", "commands/th-1", {"data": 1})
    assert router.handle(hub) == [Send("th-1", {"data": 1}, "bridge#1")]
    assert router.handle(PeerLeft("th-1")) == [Unsubscribe("th-1", "commands/th-1")]
    assert router.handle(hub) == []  # late: after the unsubscribe
    assert router.handle(PeerLeft("th-1")) == []
    assert metrics.route("bridge#1").messages_in == 1 and "bridge#2" not in metrics.routes


def test_a_refused_peer_is_counted_once_per_connection() -> None:
    router, metrics = make_router()
    actions = router.handle(PeerJoined("th-1/#"))
    refusals = [a for a in actions if isinstance(a, Refuse)]
    assert len(refusals) == len(actions) == 2  # and no subscription
    assert [a.route for a in refusals] == ["bridge#1", "bridge#2"]
    assert "'#' '/'" in refusals[0].detail and "commands/{peer}" in refusals[1].detail
    router.handle(PeerMessage("th-1/#", 1))
    router.handle(PeerJoined("th-1/#"))
    assert metrics.route("bridge#1").refused == 1 and metrics.route("bridge#2").refused == 1
    assert metrics.unrouted == 1


def test_demux_accounting_per_joined_source() -> None:
    router, metrics = make_router()
    parts = [Part("dev", n, 1.0, n) for n in range(3)]
    router.handle(PeerJoined("cloud"))
    assert len(router.handle(PeerMessage("cloud", encode(parts[:1] + parts[2:])))) == 2
    assert router.handle(PeerMessage("cloud", encode(parts))) == []  # repeats
    assert router.handle(PeerMessage("cloud", {"mux": 1, "parts": 3})) == [
        Drop(
            "malformed",
            "demux#1",
            "cloud",
            "bad aggregate from cloud: aggregate: 'parts' must be a list",
        )
    ]
    stats = metrics.route("demux#1")
    assert (stats.messages_in, stats.lost, stats.duplicates) == (3, 1, 3)
    assert stats.dropped == {"malformed": 1} and stats.processing.total == 2
    # A source that has not joined is demultiplexed afresh each time, nothing kept.
    router.handle(PeerLeft("cloud"))
    assert router.handle(PeerMessage("cloud", encode(parts[:1]))) == [Send("spare", 0, "demux#1")]
    assert router.handle(PeerMessage("cloud", encode(parts[:1]))) == [Send("spare", 0, "demux#1")]


def test_a_timestamp_too_big_for_a_float_is_a_malformed_aggregate() -> None:
    router, metrics = make_router()
    aggregate = {"mux": 1, "parts": [{"src": "d", "seq": 0, "ts": 10**400, "data": 1}]}
    [drop] = router.handle(PeerMessage("cloud", aggregate))
    assert isinstance(drop, Drop) and drop.reason == "malformed" and "parts[0].ts" in drop.detail
    assert metrics.route("demux#1").dropped == {"malformed": 1}


def test_the_named_destinations_keep_their_queues() -> None:
    router, _ = make_router()
    assert router.named == {"logger", "cloud", "spare"}


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ([], "an event is an object"),
        ({"type": ["joined"], "peer": "a"}, "event type must be one of"),
        ({"type": "joined"}, "exactly the keys type, peer"),
        ({"type": "left", "peer": "a", "extra": 1}, "exactly the keys"),
        ({"type": "message", "peer": 3, "data": 1}, "'peer' must be a string"),
        ({"type": "hub", "peer": "a", "subject": None, "message": 1}, "'subject' must be"),
    ],
)
def test_bad_events_are_named(value: object, says: str) -> None:
    with pytest.raises(RouterError, match=says):
        event_from_json(value)
