"""``earlgate cluster up`` with real redis-server, hub workers and haproxy, and their failures."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import signal
import time
import urllib.request
from collections.abc import Iterator

import psutil
import pytest

from clusterproc import ClusterProcess, start_cluster
from earlgate.client import HubClient
from redisproc import RedisServer
from wsclient import WsClient

pytestmark = pytest.mark.asyncio


def get_json(url: str) -> dict[str, object]:
    with urllib.request.urlopen(url, timeout=5) as answer:
        value: dict[str, object] = json.loads(answer.read())
        return value


def name_if_running(process: psutil.Process) -> str | None:
    """The program's name, or None for a child that has already exited (the
    list was taken at start, when short-lived helpers may still run)."""
    try:
        return process.name()
    except psutil.NoSuchProcess:
        return None


def server_states(cluster: ClusterProcess) -> dict[str, str]:
    """HAProxy's view of the ws backend: server name → status (UP, DOWN...)."""
    with urllib.request.urlopen(cluster.endpoints["stats"] + ";csv", timeout=5) as answer:
        rows = csv.reader(io.StringIO(answer.read().decode().lstrip("# ")))
        header = next(rows)
        status = header.index("status")
        return {
            row[1]: row[status] for row in rows if row and row[0] == "bk_ws" and row[1] != "BACKEND"
        }


@pytest.fixture(scope="module")
def cluster() -> Iterator[ClusterProcess]:
    running = start_cluster("--workers", "2", "--durable", "d/#", "--balance", "roundrobin")
    yield running
    assert running.stop() == 0
    assert not [c for c in running.children if c.is_running() and c.status() != "zombie"]


async def test_cluster_serves_through_haproxy_with_healthy_workers(cluster: ClusterProcess) -> None:
    started = time.monotonic()
    while server_states(cluster) != {"hub1": "UP", "hub2": "UP"}:  # "UP 1/2" while checks settle
        assert time.monotonic() - started < 5, server_states(cluster)
        await asyncio.sleep(0.1)
    names = sorted(filter(None, map(name_if_running, cluster.children)))
    assert names.count("haproxy") == 1 and names.count("redis-server") == 1
    health = get_json(f"http://127.0.0.1:{cluster.port}/healthz")
    assert health["status"] == "ok" and health["broker"] == "redis"
    async with await WsClient.open(cluster.ws_url) as client:
        assert await client.request({"type": "ping", "id": 1}) == {"type": "pong", "id": 1}


async def test_publisher_and_subscriber_on_different_workers_in_order(
    cluster: ClusterProcess,
) -> None:
    first, second = cluster.worker_urls
    async with await WsClient.open(first) as pub, await WsClient.open(second) as sub:
        await sub.request({"type": "subscribe", "subject": "order/+", "id": 1})
        for i in range(500):
            await pub.send({"type": "publish", "subject": "order/a", "data": i})
        assert [(await sub.recv())["data"] for _ in range(500)] == list(range(500))
    # And through HAProxy: round robin puts two connections on two workers.
    async with HubClient(cluster.ws_url) as pub, HubClient(cluster.ws_url) as sub:
        stream = await sub.subscribe("order/b")
        for i in range(100):
            await pub.publish("order/b", i, ack=i == 99)
        async with asyncio.timeout(10):
            assert [(await stream.get())["data"] for _ in range(100)] == list(range(100))


def connections(cluster: ClusterProcess, index: int) -> int:
    value = get_json(cluster.worker_http(index) + "/healthz")["connections"]
    assert isinstance(value, int)
    return value


async def test_killed_worker_is_marked_down_and_clients_resume_elsewhere() -> None:
    redis = RedisServer().start()  # an existing Redis: --redis URL
    # The supervisor restarts the killed worker only after 5 s: HAProxy must route around it.
    cluster = start_cluster(
        "--workers",
        "2",
        "--durable",
        "k/#",
        "--redis",
        redis.url,
        "--check-interval-ms",
        "500",
        "--restart-backoff-min",
        "5",
    )
    try:
        workers = [c for c in cluster.children if "hub" in " ".join(c.cmdline())]
        by_port = {int(w.cmdline()[w.cmdline().index("--port") + 1]): w for w in workers}
        async with HubClient(cluster.ws_url, backoff_initial=0.05, backoff_max=0.5) as sub:
            stream = await sub.subscribe("k/x")
            await sub.ping()
            victim = 0 if connections(cluster, 0) == 1 else 1
            assert connections(cluster, victim) == 1
            # leastconn sends the next connection to the other worker.
            async with HubClient(cluster.ws_url) as pub:
                await pub.ping()
                assert connections(cluster, 1 - victim) == 1
                received: list[dict[str, object]] = []
                for i in range(60):
                    await pub.publish("k/x", i, ack=True)
                    if i == 20:
                        victim_port = int(
                            cluster.worker_urls[victim].rsplit(":", 1)[1].split("/")[0]
                        )
                        by_port[victim_port].send_signal(signal.SIGKILL)
                        killed = time.monotonic()
                    while (message := stream.get_nowait()) is not None:
                        received.append(message)
                    await asyncio.sleep(0.01)
                down = f"hub{victim + 1}"
                while not server_states(cluster)[down].startswith("DOWN"):
                    assert time.monotonic() - killed < 3.0, "HAProxy did not mark the worker down"
                    await asyncio.sleep(0.05)
                async with asyncio.timeout(10):
                    while len(received) < 60:
                        received.append(await stream.get())
        assert [m["data"] for m in received] == list(range(60))  # nothing lost, no duplicate
        assert [m["_offset"] for m in received] == list(range(1, 61))
        assert sub.connects >= 2
    finally:
        assert cluster.stop() == 0
        redis.close()
    assert not [c for c in cluster.children if c.is_running() and c.status() != "zombie"]


async def test_sigint_stops_every_process() -> None:
    cluster = start_cluster("--workers", "1")
    pids = [c.pid for c in cluster.children]
    assert len(pids) == 3
    assert cluster.stop(signal.SIGINT) == 0
    assert not [
        pid for pid in pids if psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie"
    ]
