"""``earlgate bench fanout``: CPU per delivered message and latency, per server.

The issue's goal is stated per delivered message: N publishers at 4 Hz, one
subscriber each (the thesis's setup), the server pinned to one core and the
load generator to another. For each target the bench records the server's CPU
seconds over the measured window (psutil), the messages delivered, and the
response-time distribution seen by the subscribers. Every report says how the
traffic arrived (:mod:`earlgate.bench.arrival`) and how late the load generator
sent against its own schedule, so a figure can be told apart from the
generator's.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from earlgate.bench.arrival import DEFAULT_ARRIVAL, describe
from earlgate.bench.driver import (
    Provenance,
    markdown_table,
    measure_each,
    pin_load_here,
    steady_load,
)
from earlgate.bench.pacing import LATE_AFTER_S
from earlgate.bench.results import write_run
from earlgate.bench.targets import start_target


@dataclass
class FanoutRow:
    target: str
    publishers: int
    period: float
    duration: float
    sent: int
    received: int
    server_cpu_s: float
    server_cpu_percent: float
    cpu_us_per_delivered: float
    latency_ms: dict[str, float]
    loadgen_cpu_percent: float
    server_rss_mib: float
    per_second: list[dict[str, Any]] = field(default_factory=list)
    arrival: str = DEFAULT_ARRIVAL
    seed: int = 0
    sent_late: int = 0
    late_after_ms: float = LATE_AFTER_S * 1000.0
    lateness_ms: dict[str, float] = field(default_factory=dict)
    wakeups: int = 0

    @property
    def delivered_ratio(self) -> float:
        return self.received / self.sent if self.sent else 0.0


async def measure(
    target: str,
    publishers: int,
    period: float,
    duration: float,
    console: Console,
    arrival: str = DEFAULT_ARRIVAL,
    seed: int = 0,
) -> FanoutRow:
    server_cpus, _ = pin_load_here()
    running = start_target(target, server_cpus)
    try:
        # The server's CPU over whole seconds of steady load (after the first
        # second), so connection set-up is not counted.
        result, cpu_before, cpu_after = await steady_load(
            running.ws_url,
            publishers,
            period,
            duration,
            console,
            target,
            running.cpu_seconds,
            arrival=arrival,
            seed=seed,
        )
        rss = running.rss()
    finally:
        running.stop()
    steady = result.per_second[1:]
    steady_received = sum(s["received"] for s in steady)
    steady_seconds = len(steady)
    server_cpu = cpu_after - (cpu_before or 0.0)
    return FanoutRow(
        target=target,
        publishers=publishers,
        period=period,
        duration=duration,
        sent=result.sent,
        received=result.received,
        server_cpu_s=round(server_cpu, 3),
        server_cpu_percent=round(100 * server_cpu / max(steady_seconds, 1), 1),
        cpu_us_per_delivered=round(1e6 * server_cpu / max(steady_received, 1), 2),
        latency_ms=result.latency_ms,
        loadgen_cpu_percent=result.loadgen_cpu_percent,
        server_rss_mib=round(rss / 2**20, 1),
        per_second=result.per_second,
        arrival=result.arrival,
        seed=result.seed,
        sent_late=result.sent_late,
        late_after_ms=result.late_after_ms,
        lateness_ms=result.lateness_ms,
        wakeups=result.wakeups,
    )


def results_table(rows: list[FanoutRow]) -> Table:
    arrival = f", arrival {rows[0].arrival}" if rows else ""
    table = Table(title=f"fan-out: one subscriber per publisher{arrival}")
    for column in (
        "target",
        "load",
        "delivered",
        "server CPU %",
        "CPU µs/msg",
        "p50 ms",
        "p99 ms",
        "loadgen CPU %",
        "loadgen late",
    ):
        table.add_column(column, justify="right" if column != "target" else "left")
    for row in rows:
        table.add_row(
            row.target,
            f"{row.publishers}×{1 / row.period:g} Hz",
            f"{100 * row.delivered_ratio:.2f}%",
            f"{row.server_cpu_percent:.1f}",
            f"{row.cpu_us_per_delivered:.1f}",
            f"{row.latency_ms['p50']:.2f}",
            f"{row.latency_ms['p99']:.2f}",
            f"{row.loadgen_cpu_percent:.1f}",
            str(row.sent_late),
        )
    return table


def markdown(rows: list[FanoutRow], command: str, machine: str, when: str) -> str:
    baseline = next((r for r in rows if r.target == "earlgate"), None)
    head = ["target", "load", "delivered", "server CPU %", "CPU µs/delivered msg", "p50 ms"]
    head += ["p99 ms", "mean ± sd ms", "loadgen CPU %", "loadgen sent late"]
    head += ["loadgen lateness p99 ms", "vs earlgate (CPU/msg)"]
    cells = []
    for row in rows:
        ratio = (
            f"{row.cpu_us_per_delivered / baseline.cpu_us_per_delivered:.2f}×"
            if baseline and baseline.cpu_us_per_delivered
            else "–"
        )
        lat = row.latency_ms
        cells.append(
            [
                row.target,
                f"{row.publishers}×{1 / row.period:g} Hz",
                f"{100 * row.delivered_ratio:.2f}%",
                f"{row.server_cpu_percent:.1f}",
                f"{row.cpu_us_per_delivered:.1f}",
                f"{lat['p50']:.2f}",
                f"{lat['p99']:.2f}",
                f"{lat['mean']:.2f} ± {lat['sd']:.2f}",
                f"{row.loadgen_cpu_percent:.1f}",
                f"{row.sent_late} of {row.sent}",
                f"{row.lateness_ms.get('p99', 0.0):.2f}",
                ratio,
            ]
        )
    lines = [
        Provenance(machine, when, command).line(),
        "Server pinned to one core, load generator to the other; CPU measured over the "
        "steady seconds (after the first), per message delivered to a subscriber.",
        *_arrival_lines(rows),
        "",
        *markdown_table(head, cells),
    ]
    return "\n".join(lines) + "\n"


def _arrival_lines(rows: list[FanoutRow]) -> list[str]:
    """How traffic arrived, and what counts as a late send of the load generator."""
    if not rows:
        return []
    arrivals = sorted({describe(row.arrival, row.seed) for row in rows})
    late = rows[0].late_after_ms
    return [
        f"Traffic {'; '.join(arrivals)}. Loadgen sent late: sends more than {late:g} ms "
        "behind their due time."
    ]


def plot(rows: list[FanoutRow], path: Path) -> None:
    from earlgate.bench.plots import plt, save

    names = [row.target for row in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    left.bar(names, [row.cpu_us_per_delivered for row in rows], color="tab:blue")
    left.set_ylabel("server CPU µs per delivered message")
    left.set_title("CPU cost (lower is better)")
    x = range(len(rows))
    right.bar([i - 0.2 for i in x], [r.latency_ms["p50"] for r in rows], 0.4, label="p50")
    right.bar([i + 0.2 for i in x], [r.latency_ms["p99"] for r in rows], 0.4, label="p99")
    right.set_xticks(list(x), names)
    right.set_ylabel("publish → deliver (ms)")
    right.set_title("response time")
    right.legend()
    for axis in (left, right):
        axis.tick_params(axis="x", rotation=20)
    load = (
        f"{rows[0].publishers} publishers × {1 / rows[0].period:g} Hz, arrival {rows[0].arrival}"
        if rows
        else ""
    )
    fig.suptitle(f"fan-out benchmark, {load}")
    fig.tight_layout()
    save(fig, path, dpi=110)


def run_fanout(
    targets: list[str],
    publishers: int,
    period: float,
    duration: float,
    out: Path,
    command: str,
    update: bool,
    arrival: str = DEFAULT_ARRIVAL,
    seed: int = 0,
) -> list[FanoutRow]:
    console = Console()
    out.mkdir(parents=True, exist_ok=True)
    rows = measure_each(
        targets,
        lambda target: asyncio.run(
            measure(target, publishers, period, duration, console, arrival, seed)
        ),
        say=lambda note: console.print(f"[yellow]{note}[/yellow]"),
        done=lambda row: console.print(results_table([row])),
    )
    provenance = Provenance.now(command)
    report = markdown(rows, command, provenance.machine, provenance.when)
    plot(rows, out / "fanout.png")
    console.print(results_table(rows))
    raw = {**provenance.raw(), "rows": [r.__dict__ for r in rows]}
    # One BENCHMARKS.md section per arrival, so each kind of traffic keeps its latest figures.
    section = "fanout" if arrival == "slots" else f"fanout {arrival}"
    write_run(out, section, "Fan-out benchmark", raw, report, "fanout.png", update)
    return rows
