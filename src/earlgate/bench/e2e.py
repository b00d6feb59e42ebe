"""``earlgate bench e2e``: virtual Earl -> BLE -> the Python gateway -> a real hub -> a subscriber.

For each connection interval (default 7.5, 30 and 100 ms) the bench runs
virtual Earl devices (accelerometers at ``--rate`` Hz and one ball-probe)
on bumble's in-process link with the connection-interval model of
:mod:`earlgate.ble.simlink`, the gateway's BLE side over a bumble central,
a real ``earlgate hub`` process, and a subscriber. It measures:

* **device -> subscriber one-way delay** of every reading: the subscriber's
  clock when the reading arrives minus the device's clock when it sampled
  (the devices run in this process, so both clocks are this machine's);
* **readings lost** while the link stays up, by sequence number;
* **the LED path**: a command published on ``earl/<ball>/led`` until its
  state comes back to the subscriber (hub -> gateway -> GATT write ->
  ``LedModule`` -> status notification -> gateway -> hub);
* **the LED servo loop** closed through the radio
  (:mod:`earlgate.bench.e2e_servo`): a brightness pattern to a virtual ball,
  a simulated light sensor looking at its chip, the readings back through
  the hub; analysed as the led-loop bench is.

The radio is a model: packets wait for the next connection event and
nothing else (no loss, no retransmission, no air time), so the figures show
what the connection interval costs, not what a particular radio does. The
goal is a p99 within two connection intervals + 5 ms and no reading lost.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from earlgate.bench.led.loop import LoopRun, plot_tracking
from earlgate.bench.results import (
    command_line,
    machine_description,
    results_dir,
    utc_now,
    write_run,
)
from earlgate.metrics.percentile import percentile

__all__ = ["IntervalRun", "add_arguments", "run", "run_interval"]

DEFAULT_INTERVALS_MS = (7.5, 30.0, 100.0)


@dataclass
class IntervalRun:
    interval_ms: float
    devices: int
    rate_hz: float
    duration_s: float
    delays_ms: list[float] = field(default_factory=list)
    published_delays_ms: list[float] = field(default_factory=list)
    received: int = 0
    lost: int = 0
    gaps: int = 0
    led_ms: list[float] = field(default_factory=list)
    led_errors: int = 0
    led_sent: int = 0
    link_packets: int = 0
    link_events: int = 0
    gateway: str = "python"  # or "browser": the /devices page (earlgate.bench.e2e_browser)
    console_errors: int = 0  # the page's, browser series only

    @property
    def goal_ms(self) -> float | None:
        """Two connection intervals + 5 ms; none for the browser's radio-less emulation."""
        return 2 * self.interval_ms + 5.0 if self.gateway == "python" else None

    @property
    def label(self) -> str:
        return f"{self.interval_ms:g}" if self.gateway == "python" else "browser"

    def summary(self) -> dict[str, Any]:
        def stats(values: list[float]) -> dict[str, Any]:
            if not values:
                return {"count": 0}
            return {
                "count": len(values),
                "p50": round(percentile(values, 0.50), 3),
                "p99": round(percentile(values, 0.99), 3),
                "max": round(max(values), 3),
            }

        delay = stats(self.delays_ms)
        goal = self.goal_ms
        met = (
            None if goal is None else bool(delay.get("p99", float("inf")) <= goal and not self.lost)
        )
        return {
            "gateway": self.gateway,
            "interval_ms": self.interval_ms if self.gateway == "python" else None,
            "devices": self.devices,
            "rate_hz": self.rate_hz,
            "duration_s": self.duration_s,
            "received": self.received,
            "lost": self.lost,
            "gaps": self.gaps,
            "device_to_subscriber_ms": delay,
            "published_to_subscriber_ms": stats(self.published_delays_ms),
            "led_command_to_state_ms": stats(self.led_ms),
            "led_sent": self.led_sent,
            "led_errors": self.led_errors,
            "goal_ms": goal,
            "goal_met": met,
            "link_packets": self.link_packets,
            "link_events": self.link_events,
            "console_errors": self.console_errors,
        }


async def run_interval(
    url: str,
    interval_ms: float,
    *,
    devices: int = 4,
    rate_hz: float = 4.0,
    duration_s: float = 10.0,
    led_period_s: float = 0.25,
    warmup_s: float = 1.0,
) -> IntervalRun:
    """One run at one connection interval through the hub at ``url``."""
    from earlgate.ble.fleet import Fleet
    from earlgate.ble.gateway import BleGateway
    from earlgate.client import HubClient

    result = IntervalRun(interval_ms, devices, rate_hz, duration_s)
    names = [("accel", f"earl-e2e-{i + 1}") for i in range(devices)] + [("ball", "earl-e2e-ball")]
    fleet = await Fleet.create(names, interval_s=interval_ms / 1000, period=1 / rate_hz)
    gateway_client = HubClient(url)
    subscriber = HubClient(url)
    await gateway_client.connect()
    await subscriber.connect()
    readings = await subscriber.subscribe("earl/+/accel")
    answers = await subscriber.subscribe("earl/earl-e2e-ball/led/+")
    links = await subscriber.subscribe("earl/+/link")
    gateway = BleGateway(gateway_client, fleet.central, [n for _, n in names])
    stop = asyncio.Event()
    gateway_task = asyncio.create_task(gateway.run(stop))

    async def wait_connected() -> None:
        seen: set[str] = set()
        async for frame in links:
            if frame["data"].get("event") == "connected":
                seen.add(frame["subject"].split("/")[1])
                if len(seen) == len(names):
                    return

    try:
        await asyncio.wait_for(wait_connected(), 30)
        epochs = {name: earl.epoch_at_zero for name, earl in fleet.devices.items()}
        await measure(
            result,
            subscriber,
            readings,
            answers,
            epochs,
            "earl/earl-e2e-ball/led",
            warmup_s=warmup_s,
            led_period_s=led_period_s,
            settle_s=max(0.3, 3 * interval_ms / 1000),
        )
    finally:
        result.link_packets = fleet.link.packets
        result.link_events = fleet.link.events
        stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(gateway_task, 10)
        await fleet.close()
        await gateway_client.close()
        await subscriber.close()
    return result


async def measure(
    result: IntervalRun,
    subscriber: Any,
    readings: Any,
    answers: Any,
    epochs: dict[str, float],
    led_subject: str,
    *,
    warmup_s: float,
    led_period_s: float,
    settle_s: float,
) -> None:
    """Both series' measurement, once every device is connected.

    ``readings`` and ``answers`` are the subscriber's subscriptions to the
    readings and to ``LED_SUBJECT/+``; ``epochs`` maps each device name to the
    wall-clock time its own clock read 0. Readings are counted (and gaps in
    their sequence numbers) from the start; their delays after ``warmup_s``.
    LED commands are published every ``led_period_s`` for the run's duration,
    then ``settle_s`` is left for the last answers.
    """
    loop = asyncio.get_running_loop()
    measuring_from = loop.time() + warmup_s
    last_seq: dict[str, int] = {}
    sent: dict[int, float] = {}

    async def take_readings() -> None:
        async for frame in readings:
            now = time.time()
            name = frame["subject"].split("/")[1]
            data = frame["data"]
            sampled = epochs[name] + data["clock_us"] / 1e6
            seq = data["seq"]
            if name in last_seq and seq != last_seq[name] + 1:
                result.lost += max(0, seq - last_seq[name] - 1)
                result.gaps += 1
            last_seq[name] = seq
            if loop.time() < measuring_from:
                continue
            result.received += 1
            result.delays_ms.append((now - sampled) * 1000)
            if isinstance(frame.get("published"), int | float):
                result.published_delays_ms.append(now * 1000 - frame["published"])

    async def take_answers() -> None:
        async for frame in answers:
            now = time.time()
            data = frame.get("data")
            command_id = data.get("id") if isinstance(data, dict) else None
            if not isinstance(command_id, int) or command_id not in sent:
                continue
            if frame["subject"].endswith("/error"):
                result.led_errors += 1
            else:
                result.led_ms.append((now - sent.pop(command_id)) * 1000)

    tasks = [asyncio.create_task(take_readings()), asyncio.create_task(take_answers())]
    try:
        await asyncio.sleep(warmup_s)
        end = loop.time() + result.duration_s
        command_id = 0
        while loop.time() < end:
            command_id += 1
            color = [15, 0, 0] if command_id % 2 else [0, 15, 0]
            sent[command_id] = time.time()
            await subscriber.publish(
                led_subject, {"id": command_id, "led": "lower", "color": color}
            )
            result.led_sent += 1
            await asyncio.sleep(led_period_s)
        await asyncio.sleep(settle_s)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--hub", help="hub WebSocket URL (default: start an earlgate hub)")
    parser.add_argument(
        "--intervals",
        default=",".join(f"{i:g}" for i in DEFAULT_INTERVALS_MS),
        help="connection intervals in ms, comma-separated (7.5-4000; default 7.5,30,100)",
    )
    parser.add_argument("--devices", type=int, default=None, help="accelerometers (default 4)")
    parser.add_argument(
        "--gateway",
        default="python,browser",
        help="python (earlgate ble over the simulated link), browser (the /devices page with "
        "Chromium's emulated adapter), or both (the default)",
    )
    parser.add_argument("--rate", type=float, default=4.0, help="readings per second per device")
    parser.add_argument("--duration", type=float, default=None, help="seconds per interval")
    parser.add_argument(
        "--servo-steps",
        type=int,
        default=None,
        help="steps of the LED servo loop per interval (default 20, --quick 6; 0: none)",
    )
    parser.add_argument("--quick", action="store_true", help="a short smoke run (3 s each)")
    parser.add_argument("--out", type=Path, default=None, help="results directory")
    parser.add_argument(
        "--update-benchmarks", action="store_true", help="also update BENCHMARKS.md"
    )


def _intervals(text: str) -> list[float]:
    try:
        values = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ValueError(f"--intervals: {text!r} is not a list of numbers") from None
    for v in values:
        if not 7.5 <= v <= 4000:
            raise ValueError(f"--intervals: {v:g} ms is outside 7.5-4000 ms")
    if not values:
        raise ValueError("--intervals: none given")
    return values


def run(args: argparse.Namespace) -> int:
    """Run the bench; 0 when every interval met the goal, 1 otherwise."""
    from earlgate.bench.e2e_report import e2e_report, plot_delays
    from earlgate.bench.e2e_servo import run_servo, servo_record, servo_report

    intervals = _intervals(args.intervals)
    devices = args.devices if args.devices is not None else (2 if args.quick else 4)
    duration = args.duration if args.duration is not None else (3.0 if args.quick else 20.0)
    servo_steps = args.servo_steps if args.servo_steps is not None else (6 if args.quick else 20)
    if devices < 1 or args.rate <= 0 or duration <= 0:
        raise ValueError("--devices, --rate and --duration must be positive")
    if not 0 <= servo_steps <= 1000:
        raise ValueError("--servo-steps must be 0-1000")
    gateways = [g.strip() for g in args.gateway.split(",") if g.strip()]
    if not gateways or any(g not in ("python", "browser") for g in gateways):
        raise ValueError(f"--gateway: {args.gateway!r}; choose python, browser or python,browser")
    if "browser" in gateways:
        from earlgate.testing.chromium import chromium_problem

        problem = chromium_problem()
        if problem is not None:
            raise ValueError(f"--gateway browser: {problem}")
    out = results_dir(args.out, "e2e")
    out.mkdir(parents=True, exist_ok=True)
    hub = None
    url = args.hub
    if url is None:
        from earlgate.bench.targets import start_target

        hub = start_target("earlgate")
        url = hub.ws_url
    parts = urllib.parse.urlsplit(url)
    http_url = f"{'https' if parts.scheme == 'wss' else 'http'}://{parts.netloc}"  # pages
    runs: list[IntervalRun] = []
    servos: list[LoopRun] = []
    try:
        for interval in intervals if "python" in gateways else []:
            runs.append(
                asyncio.run(
                    run_interval(
                        url, interval, devices=devices, rate_hz=args.rate, duration_s=duration
                    )
                )
            )
            if servo_steps:
                servos.append(asyncio.run(run_servo(url, interval, steps=servo_steps)))
        if "browser" in gateways:
            from earlgate.bench.e2e_browser import run_browser

            runs.append(
                asyncio.run(
                    run_browser(
                        url,
                        http_url,
                        devices=devices,
                        rate_hz=args.rate,
                        duration_s=duration,
                    )
                )
            )
    finally:
        if hub is not None:
            hub.stop()
    raw: dict[str, Any] = {
        "date": utc_now(),
        "machine": machine_description(),
        "command": command_line(),
        "model": "bumble LocalLink with connection events (earlgate.ble.simlink)",
        "runs": [r.summary() for r in runs],
        "delays_ms": {r.label: r.delays_ms for r in runs},
        "led_ms": {r.label: r.led_ms for r in runs},
        "servo": [servo_record(s) for s in servos],
    }
    report = e2e_report(runs, raw) + servo_report(servos)
    plot_delays(runs, out / "e2e.png")
    for servo in servos:
        label = f"{servo.settings['interval_ms']:g}"
        plot_tracking(
            servo,
            servo.analyse(),
            out / f"e2e-servo-{label}ms.png",
            f"LED servo loop through BLE ({label} ms connection interval, simulated link)",
        )
    write_run(
        out,
        "e2e",
        "End to end over BLE (simulated link)",
        raw,
        report,
        "e2e.png",
        args.update_benchmarks,
    )
    print(report)
    return 0 if all(r.summary()["goal_met"] is not False for r in runs) else 1
