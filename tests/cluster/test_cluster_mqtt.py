"""MQTT through ``earlgate cluster up --mqtt-port``: real haproxy in TCP mode in front of two
hubs' MQTT ports, joined through the started redis-server; mosquitto and WebSocket clients."""

from __future__ import annotations

import asyncio
import urllib.request
from collections.abc import Iterator

import pytest

from clusterproc import ClusterProcess, mqtt_states, start_cluster
from earlgate.client import HubClient
from mqtt.clients import LiveSub, needs_mosquitto, pub
from polling import wait_for
from redisproc import free_port


@pytest.fixture(scope="module")
def cluster() -> Iterator[ClusterProcess]:
    mqtt_port = free_port()
    running = start_cluster("--workers", "2", "--balance", "roundrobin",
                            "--mqtt-port", str(mqtt_port))  # fmt: skip
    yield running
    assert running.stop() == 0


@pytest.fixture(autouse=True)
def _stop_subscribers() -> Iterator[None]:
    yield
    while LiveSub.opened:
        LiveSub.opened.pop().stop()


def _mqtt_port(cluster: ClusterProcess) -> int:
    return int(cluster.endpoints["mqtt"].rpartition(":")[2])


def mqtt_connections(cluster: ClusterProcess, index: int) -> float:
    with urllib.request.urlopen(f"{cluster.worker_http(index)}/metrics", timeout=5) as answer:
        for line in answer.read().decode().splitlines():
            if line.startswith("earlgate_mqtt_connections "):
                return float(line.split()[1])
    raise AssertionError("earlgate_mqtt_connections not on /metrics")


def test_the_endpoints_name_the_mqtt_ports(cluster: ClusterProcess) -> None:
    assert cluster.endpoints["mqtt"] == f"mqtt://127.0.0.1:{_mqtt_port(cluster)}"
    assert len(cluster.endpoints["mqtt-workers"].split()) == 2
    wait_for("both MQTT servers up", lambda: mqtt_states(cluster) == {"hub1": "UP", "hub2": "UP"}
             or None)  # fmt: skip


@needs_mosquitto
async def test_mqtt_through_haproxy_reaches_every_hub_and_websocket(
    cluster: ClusterProcess,
) -> None:
    port = _mqtt_port(cluster)
    wait_for("both MQTT servers up", lambda: mqtt_states(cluster) == {"hub1": "UP", "hub2": "UP"}
             or None)  # fmt: skip
    subscribers = [LiveSub(port, "cm/#", qos=1).subscribed() for _ in range(4)]
    # Round robin: two subscribers on each hub, which says so on its own /metrics.
    assert [mqtt_connections(cluster, i) for i in range(2)] == [2.0, 2.0]
    async with HubClient(cluster.ws_url) as client:
        stream = await client.subscribe("cm/#")
        for i in range(4):
            pub(port, f"cm/{i}", f"m{i}", qos=1)
        expected = [f"0 1 cm/{i} m{i}" for i in range(4)]
        for subscriber in subscribers:
            assert sorted(subscriber.wait_messages(4)) == expected
        async with asyncio.timeout(10):
            got = sorted([(await stream.get())["data"] for _ in range(4)])
        assert got == ["m0", "m1", "m2", "m3"]
        await client.publish("cm/from-ws", {"ws": True}, ack=True)
    for subscriber in subscribers:
        assert subscriber.wait_messages(5)[4] == '0 1 cm/from-ws {"ws":true}'
