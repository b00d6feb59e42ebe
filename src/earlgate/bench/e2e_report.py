"""The report and plot of ``earlgate bench e2e`` (:mod:`earlgate.bench.e2e`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from earlgate.bench.e2e import IntervalRun

__all__ = ["e2e_report", "plot_delays"]


def e2e_report(runs: list[IntervalRun], raw: dict[str, Any]) -> str:
    """The Markdown report: the Python series per interval, then the browser's."""
    lines = [f"{raw['date']}, {raw['machine']}.", f"`{raw['command']}`", ""]
    python = [r for r in runs if r.gateway == "python"]
    if python:
        lines += _python_table(python)
    browser = [r for r in runs if r.gateway == "browser"]
    if browser:
        lines += _browser_table(browser)
    return "\n".join(lines)


def _ms(stats: dict[str, Any], key: str) -> str:
    return f"{stats[key]:.1f} ms" if key in stats else "-"


def _python_table(runs: list[IntervalRun]) -> list[str]:
    lines = [
        "Virtual Earl devices on bumble's in-process link **with the connection-interval "
        "model** (packets wait for the next connection event; no air time, loss or "
        "retransmission), the Python gateway's BLE side, a real `earlgate hub`, a "
        "subscriber on the same machine. Delay = the subscriber's clock at arrival "
        "minus the device's clock at sampling. LED = a command published until its "
        "state reaches the subscriber.",
        "",
        "| interval | devices × rate | readings | lost | p50 | p99 | max | goal (2 CI + 5 ms) "
        "| met | LED p50 | LED p99 | LED errors |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        s = r.summary()
        d, led = s["device_to_subscriber_ms"], s["led_command_to_state_ms"]
        lines.append(
            f"| {r.interval_ms:g} ms | {r.devices} × {r.rate_hz:g} Hz | {s['received']} "
            f"| {s['lost']} | {_ms(d, 'p50')} | {_ms(d, 'p99')} | {_ms(d, 'max')} "
            f"| {s['goal_ms']:g} ms | {'yes' if s['goal_met'] else 'no'} "
            f"| {_ms(led, 'p50')} | {_ms(led, 'p99')} | {s['led_errors']} |"
        )
    lines += [
        "",
        "The model predicts a reading's wait for the radio uniform in 0 to one interval "
        "(p50 about half an interval, p99 about one) and the LED path about four "
        "intervals (the write request and its status notification each wait for an "
        "event, the response one more), plus the hub's and the gateway's time.",
        "",
    ]
    return lines


def _browser_table(browser: list[IntervalRun]) -> list[str]:
    lines = [
        "The browser gateway: the hub's `/devices` page in headless Chromium, Earl devices "
        "in Chromium's **emulated** Bluetooth adapter (no radio, so no connection interval; "
        "the emulation cannot notify, so the page polls each device once per sampling "
        "period). A reading's clock is taken when the emulated device answers the page's "
        "read: the delay is the page's and the hub's share of the path, to set beside the "
        "radio's wait above. LED = a command published until its state reaches the "
        "subscriber (the page's write and status read answered over CDP).",
        "",
        "| gateway | devices × rate | readings | lost | p50 | p99 | max | LED p50 "
        "| LED p99 | LED errors | console errors |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in browser:
        s = r.summary()
        d, led = s["device_to_subscriber_ms"], s["led_command_to_state_ms"]
        lines.append(
            f"| /devices page | {r.devices} × {r.rate_hz:g} Hz | {s['received']} "
            f"| {s['lost']} | {_ms(d, 'p50')} | {_ms(d, 'p99')} | {_ms(d, 'max')} "
            f"| {_ms(led, 'p50')} | {_ms(led, 'p99')} | {s['led_errors']} "
            f"| {s['console_errors']} |"
        )
    lines.append("")
    return lines


def plot_delays(runs: list[IntervalRun], path: Path) -> None:
    """Delay distributions per series, and the LED path's box plot."""
    from earlgate.bench.plots import plt, save

    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for r in runs:
        values = sorted(r.delays_ms)
        if values:
            fractions = [(i + 1) / len(values) for i in range(len(values))]
            name = f"{r.interval_ms:g} ms interval" if r.gateway == "python" else "browser page"
            left.plot(values, fractions, label=name)
            if r.goal_ms is not None:
                left.axvline(r.goal_ms, linestyle=":", linewidth=0.8)
    left.set_xlabel("device -> subscriber delay (ms)")
    left.set_ylabel("fraction of readings")
    left.set_title("Readings (simulated link; the browser's emulation has no radio)")
    left.legend()
    labels = [f"{r.interval_ms:g} ms" if r.gateway == "python" else "browser" for r in runs]
    data = [r.led_ms or [0.0] for r in runs]
    right.boxplot(data, tick_labels=labels)
    right.set_xlabel("connection interval")
    right.set_ylabel("command -> state at subscriber (ms)")
    right.set_title("LED path")
    figure.tight_layout()
    save(figure, path)
