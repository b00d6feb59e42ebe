"""The LED servo loop of ``earlgate bench e2e``, closed through Bluetooth LE.

The led-loop bench (:mod:`earlgate.bench.led.loop`) drives a simulated LED
module through the hub; here the LED sits on a virtual Earl ball-probe at the
far end of a simulated radio link, as the thesis's §5.2 asks:

    bench --(hub)--> gateway --(BLE write)--> virtual ball (LedModule, TCA6507)
    light sensor looking at that chip --(hub)--> bench

The bench publishes a brightness pattern on ``earl/<ball>/led``; the gateway's
BLE side turns each command into a GATT write over the connection-interval
model; a :class:`~earlgate.led.sensor.SimulatedLightSensor` watching the
virtual ball's own simulated chip publishes what it sees. The record is
analysed exactly as the led-loop bench's, so the two tables compare: what the
radio hop adds is the difference.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import time
from collections.abc import Sequence
from typing import Any

from earlgate.bench.driver import markdown_table
from earlgate.bench.led.loop import LoopRun, connected, record_readings, sample_sensor
from earlgate.bench.led.tracking import DEFAULT_LEVELS, Step
from earlgate.led.module import BALL_PROBE
from earlgate.led.sensor import SimulatedLightSensor

__all__ = ["BALL", "run_servo", "servo_record", "servo_report"]

BALL = "earl-loop-ball"


async def run_servo(
    url: str,
    interval_ms: float,
    *,
    steps: int = 20,
    step_s: float = 0.5,
    sample_s: float = 0.01,
    noise: float = 0.01,
    seed: int = 1,
    led: str = "upper",
    connect_timeout_s: float = 30.0,
) -> LoopRun:
    """Run the loop through a virtual ball on a link of ``interval_ms``.

    Raises:
        TimeoutError: the gateway did not connect to the ball in time.
        HubClientError: the hub cannot be reached.
    """
    from earlgate.ble.fleet import Fleet
    from earlgate.ble.gateway import BleGateway

    subject = f"earl/{BALL}/led"
    fleet = await Fleet.create([("ball", BALL)], interval_s=interval_ms / 1000)
    chip = fleet.devices[BALL].chip
    if chip is None:  # a ball always has one; a guard for the type checker
        raise RuntimeError("the virtual ball has no simulated chip")
    ports = BALL_PROBE.ports(led)
    sensor = SimulatedLightSensor(chip, ports, noise=noise, rng=random.Random(seed))
    run = LoopRun(
        settings={
            "interval_ms": interval_ms,
            "levels": list(DEFAULT_LEVELS),
            "steps": steps,
            "step_s": step_s,
            "sample_s": sample_s,
            "noise": noise,
            "seed": seed,
            "led": led,
            "subject": subject,
        }
    )
    stop = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []
    try:
        async with (
            connected(url) as gateway_side,
            connected(url) as sensor_side,
            connected(url) as bench,
        ):
            links = await bench.subscribe(f"earl/{BALL}/link")
            readings = await bench.subscribe(f"{subject}/sensor")
            gateway = BleGateway(gateway_side, fleet.central, [BALL])
            tasks.append(asyncio.create_task(gateway.run(stop)))
            tasks.append(
                asyncio.create_task(record_readings(readings, run.readings, time.monotonic))
            )

            async def link_up() -> None:
                async for frame in links:
                    if frame.get("data", {}).get("event") == "connected":
                        return

            await asyncio.wait_for(link_up(), connect_timeout_s)
            tasks.append(
                asyncio.create_task(
                    sample_sensor(sensor_side, sensor, f"{subject}/sensor", sample_s, time.time)
                )
            )
            loop = asyncio.get_running_loop()
            start = loop.time() + step_s  # a step of readings before the first command
            pattern = itertools.cycle(DEFAULT_LEVELS)
            for i, level in zip(range(steps), pattern, strict=False):
                await asyncio.sleep(max(0.0, start + i * step_s - loop.time()))
                run.steps.append(Step(time.monotonic(), level))
                await bench.publish(subject, {"id": i, "led": led, "color": [level] * len(ports)})
            await asyncio.sleep(step_s)
            stop.set()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            tasks.clear()
    finally:
        stop.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        run.server = {
            "writes": fleet.devices[BALL].writes,
            "applied": fleet.devices[BALL].applied,
            "refused": fleet.devices[BALL].refused,
        }
        with contextlib.suppress(Exception):
            await fleet.close()
    return run


def servo_record(run: LoopRun) -> dict[str, Any]:
    """The raw record of one interval's loop, as the led-loop bench keeps it."""
    return {
        "settings": run.settings,
        "summary": run.analyse().summary(),
        "device": run.server,
        "steps": [[s.sent, s.level] for s in run.steps],
        "readings": [[r.received, r.value] for r in run.readings],
    }


def servo_report(runs: Sequence[LoopRun]) -> str:
    """A Markdown table, one row per connection interval; empty without runs."""
    if not runs:
        return ""
    rows = []
    for run in runs:
        report = run.analyse()
        summary = report.summary()
        latency = summary.get("latency_ms", {})
        s = run.settings
        rows.append(
            [
                f"{s['interval_ms']:g} ms",
                f"{report.steps - report.missed} / {report.steps}",
                f"{latency.get('median')}",
                f"{latency.get('p95')} / {latency.get('max')}",
                f"{summary['rms_error']}",
                f"{summary['settled_rms_error']}",
                f"{run.server.get('applied', 0)} / {run.server.get('writes', 0)}",
            ]
        )
    first = runs[0].settings
    lines = [
        "",
        "LED servo loop closed through BLE (thesis §5.2): "
        f"{first['steps']} steps of {first['step_s']} s, sensor every "
        f"{first['sample_s'] * 1000:g} ms with noise {first['noise']}: bench → hub → "
        "gateway → BLE write → virtual ball → light sensor → hub → bench. Compare with "
        "the led-loop section (the same loop without the radio hop).",
        "",
        *markdown_table(
            [
                "interval",
                "steps seen / sent",
                "latency median (ms)",
                "latency p95 / max (ms)",
                "RMS error (lag included)",
                "RMS error once settled",
                "writes applied / received",
            ],
            rows,
        ),
        "",
        "The latency includes up to one sensor period of waiting for the next sample.",
        "",
    ]
    return "\n".join(lines)
