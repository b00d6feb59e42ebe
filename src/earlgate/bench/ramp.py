"""``earlgate bench ramp``: the thesis's ``test.sh``, one case at a time.

For each step (200, 400, ... publishers at 4 Hz) the load generator connects
everyone, waits until all are warm, sends for the step duration, closes, and
pauses (the thesis paused 60 s so no connection lingered in TIME_WAIT).
Meanwhile, every second, the bench samples the hub's ``/stats`` (events/s,
service time, loop lag) and the CPU of every server process with psutil (the
thesis used sar). Publishers are paced by ``arrival``
(:mod:`earlgate.bench.arrival`), recorded with every step. Raw samples go to
``samples.jsonl``; the report is written by :mod:`earlgate.bench.ramp_report`.
"""

from __future__ import annotations

import json
import resource
import time
from pathlib import Path
from typing import Any, TextIO

import psutil
from rich.console import Console
from rich.progress import Progress, TaskID

from earlgate.bench.arrival import DEFAULT_ARRIVAL
from earlgate.bench.deploy import Deployment, start_case
from earlgate.bench.driver import pin_load_here, progress
from earlgate.bench.loadprocs import run_load_processes
from earlgate.bench.ramp_report import is_past_knee, step_summary
from earlgate.bench.targets import read_stats
from earlgate.children import cpu_seconds


def raise_fd_limit(wanted: int = 200_000) -> int:
    """Open-file limit for this process and the servers and load it starts.

    Each publisher needs two connections and each connection a descriptor on
    both ends; as root the hard limit is raised too. Returns the soft limit.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    for limit in ((wanted, wanted), (min(wanted, hard), hard)):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, limit)
            return limit[0]
        except (ValueError, OSError):
            continue
    return soft


def plan_steps(first: int, last: int, step: int) -> list[int]:
    """Publisher counts of the ramp: ``first``, ``first + step``, ... up to ``last``."""
    if first < 1 or step < 1 or last < first:
        raise ValueError("need 1 <= --from <= --to and --step >= 1")
    return list(range(first, last + 1, step))


class CpuSampler:
    """CPU percent of each process since the previous sample."""

    def __init__(self, processes: dict[str, psutil.Process]) -> None:
        self.processes = processes
        self._last = {label: self._cpu(p) for label, p in processes.items()}
        self._stamp = time.monotonic()

    @staticmethod
    def _cpu(process: psutil.Process) -> float:
        try:
            return cpu_seconds(process)
        except psutil.Error:
            return 0.0

    def sample(self) -> dict[str, float]:
        now = time.monotonic()
        elapsed = max(now - self._stamp, 1e-6)
        self._stamp = now
        result = {}
        for label, process in self.processes.items():
            cpu = self._cpu(process)
            result[label] = round(100.0 * (cpu - self._last[label]) / elapsed, 1)
            self._last[label] = cpu
        return result


def _hub_sample(urls: list[str]) -> dict[str, Any] | None:
    """Events, service time and loop lag of the last second, summed over hubs."""
    if not urls:
        return None
    merged: dict[str, Any] = {"messages_in_per_s": 0.0, "messages_out_per_s": 0.0}
    for url in urls:
        try:
            last = read_stats(url).get("last_second")
        except OSError:
            continue
        if not isinstance(last, dict):
            continue
        merged["messages_in_per_s"] += last["messages_in_per_s"]
        merged["messages_out_per_s"] += last["messages_out_per_s"]
        merged["service_time_ms"] = last["service_time_ms"]
        merged["loop_lag_ms"] = last["loop_lag_ms"]
    return merged


class StepRecorder:
    """Called every second by the load generator: samples the servers and writes a row."""

    def __init__(
        self,
        case: str,
        publishers: int,
        started: float,
        deployment: Deployment,
        raw: TextIO,
        progress: Progress,
        task: TaskID,
    ) -> None:
        self.case = case
        self.publishers = publishers
        self.started = started
        self.deployment = deployment
        self.sampler = CpuSampler(deployment.processes)
        self.raw = raw
        self.progress = progress
        self.task = task
        self.rows: list[dict[str, Any]] = []

    def __call__(self, sample: dict[str, Any]) -> None:
        row = {
            "case": self.case,
            "publishers": self.publishers,
            "time": round(time.monotonic() - self.started, 2),
            **sample,
            "cpu": self.sampler.sample(),
            "hub": _hub_sample(self.deployment.stats_urls),
        }
        self.rows.append(row)
        self.raw.write(json.dumps(row) + "\n")
        self.raw.flush()
        self.progress.update(
            self.task,
            status=f"{sample['received']}/{sample['expected']:.0f} ev/s, "
            f"p99 {sample['latency_ms']['p99']:.1f} ms",
        )


def run_ramp(
    case: str,
    steps: list[int],
    period: float,
    step_duration: float,
    pause: float,
    out: Path,
    processes: int = 1,
    stop_after_knee: int = 2,
    console: Console | None = None,
    echo_back: bool = False,
    source_ips: list[str] | None = None,
    arrival: str = DEFAULT_ARRIVAL,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Run the ramp for ``case``; return the per-step summaries (also written to ``out``)."""
    console = console or Console()
    out.mkdir(parents=True, exist_ok=True)
    server_cpus, load_cpus = pin_load_here()
    files = raise_fd_limit()
    if files < 2 * max(steps) + 1000:
        console.print(
            f"[yellow]open-file limit {files}: too low for {max(steps)} publishers "
            "(two connections each); raise it with ulimit -n[/yellow]"
        )
    summaries: list[dict[str, Any]] = []
    label = f"{case}+echo" if echo_back else case
    started = time.monotonic()
    past_knee = 0
    with (
        (out / "samples.jsonl").open("w") as raw,
        progress(
            console,
            "[bold]case {task.fields[case]}[/bold] step {task.fields[step]}",
            remaining=False,
            transient=False,
        ) as bar,
    ):
        task = bar.add_task("ramp", total=len(steps), case=label, step="-", status="starting")
        for index, publishers in enumerate(steps):
            deployment: Deployment = start_case(case, server_cpus)
            try:
                bar.update(task, step=f"{publishers} publishers", status="connecting")
                recorder = StepRecorder(label, publishers, started, deployment, raw, bar, task)
                result = run_load_processes(
                    deployment.ws_url,
                    publishers,
                    period,
                    step_duration,
                    processes,
                    cpus=load_cpus,
                    on_second=recorder,
                    echo_back=echo_back,
                    source_ips=source_ips,
                    arrival=arrival,
                    seed=seed,
                )
            except (RuntimeError, TimeoutError, OSError) as exc:
                # The servers could not take this step at all (e.g. connections
                # refused or timed out): that ends the ramp, and the report says so.
                failure = {"type": "failed", "case": label, "publishers": publishers}
                failure["reason"] = str(exc)
                raw.write(json.dumps(failure) + "\n")
                raw.flush()
                console.print(f"case {label}: step {publishers} failed: {exc}; stopping")
                break
            finally:
                deployment.stop()
            summary = step_summary(label, publishers, period, recorder.rows, result.as_dict())
            summaries.append(summary)
            raw.write(json.dumps({"type": "step", **summary}) + "\n")
            raw.flush()
            bar.update(task, advance=1)
            past_knee = past_knee + 1 if is_past_knee(summary) else 0
            if stop_after_knee and past_knee >= stop_after_knee:
                console.print(f"case {label}: {past_knee} steps past the critical point, stopping")
                break
            if index < len(steps) - 1 and pause > 0:
                bar.update(task, status=f"pause {pause:.0f} s")
                time.sleep(pause)
    (out / "steps.json").write_text(json.dumps(summaries, indent=1))
    return summaries
