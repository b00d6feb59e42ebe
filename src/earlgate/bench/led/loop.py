"""``earlgate bench led-loop``: the thesis's servo loop (§5.2) through a hub.

Three parties, each with its own hub connection, as they would be on three
machines:

* the **LED**: :class:`~earlgate.led.serve.LedServer` on a
  :class:`~earlgate.led.SimulatedTCA6507`, subscribed to ``SUBJECT``;
* the **sensor**: a :class:`~earlgate.led.SimulatedLightSensor` looking at
  the LED, publishing a reading every ``sample_s`` on ``SUBJECT/sensor``
  (``{"level": 0.0-1.0, "sampled": ms}``);
* the **bench**: sends a brightness pattern (one steady level on all three
  channels of the LED per step) and records the readings it gets back.

:mod:`earlgate.bench.led.tracking` turns the record into latencies and tracking
errors; :func:`write_report` writes them, the raw record and a plot.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import random
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from earlgate.bench.driver import markdown_table
from earlgate.bench.led.tracking import DEFAULT_LEVELS, LoopReport, Reading, Step, analyse
from earlgate.client import HubClient, Subscription
from earlgate.led.chip import TCA6507
from earlgate.led.module import BALL_PROBE, LedModule
from earlgate.led.sensor import SimulatedLightSensor
from earlgate.led.serve import LedServer
from earlgate.led.simulator import SimulatedTCA6507

__all__ = [
    "DEFAULT_LEVELS",
    "LoopRun",
    "connected",
    "plot_tracking",
    "record_readings",
    "run_loop",
    "sample_sensor",
    "write_report",
]


@dataclass
class LoopRun:
    """The raw record of one run; times in seconds on ``time.monotonic``."""

    steps: list[Step] = field(default_factory=list)
    readings: list[Reading] = field(default_factory=list)
    server: dict[str, Any] = field(default_factory=dict)  # LedServer.statistics()
    settings: dict[str, Any] = field(default_factory=dict)

    def analyse(self, tolerance: float | None = None) -> LoopReport:
        if tolerance is None:
            return analyse(self.steps, self.readings)
        return analyse(self.steps, self.readings, tolerance)


@contextlib.asynccontextmanager
async def connected(url: str) -> AsyncIterator[HubClient]:
    """A client that does not reconnect: a run that lost its hub is not a measurement."""
    client = HubClient(url, reconnect=False)
    try:
        await client.connect()
        yield client
    finally:
        await client.close()  # also collects a failed first connection


async def sample_sensor(
    client: HubClient,
    sensor: SimulatedLightSensor,
    subject: str,
    period: float,
    wall: Callable[[], float],
) -> None:
    """Publish a reading every ``period`` seconds, on a fixed schedule."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    for k in itertools.count(1):
        reading = {"level": round(sensor.read(), 5), "sampled": round(wall() * 1000, 3)}
        await client.publish(subject, reading)
        await asyncio.sleep(max(0.0, start + k * period - loop.time()))


async def record_readings(
    sub: Subscription, readings: list[Reading], clock: Callable[[], float]
) -> None:
    async for message in sub:
        data = message.get("data")
        if isinstance(data, dict) and isinstance(data.get("level"), int | float):
            readings.append(Reading(clock(), float(data["level"])))


async def run_loop(
    url: str,
    *,
    subject: str = "earl/ball-loop/led",
    levels: Sequence[int] = DEFAULT_LEVELS,
    steps: int = 20,
    step_s: float = 0.5,
    sample_s: float = 0.01,
    noise: float = 0.01,
    seed: int = 1,
    led: str = "upper",
    clock: Callable[[], float] = time.monotonic,
    wall: Callable[[], float] = time.time,
) -> LoopRun:
    """Run the loop for ``steps`` steps of ``step_s`` seconds each.

    Args:
        url: the hub's WebSocket URL.
        subject: the LED's command subject; the sensor publishes on ``SUBJECT/sensor``.
        levels: the pattern, repeated as needed (levels 0-15).
        steps: how many steps to send.
        step_s: seconds between steps.
        sample_s: the sensor's sampling period.
        noise: the sensor's noise (standard deviation, full scale 1.0).
        seed: seeds the sensor's noise.
        led: the LED of the ball-probe to drive.
        clock: the clock of the record (the simulator's too).
        wall: the clock of the readings' ``sampled`` time (ms since the epoch).

    Raises:
        HubClientError: the hub cannot be reached.
    """
    if not levels or any(not 0 <= level <= 15 for level in levels):
        raise ValueError("levels are 0-15, at least one")
    sim = SimulatedTCA6507(clock=clock)
    chip = TCA6507(sim)
    chip.load()
    ports = BALL_PROBE.ports(led)
    sensor = SimulatedLightSensor(sim, ports, noise=noise, rng=random.Random(seed))
    run = LoopRun(
        settings={
            "levels": list(levels),
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
    async with (
        connected(url) as led_side,
        connected(url) as sensor_side,
        connected(url) as bench,
    ):
        server = LedServer(led_side, LedModule(chip), subject)
        states = await bench.subscribe(server.state_subject)
        readings = await bench.subscribe(f"{subject}/sensor")
        tasks = [
            asyncio.create_task(server.run(await led_side.subscribe(subject), stop)),
            asyncio.create_task(record_readings(readings, run.readings, clock)),
        ]
        await states.get()  # the LED is serving
        tasks.append(
            asyncio.create_task(
                sample_sensor(sensor_side, sensor, f"{subject}/sensor", sample_s, wall)
            )
        )
        try:
            loop = asyncio.get_running_loop()
            start = loop.time() + step_s  # a step of readings before the first command
            for i, level in zip(range(steps), itertools.cycle(levels), strict=False):
                await asyncio.sleep(max(0.0, start + i * step_s - loop.time()))
                run.steps.append(Step(clock(), level))
                await bench.publish(subject, {"id": i, "led": led, "color": [level] * len(ports)})
            await asyncio.sleep(step_s)
        finally:
            stop.set()
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        run.server = server.statistics()
    return run


def write_report(run: LoopRun, out: Path, command: str) -> str:
    """Write ``results.json``, ``led-loop.png`` and ``report.md`` into ``out``; return the text."""
    report = run.analyse()
    summary = report.summary()
    out.mkdir(parents=True, exist_ok=True)
    raw = {
        "command": command,
        "settings": run.settings,
        "summary": summary,
        "server": run.server,
        "steps": [[s.sent, s.level] for s in run.steps],
        "readings": [[r.received, r.value] for r in run.readings],
    }
    (out / "results.json").write_text(json.dumps(raw, indent=1), encoding="utf-8")
    plot_tracking(run, report, out / "led-loop.png")
    latency = summary.get("latency_ms", {})
    actuation = run.server.get("command_to_written", {})
    s = run.settings
    lines = [
        "## LED servo loop (thesis §5.2)",
        "",
        f"    {command}",
        "",
        f"{s['steps']} steps of {s['step_s']} s, sensor every {s['sample_s'] * 1000:g} ms "
        f"with noise {s['noise']}: emitter → hub → LED → sensor → hub → detector.",
        "",
        *markdown_table(
            ["figure", "value"],
            [
                ["steps seen / sent", f"{report.steps - report.missed} / {report.steps}"],
                ["emitter→detector latency, median (ms)", f"{latency.get('median')}"],
                [
                    "emitter→detector latency, p95 / max (ms)",
                    f"{latency.get('p95')} / {latency.get('max')}",
                ],
                [
                    "command→registers written, median / max (ms)",
                    f"{actuation.get('median')} / {actuation.get('max')}",
                ],
                ["tracking error, RMS (lag included)", f"{summary['rms_error']}"],
                ["tracking error, RMS once settled", f"{summary['settled_rms_error']}"],
            ],
        ),
        "",
        "The latency includes up to one sensor period of waiting for the next sample.",
        "",
    ]
    text = "\n".join(lines)
    (out / "report.md").write_text(text, encoding="utf-8")
    return text


def plot_tracking(
    run: LoopRun, report: LoopReport, path: Path, title: str = "LED servo loop through the hub"
) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 6))
    FigureCanvasAgg(fig)
    track, hist = fig.subplots(2, 1, gridspec_kw={"height_ratios": [2, 1]})
    t0 = run.steps[0].sent if run.steps else 0.0
    if run.readings:
        track.plot(
            [r.received - t0 for r in run.readings],
            [r.value for r in run.readings],
            ".",
            markersize=2,
            color="tab:orange",
            label="detector (sensor readings received)",
        )
    if run.steps:
        end = run.readings[-1].received if run.readings else run.steps[-1].sent
        xs = [s.sent - t0 for s in run.steps] + [end - t0]
        ys = [s.brightness for s in run.steps] + [run.steps[-1].brightness]
        track.step(xs, ys, where="post", color="tab:blue", label="emitter (level / 15)")
    track.set_ylabel("brightness")
    track.set_xlabel("time from the first step (s)")
    track.set_ylim(-0.05, 1.05)
    track.legend(loc="upper right", fontsize=8)
    track.grid(True, alpha=0.3)
    if report.latencies_ms:
        hist.hist(report.latencies_ms, bins=20, color="tab:green")
    hist.set_xlabel("emitter→detector latency (ms)")
    hist.set_ylabel("steps")
    hist.grid(True, alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
