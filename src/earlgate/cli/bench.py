"""``earlgate bench ...``: benchmarks, each one command writing raw results and a report."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from earlgate.bench.results import command_line, results_dir
from earlgate.cli import UsageError
from earlgate.cli.load import add_arrival_arguments


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("bench", help="run a benchmark and write its report")
    benches = parser.add_subparsers(dest="bench", metavar="BENCH")
    benches.required = True
    fanout = benches.add_parser(
        "fanout",
        help="server CPU per delivered message and latency, per WebSocket server",
        description="N publishers at 1/PERIOD Hz with one subscriber each, against each "
        "target in turn (server pinned to one core, load generator to another).",
    )
    fanout.add_argument("--publishers", "-n", type=int, default=1000)
    fanout.add_argument("--period", "-t", type=float, default=0.25, help="seconds")
    fanout.add_argument("--duration", type=float, default=30.0, help="seconds per target")
    fanout.add_argument(
        "--targets",
        default="earlgate,earlgate-uvloop,picows-naive,websockets-naive,thesis-node",
        help="comma-separated: earlgate, earlgate-uvloop, earlgate-coalesce (uvloop with "
        "--coalesce-ms 2), picows-naive, websockets-naive, thesis-node",
    )
    add_arrival_arguments(fanout)
    fanout.add_argument("--out", type=Path, help="results folder (default results/fanout-DATE)")
    fanout.add_argument(
        "--update-benchmarks", action="store_true", help="write the figures into BENCHMARKS.md"
    )
    fanout.set_defaults(func=run_fanout_command)

    ramp = benches.add_parser(
        "ramp",
        help="the thesis's ramp: steps of publishers at 4 Hz until the server saturates",
        description="For each step: connect, wait until all are connected, send for the step "
        "duration, close, pause; sample /stats and the CPU of every server process each second.",
    )
    ramp.add_argument("--case", required=True, help="1, 1r, 2, thesis-node or thesis-node-redis")
    ramp.add_argument("--from", dest="first", type=int, default=200)
    ramp.add_argument("--to", dest="last", type=int, default=6000)
    ramp.add_argument("--step", type=int, default=200)
    ramp.add_argument("--step-duration", type=float, default=300.0, help="seconds per step")
    ramp.add_argument("--pause", type=float, default=60.0, help="seconds between steps")
    ramp.add_argument("--period", type=float, default=0.25)
    ramp.add_argument("--processes", type=int, default=1, help="load generator processes")
    ramp.add_argument(
        "--stop-after-knee",
        type=int,
        default=2,
        help="stop after this many steps past the critical point (0 = run all steps)",
    )
    ramp.add_argument(
        "--source-ips",
        help="loopback source addresses for the load, e.g. 127.0.0.2-127.0.0.9 (> 14k publishers)",
    )
    ramp.add_argument(
        "--echo-back",
        action="store_true",
        help="subscribers publish every message back (twice the publishes; capacity cost)",
    )
    add_arrival_arguments(ramp)
    ramp.add_argument("--quick", action="store_true", help="10 s steps, 2 s pauses (CI smoke)")
    ramp.add_argument("--out", type=Path, help="results folder (default results/ramp-CASE-DATE)")
    ramp.add_argument("--update-benchmarks", action="store_true")
    ramp.set_defaults(func=run_ramp_command)

    connections = benches.add_parser(
        "connections", help="time, CPU and memory to open, hold and close N connections"
    )
    connections.add_argument("-n", "--connections", type=int, default=2000)
    connections.add_argument("--targets", default="earlgate,thesis-node")
    connections.add_argument("--idle", type=float, default=10.0, help="seconds held idle")
    connections.add_argument("--source-ips", help="loopback source addresses for > 28k")
    connections.add_argument("--update-benchmarks", action="store_true")
    connections.set_defaults(func=run_connections_command)

    scaleout = benches.add_parser(
        "scaleout",
        help="CPU per message of hubs, Redis and HAProxy; workers one Redis/HAProxy can feed",
        description="The same fixed load against cases 1 (memory), 1r (Redis) and 2 (two hubs, "
        "Redis, HAProxy); CPU of every server process per delivered message.",
    )
    scaleout.add_argument("--publishers", "-n", type=int, default=1000)
    scaleout.add_argument("--period", "-t", type=float, default=0.25, help="seconds")
    scaleout.add_argument("--duration", type=float, default=30.0, help="seconds per case")
    scaleout.add_argument(
        "--cases", default="1,1r,2,thesis-node-redis", help="comma-separated ramp cases"
    )
    scaleout.add_argument("--out", type=Path, help="results folder (default results/scaleout-DATE)")
    scaleout.add_argument("--update-benchmarks", action="store_true")
    scaleout.set_defaults(func=run_scaleout_command)

    signal = benches.add_parser(
        "signal",
        help="signaling messages relayed per second and memory per peer, vs the Node PeerServer",
        description="PAIRS pairs of peers keep WINDOW messages each in flight through the "
        "server for DURATION seconds; then PEERS peers are held open. Server on one core, "
        "load generator on the others; every server in the same run.",
    )
    signal.add_argument("--pairs", type=int, default=100)
    signal.add_argument("--window", type=int, default=8, help="messages in flight per pair")
    signal.add_argument("--duration", type=float, default=20.0, help="seconds of relaying")
    signal.add_argument("--peers", type=int, default=5000, help="peers held for the RSS figure")
    signal.add_argument(
        "--servers",
        default="earlgate,earlgate-uvloop,node-peer-server",
        help="comma-separated: earlgate, earlgate-uvloop, node-peer-server",
    )
    signal.add_argument("--out", type=Path, help="results folder (default results/signal-DATE)")
    signal.add_argument("--update-benchmarks", action="store_true")
    signal.set_defaults(func=run_signal_command)

    datachannel = benches.add_parser(
        "datachannel",
        help="DataChannel messages/s and MB/s for one Python peer pair, asyncio and uvloop",
        description="A sender and a receiver process per event loop, through earlgate signal "
        "and a loopback TURN relay: each case sends as fast as back-pressure allows for "
        "DURATION seconds.",
    )
    datachannel.add_argument("--duration", type=float, default=2.0, help="seconds per case")
    datachannel.add_argument("--loops", default="asyncio,uvloop", help="comma-separated")
    datachannel.add_argument("--serializations", default="raw,binary", help="comma-separated")
    datachannel.add_argument(
        "--modes", default="reliable,unreliable", help="comma-separated: reliable, unreliable"
    )
    datachannel.add_argument(
        "--sizes", default="100,16384", help="comma-separated message sizes in bytes"
    )
    datachannel.add_argument(
        "--out", type=Path, help="results folder (default results/datachannel-DATE)"
    )
    datachannel.add_argument("--update-benchmarks", action="store_true")
    datachannel.set_defaults(func=run_datachannel_command)

    from earlgate.bench import mqtt_bench

    mqtt = benches.add_parser(
        "mqtt",
        help="the ramp over MQTT (QoS 0/1, MQTT or WebSocket subscribers), hub beside Mosquitto",
        description="Steps of MQTT publishers at 4 Hz, one subscriber each (MQTT or WebSocket), "
        "against each target in turn (server pinned to one core, load generator to another): "
        "sent, received, lost, p50/p99, server CPU per delivered message, critical point.",
    )
    mqtt_bench.add_arguments(mqtt)
    mqtt.set_defaults(func=run_mqtt_command)

    from earlgate.cli import bench_failures

    bench_failures.register(benches)
    compare = benches.add_parser("compare", help="two ramp result folders side by side")
    compare.add_argument("first", type=Path)
    compare.add_argument("second", type=Path)
    compare.add_argument("--update-benchmarks", action="store_true")
    compare.set_defaults(func=run_compare_command)

    from earlgate.cli.gateway import add_rtc_bench
    from earlgate.cli.led import add_loop_bench

    add_loop_bench(benches)
    add_rtc_bench(benches)

    from earlgate.bench import browser as browser_bench
    from earlgate.bench import e2e as e2e_bench

    browser = benches.add_parser(
        "browser",
        help="the rate one Chromium page keeps up with, latency and memory (bare or dashboard)",
        description="One headless Chromium page subscribed to N subjects at RATE Hz each, "
        "one step per subject count; then the page's heap sampled for SOAK seconds.",
    )
    browser_bench.add_arguments(browser)
    browser.set_defaults(func=run_browser_command)
    e2e = benches.add_parser(
        "e2e",
        help="Earl device -> BLE -> gateway -> hub -> subscriber latency, per connection interval",
        description="Virtual Earl devices on a simulated radio link that models the BLE "
        "connection interval; readings and LED commands timed end to end.",
    )
    e2e_bench.add_arguments(e2e)
    e2e.set_defaults(func=run_e2e_command)


def choices(option: str, value: str, allowed: tuple[str, ...]) -> list[str]:
    """The comma-separated names of ``value``, each one of ``allowed``, at least one."""
    chosen = [v.strip() for v in value.split(",") if v.strip()]
    unknown = [v for v in chosen if v not in allowed]
    if unknown or not chosen:
        raise UsageError(
            f"{option}: unknown {', '.join(unknown) or '(none)'}; choose from {', '.join(allowed)}"
        )
    return chosen


def _source_ips(value: str | None) -> list[str] | None:
    from earlgate.bench.loadprocs import expand_ips

    try:
        return expand_ips(value)
    except ValueError as exc:
        raise UsageError(f"--source-ips: {exc}") from None


def run_fanout_command(args: argparse.Namespace) -> int:
    from earlgate.bench.fanout import run_fanout
    from earlgate.bench.targets import TARGETS

    targets = choices("--targets", args.targets, TARGETS)
    if args.publishers < 1 or args.period <= 0 or args.duration < 3:
        raise UsageError("need --publishers >= 1, --period > 0 and --duration >= 3")
    out = results_dir(args.out, "fanout")
    run_fanout(
        targets,
        args.publishers,
        args.period,
        args.duration,
        out,
        command_line(),
        args.update_benchmarks,
        arrival=args.arrival,
        seed=args.seed,
    )
    return 0


def run_ramp_command(args: argparse.Namespace) -> int:
    from earlgate.bench.deploy import CASES
    from earlgate.bench.ramp import plan_steps, run_ramp
    from earlgate.bench.ramp_report import publish_run

    if args.case not in CASES:
        raise UsageError(f"unknown case {args.case!r}; choose from {', '.join(CASES)}")
    try:
        steps = plan_steps(args.first, args.last, args.step)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    sources = _source_ips(args.source_ips)
    if args.quick:
        args.step_duration, args.pause = 10.0, 2.0
    if args.step_duration < 3 or args.pause < 0 or args.period <= 0 or args.processes < 1:
        raise UsageError("need --step-duration >= 3, --pause >= 0, --period > 0, --processes >= 1")
    out = results_dir(args.out, f"ramp-{args.case}")
    command = command_line()
    run_ramp(
        args.case,
        steps,
        args.period,
        args.step_duration,
        args.pause,
        out,
        processes=args.processes,
        stop_after_knee=args.stop_after_knee,
        echo_back=args.echo_back,
        source_ips=sources,
        arrival=args.arrival,
        seed=args.seed,
    )
    label = f"{args.case}+echo" if args.echo_back else args.case
    publish_run(out, command, label, args.update_benchmarks)
    return 0


def run_scaleout_command(args: argparse.Namespace) -> int:
    from earlgate.bench.deploy import CASES
    from earlgate.bench.scaleout import run_scaleout

    cases = choices("--cases", args.cases, CASES)
    if args.publishers < 1 or args.period <= 0 or args.duration < 3:
        raise UsageError("need --publishers >= 1, --period > 0 and --duration >= 3")
    out = results_dir(args.out, "scaleout")
    run_scaleout(
        cases,
        args.publishers,
        args.period,
        args.duration,
        out,
        command_line(),
        args.update_benchmarks,
    )
    return 0


def run_mqtt_command(args: argparse.Namespace) -> int:
    from earlgate.bench.mqtt_bench import options_from_args, run_mqtt_bench

    try:
        options = options_from_args(args, command_line())
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    run_mqtt_bench(options)
    return 0


def run_compare_command(args: argparse.Namespace) -> int:
    from earlgate.bench.ramp_report import compare_runs

    for folder in (args.first, args.second):
        if not (folder / "samples.jsonl").is_file():
            raise UsageError(f"{folder}: no samples.jsonl (not a ramp results folder)")
    compare_runs(args.first, args.second, command_line(), args.update_benchmarks)
    return 0


def run_connections_command(args: argparse.Namespace) -> int:
    from earlgate.bench.connections import descriptors_for, run_connections
    from earlgate.bench.targets import TARGETS

    targets = choices("--targets", args.targets, TARGETS)
    if args.connections < 1 or args.idle < 1:
        raise UsageError("need --connections >= 1 and --idle >= 1")
    sources = _source_ips(args.source_ips)
    try:
        descriptors_for(args.connections)
    except ValueError as exc:
        raise UsageError(f"--connections: {exc}") from None
    run_connections(
        targets, args.connections, args.idle, command_line(), args.update_benchmarks, sources
    )
    return 0


def run_signal_command(args: argparse.Namespace) -> int:
    from earlgate.bench.signal import SERVERS, run_signal_bench
    from earlgate.testing.signalprocs import PeerServerError

    servers = choices("--servers", args.servers, SERVERS)
    if args.pairs < 1 or args.window < 1 or args.duration <= 0 or args.peers < 1:
        raise UsageError("need --pairs >= 1, --window >= 1, --duration > 0 and --peers >= 1")
    out = results_dir(args.out, "signal")
    try:
        run_signal_bench(
            servers,
            args.pairs,
            args.window,
            args.duration,
            args.peers,
            out,
            command_line(),
            args.update_benchmarks,
        )
    except PeerServerError as exc:
        raise UsageError(str(exc)) from None
    return 0


def run_datachannel_command(args: argparse.Namespace) -> int:
    from earlgate.bench.datachannel import (
        LOOPS,
        MODES,
        SERIALIZATIONS,
        DataChannelBenchError,
        plan,
        run_datachannel_bench,
    )
    from earlgate.testing.signalprocs import PeerServerError
    from earlgate.testing.turn import TurnError

    loops = choices("--loops", args.loops, LOOPS)
    serializations = choices("--serializations", args.serializations, SERIALIZATIONS)
    modes = choices("--modes", args.modes, MODES)
    try:
        sizes = [int(v) for v in args.sizes.split(",") if v.strip()]
    except ValueError:
        raise UsageError(f"--sizes: {args.sizes!r} is not a list of integers") from None
    if not sizes or min(sizes) < 1 or max(sizes) > 65536 or args.duration <= 0:
        raise UsageError("need --sizes between 1 and 65536 bytes and --duration > 0")
    out = results_dir(args.out, "datachannel")
    cases = plan(loops, serializations, modes, sizes)
    try:
        run_datachannel_bench(cases, args.duration, out, command_line(), args.update_benchmarks)
    except (DataChannelBenchError, PeerServerError, TurnError) as exc:
        print(f"earlgate bench datachannel: {exc}", file=sys.stderr)
        return 1
    return 0


def run_browser_command(args: argparse.Namespace) -> int:
    from earlgate.bench.browser import options_from_args, run_browser_bench

    options = options_from_args(args)
    if not options.subjects or min(options.subjects) < 1:
        raise UsageError("--subjects: give one or more counts >= 1")
    if options.rate <= 0 or options.duration <= 0 or options.warmup < 0 or options.soak < 0:
        raise UsageError("need --rate > 0, --duration > 0, --warmup >= 0 and --soak >= 0")
    if options.memory_every <= 0 or options.publishers < 1:
        raise UsageError("need --memory-every > 0 and --publishers >= 1")
    raw = run_browser_bench(options)
    return 1 if raw["page_errors"] else 0


def run_e2e_command(args: argparse.Namespace) -> int:
    from earlgate.bench.e2e import run

    try:
        return run(args)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
