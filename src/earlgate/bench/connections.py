"""``earlgate bench connections``: what connections cost, opened, held and closed.

The thesis found (Figure 2.18) that opening and closing connections, not the
messages, loaded its servers between steps. This bench quantifies it for a
target: time and server CPU to open N WebSocket connections, server CPU while
they sit idle, server CPU to close them, and resident memory per idle
connection.

Each connection holds a descriptor in the target and one in this process, so
the bench raises its soft open-file limit to the hard one first (the target,
started from here, inherits it) and refuses a count that cannot fit. Past
about 28,000 connections one loopback source address runs out of ephemeral
ports: ``--source-ips`` spreads them over several.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import asdict, dataclass
from typing import Any

from picows import WSListener, WSTransport, ws_connect

from earlgate.bench.driver import Provenance, markdown_table, measure_each, pin_load_here
from earlgate.bench.ramp import raise_fd_limit
from earlgate.bench.results import update_benchmarks
from earlgate.bench.targets import start_target


@dataclass
class ConnectionCosts:
    target: str
    connections: int
    open_seconds: float
    open_cpu_ms_per_connection: float
    idle_cpu_percent: float
    close_cpu_ms_per_connection: float
    rss_kib_per_connection: float

    open_file_limit: int = 0  # the soft RLIMIT_NOFILE the target and the load side ran with

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


SPARE_DESCRIPTORS = 100  # for the process's own files, pipes and listening socket


def descriptors_for(count: int) -> int:
    """Raise the open-file limit for ``count`` connections; return the soft limit.

    Raises:
        ValueError: ``count`` connections cannot fit under the hard limit.
    """
    limit = raise_fd_limit()
    if count + SPARE_DESCRIPTORS > limit:
        raise ValueError(
            f"{count} connections need {count + SPARE_DESCRIPTORS} open files per process, "
            f"but the open-file limit is {limit} (raise the hard limit with ulimit -Hn, "
            f"or ask for at most {limit - SPARE_DESCRIPTORS})"
        )
    return limit


async def _open_all(
    url: str, count: int, concurrency: int, sources: list[str] | None
) -> list[WSTransport]:
    limiter = asyncio.Semaphore(concurrency)
    source_cycle = itertools.cycle(sources or [None])

    async def one() -> WSTransport:
        source = next(source_cycle)
        extra: dict[str, Any] = {"local_addr": (source, 0)} if source else {}
        async with limiter:
            transport, _ = await ws_connect(
                WSListener, url, websocket_handshake_timeout=30, **extra
            )
            return transport

    return list(await asyncio.gather(*(one() for _ in range(count))))


def measure_connections(
    target: str,
    count: int,
    idle_seconds: float = 10.0,
    concurrency: int = 200,
    sources: list[str] | None = None,
) -> ConnectionCosts:
    limit = descriptors_for(count)
    server_cpus, _ = pin_load_here()
    running = start_target(target, server_cpus)
    try:
        time.sleep(0.5)
        rss_before = running.rss()

        async def scenario() -> tuple[float, float, float, float, float]:
            cpu0 = running.cpu_seconds()
            started = time.perf_counter()
            transports = await _open_all(running.ws_url, count, concurrency, sources)
            open_seconds = time.perf_counter() - started
            await asyncio.sleep(0.5)
            cpu1 = running.cpu_seconds()
            await asyncio.sleep(idle_seconds)
            cpu2 = running.cpu_seconds()
            rss_open = running.rss()
            for transport in transports:
                transport.send_close()
                transport.disconnect()
            await asyncio.gather(*(t.wait_disconnected() for t in transports))
            await asyncio.sleep(1.0)
            cpu3 = running.cpu_seconds()
            return open_seconds, cpu1 - cpu0, cpu2 - cpu1, cpu3 - cpu2, rss_open

        open_s, open_cpu, idle_cpu, close_cpu, rss_open = asyncio.run(scenario())
    finally:
        running.stop()
    return ConnectionCosts(
        target=target,
        connections=count,
        open_seconds=round(open_s, 3),
        open_cpu_ms_per_connection=round(1000 * open_cpu / count, 3),
        idle_cpu_percent=round(100 * idle_cpu / idle_seconds, 2),
        close_cpu_ms_per_connection=round(1000 * close_cpu / count, 3),
        rss_kib_per_connection=round((rss_open - rss_before) / 1024 / count, 2),
        open_file_limit=limit,
    )


def markdown(rows: list[ConnectionCosts], command: str, machine: str, when: str) -> str:
    head = ["target", "connections", "open time s", "open CPU ms/conn", "idle CPU %"]
    head += ["close CPU ms/conn", "RSS KiB/conn"]
    cells = [
        [
            row.target,
            str(row.connections),
            f"{row.open_seconds:.2f}",
            f"{row.open_cpu_ms_per_connection:.3f}",
            f"{row.idle_cpu_percent:.2f}",
            f"{row.close_cpu_ms_per_connection:.3f}",
            f"{row.rss_kib_per_connection:.1f}",
        ]
        for row in rows
    ]
    lines = [Provenance(machine, when, command).line(), ""]
    limits = sorted({row.open_file_limit for row in rows if row.open_file_limit})
    if limits:
        shown = ", ".join(str(limit) for limit in limits)
        lines += [f"Open-file limit (soft, raised to the hard one): {shown}.", ""]
    lines += markdown_table(head, cells)
    return "\n".join(lines) + "\n"


def run_connections(
    targets: list[str],
    count: int,
    idle_seconds: float,
    command: str,
    update: bool,
    sources: list[str] | None = None,
) -> list[ConnectionCosts]:
    """Measure each target in turn (one that cannot start is skipped); print the report."""
    rows = measure_each(
        targets, lambda target: measure_connections(target, count, idle_seconds, sources=sources)
    )
    provenance = Provenance.now(command)
    report = markdown(rows, command, provenance.machine, provenance.when)
    print(report)
    if update:
        update_benchmarks("connections", report)
    return rows
