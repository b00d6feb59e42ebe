"""``earlgate bench chaos`` and ``earlgate bench soak`` from settings to results folder.

Each runs its bench under a rich status line, draws the plot, writes the
report and ``raw.json`` (:func:`~earlgate.bench.results.write_run`) and
returns the failures the verdict lists (empty: pass).
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from earlgate.bench.chaos import ChaosSettings, run_chaos
from earlgate.bench.driver import Provenance
from earlgate.bench.failure_report import chaos_markdown, plot_chaos, plot_soak, soak_markdown
from earlgate.bench.results import write_run
from earlgate.bench.soak import SoakSettings, run_soak

__all__ = ["chaos_bench", "soak_bench"]


def chaos_bench(settings: ChaosSettings, out: Path, command: str, update: bool) -> list[str]:
    """Run the chaos bench into ``out``; ``update``: also its BENCHMARKS.md section."""
    console = Console()
    with console.status("chaos: starting the cluster") as status:

        def progress(line: str) -> None:
            console.log(line)
            status.update(f"chaos: {line}")

        ledger, counts = run_chaos(settings, progress)
    failures = ledger.failures(expect_unrecoverable=not settings.aof)
    out.mkdir(parents=True, exist_ok=True)
    plot_chaos(ledger, out / "chaos.png")
    provenance = Provenance.now(command)
    report = chaos_markdown(
        ledger, counts, failures, settings, command, provenance.machine, provenance.when
    )
    raw = {
        "settings": vars(settings),
        "counts": counts,
        "rows": ledger.rows(),
        "events": ledger.events,
        "failures": failures,
        "sent": ledger.sent,
        "resent": ledger.resent,
    }
    section = "chaos" if settings.aof else "chaos without the append-only file"
    write_run(out, section, "Chaos", raw, report, "chaos.png", update)
    console.print(report)
    return failures


def soak_bench(settings: SoakSettings, out: Path, command: str, update: bool) -> list[str]:
    """Run the soak into ``out``; ``update``: also its BENCHMARKS.md section."""
    console = Console()
    with console.status(f"soak: {settings.connections} connections for {settings.duration:g} s"):
        result = run_soak(
            settings,
            lambda s: console.log(
                f"{s.seconds:7.0f} s  RSS {s.rss_mib:8.1f} MiB  fds {s.fds:6d}  "
                f"CPU {s.cpu_percent:5.1f} %  connections {s.connections}"
            ),
        )
    out.mkdir(parents=True, exist_ok=True)
    plot_soak(result, out / "soak.png")
    failures = result.failures()
    provenance = Provenance.now(command)
    report = soak_markdown(result, failures, command, provenance.machine, provenance.when)
    raw = {
        "settings": vars(settings),
        "samples": [vars(s) for s in result.samples],
        "churned": result.churned,
        "churn_errors": result.churn_errors,
        "hub_errors": result.hub_errors,
        "tracebacks": result.tracebacks,
        "sent": result.sent,
        "received": result.received,
        "failures": failures,
    }
    write_run(out, "soak", "Soak", raw, report, "soak.png", update)
    console.print(report)
    return failures
