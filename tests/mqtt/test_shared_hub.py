"""Shared subscriptions on a real hub: mosquitto_sub members of $share groups, raw sockets for
the flows a library hides (a member that leaves with a message unacknowledged, retained values)."""

from __future__ import annotations

import subprocess
import urllib.request
from collections.abc import Iterator

import pytest

from earlgate.hub.auth import make_token
from earlgate.mqtt import packets as p
from earlgate.mqtt import reasons as r
from earlgate.mqtt.properties import Properties
from hubproc import HubProcess, start_hub
from polling import wait_for

from .clients import MOSQUITTO_PUB, LiveSub, RawClient, needs_mosquitto, pub


@pytest.fixture(scope="module")
def hub() -> Iterator[HubProcess]:
    process = start_hub("--mqtt-session-expiry-max", "60", mqtt=True)
    yield process
    process.stop_clean()


SECRET = "shared-test-secret-" + "x" * 20


@pytest.fixture(scope="module")
def auth_hub() -> Iterator[HubProcess]:
    process = start_hub("--auth-secret", SECRET, "--mqtt-session-expiry-max", "60", mqtt=True)
    yield process
    process.stop()


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while LiveSub.opened:
        LiveSub.opened.pop().stop()
    while RawClient.opened:
        RawClient.opened.pop().close()


def _port(hub: HubProcess) -> int:
    assert hub.mqtt_port is not None
    return hub.mqtt_port


def _counter(hub: HubProcess, name: str) -> float:
    with urllib.request.urlopen(f"{hub.http_url}/metrics", timeout=5) as answer:
        for line in answer.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    raise AssertionError(f"{name} not on /metrics")


def _payloads(lines: list[str]) -> list[str]:
    return [line.split(" ", 3)[3] for line in lines]


def _member(port: int, client_id: str, *filters: str, qos: int = 1, expiry: int = 0) -> RawClient:
    client = RawClient(port)
    props = Properties(session_expiry=expiry) if expiry else Properties()
    client.send(p.Connect(p.V5, client_id, True, 0, properties=props))
    ack = client.recv()
    assert isinstance(ack, p.ConnAck) and ack.properties.shared_available == 1
    if filters:
        client.send(p.Subscribe(1, [p.SubscriptionRequest(f, qos) for f in filters]))
        assert client.recv() == p.SubAck(1, [qos] * len(filters))
    return client


def _publish(client: RawClient) -> p.Publish:
    packet = client.recv()
    assert isinstance(packet, p.Publish), packet
    return packet


@needs_mosquitto
def test_members_share_the_messages_and_every_group_and_subscriber_gets_all(
    hub: HubProcess,
) -> None:
    port = _port(hub)
    members = [
        LiveSub(port, "$share/workers/jobs/#", version=version, qos=1).subscribed()
        for version in (p.V5, p.V5, p.V311)  # 3.1.1 clients may share too
    ]
    other_group = LiveSub(port, "$share/audit/jobs/#", version=p.V5, qos=1).subscribed()
    plain = LiveSub(port, "jobs/#", version=p.V5, qos=1).subscribed()
    before = _counter(hub, "earlgate_mqtt_shared_delivered_total")
    sent = [f"m{n}" for n in range(30)]
    assert MOSQUITTO_PUB is not None
    subprocess.run(
        [MOSQUITTO_PUB, "-h", "127.0.0.1", "-p", str(port), "-V", "mqttv5"]
        + ["-q", "1", "-t", "jobs/a", "-l"],
        input="\n".join(sent) + "\n",
        text=True,
        check=True,
        timeout=20,
        capture_output=True,
    )
    assert _payloads(other_group.wait_messages(30)) == sent
    assert _payloads(plain.wait_messages(30)) == sent
    got = [_payloads(m.wait_messages(10)) for m in members]
    assert sorted(sum(got, []), key=lambda m: int(m[1:])) == sent  # each message once
    # Round-robin over members with room in their window: every third message each.
    assert got == [sent[0::3], sent[1::3], sent[2::3]]
    assert all(line.startswith("0 1 jobs/a ") for m in members for line in m.wait_messages(10))
    assert _counter(hub, "earlgate_mqtt_shared_delivered_total") - before == 60


@needs_mosquitto
def test_a_shared_subscription_gets_no_retained_values(hub: HubProcess) -> None:
    port = _port(hub)
    pub(port, "ret/shared", "old", qos=1, retain=True)
    member = _member(port, "ret-member", "$share/g/ret/#", "ret/#")
    retained = _publish(member)  # the plain subscription's retained value, and only that
    assert (retained.payload, retained.retain, retained.properties.subscription_ids) == (
        b"old",
        True,
        [],
    )
    pub(port, "ret/shared", "new", qos=1)
    live = [_publish(member), _publish(member)]  # one copy per subscription
    assert [(m.payload, m.retain) for m in live] == [(b"new", False), (b"new", False)]


def test_a_session_that_ends_hands_its_unacknowledged_message_to_another_member(
    hub: HubProcess,
) -> None:
    port = _port(hub)
    first = _member(port, "hand-a", "$share/hand/t")
    second = _member(port, "hand-b", "$share/hand/t")
    publisher = _member(port, "hand-pub")
    before = _counter(hub, "earlgate_mqtt_shared_handed_over_total")
    publisher.send(p.Publish("t", b"m1", 1, False, False, 1))
    assert publisher.recv() == p.PubAck(1)
    held = _publish(first)  # first in turn; never acknowledged
    assert held.payload == b"m1"
    first.close()  # no session expiry: the session ends with m1 unacknowledged
    moved = _publish(second)
    assert (moved.payload, moved.qos, moved.dup) == (b"m1", 1, False)
    second.send(p.PubAck(moved.packet_id or 0))
    wait_for(
        "the handover counted",
        lambda: _counter(hub, "earlgate_mqtt_shared_handed_over_total") == before + 1 or None,
    )


def test_a_member_away_with_its_session_kept_gets_its_message_on_return(hub: HubProcess) -> None:
    port = _port(hub)
    away = _member(port, "kept-a", "$share/kept/t", expiry=60)
    other = _member(port, "kept-b", "$share/kept/t")
    publisher = _member(port, "kept-pub")
    publisher.send(p.Publish("t", b"m1", 1, False, False, 1))
    assert publisher.recv() == p.PubAck(1)
    assert _publish(away).payload == b"m1"  # its turn; not acknowledged
    away.close()
    wait_for("the session kept", lambda: _counter(hub, "earlgate_mqtt_connections") == 2 or None)
    for n, payload in ((2, b"m2"), (3, b"m3")):  # the connected member takes them all
        publisher.send(p.Publish("t", payload, 1, False, False, n))
        assert publisher.recv() == p.PubAck(n)
        got = _publish(other)
        assert got.payload == payload
        other.send(p.PubAck(got.packet_id or 0))
    back = RawClient(port)
    props = Properties(session_expiry=60)
    back.send(p.Connect(p.V5, "kept-a", False, 0, properties=props))
    ack = back.recv()
    assert isinstance(ack, p.ConnAck) and ack.session_present
    again = _publish(back)
    assert (again.payload, again.dup) == (b"m1", True)


def test_two_groups_on_one_filter_each_get_a_copy(hub: HubProcess) -> None:
    port = _port(hub)
    one = _member(port, "two-a", "$share/one/two/+")
    two = _member(port, "two-b", "$share/two/two/+", qos=0)
    pub(port, "two/x", "hello", qos=1)
    assert (_publish(one).qos, _publish(two).qos) == (1, 0)  # each at its granted QoS


def test_no_local_on_a_shared_subscription_closes_the_connection(hub: HubProcess) -> None:
    client = RawClient(_port(hub))
    assert isinstance(client.connect("no-local"), p.ConnAck)
    client.send(p.Subscribe(1, [p.SubscriptionRequest("$share/g/x", 1, no_local=True)]))
    answer = client.recv()
    assert isinstance(answer, p.Disconnect) and answer.reason == r.PROTOCOL_ERROR
    assert client.closed()


def _connect(port: int, client_id: str, token: str, clean: bool = True) -> RawClient:
    client = RawClient(port)
    props = Properties(session_expiry=60)
    client.send(p.Connect(p.V5, client_id, clean, 0, None, token.encode(), None, props))
    ack = client.recv()
    assert isinstance(ack, p.ConnAck) and ack.reason == 0, ack
    return client


def test_the_token_must_allow_the_filter_and_a_new_one_can_revoke_it(auth_hub: HubProcess) -> None:
    port = _port(auth_hub)
    both = make_token(SECRET, publish=["jobs/#"], subscribe=["jobs/#", "other/#"])
    member = _connect(port, "grant-a", both)
    requests = [p.SubscriptionRequest(f, 1) for f in ("$share/g/jobs/#", "$share/g/secret/#")]
    member.send(p.Subscribe(1, requests))
    suback = member.recv()
    assert isinstance(suback, p.SubAck) and suback.reasons == [1, r.NOT_AUTHORIZED]
    assert "secret/#" in (suback.properties.reason_string or "")
    member.close()
    narrower = make_token(SECRET, publish=["jobs/#"], subscribe=["other/#"])
    member = _connect(port, "grant-a", narrower, clean=False)  # resumed with a new token
    member.send(p.Unsubscribe(2, ["$share/g/jobs/#"]))
    assert member.recv() == p.UnsubAck(2, [r.NO_SUBSCRIPTION_EXISTED])  # dropped on resume
    wait_for(
        "the group gone",
        lambda: _counter(auth_hub, "earlgate_mqtt_shared_groups") == 0 or None,
    )
