"""Load from several processes: one asyncio loop per process, started together.

One Python process tops out at a few tens of thousands of WebSocket messages
per second; the thesis used two large client machines for the same reason
(section 2.5.2). The parent splits the publishers over P worker processes,
waits until every worker is connected and warm, starts them all at once, sums
their per-second samples and merges their latency histograms. Worker p of P
gets the ``spread`` phase p/P, so the workers' publishers interleave over the
period instead of sending in pairs.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import os
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from earlgate.bench.loadgen import LoadResult, latency_summary, run_load
from earlgate.metrics.histogram import Histogram


def expand_ips(spec: str | None) -> list[str] | None:
    """``127.0.0.2-127.0.0.20`` or ``127.0.0.2,127.0.0.3`` -> addresses (loopback only)."""
    if not spec:
        return None
    addresses: list[str] = []
    for part in spec.split(","):
        part = part.strip()
        if "-" in part:
            first, last = part.split("-", 1)
            head, low = first.rsplit(".", 1)
            head2, high = last.rsplit(".", 1)
            if head != head2:
                raise ValueError(f"range {part!r} must stay within one /24")
            addresses += [f"{head}.{n}" for n in range(int(low), int(high) + 1)]
        elif part:
            addresses.append(part)
    for address in addresses:
        if not address.startswith("127."):
            raise ValueError(f"{address} is not a loopback address (127.0.0.0/8)")
    return addresses


def _worker(connection: Connection, kwargs: dict[str, Any], cpus: list[int] | None) -> None:
    if cpus:
        os.sched_setaffinity(0, cpus)

    async def ready() -> None:
        connection.send(("warm", None))
        await asyncio.to_thread(connection.recv)  # the parent's "go"

    async def main() -> LoadResult:
        return await run_load(
            **kwargs, ready=ready, on_second=lambda s: connection.send(("second", s))
        )

    try:
        result = asyncio.run(main())
        connection.send(("result", result.as_dict()))
    except Exception as exc:  # report, do not hang the parent
        connection.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        connection.close()


def run_load_processes(
    url: str,
    publishers: int,
    period: float,
    duration: float,
    processes: int,
    *,
    cpus: list[int] | None = None,
    on_second: Callable[[dict[str, Any]], None] | None = None,
    **options: Any,
) -> LoadResult:
    """Run :func:`run_load` split over ``processes`` processes; merge the results.

    ``options`` go to every :func:`run_load` (``arrival``, ``seed``, ...);
    each process gets its own ``phase``.
    """
    if processes < 1:
        raise ValueError("need at least one process")
    processes = min(processes, publishers)
    context = mp.get_context("spawn")
    shares = [
        publishers // processes + (1 if i < publishers % processes else 0) for i in range(processes)
    ]
    pipes: list[Connection] = []
    workers = []
    first = 1
    source_ips: list[str] | None = options.pop("source_ips", None)
    for index, share in enumerate(shares):
        parent, child = context.Pipe()
        kwargs = dict(
            url=url,
            publishers=share,
            period=period,
            duration=duration,
            first_index=first,
            phase=index / processes,
            source_ips=source_ips[index::processes] or source_ips if source_ips else None,
            **options,
        )
        first += share
        worker = context.Process(target=_worker, args=(child, kwargs, cpus), daemon=True)
        worker.start()
        child.close()
        pipes.append(parent)
        workers.append(worker)
    try:
        return _coordinate(pipes, shares, period, duration, on_second)
    finally:
        for worker in workers:
            worker.join(10)
            if worker.is_alive():
                worker.kill()


def _coordinate(
    pipes: list[Connection],
    shares: list[int],
    period: float,
    duration: float,
    on_second: Callable[[dict[str, Any]], None] | None,
) -> LoadResult:
    warm = 0
    deadline = time.monotonic() + 120 + len(shares) * 10
    while warm < len(pipes):
        for pipe in pipes:
            if pipe.poll(0.05):
                kind, value = pipe.recv()
                if kind == "error":
                    raise RuntimeError(f"load process failed: {value}")
                warm += kind == "warm"
        if time.monotonic() > deadline:
            raise TimeoutError("load processes did not all connect in time")
    for pipe in pipes:
        pipe.send("go")
    seconds: dict[int, list[dict[str, Any]]] = {}
    results: list[LoadResult] = []
    open_pipes = list(pipes)
    while open_pipes:
        for pipe in list(open_pipes):
            if not pipe.poll(0.05):
                continue
            try:
                kind, value = pipe.recv()
            except EOFError:
                open_pipes.remove(pipe)
                continue
            if kind == "second":
                batch = seconds.setdefault(value["second"], [])
                batch.append(value)
                if len(batch) == len(pipes) and on_second is not None:
                    on_second(_sum_seconds(batch))
            elif kind == "result":
                results.append(LoadResult.from_dict(value))
                open_pipes.remove(pipe)
            elif kind == "error":
                raise RuntimeError(f"load process failed: {value}")
    return _merge(results, [_sum_seconds(seconds[k]) for k in sorted(seconds)])


def _sum_seconds(batch: list[dict[str, Any]]) -> dict[str, Any]:
    merged = {
        "second": batch[0]["second"],
        "sent": sum(s["sent"] for s in batch),
        "received": sum(s["received"] for s in batch),
        "expected": sum(s["expected"] for s in batch),
        "late": sum(s.get("late", 0) for s in batch),
    }
    if "echoed" in batch[0]:
        merged["echoed"] = sum(s.get("echoed", 0) for s in batch)
    worst = max(batch, key=lambda s: s["latency_ms"]["p99"])
    merged["latency_ms"] = worst["latency_ms"]  # the slowest process's view of this second
    return merged


def _merge(results: list[LoadResult], per_second: list[dict[str, Any]]) -> LoadResult:
    histogram = Histogram()
    lateness = Histogram()
    for result in results:
        histogram.merge(result.latency)
        lateness.merge(result.lateness)
    sum_sq = sum(r.latency_sq_ms for r in results)
    cpu = sum(r.cpu_seconds for r in results)
    wall = max((r.wall_seconds for r in results), default=0.0)
    return LoadResult(
        publishers=sum(r.publishers for r in results),
        subscribers=sum(r.subscribers for r in results),
        period=results[0].period,
        duration=results[0].duration,
        sent=sum(r.sent for r in results),
        received=sum(r.received for r in results),
        expected_per_s=sum(r.expected_per_s for r in results),
        connect_seconds=max(r.connect_seconds for r in results),
        loadgen_cpu_percent=round(100.0 * cpu / wall, 1) if wall else 0.0,
        latency_ms=latency_summary(histogram, sum_sq),
        per_second=per_second,
        latency=histogram,
        latency_sq_ms=sum_sq,
        cpu_seconds=cpu,
        wall_seconds=wall,
        echoed=sum(r.echoed for r in results),
        # Round trips are summarised per process; report the slowest process's view.
        echo_ms=max((r.echo_ms for r in results), key=lambda e: e.get("p99", 0.0), default={}),
        arrival=results[0].arrival,
        seed=results[0].seed,
        sent_late=sum(r.sent_late for r in results),
        late_after_ms=results[0].late_after_ms,
        lateness_ms=lateness.summary_ms(),
        wakeups=sum(r.wakeups for r in results),
        lateness=lateness,
    )
