"""Simulated Earl devices: what a sensor reads at a given time.

Pure functions of time and a seed, so a simulated device is reproducible and
testable without a clock. The arm-probe (thesis chapter 3) wears an
accelerometer on a worker's arm; the temperature sensor publishes Activity
Streams objects, the format the thesis proposes for IoT data (section 2.5.1.1).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any

GRAVITY = 9.81


@dataclass
class Accelerometer:
    """An arm band: gravity plus a slow arm swing and sensor noise (m/s^2)."""

    seed: int = 0
    swing_hz: float = 0.5
    noise: float = 0.05
    _rng: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._phase = self._rng.uniform(0, 2 * math.pi)

    def reading(self, t: float) -> dict[str, float]:
        angle = 0.6 * math.sin(2 * math.pi * self.swing_hz * t + self._phase)
        noise = self._rng.gauss
        return {
            "x": round(GRAVITY * math.sin(angle) + noise(0, self.noise), 3),
            "y": round(0.3 * math.sin(4 * math.pi * self.swing_hz * t) + noise(0, self.noise), 3),
            "z": round(GRAVITY * math.cos(angle) + noise(0, self.noise), 3),
        }


@dataclass
class Thermometer:
    """A room sensor: a daily cycle around ``mean`` degrees Celsius, quantised to 0.1."""

    seed: int = 0
    mean: float = 21.0
    _rng: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def reading(self, t: float) -> float:
        daily = 2.0 * math.sin(2 * math.pi * t / 86400.0)
        return round(self.mean + daily + self._rng.gauss(0, 0.05), 1)


def activity(device_id: str, name: str, value: Any, unit: str, published_ms: int) -> dict[str, Any]:
    """An Activity Streams 1.0 ``post`` of a sensor value (the thesis's example)."""
    return {
        "published": published_ms,
        "actor": {"objectType": "sensor", "id": device_id, "displayName": name},
        "verb": "post",
        "object": {"value": value, "unit": unit},
    }
