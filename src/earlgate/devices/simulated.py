"""Running simulated devices against a hub: each one its own connection, like real gateways."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from earlgate.client import HubClient
from earlgate.devices.models import Accelerometer, Thermometer, activity


@dataclass
class DeviceSpec:
    """One simulated device: where it publishes, how often, and what."""

    device_id: str
    subject: str
    period: float
    reading: Callable[[float, int], dict[str, Any]]  # (t, published_ms) -> publish fields
    retain: bool = False


def arm_probe(index: int, period: float = 0.25) -> DeviceSpec:
    sensor = Accelerometer(seed=index)
    device = f"arm-{index:02d}"
    return DeviceSpec(
        device, f"earl/{device}/accel", period, lambda t, ms: {"data": sensor.reading(t)}
    )


def thermometer(index: int, period: float = 0.25) -> DeviceSpec:
    sensor = Thermometer(seed=100 + index)
    device = f"temp-{index:02d}"

    def reading(t: float, ms: int) -> dict[str, Any]:
        return {"data": activity(device, "Temperature Sensor", sensor.reading(t), "C", ms)}

    return DeviceSpec(device, f"earl/{device}/temperature", period, reading, retain=True)


def default_devices(arms: int = 3, thermometers: int = 2, period: float = 0.25) -> list[DeviceSpec]:
    return [arm_probe(i + 1, period) for i in range(arms)] + [
        thermometer(i + 1, period) for i in range(thermometers)
    ]


async def run_device(url: str, spec: DeviceSpec, stop: asyncio.Event) -> int:
    """Publish ``spec``'s readings every ``period`` seconds until ``stop``; return the count."""
    sent = 0
    async with HubClient(url) as client:
        loop = asyncio.get_running_loop()
        start = loop.time()
        while not stop.is_set():
            now_ms = int(time.time() * 1000)
            fields = spec.reading(loop.time() - start, now_ms)
            await client.publish(spec.subject, retain=spec.retain, published=now_ms, **fields)
            sent += 1
            next_due = start + sent * spec.period  # no drift: the thesis's steady 4 Hz
            try:
                await asyncio.wait_for(stop.wait(), max(next_due - loop.time(), 0))
            except TimeoutError:
                pass
    return sent
