"""``earlgate bench mqtt``: the thesis's ramp over MQTT, our hub beside Mosquitto.

For each case (subscribers over ``mqtt`` or ``ws``, QoS 0 or 1), for each
step of publishers (4 Hz each, one subscriber each on its own topic), for each
target (:mod:`earlgate.bench.mqtt_servers`), the bench starts the server
pinned to one core, runs the load generator (:mod:`earlgate.bench.mqtt_loadgen`)
on the other, reads the server's CPU every second, stops the server, and
pauses. A target stops climbing in a case after ``stop_after_knee`` steps past
its critical point, or after a step it could not run at all. Raw results
(``samples.jsonl``: every second and every step; ``steps.json``,
``steps.csv``) are written as the run goes, so an interrupted run keeps what
it measured; the report and plot at the end (:mod:`earlgate.bench.mqtt_report`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import psutil
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from earlgate.bench.driver import Provenance, pin_load_here
from earlgate.bench.mqtt_loadgen import run_mqtt_load
from earlgate.bench.mqtt_report import (
    Case,
    csv_text,
    is_past_knee,
    markdown,
    plan_cases,
    plan_steps,
    plot,
    step_summary,
)
from earlgate.bench.mqtt_servers import MQTT_TARGETS, MqttServer, find_mosquitto
from earlgate.bench.ramp import raise_fd_limit
from earlgate.bench.results import update_benchmarks
from earlgate.bench.targets import TargetError

__all__ = ["MqttBenchOptions", "add_arguments", "options_from_args", "run_mqtt_bench"]

SECTION = "mqtt"  # BENCHMARKS.md's section
QUICK = {"first": 100, "last": 500, "step": 200, "step_duration": 5.0, "pause": 1.0}


@dataclass
class MqttBenchOptions:
    """What to run; :func:`options_from_args` checks the command line's."""

    targets: list[str]
    cases: list[Case]
    steps: list[int]
    out: Path
    command: str
    period: float = 0.25
    step_duration: float = 30.0
    pause: float = 5.0
    size: int = 50
    drain: float = 3.0
    stop_after_knee: int = 2
    source_ips: list[str] | None = None
    load_loop: str = "uvloop"  # the load generator's event loop: uvloop or asyncio
    update: bool = False
    notes: list[str] = field(default_factory=list)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--targets",
        default=",".join(MQTT_TARGETS),
        help="comma-separated: earlgate, mosquitto (default: both)",
    )
    parser.add_argument(
        "--subscribers",
        default="mqtt,ws",
        help="comma-separated: mqtt, ws (WebSocket, each server's own way) (default: both)",
    )
    parser.add_argument(
        "--qos", default="0,1", help="comma-separated QoS levels: 0, 1 (default: both)"
    )
    parser.add_argument(
        "--from",
        dest="first",
        type=int,
        default=1000,
        help="publishers at the first step (default 1000)",
    )
    parser.add_argument(
        "--to",
        dest="last",
        type=int,
        default=9000,
        help="publishers at the last step (default 9000)",
    )
    parser.add_argument(
        "--step", type=int, default=2000, help="publishers added per step (default 2000)"
    )
    parser.add_argument(
        "--step-duration", type=float, default=30.0, help="seconds of sending per step (default 30)"
    )
    parser.add_argument("--pause", type=float, default=5.0, help="seconds between runs (default 5)")
    parser.add_argument(
        "--period",
        type=float,
        default=0.25,
        help="seconds between a publisher's messages (default 0.25)",
    )
    parser.add_argument("--size", type=int, default=50, help="payload bytes, 23-65536 (default 50)")
    parser.add_argument(
        "--drain",
        type=float,
        default=3.0,
        help="seconds to wait for stragglers after the last send (default 3)",
    )
    parser.add_argument(
        "--stop-after-knee",
        type=int,
        default=2,
        help="a target stops this many steps past its critical point (default 2; 0: never)",
    )
    parser.add_argument(
        "--source-ips",
        help="loopback source addresses, e.g. 127.0.0.2-127.0.0.9 (> 14k publishers)",
    )
    parser.add_argument(
        "--load-loop",
        choices=("uvloop", "asyncio"),
        default="uvloop",
        help="the load generator's event loop (default uvloop, where installed)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="100, 300 and 500 publishers, 5 s each, 1 s pauses (a smoke run)",
    )
    parser.add_argument("--out", type=Path, help="results folder (default results/mqtt-DATE)")
    parser.add_argument(
        "--update-benchmarks", action="store_true", help="write BENCHMARKS.md's mqtt section"
    )


def options_from_args(args: argparse.Namespace, command: str) -> MqttBenchOptions:
    """The options of a command line.

    Raises:
        ValueError: an option out of range, named in the message.
    """
    from earlgate.bench.loadprocs import expand_ips
    from earlgate.bench.results import results_dir

    if args.quick:
        for name, value in QUICK.items():
            setattr(args, name, value)
    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    unknown = [t for t in targets if t not in MQTT_TARGETS]
    if unknown or not targets:
        raise ValueError(
            f"--targets: unknown {', '.join(unknown) or '(none)'}; choose from "
            f"{', '.join(MQTT_TARGETS)}"
        )
    try:
        qos = [int(q) for q in args.qos.split(",") if q.strip()]
    except ValueError:
        raise ValueError(f"--qos: {args.qos!r} is not a list of 0 and 1") from None
    subscribers = [s.strip() for s in args.subscribers.split(",") if s.strip()]
    cases = plan_cases(subscribers, qos)
    steps = plan_steps(args.first, args.last, args.step)
    if args.step_duration < 2 or args.pause < 0 or args.period <= 0 or args.drain < 0:
        raise ValueError("need --step-duration >= 2, --pause >= 0, --period > 0, --drain >= 0")
    if not 23 <= args.size <= 65536 or args.stop_after_knee < 0:
        raise ValueError("need --size between 23 and 65536 bytes and --stop-after-knee >= 0")
    try:
        sources = expand_ips(args.source_ips)
    except ValueError as exc:
        raise ValueError(f"--source-ips: {exc}") from None
    return MqttBenchOptions(
        targets=list(dict.fromkeys(targets)),
        cases=cases,
        steps=steps,
        out=results_dir(args.out, "mqtt"),
        command=command,
        period=args.period,
        step_duration=args.step_duration,
        pause=args.pause,
        size=args.size,
        drain=args.drain,
        stop_after_knee=args.stop_after_knee,
        source_ips=sources,
        load_loop=args.load_loop,
        update=args.update_benchmarks,
    )


async def measure_step(
    server: MqttServer,
    case: Case,
    publishers: int,
    options: MqttBenchOptions,
    on_second: Callable[[dict[str, Any]], None],
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """One run: the load against ``server``; its seconds (with the server's CPU) and totals."""
    kind, url = server.subscribers(case.subscribers)
    rows: list[dict[str, Any]] = []

    def second(sample: dict[str, Any]) -> None:
        try:
            cpu = server.cpu_seconds()
        except psutil.Error:
            cpu = rows[-1]["server_cpu_s"] if rows else 0.0
        rows.append({**sample, "server_cpu_s": round(cpu, 4)})
        on_second(sample)

    result = await run_mqtt_load(
        server.mqtt_url,
        publishers,
        options.period,
        options.step_duration,
        subscriber_url=url,
        subscriber_kind=kind,
        qos=case.qos,
        size=options.size,
        drain=options.drain,
        source_ips=options.source_ips,
        on_second=second,
    )
    return rows, result.as_dict()


class _Run:
    """The raw files of a run, written as it goes."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.summaries: list[dict[str, Any]] = []
        self.samples: TextIO = (out / "samples.jsonl").open("w")

    def second(self, key: dict[str, Any], row: dict[str, Any]) -> None:
        self.samples.write(json.dumps({**key, **row}) + "\n")

    def step(self, summary: dict[str, Any]) -> None:
        self.summaries.append(summary)
        self.samples.write(json.dumps({"type": "step", **summary}) + "\n")
        self.samples.flush()
        (self.out / "steps.json").write_text(json.dumps(self.summaries, indent=1))
        (self.out / "steps.csv").write_text(csv_text(self.summaries))

    def close(self) -> None:
        self.samples.close()


class _Bar:
    """The progress bar, drawn only when told: rich's own refresh thread would take the
    GIL from the load generator's loop ten times a second, and show in its p99."""

    def __init__(self, console: Console, total: int) -> None:
        self.progress = Progress(
            TextColumn("[bold]mqtt[/bold] {task.fields[what]}"),
            BarColumn(),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
            console=console,
            auto_refresh=False,
        )
        self.task: TaskID = self.progress.add_task("mqtt", total=total, what="", status="")

    def show(self, advance: int = 0, **fields: Any) -> None:
        """Advance by ``advance`` runs, set ``what`` or ``status``, and draw."""
        self.progress.update(self.task, advance=advance, **fields)
        self.progress.refresh()

    def second(self, sample: dict[str, Any]) -> None:
        """Once a second of load: what arrived, and its p99."""
        self.show(
            status=f"{sample['received']}/{sample['expected']:.0f} msg/s, "
            f"p99 {sample['latency_ms']['p99']:.1f} ms"
        )


def run_mqtt_bench(
    options: MqttBenchOptions, console: Console | None = None
) -> list[dict[str, Any]]:
    """Run every case, step and target; write the raw results, report and plot; return the steps."""
    console = console or Console()
    options.out.mkdir(parents=True, exist_ok=True)
    cpus, _ = pin_load_here()
    files = raise_fd_limit()
    if files < 2 * max(options.steps) + 1000:
        console.print(
            f"[yellow]open-file limit {files}: too low for {max(options.steps)} publishers "
            "(two connections each); raise it with ulimit -n[/yellow]"
        )
    targets = list(options.targets)
    if "mosquitto" in targets and find_mosquitto() is None:
        note = "mosquitto skipped: it is not installed (apt-get install mosquitto)."
        console.print(f"[yellow]{note}[/yellow]")
        options.notes.append(note)
        targets.remove("mosquitto")
    if options.load_loop == "uvloop" and _loop_factory("uvloop") is None:
        options.notes.append("uvloop is not installed: the load generator ran on asyncio's loop.")
        options.load_loop = "asyncio"
    options.notes.append(f"The load generator ran in one process on {options.load_loop}'s loop.")
    run = _Run(options.out)
    first = True
    try:
        total = len(options.cases) * len(options.steps) * len(targets)
        bar = _Bar(console, total)
        with bar.progress:
            for case in options.cases:
                knees = dict.fromkeys(targets, 0)
                stopped: set[str] = set()
                for publishers in options.steps:
                    for target in targets:
                        limit = options.stop_after_knee
                        if target in stopped or (limit and knees[target] >= limit):
                            bar.show(advance=1)
                            continue
                        if not first and options.pause:
                            bar.show(status=f"pause {options.pause:g} s")
                            time.sleep(options.pause)
                        first = False
                        what = f"{case.label} {target} {publishers} publishers"
                        bar.show(what=what, status="connecting")
                        summary = _one(run, bar, case, target, publishers, options, cpus)
                        if summary.get("failed"):
                            console.print(f"{what}: {summary['reason']}; no more {target} steps")
                            stopped.add(target)
                        knees[target] = knees[target] + 1 if is_past_knee(summary) else 0
                        bar.show(advance=1)
    except KeyboardInterrupt:
        run.close()
        console.print("[yellow]interrupted: the report has the steps measured so far[/yellow]")
        _publish(run.summaries, options, targets, console)
        raise
    run.close()
    _publish(run.summaries, options, targets, console)
    return run.summaries


def _loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop (when installed) or asyncio's own (None)."""
    if name == "uvloop":
        try:
            import uvloop
        except ImportError:
            return None
        return uvloop.new_event_loop
    return None


def _one(
    run: _Run,
    bar: _Bar,
    case: Case,
    target: str,
    publishers: int,
    options: MqttBenchOptions,
    server_cpus: list[int] | None,
) -> dict[str, Any]:
    """One target at one step: a summary, or a ``failed`` record saying why."""
    key = {"case": case.label, "target": target, "publishers": publishers}
    try:
        server = MqttServer.start(target, server_cpus)
    except TargetError as exc:
        summary = {**key, "failed": True, "reason": str(exc)}
        run.step(summary)
        return summary
    try:
        with asyncio.Runner(loop_factory=_loop_factory(options.load_loop)) as runner:
            rows, result = runner.run(measure_step(server, case, publishers, options, bar.second))
    except Exception as exc:  # one step's failure must not lose the others
        # MqttLoadError, TimeoutError and OSError are the expected ones (refused or
        # timed-out connections, too many open files); anything else is named as well.
        summary = {**key, "failed": True, "reason": f"{type(exc).__name__}: {exc}"}
        run.step(summary)
        return summary
    finally:
        server.stop()
    for row in rows:
        run.second(key, row)
    summary = step_summary(case, target, publishers, options.period, rows, result)
    run.step(summary)
    return summary


def _publish(
    summaries: list[dict[str, Any]], options: MqttBenchOptions, targets: list[str], console: Console
) -> None:
    """The report and plot; with ``update``, BENCHMARKS.md's section."""
    provenance = Provenance.now(options.command)
    cases = [case.label for case in options.cases]
    report = markdown(summaries, cases, targets, provenance, options.notes)
    plot(summaries, cases, targets, options.out / "mqtt.png")
    (options.out / "report.md").write_text(f"# MQTT ramp\n\n{report}\n![plot](mqtt.png)\n")
    (options.out / "raw.json").write_text(
        json.dumps({**provenance.raw(), "command": options.command, "steps": summaries}, indent=1)
    )
    console.print(report, markup=False, highlight=False, soft_wrap=True)
    console.print(
        f"raw results (samples.jsonl, steps.json, steps.csv), report and plot in {options.out}/"
    )
    if options.update:
        update_benchmarks(SECTION, f"{report}\nPlot: `{options.out}/mqtt.png`.\n")
        console.print("BENCHMARKS.md updated")
