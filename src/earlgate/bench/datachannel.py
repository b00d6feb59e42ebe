"""``earlgate bench datachannel``: messages/s and MB/s between two Python peers.

One sender and one receiver process per event loop (asyncio, then uvloop),
each an :class:`earlgate.rtc.Peer`, meet through ``earlgate signal``. For
every case (serialization × channel kind × message size) the sender opens a
fresh data connection and sends one prepared value as fast as back-pressure
allows for ``duration`` seconds: it fills the channel's buffer up to
:data:`HIGH_WATER` bytes and waits for ``bufferedamountlow`` at
:data:`LOW_WATER`, then drains it (``wait_drained``). The receiver counts
messages and bytes. A second, reliable connection carries the start and stop
of each case and the receiver's counts back.

Traffic goes through a TURN relay (coturn) on loopback with relay-only ICE:
aioice never offers 127.0.0.1 host candidates, so two peers on a host without
other usable addresses cannot connect directly. Every message crosses the
relay twice, and the relay shares the machine's cores with both peers.

Figures per case: delivered messages/s and MB/s (10^6 bytes of payload) over
the receiver's window from the first to the last message; CPU % of the
sender, the receiver and the relay over the sending period (``duration``
seconds from the start of the case), from psutil; and, for unreliable
channels, the share of messages sent that never arrived.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

import psutil
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from earlgate.bench.datachannel_peers import (
    CONNECT_TIMEOUT,
    HIGH_WATER,
    LOW_WATER,
    SETTLE_LIMIT,
    Case,
    DataChannelBenchError,
)
from earlgate.bench.driver import Provenance, markdown_table
from earlgate.bench.results import write_run
from earlgate.children import cpu_seconds
from earlgate.testing.signalprocs import ServerProcess, SignalSettings, start_earlgate_signal
from earlgate.testing.turn import TurnServer, start_turn

__all__ = [
    "LOOPS",
    "MODES",
    "SERIALIZATIONS",
    "SIZES",
    "Case",
    "CaseResult",
    "DataChannelBenchError",
    "markdown",
    "plan",
    "plot",
    "run_datachannel_bench",
    "summarize",
]

LOOPS = ("asyncio", "uvloop")
SERIALIZATIONS = ("raw", "binary")
MODES = ("reliable", "unreliable")
# The thesis's messages are 100-character strings; 16 KiB is a bulk payload
# (packed, it exceeds peerjs's 16,300-byte chunk, so binary sends it in two).
SIZES = (100, 16 * 1024)


def plan(
    loops: Sequence[str] = LOOPS,
    serializations: Sequence[str] = SERIALIZATIONS,
    modes: Sequence[str] = MODES,
    sizes: Sequence[int] = SIZES,
) -> list[Case]:
    """Every combination, grouped by loop (each loop runs in its own processes)."""
    return [
        Case(loop, serialization, mode, size)
        for loop in loops
        for serialization in serializations
        for mode in modes
        for size in sizes
    ]


@dataclass
class CaseResult:
    loop: str
    serialization: str
    mode: str
    size: int
    duration: float
    sent: int
    received: int
    received_bytes: int
    window_s: float
    messages_per_s: float
    mb_per_s: float
    sent_per_s: float
    sender_cpu_percent: float
    receiver_cpu_percent: float
    turn_cpu_percent: float
    loss_ratio: float

    @property
    def case(self) -> Case:
        return Case(self.loop, self.serialization, self.mode, self.size)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def summarize(
    case: Case, duration: float, sender: dict[str, Any], receiver: dict[str, Any], turn: float
) -> CaseResult:
    """Rates and shares from the two peers' raw counts (``turn``: the relay's CPU share)."""
    received = int(receiver["received"])
    window = float(receiver["window_s"])
    sent = int(sender["sent"])

    def share(cpu: float, seconds: float) -> float:
        return round(100 * cpu / seconds, 1) if seconds > 0 else 0.0

    return CaseResult(
        loop=case.loop,
        serialization=case.serialization,
        mode=case.mode,
        size=case.size,
        duration=duration,
        sent=sent,
        received=received,
        received_bytes=int(receiver["bytes"]),
        window_s=round(window, 3),
        messages_per_s=round(received / window, 1) if window > 0 else 0.0,
        mb_per_s=round(receiver["bytes"] / window / 1e6, 3) if window > 0 else 0.0,
        sent_per_s=round(sent / sender["send_s"], 1) if sender["send_s"] > 0 else 0.0,
        sender_cpu_percent=share(sender["cpu_s"], sender["cpu_window_s"]),
        receiver_cpu_percent=share(receiver["cpu_s"], receiver["cpu_window_s"]),
        turn_cpu_percent=round(100 * turn, 1),
        loss_ratio=round(max(0.0, 1 - received / sent), 5) if sent else 0.0,
    )


# -- the orchestrator -----------------------------------------------------------


class _Worker:
    """A peer process; its stdout events are read by a thread into a queue."""

    def __init__(self, role: str, config: dict[str, Any], log: IO[bytes]) -> None:
        code = (
            "import sys; from earlgate.bench.datachannel_peers import worker_main; "
            "sys.exit(worker_main())"
        )
        self.role = role
        self.process = subprocess.Popen(
            [sys.executable, "-c", code, role, json.dumps(config)],
            stdout=subprocess.PIPE,
            stderr=log,
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
        )
        self.events: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            try:
                self.events.put(json.loads(line))
            except json.JSONDecodeError:
                continue
        self.events.put(None)

    def next_event(self, deadline: float, tick: float = 0.1) -> dict[str, Any]:
        """The next event; ``{"event": "tick"}`` after ``tick`` seconds without one.

        Raises:
            DataChannelBenchError: the process ended, failed, or ``deadline`` passed.
        """
        if time.monotonic() > deadline:
            raise DataChannelBenchError(f"the {self.role} peer did not finish in time")
        try:
            event = self.events.get(timeout=tick)
        except queue.Empty:
            return {"event": "tick"}
        if event is None:
            raise DataChannelBenchError(
                f"the {self.role} peer exited with status {self.process.wait()}"
            )
        if event["event"] == "error":
            raise DataChannelBenchError(event["message"])
        return event

    def stop(self, timeout: float = 10.0) -> None:
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._reader.join(5)
        if self.process.stdout is not None:
            self.process.stdout.close()


@contextmanager
def _servers() -> Iterator[tuple[ServerProcess, TurnServer]]:
    turn = start_turn()
    try:
        signal = start_earlgate_signal(SignalSettings(), "--log-level", "WARNING")
        try:
            yield signal, turn
        finally:
            signal.stop()
    finally:
        turn.stop()


def _run_loop(
    loop: str,
    cases: list[Case],
    duration: float,
    signal: ServerProcess,
    turn: TurnServer,
    out: Path,
    progress: Progress,
    overall: TaskID,
) -> list[CaseResult]:
    config = {
        "loop": loop,
        "signal_port": signal.port,
        "turn": {"url": turn.url, "user": turn.user, "password": turn.password},
        "receiver_id": f"dc-receiver-{loop}-{os.getpid()}",
        "sender_id": f"dc-sender-{loop}-{os.getpid()}",
        "duration": duration,
        "cases": [asdict(case) for case in cases],
    }
    relay = psutil.Process(turn.process.pid)
    by_label = {case.label: case for case in cases}
    deadline = time.monotonic() + 60 + len(cases) * (duration + CONNECT_TIMEOUT + SETTLE_LIMIT)
    results: list[CaseResult] = []
    current = progress.add_task(f"{loop}: starting the peers", total=duration)
    with (
        open(out / f"receiver-{loop}.log", "wb") as receiver_log,
        open(out / f"sender-{loop}.log", "wb") as sender_log,
    ):
        receiver = _Worker("receive", config, receiver_log)
        sender: _Worker | None = None
        try:
            while receiver.next_event(deadline)["event"] != "ready":
                pass
            sender = _Worker("send", config, sender_log)
            started, relay_cpu = time.monotonic(), 0.0
            turn_share = 0.0
            while True:
                event = sender.next_event(deadline)
                kind = event["event"]
                if kind == "tick":
                    progress.update(current, completed=min(duration, time.monotonic() - started))
                elif kind == "start":
                    started, relay_cpu = time.monotonic(), cpu_seconds(relay)
                    description = f"{loop}: {event['case']}"
                    progress.update(current, description=description, completed=0)
                elif kind == "sent":
                    elapsed = time.monotonic() - started
                    turn_share = (cpu_seconds(relay) - relay_cpu) / elapsed if elapsed else 0.0
                    progress.update(current, completed=duration)
                elif kind == "result":
                    case = by_label[event["case"]]
                    row = summarize(case, duration, event["sender"], event["receiver"], turn_share)
                    results.append(row)
                    progress.advance(overall)
                    progress.console.print(_line(row))
                elif kind == "done":
                    break
        finally:
            progress.remove_task(current)
            for worker in (sender, receiver):
                if worker is not None:
                    worker.stop()
    return results


def _line(row: CaseResult) -> str:
    loss = f", loss {100 * row.loss_ratio:.2f}%" if row.mode == "unreliable" else ""
    return (
        f"{row.case.name}: {row.messages_per_s:,.0f} msg/s, {row.mb_per_s:.2f} MB/s, "
        f"CPU sender {row.sender_cpu_percent:.0f}% receiver {row.receiver_cpu_percent:.0f}% "
        f"relay {row.turn_cpu_percent:.0f}%{loss}"
    )


def markdown(rows: list[CaseResult], command: str, machine: str, when: str) -> str:
    lines = [
        Provenance(machine, when, command).line(),
        "One sender and one receiver process per event loop, earlgate.rtc peers on aiortc; "
        "the sender keeps the channel's buffer between 64 and 256 KiB "
        "(bufferedAmount / bufferedamountlow). Traffic goes through a coturn TURN relay on "
        "loopback with relay-only ICE, because aioice offers no loopback host candidates: "
        "each message crosses the relay twice and the relay shares the cores with both "
        "peers, so direct connections would be faster. Unreliable: unordered, "
        "maxRetransmits 0. MB = 10^6 bytes of payload; rates over the receiver's first to "
        "last message, CPU over the sending period; processes not pinned.",
        "",
    ]
    head = ["loop", "serialization", "channel", "message", "msg/s", "MB/s", "sender CPU %"]
    head += ["receiver CPU %", "relay CPU %", "loss"]
    cells = []
    for r in rows:
        loss = f"{100 * r.loss_ratio:.2f}%" if r.mode == "unreliable" else "–"
        size = f"{r.size // 1024} KiB" if r.size >= 1024 else f"{r.size} B"
        cells.append(
            [r.loop, r.serialization, r.mode, size, f"{r.messages_per_s:,.0f}"]
            + [f"{r.mb_per_s:.2f}", f"{r.sender_cpu_percent:.0f}"]
            + [f"{r.receiver_cpu_percent:.0f}", f"{r.turn_cpu_percent:.0f}", loss]
        )
    lines += markdown_table(head, cells)
    short = [r for r in rows if r.mode == "reliable" and r.received < r.sent]
    if short:
        lines.append("")
        names = ", ".join(r.case.name for r in short)
        lines.append(f"Reliable cases short of messages when the receiver gave up: {names}.")
    return "\n".join(lines) + "\n"


def plot(rows: list[CaseResult], path: Path) -> None:
    from earlgate.bench.plots import plt, save

    loops = list(dict.fromkeys(r.loop for r in rows))
    labels = list(dict.fromkeys(r.case.label for r in rows))
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    width = 0.8 / max(1, len(loops))
    for n, loop in enumerate(loops):
        mine = {r.case.label: r for r in rows if r.loop == loop}
        x = [i + (n - (len(loops) - 1) / 2) * width for i in range(len(labels))]
        rates = [mine[label].messages_per_s if label in mine else 0 for label in labels]
        megabytes = [mine[label].mb_per_s if label in mine else 0 for label in labels]
        left.bar(x, rates, width, label=loop)
        right.bar(x, megabytes, width, label=loop)
    for axis, unit in ((left, "messages/s"), (right, "MB/s")):
        axis.set_xticks(list(range(len(labels))), labels)
        axis.tick_params(axis="x", rotation=30)
        axis.set_ylabel(unit)
        axis.legend()
    left.set_title("delivered messages per second")
    right.set_title("delivered payload")
    fig.suptitle("DataChannel throughput, one Python peer pair, through a loopback TURN relay")
    fig.tight_layout()
    save(fig, path, dpi=110)


def run_datachannel_bench(
    cases: list[Case], duration: float, out: Path, command: str, update: bool
) -> list[CaseResult]:
    """Run ``cases`` (one pair of peer processes per loop); write raw.json, report.md, a plot."""
    out.mkdir(parents=True, exist_ok=True)
    console = Console()
    rows: list[CaseResult] = []
    loops = list(dict.fromkeys(case.loop for case in cases))
    with (
        _servers() as (signal, turn),
        Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed:.0f}/{task.total:.0f}"),
            TimeElapsedColumn(),
            console=console,
        ) as progress,
    ):
        overall = progress.add_task("cases", total=len(cases))
        for loop in loops:
            mine = [case for case in cases if case.loop == loop]
            rows += _run_loop(loop, mine, duration, signal, turn, out, progress, overall)
    provenance = Provenance.now(command)
    raw = {
        **provenance.raw(),
        "command": command,
        "duration": duration,
        "high_water": HIGH_WATER,
        "low_water": LOW_WATER,
        "rows": [r.as_dict() for r in rows],
    }
    report = markdown(rows, command, provenance.machine, provenance.when)
    plot(rows, out / "datachannel.png")
    print(report)
    write_run(out, "datachannel", "DataChannel benchmark", raw, report, "datachannel.png", update)
    return rows
