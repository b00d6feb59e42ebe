"""The rtc bench's report: step tables in the thesis's format, plots, raw JSON."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from earlgate.bench.driver import markdown_table
from earlgate.bench.gateway.options import (
    PHONE_BATTERY_WH,
    PHONE_IDLE_MW,
    PHONE_MW_PER_CORE,
    BenchOptions,
    StepResult,
)

__all__ = ["markdown", "plot", "write_report"]

TITLES = {
    "forward": "application-layer forwarding (thesis Tables 3.4, 3.6)",
    "mux": "multiplexing (thesis Tables 3.7-3.9)",
    "demux": "demultiplexing (thesis Tables 3.10-3.12)",
    "mesh": "the arm-probe full mesh (thesis 3.1.2)",
}


MUX_DELAY_NOTE = {
    "mux": [
        "The one-way delay of a part includes its wait in the window (up to 250 ms); a "
        "window that reaches --mux-max-bytes (15,000 bytes by default, about 100 parts "
        "here) closes early, so with more peers aggregates leave more often.",
        "",
    ]
}


def delay_table(results: list[StepResult]) -> list[str]:
    """One-way delay per step, the thesis's "average ± sd", median and p99, and the counts."""
    head = ["Peers", "Average delay (ms)", "Median (ms)", "p99 (ms)", "Sent", "Received"]
    rows = []
    for r in results:
        d = r.delay_ms
        rows.append(
            [str(r.peers), f"{d.get('mean', 0):.2f} ± {d.get('sd', 0):.2f}"]
            + [f"{d.get('median', 0):.2f}", f"{d.get('p99', 0):.2f}", str(r.sent), str(r.received)]
        )
    return markdown_table(head, rows, right=True)


def markdown(kind: str, results: list[StepResult], options: BenchOptions) -> str:
    """The step tables, in the thesis's format ("mean ± sd", median)."""
    who = "the mesh's processes" if kind == "mesh" else "the gateway process"
    lines = [
        f"### earlgate bench rtc {kind}: {TITLES[kind]}",
        "",
        f"{options.step_duration:g} s per step, {options.size}-character messages at "
        f"{options.rate:g} Hz.",
        "",
        *MUX_DELAY_NOTE.get(kind, []),
        "One-way delay",
        "",
        *delay_table(results),
    ]
    if kind != "mesh":
        lines += [
            "",
            "Throughput (bytes/s of JSON messages into and out of the gateway)",
            "",
            *markdown_table(
                ["Peers", "Received by the gateway", "Sent by the gateway"],
                (
                    [str(r.peers), f"{r.bytes_in_per_s:.0f}", f"{r.bytes_out_per_s:.0f}"]
                    for r in results
                ),
                right=True,
            ),
        ]
    if kind in ("mux", "demux"):
        lines += [
            "",
            "Processing delay (per aggregate, from the gateway's histogram)",
            "",
            *markdown_table(
                ["Peers", "Average (ms)", "Median (ms)", "p99 (ms)"],
                (
                    [str(r.peers)]
                    + [f"{r.processing_ms.get(key, 0):.3f}" for key in ("mean", "median", "p99")]
                    for r in results
                ),
                right=True,
            ),
        ]
    lines += [
        "",
        f"CPU of {who}, and the energy **model** (the thesis phone: {PHONE_IDLE_MW:g} mW "
        f"idle + {PHONE_MW_PER_CORE:g} mW per busy core, {PHONE_BATTERY_WH:g} Wh battery; "
        "an estimate, not a measurement)",
        "",
        *markdown_table(
            ["Peers", "CPU (% of a core)", "CPU-µs per message", "Model power (mW)"]
            + ["Model battery (h)"],
            (
                [str(r.peers), f"{r.cpu_percent:.1f}", f"{r.cpu_s_per_message * 1e6:.0f}"]
                + [f"{r.model_mw:.0f}", f"{r.model_battery_h:.1f}"]
                for r in results
            ),
            right=True,
        ),
    ]
    if options.failure:
        lines += ["", f"Stopped: {options.failure}."]
    return "\n".join(lines) + "\n"


def plot(kind: str, results: list[StepResult], path: Path) -> None:
    """Delay and CPU per step (the thesis's Figures 3.8-3.20, one panel each)."""
    from earlgate.bench.plots import plt, save

    peers = [r.peers for r in results]
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.errorbar(
        peers,
        [r.delay_ms.get("mean", 0) for r in results],
        yerr=[r.delay_ms.get("sd", 0) for r in results],
        marker="o",
        label="mean ± sd",
    )
    left.plot(peers, [r.delay_ms.get("p99", 0) for r in results], marker="^", label="p99")
    if kind in ("mux", "demux"):
        left.plot(
            peers,
            [r.processing_ms.get("p99", 0) for r in results],
            marker="s",
            label="processing p99",
        )
    left.set_xlabel("peers")
    left.set_ylabel("ms")
    left.set_title(f"{kind}: one-way delay")
    left.legend()
    right.plot(peers, [r.cpu_percent for r in results], marker="o")
    right.set_xlabel("peers")
    right.set_ylabel("% of one core")
    right.set_title("CPU")
    figure.tight_layout()
    save(figure, path, dpi=100)


def write_report(
    kind: str, results: list[StepResult], options: BenchOptions, out: Path
) -> tuple[Path, Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    raw = out / "results.json"
    raw.write_text(
        json.dumps(
            {"kind": kind, "options": _jsonable(options), "steps": [asdict(r) for r in results]},
            indent=2,
        )
    )
    report = out / "report.md"
    report.write_text(markdown(kind, results, options))
    figure = out / f"{kind}.png"
    plot(kind, results, figure)
    return raw, report, figure


def _jsonable(options: BenchOptions) -> dict[str, Any]:
    data = {k: v for k, v in asdict(options).items() if k != "peering"}
    data["signal"] = options.peering.signal
    return data
