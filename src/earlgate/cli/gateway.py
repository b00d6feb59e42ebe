"""``earlgate gateway``: forward, multiplex, demultiplex and bridge DataChannel messages."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from pathlib import Path
from typing import TYPE_CHECKING

from earlgate.bench.results import results_dir
from earlgate.cli import UsageError, setup_logging

if TYPE_CHECKING:  # aiortc is imported only when a command runs, not for --help
    from earlgate.bench.gateway.options import BenchOptions
    from earlgate.gateway.peering import PeerOptions
    from earlgate.gateway.service import GatewayOptions


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "gateway",
        help="run the WebRTC gateway (forward, mux, demux, bridge to the hub)",
        description="A long-running peer that accepts DataChannel connections and applies "
        "the routes file: forwarding, multiplexing, demultiplexing and bridging to a hub "
        "(docs/gateway.md).",
    )
    add_peering_arguments(parser)
    parser.add_argument("--id", required=True, help="the gateway's peer id")
    parser.add_argument("--hub", metavar="WS_URL", help="the hub for bridges, ws://host:port/ws")
    parser.add_argument("--hub-token", metavar="TOKEN", help="token for the hub, if it wants one")
    parser.add_argument("--routes", type=Path, metavar="FILE", help="the routes file (TOML)")
    parser.add_argument(
        "--mux-window",
        type=float,
        default=0.25,
        metavar="S",
        help="mux window of rules that set none (thesis: 250 ms)",
    )
    parser.add_argument(
        "--mux-max-bytes",
        type=int,
        default=15_000,
        metavar="BYTES",
        help="close a mux window early past this size (default fits json's 16,300-byte limit)",
    )
    parser.add_argument(
        "--queue-limit",
        type=int,
        default=1000,
        metavar="N",
        help="messages waiting per destination before the oldest is dropped",
    )
    parser.add_argument(
        "--high-water",
        type=int,
        default=256 * 1024,
        metavar="BYTES",
        help="a destination's channel bufferedAmount past which messages wait in its queue",
    )
    parser.add_argument(
        "--no-dial", action="store_true", help="never dial destinations; wait for them to connect"
    )
    parser.add_argument(
        "--serialization",
        default="binary",
        choices=("binary", "json", "raw"),
        help="serialization of the connections the gateway opens",
    )
    parser.add_argument("--metrics-host", default="127.0.0.1")
    parser.add_argument(
        "--metrics-port", type=int, metavar="P", help="serve /metrics on this port (0 = any)"
    )
    parser.add_argument("--log-level", default="WARNING")
    parser.set_defaults(func=run)


def add_rtc_bench(benches: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``earlgate bench rtc {forward,mux,demux,mesh}``: the thesis's 3.7 procedure."""
    rtc = benches.add_parser(
        "rtc",
        help="the thesis's WebRTC gateway experiments: forward, mux, demux, mesh",
        description="Peers added STEP at a time, 100-character messages at 4 Hz, each step "
        "measured on its own: one-way delay, gateway throughput, mux/demux processing "
        "delay, gateway CPU and a battery model (docs/gateway.md).",
    )
    rtc.add_argument(
        "kind",
        choices=("forward", "mux", "demux", "mesh", "network"),
        help="network: kernel vs gateway forwarding in network namespaces (needs root)",
    )
    add_peering_arguments(rtc)
    rtc.add_argument("--peers-from", type=int, default=5, metavar="N")
    rtc.add_argument("--peers-to", type=int, default=50, metavar="N")
    rtc.add_argument("--step", type=int, default=5, metavar="N")
    rtc.add_argument("--step-duration", type=float, default=300.0, metavar="S")
    rtc.add_argument("--rate", type=float, default=4.0, metavar="HZ")
    rtc.add_argument("--size", type=int, default=100, metavar="CHARS")
    rtc.add_argument(
        "--load-processes",
        type=int,
        default=1,
        metavar="N",
        help="processes for each side of the load (senders, receivers) or for the mesh; default 1",
    )
    rtc.add_argument(
        "--two-way",
        action="store_true",
        help="forward: run each step also with every receiver answering each message "
        "through the gateway (round trip and each way reported, beside one-way)",
    )
    rtc.add_argument(
        "--gateway",
        default="python",
        metavar="python|browser|python,browser",
        help="who forwards: earlgate gateway, the /gateway page in headless Chromium, or "
        "both, side by side in one report (mesh: browser means /arm pages as peers)",
    )
    rtc.add_argument(
        "--gateway-cpu",
        type=int,
        metavar="CPU",
        help="pin the gateway (the Python process, or all of Chromium's) to this CPU",
    )
    rtc.add_argument(
        "--browser-peers",
        type=int,
        metavar="N",
        help="mesh with --gateway browser: N of each step's peers are /arm pages, the "
        "rest Python peers (default: all of them pages)",
    )
    rtc.add_argument("--quick", action="store_true", help="2 and 4 peers, 3 s steps (a smoke run)")
    rtc.add_argument("--out", type=Path, help="results folder (default results/rtc-KIND-DATE)")
    rtc.add_argument(
        "--own-servers",
        action="store_true",
        help="start earlgate signal and a loopback coturn for the run (ICE relay-only)",
    )
    rtc.add_argument(
        "--netns-prefix",
        default="egbench",
        metavar="NAME",
        help="network: names of the test bed's namespaces, NAME-snd, NAME-gw, NAME-rcv",
    )
    rtc.add_argument(
        "--cpus",
        default="auto",
        metavar="GW,LOAD",
        help="network: pin the gateway host's processes and the load to these CPUs "
        "(auto: the first two usable; none: no pinning)",
    )
    rtc.add_argument(
        "--update-benchmarks", action="store_true", help="write the report into BENCHMARKS.md"
    )
    rtc.set_defaults(func=run_rtc_bench)


def run_rtc_bench(args: argparse.Namespace) -> int:
    if args.quick:
        args.peers_from, args.peers_to, args.step, args.step_duration = 2, 4, 2, 3.0
    if args.peers_from < 1 or args.step < 1 or args.peers_to < args.peers_from:
        raise UsageError("need 1 <= --peers-from <= --peers-to and --step >= 1")
    if args.kind == "mesh" and args.peers_from < 2:
        raise UsageError("a mesh needs --peers-from >= 2")
    if not args.step_duration > 0 or not args.rate > 0:
        raise UsageError("--step-duration and --rate must be > 0")
    if args.load_processes < 1:
        raise UsageError("--load-processes must be >= 1")
    _check_series_arguments(args)
    if args.kind == "network":
        return _run_network_bench(args)
    from earlgate.bench.gateway.commands import OwnServers, run_rtc_bench
    from earlgate.testing.turn import TurnError

    def make_options(servers: OwnServers | None) -> BenchOptions:
        if servers is not None:
            args.signal = servers.signal
            args.ice_server = [servers.turn_url]
            args.ice_username, args.ice_credential = servers.turn_user, servers.turn_password
            args.relay_only = True
        return _bench_options(args, args.kind, peering_from(args))

    out = results_dir(args.out, f"rtc-{args.kind}")
    try:
        run_rtc_bench(make_options, out, own=args.own_servers, update=args.update_benchmarks)
    except TurnError as exc:
        raise UsageError(f"--own-servers: {exc}") from None
    return 0


def _parse_gateways(text: str) -> tuple[str, ...]:
    """``--gateway``: ``python``, ``browser`` or both, comma-separated, each once."""
    from earlgate.bench.gateway.options import GATEWAYS

    names = tuple(part.strip() for part in text.split(","))
    unknown = [name for name in names if name not in GATEWAYS]
    if unknown or not names:
        raise UsageError(
            f"--gateway {text!r}: expected python, browser or python,browser "
            f"(unknown: {', '.join(repr(n) for n in unknown)})"
        )
    if len(set(names)) != len(names):
        raise UsageError(f"--gateway {text!r}: each gateway once")
    return names


def _check_series_arguments(args: argparse.Namespace) -> None:
    """``--two-way``, ``--gateway``, ``--gateway-cpu`` and ``--browser-peers`` fit the bench."""
    import os
    import shutil

    args.gateways = _parse_gateways(args.gateway)
    if args.two_way and args.kind != "forward":
        raise UsageError("--two-way is for the forward bench")
    if args.kind == "network" and args.gateways != ("python",):
        raise UsageError("network compares the kernel with earlgate gateway: no --gateway")
    if args.browser_peers is not None:
        if args.kind != "mesh" or "browser" not in args.gateways:
            raise UsageError("--browser-peers is for mesh with --gateway browser")
        if not 1 <= args.browser_peers <= args.peers_from:
            raise UsageError("--browser-peers must be between 1 and --peers-from")
    if args.gateway_cpu is not None and args.gateway_cpu not in os.sched_getaffinity(0):
        usable = sorted(os.sched_getaffinity(0))
        raise UsageError(f"--gateway-cpu {args.gateway_cpu}: not usable here (usable: {usable})")
    if "browser" in args.gateways:
        from earlgate.testing.chromium import CHROMIUM

        if shutil.which(CHROMIUM) is None:
            raise UsageError(f"--gateway browser: no Chromium at {CHROMIUM} (EARLGATE_CHROMIUM)")


def _bench_options(args: argparse.Namespace, kind: str, peering: PeerOptions) -> BenchOptions:
    from earlgate.bench.gateway.options import BenchOptions

    return BenchOptions(
        kind,
        peering,
        peers_from=args.peers_from,
        peers_to=args.peers_to,
        step=args.step,
        step_duration=args.step_duration,
        rate=args.rate,
        size=args.size,
        load_processes=args.load_processes,
        gateways=getattr(args, "gateways", ("python",)),
        two_way=args.two_way,
        browser_peers=args.browser_peers,
        gateway_cpu=args.gateway_cpu,
    )


def _parse_cpus(text: str) -> tuple[int, int] | None:
    """``GW,LOAD`` CPUs; ``auto``: the first two this process may use, if it has two."""
    import os

    usable = sorted(os.sched_getaffinity(0))
    if text == "none":
        return None
    if text == "auto":
        return (usable[0], usable[1]) if len(usable) >= 2 else None
    try:
        gateway, load = (int(part) for part in text.split(","))
    except ValueError:
        raise UsageError(
            f"--cpus {text!r}: expected GW,LOAD (two CPU numbers), auto or none"
        ) from None
    missing = [str(cpu) for cpu in (gateway, load) if cpu not in usable]
    if missing:
        raise UsageError(
            f"--cpus {text!r}: CPU {', '.join(missing)} not usable here (usable: {usable})"
        )
    return gateway, load


def _run_network_bench(args: argparse.Namespace) -> int:
    """Kernel forwarding vs ``earlgate gateway`` in a namespace test bed it builds itself."""
    from earlgate.bench.gateway.commands import network_bed, run_network
    from earlgate.bench.gateway.testbed import NamespaceBedError
    from earlgate.testing.signalprocs import PeerServerError

    try:
        bed = network_bed(args.netns_prefix)
    except ValueError as exc:
        raise UsageError(f"--netns-prefix: {exc}") from None
    except NamespaceBedError as exc:
        raise UsageError(str(exc)) from None
    cpus = _parse_cpus(args.cpus)
    if args.own_servers or args.ice_server or args.relay_only:
        print("network: the test bed runs its own signaling server and uses no TURN relay")
    try:
        run_network(
            lambda peering: _bench_options(args, "forward", peering),
            results_dir(args.out, "rtc-network"),
            bed,
            cpus=cpus,
            update=args.update_benchmarks,
        )
    except PeerServerError as exc:
        raise UsageError(f"the test bed's signaling server: {exc}") from None
    except NamespaceBedError as exc:
        raise UsageError(str(exc)) from None
    return 0


def add_peering_arguments(parser: argparse.ArgumentParser) -> None:
    """``--signal``, ``--key`` and the ICE options, shared with ``earlgate mesh``."""
    parser.add_argument(
        "--signal",
        default="http://127.0.0.1:9000/",
        metavar="URL",
        help="the PeerJS signaling server (earlgate signal or Node's PeerServer)",
    )
    parser.add_argument("--key", default="peerjs", help="the signaling server's key")
    parser.add_argument(
        "--ice-server",
        action="append",
        default=[],
        metavar="URL",
        help="a STUN/TURN server, e.g. turn:127.0.0.1:3478?transport=udp (repeatable)",
    )
    parser.add_argument("--ice-username", metavar="USER", help="TURN user name")
    parser.add_argument("--ice-credential", metavar="PASS", help="TURN password")
    parser.add_argument(
        "--relay-only", action="store_true", help="ICE through the TURN relays only"
    )


def peering_from(args: argparse.Namespace) -> PeerOptions:
    from earlgate.gateway.peering import PeerOptions, SignalURLError

    if args.relay_only and not args.ice_server:
        raise UsageError("--relay-only needs a TURN server: --ice-server turn:HOST:PORT")
    try:
        return PeerOptions(
            args.signal,
            key=args.key,
            ice_servers=tuple(args.ice_server),
            ice_username=args.ice_username,
            ice_credential=args.ice_credential,
            relay_only=args.relay_only,
        )
    except SignalURLError as exc:
        raise UsageError(f"--signal: {exc}") from None


def options_from(args: argparse.Namespace) -> GatewayOptions:
    from earlgate.gateway.routes import Routes, RoutesError, load_routes
    from earlgate.gateway.service import GatewayOptions
    from earlgate.rtc.protocol import is_valid_id

    if not is_valid_id(args.id):
        raise UsageError(f"--id {args.id!r}: not a valid peer id")
    if not args.mux_window > 0:
        raise UsageError("--mux-window must be > 0 seconds")
    for flag, value in (
        ("--mux-max-bytes", args.mux_max_bytes),
        ("--queue-limit", args.queue_limit),
        ("--high-water", args.high_water),
    ):
        if value < 1:
            raise UsageError(f"{flag} must be >= 1")
    if args.hub is not None and not args.hub.startswith(("ws://", "wss://")):
        raise UsageError(f"--hub {args.hub!r}: expected ws://host:port/ws or wss://")
    try:
        routes = load_routes(args.routes) if args.routes is not None else Routes()
    except RoutesError as exc:
        raise UsageError(str(exc)) from None
    if routes.bridges and args.hub is None:
        raise UsageError("the routes file has [[bridge]] rules: give --hub ws://host:port/ws")
    return GatewayOptions(
        id=args.id,
        peering=peering_from(args),
        routes=routes,
        hub=args.hub,
        hub_token=args.hub_token,
        mux_window=args.mux_window,
        mux_max_bytes=args.mux_max_bytes,
        queue_limit=args.queue_limit,
        high_water=args.high_water,
        dial=not args.no_dial,
        serialization=args.serialization,
        metrics_host=args.metrics_host,
        metrics_port=args.metrics_port,
    )


def run(args: argparse.Namespace) -> int:
    options = options_from(args)
    setup_logging(args.log_level)
    from earlgate.gateway.service import Gateway
    from earlgate.rtc import PeerError

    async def main() -> None:
        gateway = Gateway(options)
        try:
            await gateway.start()
        except PeerError as exc:
            await gateway.stop()
            raise UsageError(
                f"cannot join {options.peering.signal} as {options.id}: {exc}"
            ) from None
        except OSError as exc:
            await gateway.stop()
            raise UsageError(
                f"cannot serve /metrics on port {options.metrics_port}: {exc}"
            ) from None
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        metrics = (
            f", metrics http://{options.metrics_host}:{gateway.metrics_port}/metrics"
            if gateway.metrics_port is not None
            else ""
        )
        print(
            f"earlgate gateway {options.id} ready on {options.peering.signal}"
            f" ({len(options.routes.forwards)} forward, {len(options.routes.muxes)} mux,"
            f" {len(options.routes.demuxes)} demux, {len(options.routes.bridges)} bridge"
            f"{metrics})",
            flush=True,
        )
        try:
            await stop.wait()
        finally:
            await gateway.stop()

    asyncio.run(main())
    return 0
