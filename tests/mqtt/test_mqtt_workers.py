"""MQTT on ``earlgate hub --workers 2``: both workers on the one MQTT port, joined through a real
redis-server; mosquitto clients and WebSocket clients placed on each worker on purpose."""

from __future__ import annotations

import itertools
import json
import re
import socket
import ssl
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import psutil
import pytest
import trustme

from earlgate.cli import main
from earlgate.mqtt import packets as p
from hubproc import HubProcess, start_hub
from polling import wait_for
from redisproc import RedisServer
from wsclient import WsClient

from .clients import LiveSub, RawClient, needs_mosquitto, pub

T = TypeVar("T")
EACH = 2  # connections of each kind placed on every worker


@pytest.fixture(scope="module")
def redis() -> Iterator[RedisServer]:
    server = RedisServer().start()
    yield server
    server.close()


@pytest.fixture(scope="module")
def workers(redis: RedisServer) -> Iterator[HubProcess]:
    hub = start_hub("--workers", "2", "--broker", redis.url, mqtt=True)
    yield hub
    hub.stop_clean(timeout=15)


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while LiveSub.opened:
        LiveSub.opened.pop().stop()
    while RawClient.opened:
        RawClient.opened.pop().close()


def _mqtt_port(hub: HubProcess) -> int:
    assert hub.mqtt_port is not None
    return hub.mqtt_port


def worker_pids(hub: HubProcess, context: ssl.SSLContext | None = None) -> list[int]:
    """The two running workers, from the supervisor's view on /healthz."""

    def running() -> list[int] | None:
        url = f"{hub.http_url}/healthz"
        with urllib.request.urlopen(url, timeout=2, context=context) as answer:
            listed: list[dict[str, Any]] = json.load(answer)["supervisor"]["workers"]
        pids = [w["pid"] for w in listed if w["state"] == "running"]
        return pids if len(pids) == 2 else None

    return wait_for("two running workers", running)


def established(pid: int, port: int) -> int:
    connections = psutil.Process(pid).net_connections(kind="tcp")
    return sum(1 for c in connections if c.status == "ESTABLISHED" and c.laddr.port == port)


def placed(pids: list[int], port: int, connect: Callable[[], T]) -> tuple[T, int]:
    """``connect()`` and the worker that took the connection (its count on ``port`` grew)."""
    before = {pid: established(pid, port) for pid in pids}
    made = connect()

    def taker() -> int | None:
        grew = [pid for pid in pids if established(pid, port) > before[pid]]
        return grew[0] if len(grew) == 1 else None

    return made, wait_for("the worker that took the connection", taker)


def on_every_worker(pids: list[int], port: int, connect: Callable[[], T]) -> dict[int, list[T]]:
    """Connect until each worker holds ``EACH`` (the kernel picks; 40 tries is plenty)."""
    held: dict[int, list[T]] = {pid: [] for pid in pids}
    for _ in range(40):
        made, pid = placed(pids, port, connect)
        held[pid].append(made)
        if all(len(got) >= EACH for got in held.values()):
            return held
    raise AssertionError(f"connections not spread over both workers: {held}")


def _raw_publisher(port: int, client_id: str) -> RawClient:
    client = RawClient(port, p.V5)
    assert isinstance(client.connect(client_id), p.ConnAck)
    return client


@needs_mosquitto
def test_every_subscriber_on_either_worker_gets_every_message(workers: HubProcess) -> None:
    port = _mqtt_port(workers)
    pids = worker_pids(workers)
    subscribers = on_every_worker(
        pids, port, lambda: LiveSub(port, "mw/#", version=p.V5, qos=1).subscribed()
    )
    ids = itertools.count()
    publishers = on_every_worker(pids, port, lambda: _raw_publisher(port, f"pub-{next(ids)}"))
    expected = []
    for pid, clients in publishers.items():
        for i, client in enumerate(clients):
            payload = f"from {pid} #{i}".encode()
            client.send(p.Publish("mw/raw", payload, 1, False, False, i + 1))
            assert client.recv() == p.PubAck(i + 1)
            expected.append(f"0 1 mw/raw {payload.decode()}")
    for i in range(4):  # and short-lived connections, wherever the kernel puts them
        pub(port, f"mw/pub/{i}", f"pub {i}", version=p.V5, qos=1)
        expected.append(f"0 1 mw/pub/{i} pub {i}")
    for clients in subscribers.values():
        for subscriber in clients:
            assert sorted(subscriber.wait_messages(len(expected))) == sorted(expected)


def _refused_share(port: int, version: int, client_id: str) -> RawClient:
    client = RawClient(port, version)
    ack = client.connect(client_id)
    assert isinstance(ack, p.ConnAck) and ack.reason == 0
    if version == p.V5:
        assert ack.properties.shared_available == 0
    client.send(p.Subscribe(1, [p.SubscriptionRequest("$share/g/ms/t", 1)]))
    suback = client.recv()
    assert isinstance(suback, p.SubAck)
    assert suback.reasons == [0x9E if version == p.V5 else 0x80]
    if version == p.V5:
        assert "one hub process" in (suback.properties.reason_string or "")
    return client


def test_shared_subscriptions_are_refused_on_every_worker(workers: HubProcess) -> None:
    # Each worker would deliver a group's copy of every message: refused, not duplicated.
    port = _mqtt_port(workers)
    pids = worker_pids(workers)
    ids = itertools.count()
    for version in (p.V5, p.V311):
        on_every_worker(
            pids,
            port,
            lambda: _refused_share(port, version, f"share-{next(ids)}"),  # noqa: B023
        )


@needs_mosquitto
async def test_mqtt_to_websocket_and_back_across_workers(workers: HubProcess) -> None:
    port = _mqtt_port(workers)
    pids = worker_pids(workers)
    mqtt_subscribers = on_every_worker(
        pids, port, lambda: LiveSub(port, "mx/ws", qos=1).subscribed()
    )
    websockets: dict[int, list[WsClient]] = {pid: [] for pid in pids}
    try:
        for _ in range(40):
            before = {pid: established(pid, workers.port) for pid in pids}
            client = await WsClient.open(workers.ws_url)
            ack = await client.request({"type": "subscribe", "subject": "mx/mqtt", "id": 1})
            assert ack["type"] == "ack"
            grew = [pid for pid in pids if established(pid, workers.port) > before[pid]]
            assert len(grew) == 1, grew
            websockets[grew[0]].append(client)
            if all(len(held) >= EACH for held in websockets.values()):
                break
        assert all(len(held) >= EACH for held in websockets.values()), websockets
        pub(port, "mx/mqtt", '{"n": 1}', qos=1)  # MQTT to WebSocket clients on both workers
        for held in websockets.values():
            for client in held:
                frame = await client.recv()
                assert frame["subject"] == "mx/mqtt" and frame["data"] == {"n": 1}
        for pid, held in websockets.items():  # WebSocket to MQTT, from each worker
            ack = await held[0].request(
                {"type": "publish", "subject": "mx/ws", "data": f"ws {pid}", "id": 2}
            )
            assert ack["type"] == "ack"
        expected = sorted(f"0 1 mx/ws ws {pid}" for pid in pids)
        for clients in mqtt_subscribers.values():
            for subscriber in clients:
                assert sorted(subscriber.wait_messages(2)) == expected
    finally:
        for held in websockets.values():
            for client in held:
                await client.close()


@needs_mosquitto
def test_the_mqtts_port_is_shared_by_the_workers_too(
    redis: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> None:
    ca = trustme.CA()
    issued = ca.issue_cert("127.0.0.1")
    folder = tmp_path_factory.mktemp("workers-tls")
    cert, key, ca_file = folder / "cert.pem", folder / "key.pem", folder / "ca.pem"
    issued.private_key_and_cert_chain_pem.write_to_path(str(cert))
    issued.private_key_pem.write_to_path(str(key))
    ca.cert_pem.write_to_path(str(ca_file))
    context = ssl.create_default_context()
    ca.configure_trust(context)
    hub = start_hub("--workers", "2", "--broker", redis.url, "--tls-cert", str(cert),
                    "--tls-key", str(key), "--mqtts-port", "0")  # fmt: skip
    try:
        line = re.compile(rb"earlgate hub mqtts on mqtts://127\.0\.0\.1:(\d+)")
        found = wait_for("the mqtts line", lambda: line.search(b"".join(hub.output)))
        port = int(found[1])
        tls = ("--cafile", str(ca_file))
        pids = worker_pids(hub, context)
        subscribers = on_every_worker(
            pids, port, lambda: LiveSub(port, "mt/#", qos=1, extra=tls).subscribed()
        )
        for i in range(3):
            pub(port, f"mt/{i}", f"tls {i}", qos=1, extra=tls)
        for clients in subscribers.values():
            for subscriber in clients:
                assert subscriber.wait_messages(3) == [f"0 1 mt/{i} tls {i}" for i in range(3)]
    finally:
        hub.stop(timeout=15)
    assert b"Traceback" not in b"".join(hub.output)


def test_an_mqtt_port_in_use_is_a_usage_error_naming_it(
    redis: RedisServer, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as taken:
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)  # would be shared silently
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        with pytest.raises(SystemExit) as exited:
            main(["hub", "--workers", "2", "--broker", redis.url, "--port", "0",
                  "--mqtt-port", port])  # fmt: skip
    assert exited.value.code == 2
    error = capsys.readouterr().err
    assert f"cannot listen on 127.0.0.1:{port} (--mqtt-port): another server listens" in error
