"""The rtc bench's report: step tables in the thesis's format, plots, raw JSON."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from earlgate.bench.driver import markdown_table
from earlgate.bench.gateway.options import (
    PHONE_BATTERY_WH,
    PHONE_IDLE_MW,
    PHONE_MW_PER_CORE,
    BenchOptions,
    Series,
    StepResult,
    capacity,
)

__all__ = ["answer_table", "capacity_table", "delay_table", "markdown", "plot", "write_report"]

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


# A step "holds" when every message arrived and the p99 one-way delay stays under this.
CAPACITY_P99_MS = 100.0
WHO = {"python": "earlgate gateway (Python)", "browser": "the /gateway page in Chromium"}


def _columns(results: list[StepResult]) -> tuple[bool, bool]:
    """Whether the tables need a Gateway column and a Traffic column."""
    return len({r.gateway for r in results}) > 1, any(r.two_way for r in results)


def _ordered(results: list[StepResult]) -> list[StepResult]:
    """By peers, then as the series run: side by side, step by step."""
    return sorted(results, key=lambda r: (r.peers, r.gateway != "python", r.two_way))


def _table(
    results: list[StepResult], head: list[str], cells: Callable[[StepResult], list[str]]
) -> list[str]:
    """A step table: Peers, the series' columns where there are several, then ``cells``."""
    gateways, traffic = _columns(results)
    first = ["Peers"] + (["Gateway"] if gateways else []) + (["Traffic"] if traffic else [])
    rows = []
    for r in _ordered(results):
        row = [str(r.peers)] + ([r.gateway] if gateways else [])
        row += (["two-way" if r.two_way else "one-way"] if traffic else []) + cells(r)
        rows.append(row)
    return markdown_table(first + head, rows, right=True)


def _mean_sd(stats: dict[str, float]) -> str:
    return f"{stats.get('mean', 0):.2f} ± {stats.get('sd', 0):.2f}"


def delay_table(results: list[StepResult]) -> list[str]:
    """One-way delay per step, the thesis's "average ± sd", median and p99, and the counts."""
    return _table(
        results,
        ["Average delay (ms)", "Median (ms)", "p99 (ms)", "Sent", "Received"],
        lambda r: (
            [_mean_sd(r.delay_ms)]
            + [f"{r.delay_ms.get('median', 0):.2f}", f"{r.delay_ms.get('p99', 0):.2f}"]
            + [str(r.sent), str(r.received)]
        ),
    )


def answer_table(results: list[StepResult]) -> list[str]:
    """Two-way steps: answers sent back and got, round trip, and the way back alone."""
    return _table(
        [r for r in results if r.two_way],
        ["Answered", "Answers got", "Round trip (ms)", "Round trip p99 (ms)"]
        + ["Way back (ms)", "Way back p99 (ms)"],
        lambda r: (
            [str(r.answered), str(r.answers), _mean_sd(r.round_trip_ms)]
            + [f"{r.round_trip_ms.get('p99', 0):.2f}", _mean_sd(r.back_delay_ms)]
            + [f"{r.back_delay_ms.get('p99', 0):.2f}"]
        ),
    )


def capacity_table(results: list[StepResult], options: BenchOptions) -> list[str]:
    """Per series: the most peers that held, and what two-way costs against one-way."""
    rows = []
    for series in options.series():
        mine = [r for r in results if r.series == series]
        if not mine:
            continue
        held = capacity(mine, CAPACITY_P99_MS)
        largest = max(mine, key=lambda r: r.peers)
        drop = ""
        if series.two_way:
            one_way = [r for r in results if r.series == Series(series.gateway, False)]
            base = capacity(one_way, CAPACITY_P99_MS)
            if base:
                drop = f"{100.0 * (base - held) / base:.0f} %"
            cpu_one = {r.peers: r.cpu_percent for r in one_way}
            if cpu_one.get(largest.peers):
                drop += f" (CPU x{largest.cpu_percent / cpu_one[largest.peers]:.2f})"
        rows.append(
            [series.gateway, series.label.split()[1], str(held) if held else "none"]
            + [str(largest.peers), f"{largest.cpu_s_per_message * 1e6:.0f}", drop]
        )
    return markdown_table(
        ["Gateway", "Traffic", "Holds up to (peers)", "Largest step", "CPU-µs per message"]
        + ["Capacity drop vs one-way"],
        rows,
        right=True,
    )


def markdown(kind: str, results: list[StepResult], options: BenchOptions) -> str:
    """The step tables, in the thesis's format ("mean ± sd", median)."""
    who = "the mesh's processes" if kind == "mesh" else "the gateway"
    gateways, traffic = _columns(results)
    lines = [
        f"### earlgate bench rtc {kind}: {TITLES[kind]}",
        "",
        f"{options.step_duration:g} s per step, {options.size}-character messages at "
        f"{options.rate:g} Hz.",
        "",
        *MUX_DELAY_NOTE.get(kind, []),
    ]
    if kind == "mesh" and any(r.gateway == "browser" for r in results):
        pages = sorted({r.browser_peers for r in results if r.gateway == "browser"})
        lines += [
            "Peers: python: Python mesh peers; browser: "
            f"{'/'.join(map(str, pages))} of each step's peers are /arm pages in one "
            "headless Chromium, the rest Python peers. The CPU is all of them together, "
            "Chromium's as the sum over its whole process tree.",
            "",
        ]
    elif gateways or any(r.gateway == "browser" for r in results):
        lines += [
            "Gateways: "
            + "; ".join(f"{g}: {WHO[g]}" for g in options.gateways)
            + ". The browser's CPU is the sum over Chromium's whole process tree "
            "(browser, renderer, GPU, network and utility processes).",
            "",
        ]
    if traffic:
        lines += [
            "Two-way: each receiver answers every message through the gateway with one of "
            "the same size, carrying the original's timestamp (thesis 5.2).",
            "",
        ]
    lines += ["One-way delay", "", *delay_table(results)]
    if traffic:
        lines += ["", "Answers (two-way steps)", "", *answer_table(results)]
    if kind == "forward" and (gateways or traffic):
        lines += [
            "",
            f"Capacity: the most peers of a step with every message delivered and p99 "
            f"one-way delay < {CAPACITY_P99_MS:g} ms",
            "",
            *capacity_table(results, options),
        ]
    if kind != "mesh":
        lines += [
            "",
            "Throughput (bytes/s of JSON messages into and out of the gateway)",
            "",
            *_table(
                results,
                ["Received by the gateway", "Sent by the gateway"],
                lambda r: [f"{r.bytes_in_per_s:.0f}", f"{r.bytes_out_per_s:.0f}"],
            ),
        ]
    if kind in ("mux", "demux"):
        lines += [
            "",
            "Processing delay (per aggregate, from the gateway's own figures)",
            "",
            *_table(
                results,
                ["Average (ms)", "Median (ms)", "p99 (ms)"],
                lambda r: [
                    f"{r.processing_ms.get(key, 0):.3f}" if r.processing_ms else "n/a"
                    for key in ("mean", "median", "p99")
                ],
            ),
        ]
    lines += [
        "",
        f"CPU of {who}, and the energy **model** (the thesis phone: {PHONE_IDLE_MW:g} mW "
        f"idle + {PHONE_MW_PER_CORE:g} mW per busy core, {PHONE_BATTERY_WH:g} Wh battery; "
        "an estimate, not a measurement)",
        "",
        *_table(
            results,
            ["CPU (% of a core)", "CPU-µs per message", "Model power (mW)", "Model battery (h)"],
            lambda r: (
                [f"{r.cpu_percent:.1f}", f"{r.cpu_s_per_message * 1e6:.0f}"]
                + [f"{r.model_mw:.0f}", f"{r.model_battery_h:.1f}"]
            ),
        ),
    ]
    if options.failures:
        lines += [""] + [f"Stopped ({label}): {why}." for label, why in options.failures.items()]
    elif options.failure:
        lines += ["", f"Stopped: {options.failure}."]
    return "\n".join(lines) + "\n"


def plot(kind: str, results: list[StepResult], path: Path) -> None:
    """Delay and CPU per step (the thesis's Figures 3.8-3.20), a line per series."""
    from earlgate.bench.plots import plt, save

    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    serieses = list(dict.fromkeys(r.series for r in _ordered(results)))
    several = len(serieses) > 1
    for series in serieses:
        mine = sorted((r for r in results if r.series == series), key=lambda r: r.peers)
        peers = [r.peers for r in mine]
        name = f"{series.label}: " if several else ""
        left.errorbar(
            peers,
            [r.delay_ms.get("mean", 0) for r in mine],
            yerr=[r.delay_ms.get("sd", 0) for r in mine],
            marker="o",
            label=f"{name}mean ± sd",
        )
        left.plot(peers, [r.delay_ms.get("p99", 0) for r in mine], marker="^", label=f"{name}p99")
        if kind in ("mux", "demux"):
            left.plot(
                peers,
                [r.processing_ms.get("p99", 0) for r in mine],
                marker="s",
                label=f"{name}processing p99",
            )
        right.plot(peers, [r.cpu_percent for r in mine], marker="o", label=series.label)
    left.set_xlabel("peers")
    left.set_ylabel("ms")
    left.set_title(f"{kind}: one-way delay")
    left.legend(fontsize="small")
    right.set_xlabel("peers")
    right.set_ylabel("% of one core")
    right.set_title("CPU")
    if several:
        right.legend(fontsize="small")
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
    data["gateways"] = list(options.gateways)
    data["signal"] = options.peering.signal
    return data
