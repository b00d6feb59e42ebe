"""``earlgate bench ...``: benchmarks, each one command writing raw results and a report."""

from __future__ import annotations

import argparse
import datetime as dt
import shlex
import sys
from pathlib import Path

from earlgate.cli import UsageError


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
        help="comma-separated: earlgate, earlgate-uvloop, picows-naive, websockets-naive, "
        "thesis-node",
    )
    fanout.add_argument("--out", type=Path, help="results folder (default results/fanout-DATE)")
    fanout.add_argument(
        "--update-benchmarks", action="store_true", help="write the figures into BENCHMARKS.md"
    )
    fanout.set_defaults(func=run_fanout_command)


def run_fanout_command(args: argparse.Namespace) -> int:
    from earlgate.bench.fanout import run_fanout
    from earlgate.bench.targets import TARGETS

    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    unknown = [t for t in targets if t not in TARGETS]
    if unknown:
        raise UsageError(
            f"unknown target(s) {', '.join(unknown)}; choose from {', '.join(TARGETS)}"
        )
    if args.publishers < 1 or args.period <= 0 or args.duration < 3:
        raise UsageError("need --publishers >= 1, --period > 0 and --duration >= 3")
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    out = args.out or Path("results") / f"fanout-{stamp}"
    command = "earlgate " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    run_fanout(
        targets, args.publishers, args.period, args.duration, out, command, args.update_benchmarks
    )
    return 0
