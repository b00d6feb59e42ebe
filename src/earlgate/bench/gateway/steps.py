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
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from earlgate.bench.gateway.gatewayproc import (
    GATEWAY_ID,
    GatewayProcess,
    StepGateway,
    routes_for,
)
from earlgate.bench.gateway.loadparts import (
    MESH_START_DELAY,
    load_settings,
    mesh_children,
    read_floats,
)
from earlgate.bench.gateway.loadplan import LoadPlan, split
from earlgate.bench.gateway.loadprocess import LoadProcess, LoadSideError
from earlgate.bench.gateway.options import (
    KINDS,
    BenchOptions,
    Placement,
    Series,
    StepResult,
    cpu_figures,
    delay_stats,
)
from earlgate.rtc.errors import PeerError

__all__ = ["forward_step", "run_bench"]

DEMUX_PARTS = 10  # parts per aggregate in the demux bench (thesis 3.7.2.2)
SETUP_ANSWER_S = 30.0  # beyond the connect timeout, for a child to say it is ready


def _plans(
    options: BenchOptions,
    placement: Placement,
    senders: list[str],
    receivers: list[str],
    dial: dict[str, str],
    workdir: Path,
    *,
    two_way: bool = False,
) -> list[tuple[LoadPlan, tuple[str, ...]]]:
    """The load-side children of a step: receivers first, each side split in processes."""
    p = options.peering
    common = load_settings(options) | {"two_way": two_way}
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
    for index, names in enumerate(split(senders, options.load_processes)):
        answers = str(workdir / f"answers-{index}.f64") if two_way else None
        plans.append(
            (
                LoadPlan(
                    role,
                    placement.sender_signal or p.signal,
                    names,
                    {n: dial[n] for n in names if n in dial},
                    parts_for=receivers if role == "send-aggregates" else [],
                    parts_per_aggregate=DEMUX_PARTS,
                    answers_file=answers,
                    **common,
                ),
                placement.sender_prefix,
            )
        )
    return plans


def _gateway(
    series: Series, options: BenchOptions, routes: str, placement: Placement, step_dir: Path
) -> StepGateway:
    if series.gateway == "browser":
        from earlgate.bench.gateway.browsergw import BrowserGateway

        return BrowserGateway(options.peering, routes, placement, step_dir)
    path = step_dir / "routes.toml"
    path.write_text(routes)
    return GatewayProcess(options.peering, path, placement)


def _names(kind: str, peers: int) -> tuple[list[str], list[str]]:
    if kind == "forward":
        return [f"s-{i}" for i in range(peers)], [f"r-{i}" for i in range(peers)]
    if kind == "mux":
        return [f"s-{i}" for i in range(peers)], ["sink"]
    return ["cloud"], [f"r-{i}" for i in range(peers)]


async def forward_step(
    options: BenchOptions,
    peers: int,
    workdir: Path,
    placement: Placement | None = None,
    *,
    through_gateway: bool = True,
    probe: Callable[[], Coroutine[Any, Any, None]] | None = None,
    series: Series | None = None,
    count_forwarded: bool = True,
) -> StepResult:
    """One step of forward/mux/demux; ``through_gateway=False``: senders dial receivers.

    Without the gateway (the network-layer baseline), sender ``s-i`` opens a
    DataConnection straight to receiver ``r-i`` and whatever routes the
    packets between them is what is measured. ``probe`` runs while the
    senders send (e.g. sampling interface counters) and is cancelled after.
    ``series``: which gateway, and whether receivers answer (forward only).
    ``count_forwarded=False``: the gateway's counters cannot be read (its
    metrics listen inside a network namespace), so ``forwarded`` stays 0.
    """
    placement = placement or Placement()
    series = series or Series()
    kind = options.kind
    two_way = series.two_way and kind == "forward"
    senders, receivers = _names(kind, peers)
    where = f"{series.gateway}-{'two' if two_way else 'one'}-way" if through_gateway else "direct"
    step_dir = workdir / f"{kind}-{peers}-{where}"
    step_dir.mkdir(parents=True, exist_ok=True)
    gateway: StepGateway | None = None
    if through_gateway:
        routes = routes_for(kind, peers, two_way=two_way)
        gateway = _gateway(series, options, routes, placement, step_dir)
        await gateway.start()
        dial = {name: GATEWAY_ID for name in senders + receivers}
    elif kind == "forward":
        dial = dict(zip(senders, receivers, strict=True))
    else:
        raise ValueError(f"{kind} needs the gateway")
    children = [
        LoadProcess(plan, list(prefix))
        for plan, prefix in _plans(
            options, placement, senders, receivers, dial, step_dir, two_way=two_way
        )
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
        result = StepResult(peers, options.step_duration, gateway=series.gateway, two_way=two_way)
        cpu_before = gateway.cpu_s() if gateway else 0.0
        counting = gateway is not None and count_forwarded
        forwarded_before = await gateway.forwarded() if gateway and counting else 0
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
        got = await _stop(receiving)
        backs = await _stop(sending) if two_way else []
        elapsed = time.monotonic() - started
        cpu = gateway.cpu_s() - cpu_before if gateway else 0.0
        if gateway is not None and counting:
            result.forwarded = await gateway.forwarded() - forwarded_before
        result.load_cpu_percent = round(
            100.0 * (sum(child.cpu_s() for child in children) - load_before) / elapsed, 1
        )
        result.sent = sum(int(a["sent"]) for a in answers)
        result.received = sum(int(g["received"]) for g in got)
        sent_bytes = sum(int(a["bytes"]) for a in answers)
        result.bytes_in_per_s = round(sent_bytes / options.step_duration, 1)
        result.bytes_out_per_s = round(sum(int(g["bytes"]) for g in got) / options.step_duration, 1)
        result.delay_ms = delay_stats(list(await read_floats(receiving, "delays_file")))
        if two_way:
            pairs = await read_floats(sending, "answers_file")
            _two_way_figures(result, got, backs, pairs, options)
        if gateway is not None and kind in ("mux", "demux"):
            result.processing_ms = await gateway.processing_ms()
        cpu_figures(result, cpu, elapsed, max(1, result.sent + result.answered))
        return result
    finally:
        await asyncio.gather(*(child.stop() for child in children))
        if gateway is not None:
            await gateway.stop()


async def _stop(children: list[LoadProcess]) -> list[dict[str, Any]]:
    """Tell ``children`` to stop counting; what each then reports."""
    for child in children:
        child.command("stop")
    return list(await asyncio.gather(*(child.event(SETUP_ANSWER_S) for child in children)))


def _two_way_figures(
    result: StepResult,
    got: list[dict[str, Any]],
    backs: list[dict[str, Any]],
    pairs: array.array[float],
    options: BenchOptions,
) -> None:
    """Answers sent and got, round trip and way back; answers count in the throughput."""
    result.answered = sum(int(g.get("answered", 0)) for g in got)
    result.answers = sum(int(b.get("answers", 0)) for b in backs)
    answered_bytes = sum(int(g.get("answered_bytes", 0)) for g in got)
    answer_bytes = sum(int(b.get("bytes", 0)) for b in backs)
    result.bytes_in_per_s = round(result.bytes_in_per_s + answered_bytes / options.step_duration, 1)
    result.bytes_out_per_s = round(result.bytes_out_per_s + answer_bytes / options.step_duration, 1)
    result.round_trip_ms = delay_stats(list(pairs[0::2]))
    result.back_delay_ms = delay_stats(list(pairs[1::2]))


async def _mesh_step(options: BenchOptions, peers: int, workdir: Path) -> StepResult:
    """A full mesh of ``peers``, its peers spread over ``load_processes`` processes."""
    step_dir = workdir / f"mesh-{peers}"
    step_dir.mkdir(parents=True, exist_ok=True)
    children = mesh_children(options, f"bm{peers}", peers, peers, step_dir)
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
        delays = await read_floats(children, "delays_file")
    finally:
        await asyncio.gather(*(child.stop() for child in children))
    result = StepResult(
        peers,
        options.step_duration,
        sum(int(a["sent"]) for a in answers),
        sum(int(a["received"]) for a in answers),
    )
    result.delay_ms = delay_stats(list(delays))
    cpu_figures(result, cpu, elapsed, max(1, result.sent))
    return result


async def run_bench(
    options: BenchOptions, workdir: Path, placement: Placement | None = None
) -> list[StepResult]:
    """Every step, as every series of ``options`` (gateways, one-way/two-way), in turn.

    A series whose step cannot be set up stops there (``options.failures``
    says why); the others go on.
    """
    from earlgate.bench.gateway.browsergw import BrowserGatewayError

    if options.kind not in KINDS:
        raise ValueError(f"unknown bench {options.kind!r}; expected one of {', '.join(KINDS)}")
    if placement is None and options.gateway_cpu is not None:
        placement = Placement(gateway_prefix=("taskset", "-c", str(options.gateway_cpu)))
    results = []
    stopped: set[Series] = set()
    for peers in options.steps():
        for series in options.series():
            if series in stopped:
                continue
            try:
                if options.kind == "mesh":
                    result = await _mesh_series_step(options, peers, workdir, series)
                else:
                    result = await forward_step(options, peers, workdir, placement, series=series)
            except (LoadSideError, PeerError, BrowserGatewayError, TimeoutError, OSError) as exc:
                # This step could not be set up (e.g. peers without ICE candidates):
                # this series stops here and the report says so.
                failure = f"the step at {peers} peers could not run: {exc}"
                options.failures[series.label] = failure
                options.failure = options.failure or f"{series.label}: {failure}"
                stopped.add(series)
                print(f"  {options.kind} {series.label} {peers:4d} peers: {failure}", flush=True)
                continue
            results.append(result)
            print(f"  {options.kind} {series.label} {peers:4d} peers: {_line(result)}", flush=True)
        if len(stopped) == len(options.series()):
            break
    return results


async def _mesh_series_step(
    options: BenchOptions, peers: int, workdir: Path, series: Series
) -> StepResult:
    if series.gateway == "browser":
        from earlgate.bench.gateway.browsermesh import browser_mesh_step

        return await browser_mesh_step(options, peers, workdir)
    return await _mesh_step(options, peers, workdir)


def _line(result: StepResult) -> str:
    d = result.delay_ms
    text = (
        f"sent {result.sent}, received {result.received}, delay "
        f"{d.get('mean', 0):.2f} ± {d.get('sd', 0):.2f} ms (median {d.get('median', 0):.2f}, "
        f"p99 {d.get('p99', 0):.2f}), CPU {result.cpu_percent:.1f}%"
    )
    if result.processing_ms.get("count"):
        text += f", processing p99 {result.processing_ms['p99']:.3f} ms"
    if result.two_way:
        rt = result.round_trip_ms
        text += (
            f", answers {result.answers}/{result.answered}, round trip p99 "
            f"{rt.get('p99', 0):.2f} ms"
        )
    return text
