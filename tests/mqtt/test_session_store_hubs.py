"""Kept MQTT sessions in a real redis-server, taken up on another hub process: after a
clean disconnect, after the holding hub (or worker of ``--workers 2``) is killed, taken
over from a live hub, discarded by a clean start."""

from __future__ import annotations

import os
import signal
import time
import urllib.request
from collections.abc import Iterator

import pytest

from earlgate.mqtt import packets as p
from earlgate.mqtt.properties import Properties
from hubproc import HubProcess, start_hub
from polling import wait_for
from redisproc import RedisServer

from .clients import RawClient
from .test_mqtt_workers import placed, worker_pids

SAVE_INTERVAL = "0.2"  # seconds: positions of connected sessions
EXPIRY = 300


@pytest.fixture(scope="module")
def redis() -> Iterator[RedisServer]:
    server = RedisServer().start()
    yield server
    server.close()


def _hub(redis: RedisServer) -> HubProcess:
    return start_hub(
        "--broker",
        redis.url,
        "--durable",
        "st/#",
        "--mqtt-session-save-interval",
        SAVE_INTERVAL,
        mqtt=True,
    )


@pytest.fixture(scope="module")
def hubs(redis: RedisServer) -> Iterator[tuple[HubProcess, HubProcess]]:
    first, second = _hub(redis), _hub(redis)
    yield first, second
    for hub in (first, second):
        hub.stop_clean(timeout=15)


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while RawClient.opened:
        RawClient.opened.pop().close()


def port_of(hub: HubProcess) -> int:
    assert hub.mqtt_port is not None
    return hub.mqtt_port


def connect(
    hub: HubProcess,
    client_id: str,
    *,
    clean: bool = False,
    version: int = p.V5,
    expiry: int = EXPIRY,
    will: p.Will | None = None,
    retry_for: float = 0.0,
) -> tuple[RawClient, p.ConnAck]:
    """CONNECT; with ``retry_for``, a connection reset meanwhile (a worker just
    killed may have held it in its backlog) is tried again, as clients do."""
    deadline = time.monotonic() + retry_for
    props = Properties(session_expiry=expiry) if version == p.V5 and expiry else Properties()
    while True:
        client = RawClient(port_of(hub), version)
        try:
            client.send(p.Connect(version, client_id, clean, 0, will=will, properties=props))
            ack = client.recv()
        except (ConnectionResetError, BrokenPipeError):
            client.close()
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.1)
            continue
        assert isinstance(ack, p.ConnAck) and ack.reason == 0, ack
        return client, ack


def subscribe(client: RawClient, *filters: str, qos: int = 1) -> None:
    requests = [p.SubscriptionRequest(f, qos) for f in filters]
    client.send(p.Subscribe(1, requests))
    ack = client.recv()
    assert isinstance(ack, p.SubAck) and ack.reasons == [qos] * len(filters), ack


def publish(hub: HubProcess, topic: str, *payloads: str, retry_for: float = 0.0) -> None:
    """QoS 1 publishes through ``hub``, each acknowledged (stored, on a durable subject)."""
    client, _ = connect(hub, f"pub-{topic}", clean=True, expiry=0, retry_for=retry_for)
    for n, payload in enumerate(payloads, 1):
        client.send(p.Publish(topic, payload.encode(), 1, False, False, n))
        assert client.recv() == p.PubAck(n)
    client.send(p.Disconnect())
    client.close()


def receive(client: RawClient, count: int, ack: bool = True) -> list[str]:
    """``count`` PUBLISH packets as ``topic payload``, acknowledged."""
    got: list[str] = []
    while len(got) < count:
        packet = client.recv()
        assert isinstance(packet, p.Publish), packet
        got.append(f"{packet.topic} {packet.payload.decode()}")
        if ack and packet.qos == 1:
            client.send(p.PubAck(packet.packet_id or 0))
    return got


def quiet(client: RawClient, seconds: float = 0.5) -> bool:
    """Nothing more arrives within ``seconds``."""
    client.sock.settimeout(seconds)
    try:
        packet = client.recv()
    except TimeoutError:
        return True
    finally:
        client.sock.settimeout(5)
    raise AssertionError(f"unexpected {packet}")


def stored(redis: RedisServer, client_id: str) -> bool:
    key = f"earlgate:mqtt:{{{client_id}}}:session:{client_id}"
    return redis.cli("EXISTS", key).strip() == "1"


def disconnect(client: RawClient) -> None:
    client.send(p.Disconnect())
    assert client.closed()


def metric(hub: HubProcess, name: str) -> float:
    with urllib.request.urlopen(f"{hub.http_url}/metrics", timeout=5) as answer:
        text = answer.read().decode()
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not on /metrics")


@pytest.mark.parametrize("version", [p.V5, p.V311])
def test_kept_session_resumes_on_another_hub(
    hubs: tuple[HubProcess, HubProcess], redis: RedisServer, version: int
) -> None:
    first, second = hubs
    client_id = f"roam-{version}"
    topic = f"st/roam{version}"
    client, ack = connect(first, client_id, version=version)
    assert not ack.session_present  # nothing kept anywhere yet
    subscribe(client, f"{topic}/#")
    disconnect(client)
    wait_for("the record saved", lambda: stored(redis, client_id) or None)
    publish(second, f"{topic}/x", "m1", "m2", "m3")
    client, ack = connect(second, client_id, version=version)
    assert ack.session_present
    assert receive(client, 3) == [f"{topic}/x m1", f"{topic}/x m2", f"{topic}/x m3"]
    publish(first, f"{topic}/y", "live")  # the subscription lives on the second hub now
    assert receive(client, 1) == [f"{topic}/y live"]
    assert quiet(client, 0.3)
    assert metric(second, "earlgate_mqtt_store_resumed_total") >= 1


def test_resumed_after_the_holding_hub_is_killed(
    hubs: tuple[HubProcess, HubProcess], redis: RedisServer
) -> None:
    _, survivor = hubs
    doomed = _hub(redis)
    try:
        client, _ = connect(doomed, "orphan")
        subscribe(client, "st/orphan")
        publish(survivor, "st/orphan", "before")
        assert receive(client, 1) == ["st/orphan before"]
        wait_for("the record saved", lambda: stored(redis, "orphan") or None)
    finally:
        doomed.process.kill()
        doomed.stop(timeout=5)
    publish(survivor, "st/orphan", "after 1", "after 2")
    client, ack = connect(survivor, "orphan")
    assert ack.session_present
    got = receive(client, 2)
    while got[-1] != "st/orphan after 2":  # "before" again, if its position was not saved yet
        got += receive(client, 1)
    assert got[-2:] == ["st/orphan after 1", "st/orphan after 2"]
    publish(survivor, "st/orphan", "live")
    assert receive(client, 1) == ["st/orphan live"]


def test_taken_over_from_a_live_hub(
    hubs: tuple[HubProcess, HubProcess], redis: RedisServer
) -> None:
    first, second = hubs
    watcher, _ = connect(second, "will-watcher", clean=True, expiry=0)
    subscribe(watcher, "st/wills")
    will = p.Will("st/wills", b"gone", 1)
    old, _ = connect(first, "mover", clean=True, will=will)
    subscribe(old, "st/mover/a")
    new, ack = connect(second, "mover")
    assert ack.session_present
    gone = old.recv()  # MQTT 5: the old holder says why
    assert isinstance(gone, p.Disconnect) and gone.reason == 0x8E, gone
    assert old.closed()
    subscribe(new, "st/mover/b")
    publish(first, "st/mover/a", "to the new one")
    assert receive(new, 1) == ["st/mover/a to the new one"]
    assert quiet(watcher)  # no will: the session lives on
    assert metric(first, "earlgate_mqtt_store_taken_over_total") >= 1
    disconnect(new)
    # The first hub's saves (every 0.2 s) never wrote its old record over the new one.
    wait_for("the record saved", lambda: stored(redis, "mover") or None)
    back, ack = connect(first, "mover")
    assert ack.session_present
    publish(second, "st/mover/b", "second filter")
    assert receive(back, 1) == ["st/mover/b second filter"]


def test_clean_start_on_another_hub_discards_the_session(
    hubs: tuple[HubProcess, HubProcess], redis: RedisServer
) -> None:
    first, second = hubs
    client, _ = connect(first, "fresh")
    subscribe(client, "st/fresh")
    disconnect(client)
    wait_for("the record saved", lambda: stored(redis, "fresh") or None)
    client, ack = connect(second, "fresh", clean=True, expiry=0)
    assert not ack.session_present
    assert not stored(redis, "fresh")
    disconnect(client)
    client, ack = connect(first, "fresh")  # the first hub let go of it too
    assert not ack.session_present
    publish(second, "st/fresh", "nobody subscribed")
    assert quiet(client, 0.3)


@pytest.fixture(scope="module")
def workers(redis: RedisServer) -> Iterator[HubProcess]:
    hub = start_hub(
        "--workers",
        "2",
        "--broker",
        redis.url,
        "--durable",
        "st/#",
        "--mqtt-session-save-interval",
        SAVE_INTERVAL,
        mqtt=True,
    )
    yield hub
    hub.stop(timeout=15)


def test_resumed_on_another_worker_after_its_worker_is_killed(
    workers: HubProcess, redis: RedisServer
) -> None:
    pids = worker_pids(workers)
    (client, _), holder = placed(pids, port_of(workers), lambda: connect(workers, "worker-kept"))
    subscribe(client, "st/worker/#")
    publish(workers, "st/worker/a", "before")
    assert receive(client, 1) == ["st/worker/a before"]
    wait_for("the record saved", lambda: stored(redis, "worker-kept") or None)
    os.kill(holder, signal.SIGKILL)
    assert client.closed()
    # The other worker (or the killed one's new twin).
    publish(workers, "st/worker/a", "after 1", "after 2", retry_for=10)
    client, ack = connect(workers, "worker-kept", retry_for=10)
    assert ack.session_present
    got = receive(client, 2)
    while got[-1] != "st/worker/a after 2":
        got += receive(client, 1)
    assert got[-2:] == ["st/worker/a after 1", "st/worker/a after 2"]
