"""``earlgate load``: the thesis's load script against any hub speaking the protocol."""

from __future__ import annotations

import argparse
from pathlib import Path

from earlgate.cli import UsageError


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "load",
        help="generate publish/subscribe load (the thesis's load.js)",
        description="N publishers, each on its own subject and connection, with K subscribers "
        "each; publishers start once everyone is connected, paced over the period by --arrival. "
        "Traffic goes to loopback addresses only.",
    )
    parser.add_argument("--url", default="ws://127.0.0.1:8080/ws")
    parser.add_argument("-n", "--publishers", type=int, default=100)
    parser.add_argument("-t", "--period", type=float, default=0.25, help="seconds between sends")
    parser.add_argument("--subscribers-per-publisher", type=int, default=1)
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of publishing")
    parser.add_argument("--size", type=int, default=70, help="approximate frame size in bytes")
    parser.add_argument("--format", choices=["thesis", "activity"], default="thesis")
    parser.add_argument("--processes", type=int, default=1, help="load processes")
    parser.add_argument("--source-ips", help="loopback source addresses, e.g. 127.0.0.2-127.0.0.20")
    parser.add_argument(
        "--echo-back",
        action="store_true",
        help="subscribers publish every message back to its publisher (round trip measured)",
    )
    add_arrival_arguments(parser)
    parser.add_argument("--json", type=Path, help="write the result (with per-second samples)")
    parser.set_defaults(func=run)


def add_arrival_arguments(parser: argparse.ArgumentParser) -> None:
    """``--arrival`` and ``--seed``: how the load generator paces its publishers."""
    from earlgate.bench.arrival import ARRIVALS, DEFAULT_ARRIVAL

    parser.add_argument(
        "--arrival",
        choices=ARRIVALS,
        default=DEFAULT_ARRIVAL,
        help="slots: publishers in 50 groups per period, each group sent together (the "
        "original plan); spread: each publisher at its own phase; poisson: exponential gaps "
        f"with mean = period (default {DEFAULT_ARRIVAL})",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the poisson arrival's draws (default 0)"
    )


def _check_url(url: str) -> None:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise UsageError(f"--url {url!r}: expected ws://HOST:PORT/PATH")
    host = parts.hostname
    if not (host == "localhost" or host.startswith("127.") or host == "::1"):
        raise UsageError(f"--url host {host!r}: load is only sent to loopback addresses")


def run(args: argparse.Namespace) -> int:
    from earlgate.bench.loadcommand import run_load_command
    from earlgate.bench.loadprocs import expand_ips

    _check_url(args.url)
    if args.publishers < 1 or args.period <= 0 or args.duration <= 0:
        raise UsageError("need --publishers >= 1, --period > 0 and --duration > 0")
    if args.subscribers_per_publisher < 1 or args.processes < 1 or args.size < 16:
        raise UsageError("need --subscribers-per-publisher >= 1, --processes >= 1, --size >= 16")
    try:
        source_ips = expand_ips(args.source_ips)
    except ValueError as exc:
        raise UsageError(f"--source-ips: {exc}") from None
    run_load_command(
        args.url,
        args.publishers,
        args.period,
        args.duration,
        args.processes,
        subscribers_per_publisher=args.subscribers_per_publisher,
        size=args.size,
        fmt=args.format,
        source_ips=source_ips,
        echo_back=args.echo_back,
        json_path=args.json,
        arrival=args.arrival,
        seed=args.seed,
    )
    return 0
