"""``earlgate mesh``: the arm-probe full mesh (or star through a gateway), one-way delays."""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from earlgate.cli import UsageError
from earlgate.cli.gateway import add_peering_arguments, peering_from

if TYPE_CHECKING:
    from earlgate.gateway.mesh import MeshOptions, MeshResult


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "mesh",
        help="run the arm-probe mesh: N peers sending at 4 Hz to each other",
        description="A full mesh of N peers (thesis 3.1.2) where every peer sends a small "
        "vibration message at 4 Hz to every other; prints the one-way delays' p50 and p99. "
        "Several processes form one mesh with the same --id and --peers and disjoint --run. "
        "Without --signal it starts its own signaling server on a free loopback port and "
        "prints its URL, for other processes and /arm pages to join.",
    )
    add_peering_arguments(parser)
    # No default server: without --signal the mesh brings its own.
    parser.set_defaults(signal=None)
    parser.add_argument("--peers", type=int, required=True, metavar="N")
    parser.add_argument("--duration", type=float, default=10.0, metavar="S")
    parser.add_argument(
        "--id",
        dest="prefix",
        metavar="PREFIX",
        help="the mesh's peer ids are PREFIX-0 .. PREFIX-(N-1) (default: a random prefix)",
    )
    parser.add_argument(
        "--run",
        metavar="INDICES",
        help="the peers this process runs: 0,2,5 or 3-7 (default: all); join a mesh with it",
    )
    parser.add_argument(
        "--star",
        metavar="GW",
        help="send through the gateway GW instead (its routes forward PREFIX-* to PREFIX-*)",
    )
    parser.add_argument("--rate", type=float, default=4.0, metavar="HZ")
    parser.add_argument("--size", type=int, default=100, metavar="CHARS")
    parser.add_argument("--connect-timeout", type=float, default=30.0, metavar="S")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.set_defaults(func=run)


def parse_indices(spec: str, peers: int) -> tuple[int, ...]:
    found: list[int] = []
    try:
        for item in spec.split(","):
            low, dash, high = item.strip().partition("-")
            first, last = int(low), int(high) if dash else int(low)
            found.extend(range(first, last + 1))
    except ValueError:
        raise UsageError(f"--run {spec!r}: expected indices like 0,2,5 or 3-7") from None
    if not found or any(not 0 <= i < peers for i in found):
        raise UsageError(f"--run {spec!r}: indices must be in 0..{peers - 1}")
    return tuple(sorted(set(found)))


async def _with_own_signal(
    options_for: Callable[[str], MeshOptions], key: str, prefix: str, peers: int
) -> tuple[MeshOptions, MeshResult]:
    """Run the mesh with an ``earlgate signal`` of its own, in this process, on a free port."""
    from earlgate.gateway.mesh import run_mesh
    from earlgate.signal.config import SignalConfig
    from earlgate.signal.server import SignalServer

    server = SignalServer(SignalConfig(host="127.0.0.1", port=0, key=key))
    try:
        await server.start()
    except OSError as exc:
        raise UsageError(f"cannot start a signaling server on 127.0.0.1: {exc}") from None
    url = f"http://127.0.0.1:{server.port}/"
    print(
        f"signaling server {url} (key {key}); join with: earlgate mesh --signal {url} "
        f"--id {prefix} --peers {peers} --run INDICES, "
        f"or open {url}arm?mesh={prefix}&n={peers}&i=K",
        file=sys.stderr,  # stdout holds the result (--json: only the JSON)
        flush=True,
    )
    try:
        options = options_for(url)
        return options, await run_mesh(options)
    finally:
        await server.stop()


def run(args: argparse.Namespace) -> int:
    from earlgate.bench.gateway.meshdelays import MeshDelays
    from earlgate.gateway.mesh import MeshOptions, run_mesh
    from earlgate.rtc.protocol import is_valid_id

    if args.peers < 2:
        raise UsageError("--peers must be at least 2")
    if not args.duration > 0 or not args.rate > 0:
        raise UsageError("--duration and --rate must be > 0")
    prefix = args.prefix or f"mesh{secrets.token_hex(3)}"
    if not is_valid_id(f"{prefix}-0"):
        raise UsageError(f"--id {prefix!r}: peer ids {prefix}-0 .. are not valid")
    delays = MeshDelays()

    def options_for(signal: str) -> MeshOptions:
        args.signal = signal
        return MeshOptions(
            peering_from(args),
            args.peers,
            prefix=prefix,
            run=parse_indices(args.run, args.peers) if args.run else None,
            duration=args.duration,
            rate=args.rate,
            size=args.size,
            star=args.star,
            connect_timeout=args.connect_timeout,
            on_message=delays.on_message,
        )

    if args.signal is not None:
        options = options_for(args.signal)  # checks --signal before anything starts
        result = asyncio.run(run_mesh(options))
    else:
        options_for("http://127.0.0.1:9/")  # the other options' checks, before the server
        options, result = asyncio.run(_with_own_signal(options_for, args.key, prefix, args.peers))
    summary = result.summary()
    summary["delay_ms"] = delays.summary_ms()
    if args.json:
        print(json.dumps(summary), flush=True)
    else:
        delay = summary["delay_ms"]
        shape = f"star through {args.star}" if args.star else "full mesh"
        print(
            f"{shape}: {len(options.local)} of {args.peers} peers here ({prefix}-*), "
            f"{result.connections}/{result.expected_connections} connections in "
            f"{result.setup_s:.1f} s\n"
            f"sent {result.sent}, received {result.received} of {summary['expected']} "
            f"expected at {args.rate:g} Hz over {args.duration:g} s\n"
            f"one-way delay: p50 {delay['p50']:.2f} ms, p99 {delay['p99']:.2f} ms, "
            f"max {delay['max']:.2f} ms",
            flush=True,
        )
    return 0 if result.connections == result.expected_connections and result.received else 1
