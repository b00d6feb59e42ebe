"""``earlgate load`` as a library call: the load generator under a live table, and its summary.

The command-line layer (:mod:`earlgate.cli.load`) checks the arguments and
calls :func:`run_load_command`; :func:`summary_lines` is pure.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from earlgate.bench.arrival import DEFAULT_ARRIVAL, describe
from earlgate.bench.loadgen import LoadResult
from earlgate.bench.loadprocs import run_load_processes

__all__ = ["run_load_command", "seconds_table", "summary_lines"]

SHOWN_SECONDS = 10  # the live table's last rows


def seconds_table(title: str, seconds: list[dict[str, Any]]) -> Table:
    """The last :data:`SHOWN_SECONDS` per-second samples of a load run."""
    view = Table(title=title)
    for column in ("second", "expected/s", "sent/s", "received/s", "p50 ms", "p99 ms"):
        view.add_column(column, justify="right")
    for sample in seconds[-SHOWN_SECONDS:]:
        view.add_row(
            str(sample["second"]),
            f"{sample['expected']:.0f}",
            str(sample["sent"]),
            str(sample["received"]),
            f"{sample['latency_ms']['p50']:.2f}",
            f"{sample['latency_ms']['p99']:.2f}",
        )
    return view


def summary_lines(
    result: LoadResult, subscribers_per_publisher: int, cores: int, echo_back: bool
) -> list[str]:
    """What a load run says when it ends: deliveries, response times, its own CPU and timing."""
    lat = result.latency_ms
    expected = max(result.sent * subscribers_per_publisher, 1)
    lines = [
        f"sent {result.sent}, received {result.received} "
        f"({100 * result.received / expected:.2f}%); "
        f"response time mean {lat['mean']:.2f} ± {lat['sd']:.2f} ms, p50 {lat['p50']:.2f}, "
        f"p99 {lat['p99']:.2f}, max {lat['max']:.2f} ms; load generator CPU "
        f"{result.loadgen_cpu_percent:.0f}% of one core ({cores} available)"
    ]
    if echo_back:
        echo = result.echo_ms
        lines.append(
            f"echoed {result.echoed} ({100 * result.echoed / expected:.2f}%); "
            f"round trip mean {echo.get('mean', 0):.2f} ms, p50 {echo.get('p50', 0):.2f}, "
            f"p99 {echo.get('p99', 0):.2f} ms"
        )
    lines.append(pacing_line(result))
    return lines


def pacing_line(result: LoadResult) -> str:
    """How traffic arrived and whether the generator kept to its schedule."""
    late = result.lateness_ms
    together = result.sent / result.wakeups if result.wakeups else 0.0
    return (
        f"{describe(result.arrival, result.seed)}; {result.sent_late} of {result.sent} sends "
        f"more than {result.late_after_ms:g} ms late, lateness p99 {late.get('p99', 0):.2f} ms, "
        f"max {late.get('max', 0):.2f} ms; {together:.1f} sends per wake-up"
    )


def run_load_command(
    url: str,
    publishers: int,
    period: float,
    duration: float,
    processes: int,
    *,
    subscribers_per_publisher: int = 1,
    size: int = 70,
    fmt: str = "thesis",
    source_ips: list[str] | None = None,
    echo_back: bool = False,
    json_path: Path | None = None,
    arrival: str = DEFAULT_ARRIVAL,
    seed: int = 0,
) -> LoadResult:
    """Run the load against ``url`` showing each second; print the summary, write ``json_path``."""
    console = Console()
    seconds: list[dict[str, Any]] = []
    title = f"load on {url}: {publishers} publishers / {period} s, arrival {arrival}"
    with Live(
        seconds_table(title, seconds), console=console, refresh_per_second=2, transient=False
    ) as live:

        def on_second(sample: dict[str, Any]) -> None:
            seconds.append(sample)
            live.update(seconds_table(title, seconds))

        result = run_load_processes(
            url,
            publishers,
            period,
            duration,
            processes,
            on_second=on_second,
            subscribers_per_publisher=subscribers_per_publisher,
            size=size,
            fmt=fmt,
            source_ips=source_ips,
            echo_back=echo_back,
            arrival=arrival,
            seed=seed,
        )
    cores = len(os.sched_getaffinity(0))
    for line in summary_lines(result, subscribers_per_publisher, cores, echo_back):
        console.print(line)
    if json_path is not None:
        json_path.write_text(json.dumps(result.as_dict()))
    return result
