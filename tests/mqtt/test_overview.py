"""The MQTT part of /stats without sockets: counts by carrier, the bounded list, its order."""

from __future__ import annotations

import pytest

from earlgate.hub.config import HubConfig
from earlgate.mqtt import packets as p
from earlgate.mqtt.metrics import MqttMetrics
from earlgate.mqtt.overview import (
    LISTED_FILTERS,
    LISTED_SESSIONS,
    MAX_LISTED_SESSIONS,
    OverviewError,
    listed_sessions,
    overview,
    session_entry,
)
from earlgate.mqtt.properties import Properties
from earlgate.mqtt.session import MqttSession
from earlgate.mqtt.subscribe import Subscription

from .helpers import Clock, make, message

CONFIG = HubConfig(mqtt_session_expiry_max=600)


def _session(
    client_id: str,
    wall: Clock,
    *,
    version: int = p.V311,
    transport: str = "tcp",
    keep: bool = False,
) -> MqttSession:
    session = MqttSession(client_id, CONFIG, MqttMetrics(), Clock(), wall, client_id)
    connect = p.Connect(version, client_id, not keep, 0, None, None, None, Properties())
    if version == p.V5 and keep:
        connect.properties.session_expiry = 300
    session.attach(connect, False, None, transport)
    return session


def test_a_connected_session_as_listed() -> None:
    wall = Clock(1_700_000_000.0)
    session = _session("dev-1", wall, version=p.V5, transport="websocket")
    session.subscriptions["b/#"] = Subscription("b/#", 2)
    session.subscriptions["a/+"] = Subscription("a/+", 1)
    wall.now += 12.5
    assert session_entry(session, wall.now) == {
        "client_id": "dev-1",
        "version": "5",
        "transport": "websocket",
        "state": "connected",
        "since": 1_700_000_000.0,
        "for_s": 12.5,
        "subscriptions": 2,
        "filters": [{"filter": "a/+", "qos": 1}, {"filter": "b/#", "qos": 2}],
        "inflight_out": 0,
        "inflight_in": 0,
        "queued": 0,
    }


def test_a_kept_session_counts_what_waits_for_its_client() -> None:
    harness, _ = make(p.V311, config=HubConfig(mqtt_max_inflight=1), clean=False)
    harness.subscribe("t/#", qos=1)
    harness.deliver(message("t/1"))  # sent, not acknowledged: in flight
    harness.deliver(message("t/2"))  # behind the window of 1: queued
    harness.wall.now += 5
    harness.take(harness.session.connection_lost("gone"))
    harness.wall.now += 2
    entry = session_entry(harness.session, harness.wall.now)
    assert entry["state"] == "kept"
    assert entry["version"] == "3.1.1"
    assert entry["since"] == 1_700_000_005.0 and entry["for_s"] == 2.0
    assert entry["expires_in_s"] == HubConfig().mqtt_session_expiry_max - 2
    assert (entry["inflight_out"], entry["queued"]) == (1, 1)
    assert entry["filters"] == [{"filter": "t/#", "qos": 1}]


def test_filters_are_bounded_and_all_counted() -> None:
    wall = Clock(1_000.0)
    session = _session("many", wall)
    for i in range(LISTED_FILTERS + 5):
        session.subscriptions[f"f/{i:02d}"] = Subscription(f"f/{i:02d}", 0)
    entry = session_entry(session, wall.now)
    assert entry["subscriptions"] == LISTED_FILTERS + 5
    assert [f["filter"] for f in entry["filters"]] == [f"f/{i:02d}" for i in range(LISTED_FILTERS)]


def test_counts_by_carrier_and_a_bounded_list_connected_first() -> None:
    wall = Clock(1_000.0)
    sessions = [
        _session("zeta", wall),
        _session("alpha", wall, transport="websocket"),
        _session("kept-b", wall, version=p.V5, keep=True),
        _session("kept-a", wall, keep=True),
        _session("beta", wall),
    ]
    for session in sessions[2:4]:
        session.connection_lost("gone")
    connections, mqtt = overview(sessions, 7, 3, wall.now)
    assert connections == {"websocket": 7, "mqtt_tcp": 2, "mqtt_websocket": 1, "mqtt_kept": 2}
    assert (mqtt["sessions"], mqtt["connected"], mqtt["kept"], mqtt["limit"]) == (5, 3, 2, 3)
    assert [e["client_id"] for e in mqtt["listed"]] == ["alpha", "beta", "zeta"]
    _, everything = overview(sessions, 0, LISTED_SESSIONS, wall.now)
    listed = [(e["client_id"], e["state"]) for e in everything["listed"]]
    assert listed == [
        ("alpha", "connected"),
        ("beta", "connected"),
        ("zeta", "connected"),
        ("kept-a", "kept"),
        ("kept-b", "kept"),
    ]
    assert everything["listed"][4]["expires_in_s"] == 300
    _, none = overview(sessions, 0, 0, wall.now)
    assert none["listed"] == [] and none["sessions"] == 5


def test_no_sessions() -> None:
    connections, mqtt = overview([], 0, LISTED_SESSIONS, 0.0)
    assert connections == {"websocket": 0, "mqtt_tcp": 0, "mqtt_websocket": 0, "mqtt_kept": 0}
    assert mqtt == {"sessions": 0, "connected": 0, "kept": 0, "limit": 100, "listed": []}


def test_the_limit_parameter() -> None:
    assert listed_sessions(None) == LISTED_SESSIONS == 100
    assert listed_sessions("0") == 0
    assert listed_sessions(str(MAX_LISTED_SESSIONS)) == MAX_LISTED_SESSIONS
    for bad in ("-1", "1001", "ten", "", "1.5"):
        with pytest.raises(OverviewError, match=r"mqtt_sessions must be .* 0 to 1000"):
            listed_sessions(bad)
