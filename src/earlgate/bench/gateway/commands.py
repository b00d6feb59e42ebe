"""``earlgate bench rtc KIND`` as library calls: the servers of a run, the run, the report.

The command-line layer (:mod:`earlgate.cli.gateway`) checks the arguments,
builds :class:`~earlgate.bench.gateway.options.BenchOptions` and calls these.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from earlgate.bench.driver import Provenance
from earlgate.bench.gateway.options import BenchOptions
from earlgate.bench.results import command_line, update_benchmarks
from earlgate.gateway.peering import PeerOptions

if TYPE_CHECKING:
    from earlgate.bench.gateway.testbed import NamespaceBed

__all__ = [
    "OwnServers",
    "network_bed",
    "own_servers",
    "run_network",
    "run_rtc",
    "run_rtc_bench",
    "update_section",
]

# Enough relay ports and signaling connections for the largest steps.
OWN_TURN_RELAY_PORTS = 2000
OWN_SIGNAL_CONCURRENT_LIMIT = 20_000


@dataclass(frozen=True)
class OwnServers:
    """Where the run's own ``earlgate signal`` and loopback coturn listen."""

    signal: str
    turn_url: str
    turn_user: str
    turn_password: str


@contextlib.contextmanager
def own_servers() -> Iterator[OwnServers]:
    """``earlgate signal`` and a loopback coturn for one run, stopped after it.

    ICE must go through the relay (``relay_only``): aioice offers no loopback
    candidates.

    Raises:
        earlgate.testing.turn.TurnError: coturn is missing or did not start.
        earlgate.testing.signalprocs.PeerServerError: the signaling server did not.
    """
    from earlgate.testing.signalprocs import SignalSettings, start_earlgate_signal
    from earlgate.testing.turn import start_turn

    turn = start_turn(relay_ports=OWN_TURN_RELAY_PORTS)
    try:
        signaling = start_earlgate_signal(
            SignalSettings(concurrent_limit=OWN_SIGNAL_CONCURRENT_LIMIT)
        )
        try:
            yield OwnServers(signaling.http_url + "/", turn.url, turn.user, turn.password)
        finally:
            signaling.stop()
    finally:
        turn.stop()


def run_rtc(options: BenchOptions, out: Path, *, update: bool = False) -> tuple[Path, Path, Path]:
    """Run the steps of ``options.kind``, write the report into ``out``; its paths.

    ``update``: also copy the report into BENCHMARKS.md.
    """
    from earlgate.bench.gateway.report import write_report
    from earlgate.bench.gateway.steps import run_bench

    out.mkdir(parents=True, exist_ok=True)
    print(f"earlgate bench rtc {options.kind}: steps {options.steps()}", flush=True)
    results = asyncio.run(run_bench(options, out))
    raw, report, figure = write_report(options.kind, results, options, out)
    print(f"wrote {raw}, {report} and {figure}", flush=True)
    if update:
        update_section(f"rtc {options.kind}", report, figure)
    return raw, report, figure


def run_rtc_bench(
    make_options: Callable[[OwnServers | None], BenchOptions],
    out: Path,
    *,
    own: bool,
    update: bool = False,
) -> tuple[Path, Path, Path]:
    """:func:`run_rtc`, with the run's :func:`own_servers` when ``own``.

    ``make_options`` gets those servers (None without ``own``) and returns the
    run's options, pointed at them.

    Raises:
        earlgate.testing.turn.TurnError: ``own`` and coturn is missing or did not start.
    """
    with contextlib.ExitStack() as stack:
        servers = stack.enter_context(own_servers()) if own else None
        return run_rtc(make_options(servers), out, update=update)


def network_bed(netns_prefix: str) -> NamespaceBed:
    """The namespace test bed ``earlgate bench rtc network`` builds, once it can.

    Raises:
        ValueError: ``netns_prefix`` cannot name namespaces.
        earlgate.bench.gateway.testbed.NamespaceBedError: no root, or a tool is missing.
    """
    from earlgate.bench.gateway import testbed

    testbed.check_can_build()
    return testbed.NamespaceBed(prefix=netns_prefix)


def run_network(
    make_options: Callable[[PeerOptions], BenchOptions],
    out: Path,
    bed: NamespaceBed,
    *,
    cpus: tuple[int, int] | None,
    update: bool = False,
) -> tuple[Path, Path, Path]:
    """Kernel forwarding vs ``earlgate gateway`` in a namespace test bed built for the run.

    ``make_options`` gets the peering of the bed's own signaling server.
    ``cpus``: the gateway host's CPU and the load's, or None for no pinning.

    Raises:
        earlgate.bench.gateway.testbed.NamespaceBedError: the bed cannot be built.
        earlgate.testing.signalprocs.PeerServerError: its signaling server did not start.
    """
    from earlgate.bench.gateway import testbed
    from earlgate.bench.gateway.network import placement, run_network_bench, write_report
    from earlgate.testing.signalprocs import SignalSettings, start_earlgate_signal

    out.mkdir(parents=True, exist_ok=True)
    with testbed.build(bed):
        gateway_host = testbed.exec_prefix(bed.gateway_ns)
        pin = ("taskset", "-c", str(cpus[0])) if cpus else ()
        signaling = start_earlgate_signal(
            SignalSettings(concurrent_limit=OWN_SIGNAL_CONCURRENT_LIMIT),
            host="0.0.0.0",
            prefix=(*gateway_host, *pin),
        )
        try:
            where = placement(bed, signaling.port, cpus)
            options = make_options(PeerOptions(where.gateway_signal))
            print(f"earlgate bench rtc network: steps {options.steps()}", flush=True)
            run = asyncio.run(run_network_bench(options, out, bed, where))
        finally:
            signaling.stop()
    raw, report, figure = write_report(run, options, out)
    print(f"wrote {raw}, {report} and {figure}", flush=True)
    if update:
        update_section("rtc network", report, figure)
    return raw, report, figure


def update_section(section: str, report: Path, figure: Path) -> None:
    """Copy ``report`` into BENCHMARKS.md's ``section``, with the machine and command."""
    provenance = Provenance.now(command_line())
    update_benchmarks(section, f"{provenance.line()} Plot: `{figure}`.\n\n{report.read_text()}")
