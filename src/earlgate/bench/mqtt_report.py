"""The plan, step figures and report of ``earlgate bench mqtt``, pure (no I/O but the files).

A **case** is how subscribers connect (``mqtt`` or ``ws``) and the QoS of the
publishes and subscriptions (0 or 1): ``mqtt→mqtt QoS 0``. Each case runs
the ramp's steps against every target, so a case's table puts the targets side
by side at each step. Per step: messages sent, received and lost (sent and
never received, after the drain), response time p50/p99 (receive time - the
send time in the payload), the server's CPU per delivered message over the
steady seconds (after the first second, while publishers send), and whether
the step is past the **critical point** by the ramp bench's criterion
(:mod:`earlgate.bench.ramp_report`: mean delivered events below 99 % of the
expected, or p99 above 250 ms; here also more than 1 % lost).
"""

from __future__ import annotations

import csv
import io
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from earlgate.bench.driver import Provenance, markdown_table, mean_sd
from earlgate.bench.mqtt_wire import LATE_AFTER
from earlgate.bench.ramp_report import KNEE_EVENTS, KNEE_P99_MS

__all__ = [
    "CSV_FIELDS",
    "QOS_LEVELS",
    "SUBSCRIBERS",
    "Case",
    "case_table",
    "cpu_ratio_median",
    "critical_point",
    "csv_text",
    "is_past_knee",
    "markdown",
    "plan_cases",
    "plan_steps",
    "plot",
    "step_summary",
]

SUBSCRIBERS = ("mqtt", "ws")
QOS_LEVELS = (0, 1)


@dataclass(frozen=True)
class Case:
    """How subscribers connect and at which QoS everyone publishes and subscribes."""

    subscribers: str
    qos: int

    @property
    def label(self) -> str:
        return f"mqtt→{self.subscribers} QoS {self.qos}"


def plan_cases(subscribers: Sequence[str], qos: Sequence[int]) -> list[Case]:
    """Every combination, subscribers first: ``mqtt`` QoS 0, ``mqtt`` QoS 1, ``ws`` QoS 0, ...

    Raises:
        ValueError: an unknown subscriber kind or QoS, or none of either.
    """
    bad = [s for s in subscribers if s not in SUBSCRIBERS]
    bad += [str(q) for q in qos if q not in QOS_LEVELS]
    if bad or not subscribers or not qos:
        raise ValueError(
            f"unknown {', '.join(bad) or '(none given)'}: subscribers are "
            f"{' or '.join(SUBSCRIBERS)}, QoS 0 or 1"
        )
    return [Case(s, q) for s in dict.fromkeys(subscribers) for q in dict.fromkeys(qos)]


def plan_steps(first: int, last: int, step: int) -> list[int]:
    """Publishers per step: ``first``, ``first + step``, ... up to ``last`` (always included).

    Raises:
        ValueError: not 1 <= first <= last, or step < 1.
    """
    if first < 1 or step < 1 or last < first:
        raise ValueError(f"need 1 <= --from ({first}) <= --to ({last}) and --step ({step}) >= 1")
    steps = list(range(first, last + 1, step))
    if steps[-1] != last:
        steps.append(last)
    return steps


def steady(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Whole seconds of full load: after the first, while publishers sent."""
    return [r for r in rows if r["second"] > 1 and r["sent"] > 0 and not r.get("partial")]


def step_summary(
    case: Case,
    target: str,
    publishers: int,
    period: float,
    rows: list[dict[str, Any]],
    result: dict[str, Any],
) -> dict[str, Any]:
    """One step of one target: ``rows`` are its seconds, each with the server's
    cumulative CPU seconds (``server_cpu_s``); ``result`` the load's totals."""
    full = steady(rows)
    expected = publishers / period
    events_mean, events_sd = mean_sd([float(r["received"]) for r in full])
    first = next((r for r in rows if r["second"] == 1), None)
    delivered = sum(int(r["received"]) for r in full)
    cpu_s = float(full[-1]["server_cpu_s"]) - float(first["server_cpu_s"]) if full and first else 0
    sent, received = int(result["sent"]), int(result["received"])
    lost = max(sent - received, 0)
    return {
        "case": case.label,
        "subscribers": case.subscribers,
        "qos": case.qos,
        "target": target,
        "publishers": publishers,
        "expected_events": expected,
        "events_mean": round(events_mean, 1),
        "events_sd": round(events_sd, 1),
        "sent": sent,
        "received": received,
        "lost": lost,
        "loss_ratio": round(lost / sent, 6) if sent else 0.0,
        "acked": int(result.get("acked", 0)),
        "errors": int(result.get("errors", 0)),
        "sent_late": int(result.get("sent_late", 0)),
        "response_ms": result.get("latency_ms", {}),
        "seconds": len(full),
        "server_cpu_s": round(cpu_s, 3),
        "server_cpu_percent": round(100 * cpu_s / len(full), 1) if full else 0.0,
        "cpu_us_per_delivered": round(1e6 * cpu_s / delivered, 2) if delivered else 0.0,
        "loadgen_cpu_percent": result.get("loadgen_cpu_percent", 0.0),
        "connect_seconds": result.get("connect_seconds", 0.0),
    }


def is_past_knee(summary: dict[str, Any]) -> bool:
    """The ramp's criterion, and more than 1 % of the messages lost (a failed step is past)."""
    if summary.get("failed"):
        return True
    short = summary["events_mean"] < KNEE_EVENTS * summary["expected_events"]
    slow = float(summary["response_ms"].get("p99", 0.0)) > KNEE_P99_MS
    lossy = summary["loss_ratio"] > 1 - KNEE_EVENTS
    return bool(short or slow or lossy)


def critical_point(summaries: Iterable[dict[str, Any]]) -> int | None:
    """Publishers at the first step past the knee, or None if never reached."""
    for summary in sorted(summaries, key=lambda s: int(s["publishers"])):
        if is_past_knee(summary):
            return int(summary["publishers"])
    return None


def _critical_line(target: str, summaries: list[dict[str, Any]]) -> str:
    point = critical_point(summaries)
    if point is None:
        top = max((s["publishers"] for s in summaries), default=0)
        return f"{target}: critical point not reached up to {top} publishers"
    rate = next(s.get("expected_events") for s in summaries if s["publishers"] == point)
    per_s = f" ({rate:.0f} messages/s)" if rate else ""
    return f"{target}: critical point at {point} publishers{per_s}"


def _late_line(summaries: list[dict[str, Any]]) -> str | None:
    """Which steps the load generator sent more than 1 % of late (they measure it too)."""
    late = [
        f"{s['target']} {s['publishers']} ({100 * s['sent_late'] / s['sent']:.0f} %)"
        for s in summaries
        if s.get("sent") and s.get("sent_late", 0) > 0.01 * s["sent"]
    ]
    if not late:
        return None
    return (
        f"The load generator sent late (over {1000 * LATE_AFTER:g} ms behind) at: "
        f"{', '.join(late)}; those steps measure it as much as the server."
    )


def _ms(value: Any) -> str:
    return f"{float(value):.2f}"


def case_table(case: str, summaries: list[dict[str, Any]], targets: Sequence[str]) -> str:
    """Markdown: one row per step, the targets side by side, and a CPU ratio column."""
    mine = [s for s in summaries if s["case"] == case]
    by_step: dict[int, dict[str, dict[str, Any]]] = {}
    for s in mine:
        by_step.setdefault(int(s["publishers"]), {})[s["target"]] = s
    shown = [t for t in targets if any(s["target"] == t for s in mine)]
    head = ["publishers"]
    for target in shown:
        head += [f"{target} {column}" for column in ("sent", "received", "lost")]
        head += [f"{target} {column}" for column in ("p50 ms", "p99 ms", "µs/msg", "CPU %")]
    ratio = len(shown) == 2
    if ratio:
        head.append(f"µs/msg {shown[0]} ÷ {shown[1]}")
    head.append("loadgen CPU %")
    rows = []
    for publishers in sorted(by_step):
        cells = [str(publishers)]
        here = by_step[publishers]
        for target in shown:
            step = here.get(target)
            if step is None:
                cells += ["–"] * 7
            elif step.get("failed"):
                cells += ["failed"] + ["–"] * 6
            else:
                response = step["response_ms"]
                cells += [str(step["sent"]), str(step["received"]), _lost(step)]
                cells += [_ms(response.get("p50", 0)), _ms(response.get("p99", 0))]
                cells += [
                    f"{step['cpu_us_per_delivered']:.1f}",
                    f"{step['server_cpu_percent']:.0f}",
                ]
        if ratio:
            costs = [_cost(here.get(t)) for t in shown]
            cells.append(f"{costs[0] / costs[1]:.2f}×" if costs[0] and costs[1] else "–")
        loadgen = [v["loadgen_cpu_percent"] for v in here.values() if not v.get("failed")]
        cells.append("/".join(f"{v:.0f}" for v in loadgen) or "–")
        rows.append(cells)
    return "\n".join(markdown_table(head, rows)) + "\n"


def _cost(summary: dict[str, Any] | None) -> float:
    """CPU µs per delivered message of a step that ran; 0 for one that did not."""
    if summary is None or summary.get("failed"):
        return 0.0
    return float(summary["cpu_us_per_delivered"])


def _lost(summary: dict[str, Any]) -> str:
    if not summary["lost"]:
        return "0"
    return f"{summary['lost']} ({100 * summary['loss_ratio']:.2f}%)"


def markdown(
    summaries: list[dict[str, Any]],
    cases: Sequence[str],
    targets: Sequence[str],
    provenance: Provenance,
    notes: Sequence[str] = (),
) -> str:
    """The report: provenance, how it was measured, then per case its critical points and table."""
    ran = [s for s in summaries if not s.get("failed")]
    hertz = ran[0]["expected_events"] / ran[0]["publishers"] if ran else 4.0
    lines = [
        provenance.line(),
        f"Publishers speak MQTT 3.1.1, each at {hertz:g} Hz at its own phase of the period, one "
        "subscriber per publisher on its own topic. WebSocket subscribers: the hub's own "
        "protocol on `/ws` for earlgate, MQTT over WebSocket for mosquitto. Servers pinned "
        "to one core, the load generator to the other. Lost: sent and not received by the "
        "end of the drain. µs/msg: server CPU over the steady seconds per delivered message. "
        f"Critical point: mean delivered events under {100 * KNEE_EVENTS:.0f} % of the "
        f"expected, p99 over {KNEE_P99_MS:.0f} ms, or over {100 * (1 - KNEE_EVENTS):.0f} % "
        "lost. loadgen CPU %: one figure per target, in the order of the columns.",
        *(f"\n{note}" for note in notes),
    ]
    if len(targets) == 2:
        ratio = cpu_ratio_median(summaries, targets[0], targets[1])
        if ratio is not None:
            lines.append(
                f"\nServer CPU per delivered message, {targets[0]} ÷ {targets[1]}, median over "
                f"every step both ran: **{ratio:.2f}×**."
            )
    for case in cases:
        mine = [s for s in summaries if s["case"] == case]
        if not mine:
            continue
        points = "; ".join(
            _critical_line(t, [s for s in mine if s["target"] == t])
            for t in targets
            if any(s["target"] == t for s in mine)
        )
        failed = [s for s in mine if s.get("failed")]
        lines += ["", f"### {case}", "", f"{points}.", ""]
        lines += [f"{s['target']} could not run {s['publishers']}: {s['reason']}." for s in failed]
        lines.append(case_table(case, summaries, targets).rstrip())
        late = _late_line(mine)
        if late:
            lines += ["", late]
    return "\n".join(lines) + "\n"


CSV_FIELDS = (
    "case", "target", "publishers", "expected_events", "events_mean", "sent", "received", "lost",
    "loss_ratio", "acked", "errors", "sent_late", "p50_ms", "p99_ms", "mean_ms", "max_ms",
    "server_cpu_s", "server_cpu_percent", "cpu_us_per_delivered", "loadgen_cpu_percent", "failed",
)  # fmt: skip


def csv_text(summaries: list[dict[str, Any]]) -> str:
    """The step summaries as CSV, one row per step and target."""
    out = io.StringIO()
    writer = csv.DictWriter(out, CSV_FIELDS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for s in summaries:
        response = s.get("response_ms", {})
        writer.writerow(
            {
                **s,
                "p50_ms": response.get("p50", ""),
                "p99_ms": response.get("p99", ""),
                "mean_ms": response.get("mean", ""),
                "max_ms": response.get("max", ""),
                "failed": s.get("reason", ""),
            }
        )
    return out.getvalue()


def plot(
    summaries: list[dict[str, Any]], cases: Sequence[str], targets: Sequence[str], path: Path
) -> None:
    """Per case (a row): p99 response time, server CPU per message and loss, per target."""
    from earlgate.bench.plots import plt, save

    shown = [c for c in cases if any(s["case"] == c for s in summaries)]
    fig, axes = plt.subplots(max(len(shown), 1), 3, figsize=(13, 3.2 * max(len(shown), 1)))
    grid = axes if len(shown) > 1 else [axes]
    for row, case in zip(grid, shown, strict=False):
        for target in targets:
            mine = sorted(
                (s for s in summaries if s["case"] == case and s["target"] == target),
                key=lambda s: int(s["publishers"]),
            )
            mine = [s for s in mine if not s.get("failed")]
            if not mine:
                continue
            x = [s["publishers"] for s in mine]
            row[0].plot(x, [s["response_ms"].get("p99", 0) for s in mine], "o-", label=target)
            row[1].plot(x, [s["cpu_us_per_delivered"] for s in mine], "o-", label=target)
            row[2].plot(x, [100 * s["loss_ratio"] for s in mine], "o-", label=target)
        for axis, title in zip(
            row, ("p99 response (ms)", "server CPU µs/msg", "lost %"), strict=True
        ):
            axis.set_title(f"{case}: {title}", fontsize=9)
            axis.set_xlabel("publishers (4 Hz each)")
            if axis.get_legend_handles_labels()[0]:  # a case where every step failed has none
                axis.legend(fontsize=7)
        row[0].set_yscale("log")
    fig.tight_layout()
    save(fig, path, dpi=100)


def cpu_ratio_median(summaries: list[dict[str, Any]], a: str, b: str) -> float | None:
    """The median over steps of ``a``'s µs/msg ÷ ``b``'s, where both ran (for the summary)."""
    pairs: dict[tuple[str, int], dict[str, float]] = {}
    for s in summaries:
        if not s.get("failed") and s.get("cpu_us_per_delivered"):
            key = (s["case"], int(s["publishers"]))
            pairs.setdefault(key, {})[s["target"]] = float(s["cpu_us_per_delivered"])
    ratios = [p[a] / p[b] for p in pairs.values() if a in p and b in p]
    return round(statistics.median(ratios), 2) if ratios else None
