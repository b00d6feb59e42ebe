"""``earlgate bench rtc``: the thesis's WebRTC gateway experiments (3.7), step by step.

The procedure of 3.7: peers are added 5 at a time, each sending a message of
100 characters at 4 Hz, and each step is measured on its own:

- ``forward`` (3.7.1, application-layer forwarding): K senders ``s-i``, each
  forwarded by the gateway to its receiver ``r-i``.
- ``mux`` (3.7.2.1): K senders multiplexed by the gateway into one channel to
  a sink, one aggregate per 250 ms window.
- ``demux`` (3.7.2.2): one upstream peer sends, every 250 ms, aggregates of
  10 parts (the thesis's size) for K receivers; the gateway splits them.
- ``mesh`` (3.1.2): K peers in a full mesh, no gateway.

Per step: one-way delay (mean ± sd, median, p99) from the senders'
timestamps, bytes per second into and out of the gateway, the mux/demux
processing delay (from the gateway's histogram), the gateway process's CPU
and CPU-seconds per message it handled. The energy figures are a **model**,
not a measurement: the thesis's Nexus 4 drew 1195 mW idle and about 3 W more
per fully busy core (Tables 3.8/3.9: +500 mW at 17% CPU), from an 8 Wh
battery; we apply it to our CPU figures to estimate battery hours.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import json
import math
import os
import re
import statistics
import sys
import time
from collections.abc import Callable, Coroutine
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from earlgate.children import cpu_seconds
from earlgate.gateway.loadside import LoadPlan, LoadProcess, LoadSideError, split
from earlgate.gateway.peering import PeerOptions
from earlgate.rtc.errors import PeerError

__all__ = [
    "KINDS",
    "BenchOptions",
    "Placement",
    "StepResult",
    "forward_step",
    "run_bench",
    "write_report",
]

KINDS = ("forward", "mux", "demux", "mesh")
GATEWAY_ID = "bench-gw"
READY = re.compile(rb"earlgate gateway \S+ ready.*metrics (http://\S+/metrics)")
# The thesis's phone (Table 3.2, 3.7.2.1.3): the model's constants.
PHONE_IDLE_MW = 1195.0
PHONE_MW_PER_CORE = 3000.0
PHONE_BATTERY_WH = 8.0


@dataclass
class BenchOptions:
    kind: str
    peering: PeerOptions
    peers_from: int = 5
    peers_to: int = 50
    step: int = 5
    step_duration: float = 300.0
    rate: float = 4.0
    size: int = 100
    connect_timeout: float = 60.0
    load_processes: int = 1  # processes per side (senders, receivers) of the load
    failure: str | None = None  # set when a step could not run; the ramp stops there

    def steps(self) -> list[int]:
        return list(range(self.peers_from, self.peers_to + 1, self.step))


@dataclass
class StepResult:
    peers: int
    duration_s: float
    sent: int = 0  # messages (parts, for demux) the senders sent
    received: int = 0  # messages (parts, for mux) the receivers got
    bytes_in_per_s: float = 0.0  # into the gateway (what the senders sent)
    bytes_out_per_s: float = 0.0  # out of it (what the receivers got)
    delay_ms: dict[str, float] = field(default_factory=dict)
    processing_ms: dict[str, float] = field(default_factory=dict)
    cpu_percent: float = 0.0  # of one core, the gateway process (mesh: this process)
    load_cpu_percent: float = 0.0  # of one core, all the load side's processes together
    cpu_s_per_message: float = 0.0
    model_mw: float = 0.0
    model_battery_h: float = 0.0


def delay_stats(delays_ms: list[float]) -> dict[str, float]:
    if not delays_ms:
        return {"count": 0}
    ordered = sorted(delays_ms)
    p99 = ordered[min(len(ordered) - 1, math.ceil(0.99 * len(ordered)) - 1)]
    return {
        "count": len(ordered),
        "mean": round(statistics.fmean(ordered), 3),
        "sd": round(statistics.pstdev(ordered), 3),
        "median": round(statistics.median(ordered), 3),
        "p99": round(p99, 3),
        "max": round(ordered[-1], 3),
    }


def histogram_stats(metrics: str, name: str) -> dict[str, float]:
    """Mean, median and p99 (ms) of a Prometheus histogram in ``metrics`` text."""
    buckets: list[tuple[float, float]] = []
    total = count = 0.0
    for line in metrics.splitlines():
        if line.startswith(f"{name}_bucket"):
            bound = line.split('le="', 1)[1].split('"', 1)[0]
            buckets.append((math.inf if bound == "+Inf" else float(bound), float(line.split()[-1])))
        elif line.startswith(f"{name}_sum"):
            total = float(line.split()[-1])
        elif line.startswith(f"{name}_count"):
            count = float(line.split()[-1])
    if not count:
        return {"count": 0}

    def quantile(q: float) -> float:
        rank, low, below = q * count, 0.0, 0.0
        for bound, cumulative in buckets:
            if cumulative >= rank:
                if math.isinf(bound) or cumulative == below:
                    return low
                return low + (bound - low) * (rank - below) / (cumulative - below)
            low, below = bound, cumulative
        return low

    return {
        "count": count,
        "mean": round(total / count * 1e3, 4),
        "median": round(quantile(0.5) * 1e3, 4),
        "p99": round(quantile(0.99) * 1e3, 4),
    }


class _GatewayProcess:
    """``earlgate gateway`` in a child process, so that its CPU is its own."""

    def __init__(self, peering: PeerOptions, routes: Path, placement: Placement) -> None:
        self.peering = peering
        self.routes = routes
        self.placement = placement
        self.proc: asyncio.subprocess.Process | None = None
        self.metrics_url = ""
        self._drain: asyncio.Task[None] | None = None

    async def start(self) -> None:
        p = self.peering
        signal = self.placement.gateway_signal or p.signal
        args = ["-m", "earlgate", "gateway", "--id", GATEWAY_ID, "--signal", signal]
        args += ["--key", p.key, "--routes", str(self.routes), "--metrics-port", "0", "--no-dial"]
        for url in p.ice_servers:
            args += ["--ice-server", url]
        if p.ice_username:
            args += ["--ice-username", p.ice_username]
        if p.ice_credential:
            args += ["--ice-credential", p.ice_credential]
        if p.relay_only:
            args.append("--relay-only")
        self.proc = await asyncio.create_subprocess_exec(
            *self.placement.gateway_prefix,
            sys.executable,
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
        )
        assert self.proc.stdout is not None
        seen = b""
        async with asyncio.timeout(30):
            while line := await self.proc.stdout.readline():
                seen += line
                if match := READY.search(line):
                    self.metrics_url = match[1].decode()
                    self._drain = asyncio.create_task(self._read_rest())
                    return
        raise RuntimeError(f"the gateway did not start: {seen.decode(errors='replace')}")

    async def _read_rest(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        while await self.proc.stdout.readline():
            pass

    def cpu_s(self) -> float:
        assert self.proc is not None
        return cpu_seconds(self.proc.pid)

    async def scrape(self) -> str:
        def get() -> str:
            import urllib.request

            with urllib.request.urlopen(self.metrics_url, timeout=5) as reply:
                return str(reply.read().decode())

        return await asyncio.to_thread(get)

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            try:
                async with asyncio.timeout(10):
                    await self.proc.wait()
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        if self._drain is not None:
            await self._drain


def routes_for(kind: str, peers: int) -> str:
    if kind == "forward":
        return "".join(f'[[forward]]\nfrom = "s-{i}"\nto = "r-{i}"\n\n' for i in range(peers))
    if kind == "mux":
        return '[[mux]]\nfrom = "s-*"\nto = "sink"\nwindow = 0.25\n'
    return '[[demux]]\nfrom = "cloud"\n'


@dataclass(frozen=True)
class Placement:
    """Where a step's processes run, and the signaling URL each of them uses.

    A prefix is a command the process is started under (``taskset -c 1``,
    ``ip netns exec NS``); an empty URL means the bench's ``--signal``.
    """

    gateway_prefix: tuple[str, ...] = ()
    sender_prefix: tuple[str, ...] = ()
    receiver_prefix: tuple[str, ...] = ()
    gateway_signal: str = ""
    sender_signal: str = ""
    receiver_signal: str = ""


DEMUX_PARTS = 10  # parts per aggregate in the demux bench (thesis 3.7.2.2)
SETUP_ANSWER_S = 30.0  # beyond the connect timeout, for a child to say it is ready


def _plans(
    options: BenchOptions,
    placement: Placement,
    senders: list[str],
    receivers: list[str],
    dial: dict[str, str],
    workdir: Path,
) -> list[tuple[LoadPlan, tuple[str, ...]]]:
    """The load-side children of a step: receivers first, each side split in processes."""
    p = options.peering
    common = _load_settings(options)
    plans = []
    for index, names in enumerate(split(receivers, options.load_processes)):
        plans.append(
            (
                LoadPlan(
                    "receive",
                    placement.receiver_signal or p.signal,
                    names,
                    {n: dial[n] for n in names if n in dial},
                    delays_file=str(workdir / f"delays-{index}.f64"),
                    **common,
                ),
                placement.receiver_prefix,
            )
        )
    role = "send-aggregates" if options.kind == "demux" else "send"
    for names in split(senders, options.load_processes):
        plans.append(
            (
                LoadPlan(
                    role,
                    placement.sender_signal or p.signal,
                    names,
                    {n: dial[n] for n in names if n in dial},
                    parts_for=receivers if role == "send-aggregates" else [],
                    parts_per_aggregate=DEMUX_PARTS,
                    **common,
                ),
                placement.sender_prefix,
            )
        )
    return plans


def _load_settings(options: BenchOptions) -> dict[str, Any]:
    """What every load-side plan of a step shares: ICE, rate, size, duration."""
    p = options.peering
    return {
        "key": p.key,
        "ice_servers": list(p.ice_servers),
        "ice_username": p.ice_username,
        "ice_credential": p.ice_credential,
        "relay_only": p.relay_only,
        "rate": options.rate,
        "size": options.size,
        "duration": options.step_duration,
        "connect_timeout": options.connect_timeout,
    }


async def forward_step(
    options: BenchOptions,
    peers: int,
    workdir: Path,
    placement: Placement | None = None,
    *,
    through_gateway: bool = True,
    probe: Callable[[], Coroutine[Any, Any, None]] | None = None,
) -> StepResult:
    """One step of forward/mux/demux; ``through_gateway=False``: senders dial receivers.

    Without the gateway (the network-layer baseline), sender ``s-i`` opens a
    DataConnection straight to receiver ``r-i`` and whatever routes the
    packets between them is what is measured. ``probe`` runs while the
    senders send (e.g. sampling interface counters) and is cancelled after.
    """
    placement = placement or Placement()
    kind = options.kind
    if kind == "forward":
        senders = [f"s-{i}" for i in range(peers)]
        receivers = [f"r-{i}" for i in range(peers)]
    elif kind == "mux":
        senders, receivers = [f"s-{i}" for i in range(peers)], ["sink"]
    else:
        senders, receivers = ["cloud"], [f"r-{i}" for i in range(peers)]
    gateway: _GatewayProcess | None = None
    if through_gateway:
        routes = workdir / f"routes-{kind}-{peers}.toml"
        routes.write_text(routes_for(kind, peers))
        gateway = _GatewayProcess(options.peering, routes, placement)
        await gateway.start()
        dial = {name: GATEWAY_ID for name in senders + receivers}
    elif kind == "forward":
        dial = dict(zip(senders, receivers, strict=True))
    else:
        raise ValueError(f"{kind} needs the gateway")
    step_dir = workdir / f"{kind}-{peers}-{'gateway' if through_gateway else 'direct'}"
    step_dir.mkdir(parents=True, exist_ok=True)
    children = [
        LoadProcess(plan, list(prefix))
        for plan, prefix in _plans(options, placement, senders, receivers, dial, step_dir)
    ]
    receiving = [c for c in children if c.plan.role == "receive"]
    sending = [c for c in children if c.plan.role != "receive"]
    try:
        # Receivers first: without the gateway the senders dial them.
        for group in (receiving, sending):
            await asyncio.gather(*(child.start() for child in group))
            await asyncio.gather(
                *(child.event(options.connect_timeout + SETUP_ANSWER_S) for child in group)
            )
        # The gateway's side of each connection opens as ours does; give it a moment.
        await asyncio.sleep(0.5)
        result = StepResult(peers, options.step_duration)
        cpu_before = gateway.cpu_s() if gateway else 0.0
        load_before = sum(child.cpu_s() for child in children)
        started = time.monotonic()
        for child in receiving + sending:
            child.command("go")
        probing = asyncio.create_task(probe()) if probe is not None else None
        try:
            answers = await asyncio.gather(
                *(child.event(options.step_duration + SETUP_ANSWER_S) for child in sending)
            )
        finally:
            if probing is not None:
                probing.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await probing
        await asyncio.sleep(1.0)  # in flight, and the last mux window
        for child in receiving:
            child.command("stop")
        got = await asyncio.gather(*(child.event(SETUP_ANSWER_S) for child in receiving))
        elapsed = time.monotonic() - started
        cpu = gateway.cpu_s() - cpu_before if gateway else 0.0
        result.load_cpu_percent = round(
            100.0 * (sum(child.cpu_s() for child in children) - load_before) / elapsed, 1
        )
        delays = array.array("d")
        for child in receiving:
            assert child.plan.delays_file is not None
            delays.frombytes(await asyncio.to_thread(Path(child.plan.delays_file).read_bytes))
        result.sent = sum(int(a["sent"]) for a in answers)
        result.received = sum(int(g["received"]) for g in got)
        sent_bytes = sum(int(a["bytes"]) for a in answers)
        result.bytes_in_per_s = round(sent_bytes / options.step_duration, 1)
        result.bytes_out_per_s = round(sum(int(g["bytes"]) for g in got) / options.step_duration, 1)
        result.delay_ms = delay_stats(list(delays))
        if gateway is not None and kind in ("mux", "demux"):
            result.processing_ms = histogram_stats(
                await gateway.scrape(), "earlgate_gateway_route_processing_seconds"
            )
        _cpu_figures(result, cpu, elapsed, max(1, result.sent))
        return result
    finally:
        await asyncio.gather(*(child.stop() for child in children))
        if gateway is not None:
            await gateway.stop()


def _cpu_figures(result: StepResult, cpu_s: float, elapsed: float, messages: int) -> None:
    busy = cpu_s / elapsed if elapsed > 0 else 0.0
    result.cpu_percent = round(100.0 * busy, 2)
    result.cpu_s_per_message = cpu_s / messages
    # The model: the thesis phone's idle draw plus its draw per busy core.
    result.model_mw = round(PHONE_IDLE_MW + PHONE_MW_PER_CORE * busy, 1)
    result.model_battery_h = round(PHONE_BATTERY_WH * 1000.0 / result.model_mw, 2)


MESH_START_DELAY = 0.5  # s from "go" to the shared start, for every part to hear it


async def _mesh_step(options: BenchOptions, peers: int, workdir: Path) -> StepResult:
    """A full mesh of ``peers``, its peers spread over ``load_processes`` processes."""
    prefix = f"bm{peers}"
    step_dir = workdir / f"mesh-{peers}"
    step_dir.mkdir(parents=True, exist_ok=True)
    children = [
        LoadProcess(
            LoadPlan(
                "mesh",
                options.peering.signal,
                names,
                mesh_peers=peers,
                delays_file=str(step_dir / f"delays-{index}.f64"),
                **_load_settings(options),
            )
        )
        for index, names in enumerate(
            split([f"{prefix}-{i}" for i in range(peers)], options.load_processes)
        )
    ]
    try:
        await asyncio.gather(*(child.start() for child in children))
        await asyncio.gather(
            *(child.event(options.connect_timeout + SETUP_ANSWER_S) for child in children)
        )
        cpu_before = sum(child.cpu_s() for child in children)
        started = time.monotonic()
        start_epoch = time.time() + MESH_START_DELAY
        for child in children:
            child.command(f"go {start_epoch:.6f}")
        answers = await asyncio.gather(
            *(child.event(options.step_duration + SETUP_ANSWER_S) for child in children)
        )
        elapsed = time.monotonic() - started
        cpu = sum(child.cpu_s() for child in children) - cpu_before
        delays = array.array("d")
        for child in children:
            assert child.plan.delays_file is not None
            delays.frombytes(await asyncio.to_thread(Path(child.plan.delays_file).read_bytes))
    finally:
        await asyncio.gather(*(child.stop() for child in children))
    result = StepResult(
        peers,
        options.step_duration,
        sum(int(a["sent"]) for a in answers),
        sum(int(a["received"]) for a in answers),
    )
    result.delay_ms = delay_stats(list(delays))
    _cpu_figures(result, cpu, elapsed, max(1, result.sent))
    return result


async def run_bench(options: BenchOptions, workdir: Path) -> list[StepResult]:
    if options.kind not in KINDS:
        raise ValueError(f"unknown bench {options.kind!r}; expected one of {', '.join(KINDS)}")
    results = []
    for peers in options.steps():
        try:
            if options.kind == "mesh":
                result = await _mesh_step(options, peers, workdir)
            else:
                result = await forward_step(options, peers, workdir)
        except (LoadSideError, PeerError, TimeoutError, OSError) as exc:
            # This step could not be set up (e.g. peers without ICE candidates):
            # the bench stops here and the report says so.
            options.failure = f"the step at {peers} peers could not run: {exc}"
            print(f"  {options.kind} {peers:4d} peers: {options.failure}", flush=True)
            break
        results.append(result)
        print(f"  {options.kind} {peers:4d} peers: {_line(result)}", flush=True)
    return results


def _line(result: StepResult) -> str:
    d = result.delay_ms
    text = (
        f"sent {result.sent}, received {result.received}, delay "
        f"{d.get('mean', 0):.2f} ± {d.get('sd', 0):.2f} ms (median {d.get('median', 0):.2f}, "
        f"p99 {d.get('p99', 0):.2f}), CPU {result.cpu_percent:.1f}%"
    )
    if result.processing_ms.get("count"):
        text += f", processing p99 {result.processing_ms['p99']:.3f} ms"
    return text


TITLES = {
    "forward": "application-layer forwarding (thesis Tables 3.4, 3.6)",
    "mux": "multiplexing (thesis Tables 3.7-3.9)",
    "demux": "demultiplexing (thesis Tables 3.10-3.12)",
    "mesh": "the arm-probe full mesh (thesis 3.1.2)",
}


MUX_DELAY_NOTE = {
    "mux": [
        "The one-way delay of a part includes its wait in the window (up to 250 ms); a "
        "window that reaches --mux-max-bytes (15,000 bytes by default, about 100 parts "
        "here) closes early, so with more peers aggregates leave more often.",
        "",
    ]
}


def markdown(kind: str, results: list[StepResult], options: BenchOptions) -> str:
    """The step tables, in the thesis's format ("mean ± sd", median)."""
    who = "the mesh's processes" if kind == "mesh" else "the gateway process"
    lines = [
        f"### earlgate bench rtc {kind}: {TITLES[kind]}",
        "",
        f"{options.step_duration:g} s per step, {options.size}-character messages at "
        f"{options.rate:g} Hz.",
        "",
        *MUX_DELAY_NOTE.get(kind, []),
        "One-way delay",
        "",
        "| Peers | Average delay (ms) | Median (ms) | p99 (ms) | Sent | Received |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        d = r.delay_ms
        lines.append(
            f"| {r.peers} | {d.get('mean', 0):.2f} ± {d.get('sd', 0):.2f} | "
            f"{d.get('median', 0):.2f} | {d.get('p99', 0):.2f} | {r.sent} | {r.received} |"
        )
    if kind != "mesh":
        lines += [
            "",
            "Throughput (bytes/s of JSON messages into and out of the gateway)",
            "",
            "| Peers | Received by the gateway | Sent by the gateway |",
            "|---:|---:|---:|",
        ]
        lines += [
            f"| {r.peers} | {r.bytes_in_per_s:.0f} | {r.bytes_out_per_s:.0f} |" for r in results
        ]
    if kind in ("mux", "demux"):
        lines += [
            "",
            "Processing delay (per aggregate, from the gateway's histogram)",
            "",
            "| Peers | Average (ms) | Median (ms) | p99 (ms) |",
            "|---:|---:|---:|---:|",
        ]
        for r in results:
            p = r.processing_ms
            lines.append(
                f"| {r.peers} | {p.get('mean', 0):.3f} | {p.get('median', 0):.3f} | "
                f"{p.get('p99', 0):.3f} |"
            )
    lines += [
        "",
        f"CPU of {who}, and the energy **model** (the thesis phone: {PHONE_IDLE_MW:g} mW "
        f"idle + {PHONE_MW_PER_CORE:g} mW per busy core, {PHONE_BATTERY_WH:g} Wh battery; "
        "an estimate, not a measurement)",
        "",
        "| Peers | CPU (% of a core) | CPU-µs per message | Model power (mW) | Model battery (h) |",
        "|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r.peers} | {r.cpu_percent:.1f} | {r.cpu_s_per_message * 1e6:.0f} | "
        f"{r.model_mw:.0f} | {r.model_battery_h:.1f} |"
        for r in results
    ]
    if options.failure:
        lines += ["", f"Stopped: {options.failure}."]
    return "\n".join(lines) + "\n"


def plot(kind: str, results: list[StepResult], path: Path) -> None:
    """Delay and CPU per step (the thesis's Figures 3.8-3.20, one panel each)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    peers = [r.peers for r in results]
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.errorbar(
        peers,
        [r.delay_ms.get("mean", 0) for r in results],
        yerr=[r.delay_ms.get("sd", 0) for r in results],
        marker="o",
        label="mean ± sd",
    )
    left.plot(peers, [r.delay_ms.get("p99", 0) for r in results], marker="^", label="p99")
    if kind in ("mux", "demux"):
        left.plot(
            peers,
            [r.processing_ms.get("p99", 0) for r in results],
            marker="s",
            label="processing p99",
        )
    left.set_xlabel("peers")
    left.set_ylabel("ms")
    left.set_title(f"{kind}: one-way delay")
    left.legend()
    right.plot(peers, [r.cpu_percent for r in results], marker="o")
    right.set_xlabel("peers")
    right.set_ylabel("% of one core")
    right.set_title("CPU")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def write_report(
    kind: str, results: list[StepResult], options: BenchOptions, out: Path
) -> tuple[Path, Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    raw = out / "results.json"
    raw.write_text(
        json.dumps(
            {"kind": kind, "options": _jsonable(options), "steps": [asdict(r) for r in results]},
            indent=2,
        )
    )
    report = out / "report.md"
    report.write_text(markdown(kind, results, options))
    figure = out / f"{kind}.png"
    plot(kind, results, figure)
    return raw, report, figure


def _jsonable(options: BenchOptions) -> dict[str, Any]:
    data = {k: v for k, v in asdict(options).items() if k != "peering"}
    data["signal"] = options.peering.signal
    return data
