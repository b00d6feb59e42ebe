"""``earlgate bench chaos`` and ``earlgate bench soak``: failures, and time."""

from __future__ import annotations

import argparse
from pathlib import Path

from earlgate.cli import UsageError


def register(benches: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    chaos = benches.add_parser(
        "chaos",
        help="a cluster under worker kills, stops, Redis and HAProxy restarts: a loss ledger",
        description="cluster up with durable subjects; publishers that resend what was not "
        "acked, subscribers that resume; faults on a schedule; fails when anything acked is lost.",
    )
    chaos.add_argument("--duration", type=float, default=120.0, help="seconds under faults")
    chaos.add_argument("--quick", action="store_true", help="30 s, a fault every 1.5 s")
    chaos.add_argument("--workers", type=int, default=2)
    chaos.add_argument("--publishers", type=int, default=4)
    chaos.add_argument("--rate", type=float, default=20.0, help="messages/s per publisher")
    chaos.add_argument("--fault-every", type=float, default=3.0, help="seconds between faults")
    chaos.add_argument(
        "--no-aof",
        action="store_true",
        help="Redis without its append-only file: every resume must say recovered=false",
    )
    chaos.add_argument("--out", type=Path, help="results folder (default results/chaos-DATE)")
    chaos.add_argument("--update-benchmarks", action="store_true")
    chaos.set_defaults(func=run_chaos_command)

    soak = benches.add_parser(
        "soak",
        help="one hub for a long time under steady load and churn: does anything grow?",
        description="Publishers at 4 Hz with one subscriber each, plus connection churn; the "
        "hub's memory, descriptors and CPU sampled regularly; fails when memory grows more "
        "than the tolerance after the reference time, or on any error.",
    )
    soak.add_argument("--connections", type=int, default=8000, help="steady connections")
    soak.add_argument("--duration", type=float, default=3600.0, help="seconds")
    soak.add_argument("--churn", type=int, default=20, help="short-lived clients per second")
    soak.add_argument("--sample-every", type=float, default=60.0, help="seconds")
    soak.add_argument(
        "--reference", type=float, default=300.0, help="seconds in: the memory compared with"
    )
    soak.add_argument("--tolerance", type=float, default=0.05, help="allowed memory change")
    soak.add_argument("--processes", type=int, default=2, help="load generator processes")
    soak.add_argument("--out", type=Path, help="results folder (default results/soak-DATE)")
    soak.add_argument("--update-benchmarks", action="store_true")
    soak.set_defaults(func=run_soak_command)


def run_chaos_command(args: argparse.Namespace) -> int:
    from earlgate.bench.chaos import ChaosSettings
    from earlgate.bench.failure_runs import chaos_bench
    from earlgate.bench.results import command_line, results_dir

    settings = ChaosSettings(
        duration=30.0 if args.quick else args.duration,
        fault_every=1.5 if args.quick else args.fault_every,
        workers=args.workers,
        publishers=args.publishers,
        rate=args.rate,
        aof=not args.no_aof,
    )
    if settings.duration <= 0 or settings.fault_every <= 0 or settings.rate <= 0:
        raise UsageError("--duration, --fault-every and --rate must be positive")
    if settings.workers < 2 or settings.publishers < 1:
        raise UsageError("need --workers >= 2 (one is killed at a time) and --publishers >= 1")
    out = results_dir(args.out, "chaos")
    failures = chaos_bench(settings, out, command_line(), args.update_benchmarks)
    return 1 if failures else 0


def run_soak_command(args: argparse.Namespace) -> int:
    from earlgate.bench.failure_runs import soak_bench
    from earlgate.bench.results import command_line, results_dir
    from earlgate.bench.soak import SoakSettings

    settings = SoakSettings(
        connections=args.connections,
        duration=args.duration,
        churn=args.churn,
        sample_every=args.sample_every,
        reference=args.reference,
        tolerance=args.tolerance,
        processes=args.processes,
    )
    if settings.connections < 2 or settings.duration <= 0 or settings.sample_every <= 0:
        raise UsageError("need --connections >= 2, and a positive --duration and --sample-every")
    if settings.churn < 0 or not 0 < settings.tolerance < 1 or settings.processes < 1:
        raise UsageError("need --churn >= 0, 0 < --tolerance < 1 and --processes >= 1")
    out = results_dir(args.out, "soak")
    failures = soak_bench(settings, out, command_line(), args.update_benchmarks)
    return 1 if failures else 0
