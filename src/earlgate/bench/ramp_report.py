"""Statistics and reports of ramp runs: the thesis's Tables 2.4-2.11, with more.

Pure functions over recorded samples (tested without running anything), plus
matplotlib figures in the spirit of the thesis's Figures 2.6-2.18. Added to the
thesis's tables: the p99 response time, the **critical point** of each case
(the first step where mean events fall 1% short of expected, or p99 response
exceeds 250 ms), a Little's-law estimate of messages in flight,
L = lambda * W (arrival rate times mean response time), how the traffic
arrived (``slots``, ``spread`` or ``poisson``; runs recorded before the
arrival was were ``slots``) and how late the load generator sent.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from earlgate.bench.arrival import describe
from earlgate.bench.driver import Provenance, markdown_table, mean_sd
from earlgate.bench.pacing import LATE_AFTER_S
from earlgate.bench.results import update_benchmarks

KNEE_EVENTS = 0.99  # mean events below this fraction of expected: past the knee
KNEE_P99_MS = 250.0  # or p99 response time above this


def steady(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Seconds of full load: drop the first second and the drain after the last send."""
    return [r for r in rows if r.get("second", 0) > 1 and r.get("sent", 0) > 0]


def step_summary(
    case: str,
    publishers: int,
    period: float,
    rows: list[dict[str, Any]],
    result: dict[str, Any],
) -> dict[str, Any]:
    """One row of the thesis's tables for one step."""
    full = steady(rows)
    expected = publishers / period
    events_mean, events_sd = mean_sd([float(r["received"]) for r in full])
    summary: dict[str, Any] = {
        "case": case,
        "publishers": publishers,
        "expected_events": expected,
        "events_mean": round(events_mean, 1),
        "events_sd": round(events_sd, 1),
        "sent": result.get("sent", 0),
        "received": result.get("received", 0),
        "response_ms": result.get("latency_ms", {}),
        "loadgen_cpu_percent": result.get("loadgen_cpu_percent", 0.0),
        "seconds": len(full),
        "arrival": result.get("arrival", "slots"),
        "seed": result.get("seed", 0),
        "sent_late": result.get("sent_late", 0),
        "late_after_ms": result.get("late_after_ms", LATE_AFTER_S * 1000.0),
        "lateness_ms": result.get("lateness_ms", {}),
        "wakeups": result.get("wakeups", 0),
    }
    hubs = [r["hub"] for r in full if r.get("hub")]
    if hubs:
        for key in ("service_time_ms", "loop_lag_ms"):
            means = [h[key]["mean"] for h in hubs if key in h]
            mean, sd = mean_sd(means)
            summary[key] = {
                "mean": round(mean, 3),
                "sd": round(sd, 3),
                "median": round(statistics.median([h[key]["p50"] for h in hubs]), 3),
                "p99": round(statistics.fmean([h[key]["p99"] for h in hubs]), 3),
            }
        summary["hub_events_in_mean"] = round(
            statistics.fmean([h["messages_in_per_s"] for h in hubs]), 1
        )
    cpu: dict[str, list[float]] = {}
    for row in full:
        for label, value in (row.get("cpu") or {}).items():
            cpu.setdefault(label, []).append(value)
    summary["cpu_percent"] = {label: round(statistics.fmean(v), 1) for label, v in cpu.items()}
    response_mean_s = float(summary["response_ms"].get("mean", 0.0)) / 1000.0
    summary["littles_l"] = round(events_mean * response_mean_s, 2)
    return summary


def is_past_knee(summary: dict[str, Any]) -> bool:
    short = summary["events_mean"] < KNEE_EVENTS * summary["expected_events"]
    slow = float(summary["response_ms"].get("p99", 0.0)) > KNEE_P99_MS
    return bool(short or slow)


def critical_point(summaries: Iterable[dict[str, Any]]) -> int | None:
    """Publishers at the first step past the knee, or None if never reached."""
    for summary in summaries:
        if is_past_knee(summary):
            return int(summary["publishers"])
    return None


def case_table(summaries: list[dict[str, Any]]) -> str:
    """Markdown: the thesis's tables for one case, one row per step."""
    has_hub = any("service_time_ms" in s for s in summaries)
    labels = sorted({label for s in summaries for label in s["cpu_percent"]})
    head = ["publishers", "expected ev/s", "actual ev/s (mean ± sd)"]
    if has_hub:
        head += ["service ms mean ± sd", "service median", "loop lag ms mean ± sd"]
    head += ["response ms mean ± sd", "median", "p99", "L (Little)"]
    head += [f"CPU % {label}" for label in labels] + ["loadgen CPU %"]
    head += ["loadgen sent late", "loadgen lateness p99 ms"]
    rows = []
    for s in summaries:
        r = s["response_ms"]
        cells = [
            str(s["publishers"]),
            f"{s['expected_events']:.0f}",
            f"{s['events_mean']:.0f} ± {s['events_sd']:.0f}",
        ]
        if has_hub:
            st, lag = s.get("service_time_ms"), s.get("loop_lag_ms")
            cells += [
                f"{st['mean']:.3f} ± {st['sd']:.3f}" if st else "–",
                f"{st['median']:.3f}" if st else "–",
                f"{lag['mean']:.2f} ± {lag['sd']:.2f}" if lag else "–",
            ]
        cells += [
            f"{r.get('mean', 0):.2f} ± {r.get('sd', 0):.2f}",
            f"{r.get('p50', 0):.2f}",
            f"{r.get('p99', 0):.2f}",
            f"{s['littles_l']:.1f}",
        ]
        cells += [f"{s['cpu_percent'].get(label, 0):.0f}" for label in labels]
        cells.append(f"{s['loadgen_cpu_percent']:.0f}")
        cells.append(f"{s.get('sent_late', 0)} of {s.get('sent', 0)}")
        cells.append(f"{s.get('lateness_ms', {}).get('p99', 0.0):.2f}")
        rows.append(cells)
    return "\n".join(markdown_table(head, rows)) + "\n"


def critical_line(case: str, summaries: list[dict[str, Any]]) -> str:
    point = critical_point(summaries)
    if point is None:
        top = max((s["publishers"] for s in summaries), default=0)
        return f"Case {case}: critical point not reached up to {top} publishers."
    return f"Case {case}: critical point at {point} publishers ({4 * point} events/s expected)."


def arrival_line(summaries: list[dict[str, Any]]) -> str:
    """How the steps' traffic arrived, and what a late send of the load generator is."""
    arrivals = sorted({describe(s.get("arrival", "slots"), s.get("seed", 0)) for s in summaries})
    late = summaries[0].get("late_after_ms", LATE_AFTER_S * 1000.0) if summaries else 0.0
    return (
        f"Traffic {'; '.join(arrivals) or 'arrival: –'}. Loadgen sent late: sends more than "
        f"{late:g} ms behind their due time."
    )


def compare_table(a: list[dict[str, Any]], b: list[dict[str, Any]], names: tuple[str, str]) -> str:
    """Two cases side by side at the steps both ran, with ratios (a / b)."""
    by_b = {s["publishers"]: s for s in b}
    head = [
        "publishers",
        f"{names[0]} ev/s",
        f"{names[1]} ev/s",
        f"{names[0]} p99 ms",
        f"{names[1]} p99 ms",
        "p99 ratio",
        f"{names[0]} server CPU %",
        f"{names[1]} server CPU %",
        "CPU ratio",
    ]
    rows = []
    for s in a:
        other = by_b.get(s["publishers"])
        if other is None:
            continue
        cpu_a = sum(s["cpu_percent"].values())
        cpu_b = sum(other["cpu_percent"].values())
        p99_a = float(s["response_ms"].get("p99", 0))
        p99_b = float(other["response_ms"].get("p99", 0))
        rows.append(
            [str(s["publishers"]), f"{s['events_mean']:.0f}", f"{other['events_mean']:.0f}"]
            + [f"{p99_a:.2f}", f"{p99_b:.2f}", f"{p99_a / p99_b if p99_b else 0:.2f}×"]
            + [f"{cpu_a:.0f}", f"{cpu_b:.0f}", f"{cpu_a / cpu_b if cpu_b else 0:.2f}×"]
        )
    lines = markdown_table(head, rows)
    arrivals = [sorted({s.get("arrival", "slots") for s in case}) for case in (a, b)]
    lines.append("")
    lines.append(
        f"Arrival: {names[0]} {', '.join(arrivals[0]) or '–'}, "
        f"{names[1]} {', '.join(arrivals[1]) or '–'}."
    )
    point_a, point_b = critical_point(a), critical_point(b)
    top_a = max((s["publishers"] for s in a), default=0)
    top_b = max((s["publishers"] for s in b), default=0)
    lines.append("")
    lines.append(
        f"Critical points: {names[0]} {point_a or f'not reached up to {top_a}'}, "
        f"{names[1]} {point_b or f'not reached up to {top_b}'} publishers."
    )
    if point_b:
        if point_a:
            lines.append(f"Ratio of critical points: {point_a / point_b:.2f}×.")
        else:
            lines.append(f"Ratio of critical points: at least {top_a / point_b:.2f}×.")
    return "\n".join(lines) + "\n"


def load_run(folder: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(per-second rows, step summaries) of a ramp run folder."""
    rows: list[dict[str, Any]] = []
    steps: list[dict[str, Any]] = []
    for line in (folder / "samples.jsonl").read_text().splitlines():
        record = json.loads(line)
        kind = record.get("type")
        if kind == "step":
            steps.append(record)
        elif kind is None:
            rows.append(record)
    return rows, steps


def failures(folder: Path) -> list[dict[str, Any]]:
    """Steps the servers could not take at all (recorded by the ramp as ``failed``)."""
    found = []
    for line in (folder / "samples.jsonl").read_text().splitlines():
        record = json.loads(line)
        if record.get("type") == "failed":
            found.append(record)
    return found


def plot_case(rows: list[dict[str, Any]], steps: list[dict[str, Any]], out: Path) -> list[Path]:
    """Figures 2.6-2.18 for one case: events over time, service time, lag, response, CPU."""
    from earlgate.bench.plots import plt, save

    case = steps[0]["case"] if steps else "?"
    written = []
    fig, axis = plt.subplots(figsize=(10, 4))
    axis.plot([r["time"] for r in rows], [r["received"] for r in rows], ".", ms=2, label="actual")
    axis.plot([r["time"] for r in rows], [r["expected"] for r in rows], "-", lw=1, label="expected")
    axis.set_xlabel("time since start of the ramp (s)")
    axis.set_ylabel("message events per second")
    axis.set_title(f"Message events, case {case}")
    axis.legend()
    written.append(out / "events.png")
    save(fig, written[-1], dpi=100, bbox_inches="tight")

    x = [s["publishers"] for s in steps]
    fig, axes = plt.subplots(2, 2, figsize=(11, 7))
    response = [s["response_ms"] for s in steps]
    axes[0][0].plot(x, [r.get("mean", 0) for r in response], "o-", label="mean")
    axes[0][0].plot(x, [r.get("p50", 0) for r in response], "s-", label="median")
    axes[0][0].plot(x, [r.get("p99", 0) for r in response], "^-", label="p99")
    axes[0][0].set_title("response time (ms)")
    axes[0][0].set_yscale("log")
    axes[0][0].legend()
    if any("service_time_ms" in s for s in steps):
        service = [s.get("service_time_ms", {}) for s in steps]
        lag = [s.get("loop_lag_ms", {}) for s in steps]
        axes[0][1].plot(x, [v.get("mean", 0) for v in service], "o-", label="service mean")
        axes[0][1].plot(x, [v.get("median", 0) for v in service], "s-", label="service median")
        axes[0][1].plot(x, [v.get("mean", 0) for v in lag], "^-", label="loop lag mean")
        axes[0][1].set_title("message service time and event-loop lag (ms)")
        axes[0][1].legend()
    else:
        axes[0][1].text(0.5, 0.5, "not reported by this server", ha="center", va="center")
        axes[0][1].set_axis_off()
    labels = sorted({label for s in steps for label in s["cpu_percent"]})
    for label in labels:
        axes[1][0].plot(x, [s["cpu_percent"].get(label, 0) for s in steps], "o-", label=label)
    axes[1][0].plot(x, [s["loadgen_cpu_percent"] for s in steps], "k--", label="load generator")
    axes[1][0].set_title("CPU % (100 = one core)")
    axes[1][0].legend(fontsize=7)
    axes[1][1].plot(x, [s["littles_l"] for s in steps], "o-")
    axes[1][1].set_title("messages in flight, L = λ·W")
    for axis in axes.flat:
        axis.set_xlabel("publishers (4 Hz each)")
    fig.suptitle(f"Ramp, case {case}")
    fig.tight_layout()
    written.append(out / "steps.png")
    save(fig, written[-1], dpi=100)
    return written


def write_report(folder: Path, command: str, machine: str, when: str) -> str:
    rows, steps = load_run(folder)
    plot_case(rows, steps, folder)
    case = steps[0]["case"] if steps else "?"
    failed = "".join(
        f"\nThe step at {f['publishers']} publishers could not run: {f['reason']}.\n"
        for f in failures(folder)
    )
    text = (
        f"# Ramp, case {case}\n\n{Provenance(machine, when, command).line()}\n\n"
        f"{critical_line(case, steps)}\n\n{arrival_line(steps)}\n{failed}\n"
        f"{case_table(steps)}\n"
        "![events](events.png)\n\n![steps](steps.png)\n"
    )
    (folder / "report.md").write_text(text)
    return text


def publish_run(folder: Path, command: str, label: str, update: bool) -> str:
    """Write a ramp run's report and plots; with ``update``, its BENCHMARKS.md section.

    BENCHMARKS.md gets the report without its heading and plots (they stay in
    the results folder, which is not committed), with the plots' paths.
    """
    provenance = Provenance.now(command)
    report = write_report(folder, command, provenance.machine, provenance.when)
    print(report)
    print(f"raw samples, report and plots in {folder}/")
    if update:
        lines = [ln for ln in report.split("\n", 2)[2].splitlines() if not ln.startswith("![")]
        body = "\n".join(lines).rstrip()
        body += f"\n\nPlots: `{folder}/events.png`, `{folder}/steps.png`.\n"
        update_benchmarks(f"ramp case {label}", body)
    return report


def compare_runs(first: Path, second: Path, command: str, update: bool) -> str:
    """Two ramp run folders side by side (:func:`compare_table`), printed; with
    ``update``, also BENCHMARKS.md's section for the pair."""
    _, a = load_run(first)
    _, b = load_run(second)
    names = (a[0]["case"] if a else "a", b[0]["case"] if b else "b")
    table = compare_table(a, b, names)
    print(table)
    if update:
        update_benchmarks(f"compare {names[0]} vs {names[1]}", f"Command: `{command}`.\n\n{table}")
    return table
