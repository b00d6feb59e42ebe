"""Reports of the failure benches: the chaos ledger as a table, its timeline as a plot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from earlgate.bench.chaos import ChaosSettings
from earlgate.bench.driver import Provenance, markdown_table
from earlgate.bench.ledger import Ledger
from earlgate.bench.soak import SoakResult

COLUMNS = (
    "subscriber",
    "acked",
    "delivered",
    "lost",
    "duplicated",
    "out_of_order",
    "filtered_by_client",
    "unrecoverable",
)


def chaos_markdown(
    ledger: Ledger,
    counts: dict[str, Any],
    failures: list[str],
    settings: ChaosSettings,
    command: str,
    machine: str,
    when: str,
) -> str:
    aof = "with" if settings.aof else "without"
    lines = [
        Provenance(machine, when, command).line(),
        "",
        f"`cluster up --workers {settings.workers}`, Redis {aof} its append-only file; "
        f"{settings.publishers} publishers at {settings.rate:g}/s waiting for acks, "
        f"{settings.duration:g} s with a fault every {settings.fault_every:g} s: "
        f"{counts['worker_kills']} worker kills (SIGKILL), {counts['worker_stops']} worker "
        f"stops (SIGSTOP {settings.stop_seconds:g} s), {counts['redis_restarts']} Redis "
        f"restarts, {counts['haproxy_restarts']} HAProxy restarts. {ledger.sent} messages "
        f"acked, {ledger.resent} sends retried after a refusal or a lost connection.",
        "",
        *markdown_table(
            [c.replace("_", " ") for c in COLUMNS],
            ([str(row[c]) for c in COLUMNS] for row in ledger.rows()),
        ),
        "",
    ]
    lines.append(
        "Verdict: "
        + ("**pass** — nothing acked was lost or duplicated." if not failures else "**FAIL**: ")
        + "; ".join(failures)
    )
    lines.append(f"Tracebacks in the cluster's log: {counts['tracebacks_in_cluster_log']}.")
    return "\n".join(lines) + "\n"


def plot_chaos(ledger: Ledger, path: Path) -> None:
    """Acked messages per second, with the faults marked."""
    from earlgate.bench.plots import plt, save

    seconds = int(max(ledger.ack_times, default=0)) + 1
    per_second = [0] * seconds
    for moment in ledger.ack_times:
        per_second[int(moment)] += 1
    figure, axes = plt.subplots(figsize=(10, 4))
    axes.plot(range(seconds), per_second, color="black", linewidth=1, label="acked/s")
    colours = {"SIGKILL hub": "tab:red", "SIGSTOP": "tab:orange", "redis": "tab:blue"}
    labelled: set[str] = set()
    for moment, event in ledger.events:
        kind = next((k for k in colours if k in event), "haproxy")
        colour = colours.get(kind, "tab:green")
        label = None if kind in labelled else kind
        labelled.add(kind)
        axes.axvline(moment, color=colour, alpha=0.5, linewidth=1, label=label)
    axes.set_xlabel("seconds")
    axes.set_ylabel("messages acked per second")
    axes.set_title("Chaos: publishing through faults")
    axes.legend(loc="lower right", fontsize=8)
    figure.tight_layout()
    save(figure, path, dpi=110)


def soak_markdown(
    result: SoakResult, failures: list[str], command: str, machine: str, when: str
) -> str:
    settings = result.settings
    reference = result.reference_sample()
    last = result.samples[-1] if result.samples else None
    lines = [
        Provenance(machine, when, command).line(),
        "",
        f"One hub (memory broker, pinned to one core), {settings.connections} connections "
        f"({settings.connections // 2} publishers at {1 / settings.period:g} Hz, one subscriber "
        f"each) for {settings.duration:g} s, plus {settings.churn} short-lived clients a second "
        f"({result.churned} in all, {result.churn_errors} failed). Deliveries: "
        f"{result.received} of {result.sent} sent.",
        "",
        *markdown_table(
            ["", "seconds", "RSS MiB", "descriptors", "CPU %", "connections"],
            (
                [label, f"{sample.seconds:.0f}", f"{sample.rss_mib:.1f}", str(sample.fds)]
                + [f"{sample.cpu_percent:.1f}", str(sample.connections)]
                for label, sample in (("reference", reference), ("last", last))
                if sample is not None
            ),
        ),
        "",
    ]
    lines.append(
        f"Memory change since the reference: {result.growth() * 100:+.2f} % "
        f"(allowed ±{settings.tolerance * 100:g} %). Verdict: "
        + ("**pass**." if not failures else "**FAIL**: " + "; ".join(failures))
    )
    return "\n".join(lines) + "\n"


def plot_soak(result: SoakResult, path: Path) -> None:
    """RSS, descriptors and CPU over time."""
    from earlgate.bench.plots import plt, save

    minutes = [s.seconds / 60 for s in result.samples]
    figure, axes = plt.subplots(3, 1, figsize=(9, 7), sharex=True)
    series = [
        ("RSS MiB", [s.rss_mib for s in result.samples]),
        ("descriptors", [float(s.fds) for s in result.samples]),
        ("CPU %", [s.cpu_percent for s in result.samples]),
    ]
    for axis, (label, values) in zip(axes, series, strict=True):
        axis.plot(minutes, values, marker=".", color="black")
        axis.set_ylabel(label)
        axis.grid(alpha=0.3)
    reference = result.reference_sample()
    if reference is not None:
        band = result.settings.tolerance * reference.rss_mib
        axes[0].axhspan(reference.rss_mib - band, reference.rss_mib + band, alpha=0.15)
    axes[-1].set_xlabel("minutes")
    axes[0].set_title(f"Soak: {result.settings.connections} connections")
    figure.tight_layout()
    save(figure, path, dpi=110)
