"""``earlgate cluster up`` keeps its children running: a killed hub, redis-server or haproxy
comes back (real processes, on free loopback ports)."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any, TypeVar

import psutil
import pytest

from clusterproc import ClusterProcess, start_cluster
from earlgate.cli import main
from polling import wait_for
from wsclient import WsClient

T = TypeVar("T")


def healthz(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url + "/healthz", timeout=2) as answer:
        value: dict[str, Any] = json.loads(answer.read())
        return value


def children(cluster: ClusterProcess, index: int = 0) -> dict[str, dict[str, Any]]:
    """The supervisor's view of its children (name → state, pid...), through a hub's /healthz."""
    listed = healthz(cluster.worker_http(index))["supervisor"]["workers"]
    return {child["name"]: child for child in listed}


def replaced(cluster: ClusterProcess, name: str, old: int, index: int = 0) -> int:
    """Wait until ``name`` runs again with a pid other than ``old``; the new pid."""

    def new_pid() -> int | None:
        child = children(cluster, index)[name]
        return child["pid"] if child["state"] == "running" and child["pid"] != old else None

    pid = wait_for(f"{name} restarted", new_pid)
    assert psutil.Process(pid).is_running()
    return pid


def ws_servers_up(cluster: ClusterProcess) -> bool:
    """Every server of HAProxy's WebSocket backend is UP (its stats page, as CSV)."""
    with urllib.request.urlopen(cluster.endpoints["stats"] + ";csv", timeout=2) as answer:
        rows = [line.split(",") for line in answer.read().decode().splitlines()]
    status = rows[0].index("status")
    servers = [row for row in rows[1:] if row[0] == "bk_ws" and row[1] != "BACKEND"]
    return bool(servers) and all(row[status] == "UP" for row in servers)


async def wait_through_haproxy(cluster: ClusterProcess, timeout: float = 8.0) -> None:
    """Until a client through HAProxy gets a pong (its first health checks take a moment)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            async with await WsClient.open(cluster.ws_url) as client:
                assert await client.request({"type": "ping", "id": 1}) == {"type": "pong", "id": 1}
                return
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)


def stop_and_read(cluster: ClusterProcess) -> bytes:
    """SIGTERM, and everything the supervisor printed after its endpoints; asserts it exits 0."""
    assert cluster.process.stdout is not None
    cluster.process.send_signal(signal.SIGTERM)
    output = cluster.process.stdout.read()  # the children write to log files, not this pipe
    assert cluster.stop() == 0
    return output


def listens(port: int) -> bool | None:
    with socket.create_connection(("127.0.0.1", port), timeout=0.5):
        return True


async def pubsub_between(first: WsClient, second: WsClient, subject: str) -> None:
    """Each of the two clients receives what the other publishes."""
    for sub, pub in ((first, second), (second, first)):
        assert (await sub.request({"type": "subscribe", "subject": subject, "id": 1}))["type"]
        assert await pub.request({"type": "publish", "subject": subject, "data": 1, "id": 2}) == {
            "type": "ack",
            "id": 2,
        }
        assert (await sub.recv())["data"] == 1
        await sub.request({"type": "unsubscribe", "subject": subject, "id": 3})


async def test_a_killed_hub_is_replaced_and_serves_through_haproxy() -> None:
    cluster = start_cluster(
        "--workers", "2", "--balance", "roundrobin", "--check-interval-ms", "300"
    )
    try:
        victim = children(cluster, 1)["hub1"]["pid"]
        psutil.Process(victim).send_signal(signal.SIGKILL)
        killed = time.monotonic()
        pid = replaced(cluster, "hub1", victim, index=1)
        assert healthz(cluster.worker_http(0))["pid"] == pid  # on hub1's port again
        wait_for("HAProxy sees both hubs up", lambda: ws_servers_up(cluster) or None)
        assert time.monotonic() - killed < 8
        # Round robin over two servers: two connections, one on each hub.
        async with (
            await WsClient.open(cluster.ws_url) as first,
            await WsClient.open(cluster.ws_url) as second,
        ):
            await first.request({"type": "ping", "id": 0})
            await second.request({"type": "ping", "id": 0})
            assert healthz(cluster.worker_http(0))["connections"] == 1
            await pubsub_between(first, second, "back/x")
        output = stop_and_read(cluster)
        assert b"hub1 (pid %d) exited with status -9; restarting in" % victim in output
    finally:
        cluster.stop()


async def test_a_killed_redis_comes_back_on_its_port_with_its_append_only_file(
    tmp_path: Path,
) -> None:
    cluster = start_cluster(
        "--workers", "1", "--redis-aof", "--data-dir", str(tmp_path), "--durable", "d/#"
    )
    try:
        hub = cluster.worker_urls[0]
        async with await WsClient.open(hub) as pub:
            for i in range(3):
                frame = {"type": "publish", "subject": "d/x", "data": i, "id": i}
                assert await pub.request(frame) == {"type": "ack", "id": i}

        def written() -> bool | None:
            """appendfsync everysec may hold acked writes back for a moment: wait for them."""
            files = list(tmp_path.glob("appendonlydir/*.incr.aof"))
            return any(b'"_offset":3' in f.read_bytes() for f in files) or None

        wait_for("the third message in the append-only file", written)
        victim = children(cluster)["redis-server"]["pid"]
        psutil.Process(victim).send_signal(signal.SIGKILL)
        replaced(cluster, "redis-server", victim)
        port = int(cluster.endpoints["redis"].rsplit(":", 1)[1].split("/")[0])
        wait_for("redis-server on its port", lambda: listens(port))
        http = cluster.worker_http(0)

        def reconnected() -> bool | None:  # noticed the loss, connected again, healthy
            with urllib.request.urlopen(http + "/stats", timeout=2) as answer:
                broker = json.loads(answer.read())["hub"]["broker"]
            return broker["connections"] >= 2 and broker["healthy"] or None

        wait_for("the hub back on Redis", reconnected)
        # The same data directory: the stream was read back from the append-only file ...
        xlen = ["redis-cli", "-p", str(port), "XLEN", "earlgate:{d/x}:log:d/x"]
        answer = await asyncio.to_thread(subprocess.run, xlen, capture_output=True, text=True)
        assert answer.stdout.strip() == "3"
        # ... and the subject's numbering goes on from it.
        async with await WsClient.open(hub) as sub, await WsClient.open(hub) as pub:
            assert await sub.request({"type": "subscribe", "subject": "d/x", "id": 1}) == {
                "type": "ack",
                "id": 1,
            }
            assert await pub.request({"type": "publish", "subject": "d/x", "data": 3, "id": 2})
            message = await sub.recv()
            assert (message["data"], message["_offset"]) == (3, 4)
    finally:
        assert cluster.stop() == 0


async def test_a_killed_haproxy_comes_back_on_its_port() -> None:
    cluster = start_cluster("--workers", "1", "--check-interval-ms", "300")
    try:
        victim = children(cluster)["haproxy"]["pid"]
        psutil.Process(victim).send_signal(signal.SIGKILL)
        pid = replaced(cluster, "haproxy", victim)
        assert psutil.Process(pid).name() == "haproxy"
        await wait_through_haproxy(cluster)
        metrics = urllib.request.urlopen(cluster.worker_http(0) + "/metrics", timeout=2).read()
        assert b'earlgate_supervisor_restarts_total{reason="exited"} 1.0' in metrics
    finally:
        assert cluster.stop() == 0


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--heartbeat-timeout", "0.5"], "heartbeat timeout must be at least 1 s"),
        (["--restart-backoff-min", "0"], "restart backoff needs 0 < min <= max"),
        (["--grace", "-1"], "grace must not be negative"),
    ],
)
def test_bad_supervision_limits_are_usage_errors(
    flags: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["cluster", "up", *flags])
    assert exited.value.code == 2 and message in capsys.readouterr().err
