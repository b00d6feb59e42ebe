"""Reports of the failure benches: the chaos ledger as a table, its timeline as a plot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from earlgate.bench.chaos import ChaosSettings
from earlgate.bench.ledger import Ledger

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
        f"Machine: {machine}. Date: {when}. Command: `{command}`.",
        "",
        f"`cluster up --workers {settings.workers}`, Redis {aof} its append-only file; "
        f"{settings.publishers} publishers at {settings.rate:g}/s waiting for acks, "
        f"{settings.duration:g} s with a fault every {settings.fault_every:g} s: "
        f"{counts['worker_kills']} worker kills (SIGKILL), {counts['worker_stops']} worker "
        f"stops (SIGSTOP {settings.stop_seconds:g} s), {counts['redis_restarts']} Redis "
        f"restarts, {counts['haproxy_restarts']} HAProxy restarts. {ledger.sent} messages "
        f"acked, {ledger.resent} sends retried after a refusal or a lost connection.",
        "",
        "| " + " | ".join(c.replace("_", " ") for c in COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
    ]
    for row in ledger.rows():
        lines.append("| " + " | ".join(str(row[c]) for c in COLUMNS) + " |")
    lines.append("")
    lines.append(
        "Verdict: "
        + ("**pass** — nothing acked was lost or duplicated." if not failures else "**FAIL**: ")
        + "; ".join(failures)
    )
    lines.append(f"Tracebacks in the cluster's log: {counts['tracebacks_in_cluster_log']}.")
    return "\n".join(lines) + "\n"


def plot_chaos(ledger: Ledger, path: Path) -> None:
    """Acked messages per second, with the faults marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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
    figure.savefig(path, dpi=110)
    plt.close(figure)
