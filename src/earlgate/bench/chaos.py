"""``earlgate bench chaos``: a cluster under failures, and a ledger of what was lost.

``earlgate cluster up`` (HAProxy, supervised hub workers, a redis-server with
its append-only file) carries durable subjects. Publishers wait for each ack
and send again what was not acked after a reconnect; subscribers on exact
subjects (``since``) and on wildcard patterns (``resume``) resume after every
reconnect. While it runs, on a fixed schedule: SIGKILL of a hub worker,
SIGSTOP of a worker for longer than the health check (the supervisor's
heartbeat replaces it), ``redis-server`` restarts and an HAProxy restart,
each left to the cluster's supervisor to repair. Then publishing stops, the
subscribers drain, and :mod:`earlgate.bench.ledger` says per subscriber what
was acked, delivered, lost, duplicated, out of order, or told unrecoverable.
The bench fails when anything acked is lost (or, without the append-only
file, when a subscriber is not told ``recovered: false``).
"""

from __future__ import annotations

import asyncio
import random
import signal
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from earlgate.bench.ledger import Ledger, SubscriberLedger
from earlgate.children import free_port
from earlgate.client import HubClient, HubClientError
from earlgate.testing.processes import spawn
from earlgate.wire.subjects import matches

SUBJECTS = 4  # chaos/0/s .. chaos/3/s
# The schedule, repeated: in 11 faults, 8 worker kills, one stop, one Redis
# and one HAProxy restart.
FAULTS = (
    "kill-worker", "kill-worker", "kill-worker", "kill-worker", "kill-worker", "kill-worker",
    "stop-worker", "restart-redis", "kill-worker", "kill-worker", "restart-haproxy",
)  # fmt: skip


@dataclass
class ChaosSettings:
    duration: float = 120.0  # seconds of publishing under faults
    workers: int = 2
    publishers: int = 4
    rate: float = 20.0  # messages per second per publisher
    fault_every: float = 3.0  # seconds between faults
    stop_seconds: float = 6.0  # how long a stopped worker stays stopped (past the heartbeat)
    drain: float = 30.0  # seconds to wait for subscribers to catch up
    aof: bool = True
    seed: int = 7


class ClusterUnderTest:
    """``earlgate cluster up`` as a child process, and the processes it supervises."""

    def __init__(self, settings: ChaosSettings, folder: Path) -> None:
        self.port = free_port()
        command = [
            sys.executable, "-m", "earlgate", "cluster", "up",
            "--workers", str(settings.workers), "--port", str(self.port),
            "--durable", "chaos/#", "--retention", "100000",
            "--data-dir", str(folder), "--check-interval-ms", "500",
            # A stopped worker is replaced after 3 s; restarts never wait over 2 s.
            "--heartbeat-timeout", "3", "--restart-backoff-max", "2",
        ]  # fmt: skip
        if settings.aof:
            command.append("--redis-aof")
        self.child = spawn("cluster", command, piped=True, new_session=False, unbuffered=True)
        self.child.keep_reading()
        self.process = self.child.process
        self.output = self.child.output

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("cluster up exited:\n" + self.child.log()[-3000:])
            try:
                url = f"http://127.0.0.1:{self.port}/healthz"
                with urllib.request.urlopen(url, timeout=1) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError("cluster did not become healthy:\n" + self.child.log())

    def children(self, matcher: Callable[[psutil.Process], bool]) -> list[psutil.Process]:
        found = []
        for child in self.child.ps.children(recursive=True):
            try:
                if matcher(child):
                    found.append(child)
            except psutil.Error:
                continue
        return found

    def hub_workers(self) -> list[psutil.Process]:
        def is_worker(proc: psutil.Process) -> bool:
            line = proc.cmdline()
            return "earlgate" in " ".join(line) and "hub" in line and proc.status() != "zombie"

        return self.children(is_worker)

    def named(self, name: str) -> list[psutil.Process]:
        return self.children(lambda p: p.name() == name and p.status() != "zombie")

    def stop(self) -> None:
        self.child.stop(timeout=20)


async def publisher(
    url: str,
    name: str,
    ledger: Ledger,
    settings: ChaosSettings,
    stop: asyncio.Event,
    started: float,
) -> None:
    """Numbered messages, each sent until the hub acks it."""
    rng = random.Random(f"{settings.seed}-{name}")
    async with HubClient(url, backoff_initial=0.05, backoff_max=0.5, ack_timeout=3) as client:
        sequence = 0
        while not stop.is_set():
            subject = f"chaos/{rng.randrange(SUBJECTS)}/s"
            while True:
                try:
                    await client.publish(subject, {"p": name, "n": sequence}, ack=True)
                    break
                except (HubClientError, ConnectionError, TimeoutError, OSError):
                    ledger.resent += 1
                    await asyncio.sleep(0.1)
            ledger.sent += 1
            ledger.ack(name, sequence, subject)
            ledger.ack_times.append(time.monotonic() - started)
            sequence += 1
            await asyncio.sleep(1 / settings.rate)


async def subscriber(
    url: str, ledger: SubscriberLedger, pattern: str, exact: bool, stop: asyncio.Event
) -> None:
    async with HubClient(url, backoff_initial=0.05, backoff_max=0.5, ack_timeout=5) as client:
        while True:
            try:
                if exact:
                    sub = await client.subscribe(pattern, since=0)
                else:
                    sub = await client.subscribe(pattern, resume=True)
                break
            except (HubClientError, ConnectionError, TimeoutError):
                await asyncio.sleep(0.2)
        while not stop.is_set():
            try:
                message = await asyncio.wait_for(sub.get(), 0.5)
            except TimeoutError:
                continue
            ledger.record(message)
            ledger.dropped_by_client = sub.duplicates
            ledger.unrecoverable = sub.unrecovered
        ledger.dropped_by_client = sub.duplicates
        ledger.unrecoverable = sub.unrecovered


def fault(cluster: ClusterUnderTest, kind: str, rng: random.Random, settings: ChaosSettings) -> str:
    """Do one fault; returns what was done (for the event log)."""
    if kind in ("kill-worker", "stop-worker"):
        workers = cluster.hub_workers()
        if not workers:
            return f"{kind}: no worker running"
        victim = rng.choice(workers)
        if kind == "kill-worker":
            victim.send_signal(signal.SIGKILL)
            return f"SIGKILL hub worker {victim.pid}"
        victim.send_signal(signal.SIGSTOP)

        def resume() -> None:
            time.sleep(settings.stop_seconds)
            try:
                victim.send_signal(signal.SIGCONT)
            except psutil.Error:
                pass

        asyncio.get_running_loop().run_in_executor(None, resume)
        return f"SIGSTOP hub worker {victim.pid} for {settings.stop_seconds:g} s"
    name = "redis-server" if kind == "restart-redis" else "haproxy"
    procs = cluster.named(name)
    if not procs:
        return f"{kind}: no {name} running"
    procs[0].send_signal(signal.SIGTERM if name == "redis-server" else signal.SIGKILL)
    return f"{'SIGTERM' if name == 'redis-server' else 'SIGKILL'} {name} {procs[0].pid}"


def _exactly(subject: str) -> Callable[[str], bool]:
    return lambda s: s == subject


def _matching(pattern: str) -> Callable[[str], bool]:
    return lambda s: matches(pattern, s)


async def scenario(
    cluster: ClusterUnderTest, settings: ChaosSettings, progress: Callable[[str], None]
) -> Ledger:
    ledger = Ledger()
    stop_publishing, stop_reading = asyncio.Event(), asyncio.Event()
    readers = []
    for n in range(SUBJECTS):
        subject = f"chaos/{n}/s"
        sub = ledger.subscriber(f"exact {subject}", _exactly(subject))
        readers.append(subscriber(cluster.url, sub, subject, True, stop_reading))
    for pattern in ("chaos/+/s", "chaos/#"):
        sub = ledger.subscriber(f"pattern {pattern}", _matching(pattern))
        readers.append(subscriber(cluster.url, sub, pattern, False, stop_reading))
    reading = [asyncio.ensure_future(r) for r in readers]
    await asyncio.sleep(2)  # every subscription in place before the first publish
    started = time.monotonic()
    writing = [
        asyncio.ensure_future(
            publisher(cluster.url, f"p{n}", ledger, settings, stop_publishing, started)
        )
        for n in range(settings.publishers)
    ]
    rng = random.Random(settings.seed)
    index = 0
    while time.monotonic() - started < settings.duration:
        await asyncio.sleep(settings.fault_every)
        kind = FAULTS[index % len(FAULTS)]
        index += 1
        done = fault(cluster, kind, rng, settings)
        ledger.events.append((round(time.monotonic() - started, 1), done))
        progress(f"{time.monotonic() - started:5.0f} s  {done}  (acked {len(ledger.acked)})")
    stop_publishing.set()
    await asyncio.gather(*writing, return_exceptions=True)
    for _ in range(int(settings.drain / 0.5)):  # let the subscribers catch up
        if not any(ledger.lost(s) for s in ledger.subscribers):
            break
        await asyncio.sleep(0.5)
    stop_reading.set()
    await asyncio.gather(*reading, return_exceptions=True)
    return ledger


def run_chaos(
    settings: ChaosSettings, progress: Callable[[str], None]
) -> tuple[Ledger, dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="earlgate-chaos-") as folder:
        cluster = ClusterUnderTest(settings, Path(folder))
        try:
            cluster.wait_ready()
            ledger = asyncio.run(scenario(cluster, settings, progress))
        finally:
            cluster.stop()
        log = b"".join(cluster.output).decode(errors="replace")
    counts = {
        "worker_kills": sum("SIGKILL hub worker" in e for _, e in ledger.events),
        "worker_stops": sum("SIGSTOP" in e for _, e in ledger.events),
        "redis_restarts": sum("redis-server" in e for _, e in ledger.events),
        "haproxy_restarts": sum("haproxy" in e for _, e in ledger.events),
        "tracebacks_in_cluster_log": log.count("Traceback"),
    }
    return ledger, counts
