"""``earlgate bench scaleout``: what Redis and HAProxy cost per message, and how far they scale.

The thesis (section 2.6) read the CPU of its Node server, Redis and HAProxy at
one load and concluded that one Redis and one HAProxy could feed "4 more
servers". This bench does the same with numbers per message: the same fixed
load (N publishers at 4 Hz, one subscriber each) runs against

- case ``1``: one hub, in-memory broker;
- case ``1r``: one hub publishing through Redis;
- case ``2``: two hubs joined through Redis behind HAProxy;
- optionally ``thesis-node-redis``: the thesis's Node server with Redis;

and every server process's CPU seconds over the steady seconds are divided by
the messages delivered to subscribers. From the per-message costs: a hub
worker saturates its core at ``1e6 / hub_us`` messages per second, where
Redis spends ``redis_us`` per message, so one Redis core feeds
``hub_us / redis_us`` workers before it saturates (the same for HAProxy).
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil
from rich.console import Console

from earlgate.bench.deploy import Deployment, start_case
from earlgate.bench.driver import (
    Provenance,
    markdown_table,
    measure_each,
    pin_load_here,
    role_of,
    steady_load,
)
from earlgate.bench.results import write_run

DEFAULT_CASES = ("1", "1r", "2", "thesis-node-redis")


def process_role(process: psutil.Process) -> str:
    """:func:`~earlgate.bench.driver.role_of` a live process; ``gone`` once it has exited."""
    try:
        return role_of(process.name(), process.cmdline())
    except psutil.Error:
        return "gone"


def watched(deployment: Deployment) -> list[psutil.Process]:
    """Every process of the case, the cluster supervisor's children included."""
    found: dict[int, psutil.Process] = {}
    for process in deployment.processes.values():
        found[process.pid] = process
        try:
            for child in process.children(recursive=True):
                found[child.pid] = child
        except psutil.Error:
            continue
    return list(found.values())


def cpu_by_role(processes: list[psutil.Process]) -> dict[str, float]:
    totals: dict[str, float] = {}
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.Error:
            continue
        role = process_role(process)
        totals[role] = totals.get(role, 0.0) + times.user + times.system
    return totals


@dataclass
class ScaleoutRow:
    case: str
    publishers: int
    period: float
    seconds: int
    sent: int
    received: int
    cpu_s: dict[str, float]
    us_per_delivered: dict[str, float]
    latency_ms: dict[str, float]
    loadgen_cpu_percent: float
    per_second: list[dict[str, Any]] = field(default_factory=list)


async def measure_case(
    case: str, publishers: int, period: float, duration: float, console: Console
) -> ScaleoutRow:
    server_cpus, _ = pin_load_here()
    deployment = start_case(case, server_cpus)
    try:
        processes = watched(deployment)
        result, before, after = await steady_load(
            deployment.ws_url,
            publishers,
            period,
            duration,
            console,
            f"case {case}",
            lambda: cpu_by_role(processes),
        )
    finally:
        deployment.stop()
    steady = result.per_second[1:]
    delivered = max(sum(s["received"] for s in steady), 1)
    cpu = {role: round(after[role] - (before or {}).get(role, 0.0), 3) for role in after}
    return ScaleoutRow(
        case=case,
        publishers=publishers,
        period=period,
        seconds=len(steady),
        sent=result.sent,
        received=result.received,
        cpu_s=cpu,
        us_per_delivered={role: round(1e6 * s / delivered, 2) for role, s in cpu.items()},
        latency_ms=result.latency_ms,
        loadgen_cpu_percent=result.loadgen_cpu_percent,
        per_second=result.per_second,
    )


def hub_cost(row: ScaleoutRow) -> float:
    """CPU µs per delivered message of all the case's hub (or Node) processes together."""
    return row.us_per_delivered.get("hub", 0.0) or row.us_per_delivered.get("node", 0.0)


def estimates(rows: list[ScaleoutRow]) -> dict[str, float]:
    """The ratios and worker counts the report states."""
    by_case = {row.case: row for row in rows}
    found: dict[str, float] = {}
    memory, redis = by_case.get("1"), by_case.get("1r")
    if memory and redis and hub_cost(memory):
        found["redis_vs_memory_hub_cpu"] = round(hub_cost(redis) / hub_cost(memory), 2)
    cluster = by_case.get("2")
    if cluster and redis:
        hub_us = hub_cost(redis)
        for role in ("redis-server", "haproxy"):
            cost = cluster.us_per_delivered.get(role, 0.0)
            if cost > 0:
                found[f"workers_per_{role}"] = round(hub_us / cost, 1)
    return found


def markdown(rows: list[ScaleoutRow], command: str, machine: str, when: str) -> str:
    found = estimates(rows)
    roles = sorted({role for row in rows for role in row.us_per_delivered} - {"gone"})
    head = ["case", "load", "delivered", *(f"{role} µs/msg" for role in roles)]
    head += ["p50 ms", "p99 ms", "loadgen CPU %"]
    cells = []
    for row in rows:
        costs = [
            f"{row.us_per_delivered[role]:.1f}" if role in row.us_per_delivered else "–"
            for role in roles
        ]
        delivered = 100 * row.received / row.sent if row.sent else 0.0
        cells.append(
            [row.case, f"{row.publishers}×{1 / row.period:g} Hz", f"{delivered:.2f}%", *costs]
            + [f"{row.latency_ms['p50']:.2f}", f"{row.latency_ms['p99']:.2f}"]
            + [f"{row.loadgen_cpu_percent:.1f}"]
        )
    lines = [
        Provenance(machine, when, command).line(),
        "Every server process pinned to one core, the load generator to the other; CPU over "
        "the steady seconds, per message delivered to a subscriber (one subscriber per "
        "publisher). Case 2's two hubs share their core with Redis and HAProxy.",
        "",
        *markdown_table(head, cells),
    ]
    lines.append("")
    if "redis_vs_memory_hub_cpu" in found:
        ratio = found["redis_vs_memory_hub_cpu"]
        verdict = "meets" if ratio <= 1.5 else f"misses by {ratio / 1.5:.2f}×"
        lines.append(
            f"- Hub CPU per delivered message, Redis path vs memory path: **{ratio:.2f}×** "
            f"({verdict} the ≤ 1.5× goal)."
        )
    for role in ("redis-server", "haproxy"):
        key = f"workers_per_{role}"
        if key in found:
            workers = f"{found[key]:.0f} hub worker" + ("" if round(found[key]) == 1 else "s")
            lines.append(
                f"- One `{role}` core feeds about **{workers}** running at "
                f"full core before it saturates (hub µs/msg on the Redis path ÷ {role} µs/msg)."
            )
    return "\n".join(lines) + "\n"


def plot(rows: list[ScaleoutRow], path: Path) -> None:
    from earlgate.bench.plots import plt, save

    roles = sorted({role for row in rows for role in row.us_per_delivered} - {"gone"})
    fig, axis = plt.subplots(figsize=(8, 4))
    bottom = [0.0] * len(rows)
    for role in roles:
        values = [row.us_per_delivered.get(role, 0.0) for row in rows]
        axis.bar([f"case {row.case}" for row in rows], values, bottom=bottom, label=role)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    axis.set_ylabel("CPU µs per delivered message")
    axis.set_title("where each delivered message's CPU goes")
    axis.legend()
    fig.tight_layout()
    save(fig, path, dpi=110)


def run_scaleout(
    cases: list[str],
    publishers: int,
    period: float,
    duration: float,
    out: Path,
    command: str,
    update: bool,
) -> list[ScaleoutRow]:
    console = Console()
    out.mkdir(parents=True, exist_ok=True)

    def done(row: ScaleoutRow) -> None:
        costs = row.us_per_delivered.items()
        console.print(f"case {row.case}: " + ", ".join(f"{r} {us:.1f} µs/msg" for r, us in costs))

    rows = measure_each(
        cases,
        lambda case: asyncio.run(measure_case(case, publishers, period, duration, console)),
        what="case ",
        say=lambda note: console.print(f"[yellow]{note}[/yellow]"),
        done=done,
    )
    provenance = Provenance.now(command)
    report = markdown(rows, command, provenance.machine, provenance.when)
    if rows:
        plot(rows, out / "scaleout.png")
    console.print(report)
    raw = {**provenance.raw(), "rows": [asdict(r) for r in rows]}
    write_run(out, "scale-out", "Scale-out benchmark", raw, report, "scaleout.png", update)
    return rows
