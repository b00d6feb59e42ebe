"""``earlgate hub --workers 2``: real worker processes on one port, a real redis-server."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import time
import urllib.request
from collections.abc import Iterator
from typing import Any, TypeVar

import psutil
import pytest
from websockets.exceptions import ConnectionClosed

from earlgate.cli import main
from hubproc import HubProcess, start_hub
from polling import wait_for
from redisproc import RedisServer
from wsclient import WsClient

T = TypeVar("T")


@pytest.fixture(scope="module")
def redis() -> Iterator[RedisServer]:
    server = RedisServer().start()
    yield server
    server.close()


@pytest.fixture
def workers(redis: RedisServer) -> Iterator[HubProcess]:
    hub = start_hub("--workers", "2", "--broker", redis.url, "--heartbeat-timeout", "2")
    yield hub
    hub.stop(timeout=15)


def get(hub: HubProcess, path: str) -> str:
    """One request on a fresh connection (the kernel picks the worker); a stopped one times out."""
    with urllib.request.urlopen(hub.http_url + path, timeout=1) as answer:
        text: str = answer.read().decode()
        return text


def healthz(hub: HubProcess) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(get(hub, "/healthz"))
    return value


def worker_pids(hub: HubProcess) -> dict[str, int]:
    """The supervisor's running workers (name → pid), once both run."""

    def running() -> dict[str, int] | None:
        listed = healthz(hub)["supervisor"]["workers"]
        pids = {w["name"]: w["pid"] for w in listed if w["state"] == "running"}
        return pids if len(pids) == 2 else None

    return wait_for("two running workers", running)


def metric(hub: HubProcess, sample: str) -> float | None:
    for line in get(hub, "/metrics").splitlines():
        if line.startswith(sample + " "):
            return float(line.split()[-1])
    return None


def established(pid: int, port: int) -> int:
    connections = psutil.Process(pid).net_connections(kind="tcp")
    return sum(1 for c in connections if c.status == "ESTABLISHED" and c.laddr.port == port)


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


async def test_both_workers_accept_on_the_one_port_and_are_joined_through_redis(
    workers: HubProcess,
) -> None:
    pids = worker_pids(workers)
    assert workers.process.pid not in pids.values()
    answered = {healthz(workers)["pid"] for _ in range(20)}
    assert answered == set(pids.values())
    clients = [await WsClient.open(workers.ws_url) for _ in range(20)]
    try:
        per_worker = [established(pid, workers.port) for pid in pids.values()]
        assert all(n > 0 for n in per_worker), per_worker
        assert sum(per_worker) == 20
        for i, client in enumerate(clients):
            ack = await client.request({"type": "subscribe", "subject": "w/x", "id": i})
            assert ack["type"] == "ack"
        await clients[0].send({"type": "publish", "subject": "w/x", "data": 7})
        for client in clients:  # on both workers: the message went through Redis
            assert (await client.recv())["data"] == 7
    finally:
        for client in clients:
            await client.close()
    assert metric(workers, 'earlgate_supervisor_workers{state="running"}') == 2.0


async def test_a_killed_worker_is_replaced_and_serves(workers: HubProcess) -> None:
    before = worker_pids(workers)
    victim = before["worker1"]
    psutil.Process(victim).send_signal(signal.SIGKILL)
    killed = time.monotonic()

    def replaced() -> dict[str, int] | None:
        now = worker_pids(workers)
        return now if now["worker1"] != victim else None

    after = wait_for("worker1 replaced", replaced)
    assert time.monotonic() - killed < 5
    assert after["worker2"] == before["worker2"]
    wait_for("the new worker answers", lambda: healthz(workers)["pid"] == after["worker1"] or None)
    async with await WsClient.open(workers.ws_url) as client:
        assert await client.request({"type": "ping", "id": 1}) == {"type": "pong", "id": 1}
    assert metric(workers, 'earlgate_supervisor_restarts_total{reason="exited"}') == 1.0
    assert metric(workers, 'earlgate_supervisor_restarts_total{reason="heartbeat"}') == 0.0
    assert b"worker1 (pid %d) exited with status -9" % victim in b"".join(workers.output)


async def test_a_stopped_worker_is_killed_after_the_heartbeat_timeout_and_replaced(
    workers: HubProcess,
) -> None:
    before = worker_pids(workers)
    victim = before["worker2"]
    process = psutil.Process(victim)
    process.send_signal(signal.SIGSTOP)  # alive to the kernel, silent to the supervisor
    stopped = time.monotonic()
    try:
        wait_for("the stopped worker killed", lambda: gone(victim) or None, timeout=6)
        waited = time.monotonic() - stopped
        assert 1.5 < waited < 5, waited  # the timeout is 2 s, beats come every 0.25 s
        after = wait_for(
            "worker2 replaced", lambda: (p := worker_pids(workers))["worker2"] != victim and p
        )
    finally:
        if not gone(victim):
            process.send_signal(signal.SIGCONT)
    assert after["worker1"] == before["worker1"]
    assert metric(workers, 'earlgate_supervisor_restarts_total{reason="heartbeat"}') == 1.0
    assert b"no heartbeat for" in b"".join(workers.output)


async def test_sigterm_drains_every_worker_with_1001_and_exits_0(workers: HubProcess) -> None:
    pids = worker_pids(workers)
    clients = [await WsClient.open(workers.ws_url) for _ in range(12)]
    for i, client in enumerate(clients):
        await client.request({"type": "ping", "id": i})
    assert all(established(pid, workers.port) > 0 for pid in pids.values())
    workers.process.send_signal(signal.SIGTERM)
    started = time.monotonic()
    for client in clients:
        with pytest.raises(ConnectionClosed) as closed:
            await client.recv(timeout=10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
    assert await asyncio.to_thread(workers.process.wait, 10) == 0
    assert time.monotonic() - started < 5 + 2  # the hub's shutdown grace and the margin
    assert all(gone(pid) for pid in pids.values())


def test_workers_need_a_shared_broker(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["hub", "--workers", "2"])
    assert exited.value.code == 2
    error = capsys.readouterr().err
    assert "--workers 2 needs --broker redis://" in error and "redis-cluster://" in error


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--workers", "0"], "workers must be 1-256"),
        (
            ["--workers", "2", "--heartbeat-timeout", "0.2"],
            "heartbeat timeout must be at least 1 s",
        ),
        (["--workers", "2", "--restart-backoff-min", "3", "--restart-backoff-max", "1"], "min <="),
    ],
)
def test_bad_supervisor_limits_are_usage_errors(
    flags: list[str], message: str, redis: RedisServer, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["hub", "--broker", redis.url, *flags])
    assert exited.value.code == 2 and message in capsys.readouterr().err


@pytest.mark.parametrize("reuse_port", [False, True])
def test_a_port_in_use_is_a_usage_error(
    reuse_port: bool, redis: RedisServer, capsys: pytest.CaptureFixture[str]
) -> None:
    # With SO_REUSEPORT on both sides the kernel would let the workers join the other
    # server's port and share its connections: refused all the same.
    with socket.socket() as taken:
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, int(reuse_port))
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        with pytest.raises(SystemExit) as exited:
            main(["hub", "--workers", "2", "--broker", redis.url, "--port", port])
    assert exited.value.code == 2
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err
