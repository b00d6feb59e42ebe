"""``earlgate bench soak``: one hub for a long time, to see that nothing grows.

Publishers at 4 Hz each with one subscriber (the thesis's load, from
:mod:`earlgate.bench.loadgen` in its own processes, pinned away from the
hub), plus connection churn: every second some short-lived clients connect,
subscribe, wait for the ack and leave.
The hub's resident memory, open descriptors and CPU are sampled every
``sample_every`` seconds. Pass: memory at the end within ``tolerance`` of
its value at the reference minute, no error answer from the hub, no
traceback in its log, and the load's messages delivered.
"""

from __future__ import annotations

import asyncio
import re
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from picows import WSListener, WSMsgType, ws_connect

from earlgate.bench.driver import pinning
from earlgate.bench.loadprocs import run_load_processes
from earlgate.children import free_port, wait_for_line
from earlgate.testing.processes import spawn

LISTENING = re.compile(rb"listening on ws://")


@dataclass
class SoakSettings:
    connections: int = 8000  # publishers + subscribers of the steady load
    duration: float = 3600.0
    period: float = 0.25
    churn: int = 20  # short-lived WebSocket clients per second
    sample_every: float = 60.0
    reference: float = 300.0  # the sample memory is compared with (seconds in)
    tolerance: float = 0.05
    processes: int = 2  # load generator processes


@dataclass
class SoakSample:
    seconds: float
    rss_mib: float
    fds: int
    cpu_percent: float
    connections: int


@dataclass
class SoakResult:
    settings: SoakSettings
    samples: list[SoakSample] = field(default_factory=list)
    churned: int = 0
    churn_errors: int = 0
    hub_errors: dict[str, int] = field(default_factory=dict)
    tracebacks: int = 0
    sent: int = 0
    received: int = 0
    expected: int = 0

    def reference_sample(self) -> SoakSample | None:
        eligible = [s for s in self.samples if s.seconds >= self.settings.reference]
        return eligible[0] if eligible else (self.samples[0] if self.samples else None)

    def growth(self) -> float:
        """Memory at the last sample relative to the reference sample."""
        first, last = self.reference_sample(), self.samples[-1] if self.samples else None
        if first is None or last is None or first.rss_mib == 0:
            return 0.0
        return (last.rss_mib - first.rss_mib) / first.rss_mib

    def failures(self) -> list[str]:
        problems = []
        if abs(self.growth()) > self.settings.tolerance:
            problems.append(
                f"memory changed by {self.growth() * 100:+.1f} % since the reference sample"
            )
        if self.hub_errors:
            problems.append(f"hub answered errors: {self.hub_errors}")
        if self.tracebacks:
            problems.append(f"{self.tracebacks} tracebacks in the hub's log")
        if self.churn_errors:
            problems.append(f"{self.churn_errors} churn clients failed")
        if self.expected and self.received < 0.999 * self.expected:
            problems.append(f"received {self.received} of {self.expected} expected deliveries")
        return problems


class _Counted(WSListener):
    def __init__(self, got: asyncio.Event) -> None:
        super().__init__()
        self.got = got

    def on_ws_frame(self, transport: Any, frame: Any) -> None:
        if frame.msg_type is WSMsgType.TEXT:
            self.got.set()


async def _churn(url: str, result: SoakResult, per_second: int, stop: threading.Event) -> None:
    """Clients that connect, subscribe, wait for the ack and leave, every second."""
    frame = b'{"type":"subscribe","subject":"soak/churn","id":1}'

    async def one() -> None:
        got = asyncio.Event()
        try:
            transport, _ = await ws_connect(lambda: _Counted(got), url)
            transport.send(WSMsgType.TEXT, frame)
            await asyncio.wait_for(got.wait(), 10)  # the ack
            transport.send_close()
            transport.disconnect()
            result.churned += 1
        except (OSError, TimeoutError, ConnectionError):
            result.churn_errors += 1

    while not stop.is_set():
        started = time.monotonic()
        await asyncio.gather(*(one() for _ in range(per_second)))
        await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - started)))


def _stats(port: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=5) as answer:
        data: dict[str, Any] = orjson.loads(answer.read())
        return data


def run_soak(settings: SoakSettings, progress: Callable[[SoakSample], None]) -> SoakResult:
    result = SoakResult(settings)
    server_cpus, load_cpus = pinning()
    port = free_port()
    command = [sys.executable, "-m", "earlgate", "hub", "--port", str(port)]
    command += ["--max-connections", str(settings.connections * 2 + 1000)]
    hub = spawn("hub", command, server_cpus, piped=True, new_session=False)
    match, early = wait_for_line(hub.process, LISTENING, 30)
    if match is None:
        raise RuntimeError(f"hub did not start: {early.decode(errors='replace')}")
    hub.keep_reading()
    process = hub.ps
    url = f"ws://127.0.0.1:{port}/ws"
    stop = threading.Event()
    started = time.monotonic()

    def sample() -> None:
        process.cpu_percent(None)
        while not stop.wait(settings.sample_every):
            stats = _stats(port)
            point = SoakSample(
                seconds=round(time.monotonic() - started, 1),
                rss_mib=round(process.memory_info().rss / 2**20, 2),
                fds=process.num_fds(),
                cpu_percent=round(process.cpu_percent(None), 1),
                connections=int(stats["totals"].get("connections_open", 0)),
            )
            result.samples.append(point)
            progress(point)

    def churn() -> None:
        asyncio.run(_churn(url, result, settings.churn, stop))

    threads = [threading.Thread(target=sample, daemon=True), threading.Thread(target=churn)]
    for thread in threads:
        thread.start()
    try:
        load = run_load_processes(
            url,
            settings.connections // 2,
            settings.period,
            settings.duration,
            settings.processes,
            cpus=load_cpus,
        )
        result.sent, result.received = load.sent, load.received
        result.expected = load.sent  # one subscriber per publisher
        totals = _stats(port)["totals"]
        result.hub_errors = {k: v for k, v in totals.get("errors", {}).items() if v}
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
        hub.stop()
    result.tracebacks = hub.log().count("Traceback")
    return result
