"""A simulated light sensor looking at a simulated LED (thesis §5.2's detector).

The thesis proposes closing the loop "from emitter to detector": drive the
LED's brightness through the network and compare it with what a light-level
sensor sees. :class:`SimulatedLightSensor` is that sensor for the simulator:
it averages the PWM duty of the LED's channels (the LED module's colour
channels sit under one lens), adds Gaussian noise, and clips to the ADC's
range 0.0-1.0. The random generator is injected, so readings are repeatable.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from earlgate.led.simulator import SimulatedTCA6507

__all__ = ["SimulatedLightSensor"]


class SimulatedLightSensor:
    """Reads the brightness of some ports of a :class:`SimulatedTCA6507`.

    Args:
        chip: the simulated chip.
        ports: the ports the sensor sees (e.g. the upper LED's three).
        weights: the sensor's response to each port; equal by default. The
            reading is ``sum(weight * duty) / sum(weights)``.
        noise: standard deviation of the added noise, in full-scale units.
        rng: the random source; seed it for repeatable readings.
    """

    def __init__(
        self,
        chip: SimulatedTCA6507,
        ports: Sequence[int],
        *,
        weights: Sequence[float] | None = None,
        noise: float = 0.01,
        rng: random.Random | None = None,
    ) -> None:
        if not ports:
            raise ValueError("a sensor must see at least one port")
        if weights is not None and len(weights) != len(ports):
            raise ValueError("one weight per port")
        if noise < 0:
            raise ValueError("noise must be >= 0")
        self.chip = chip
        self.ports = tuple(ports)
        self.weights = tuple(weights) if weights is not None else (1.0,) * len(ports)
        if sum(self.weights) <= 0:
            raise ValueError("weights must add up to more than 0")
        self.noise = noise
        self.rng = rng if rng is not None else random.Random()

    def true_level(self, t: float | None = None) -> float:
        """The noiseless reading at clock time ``t`` (now when omitted)."""
        total = sum(
            w * self.chip.level(p, t) for w, p in zip(self.weights, self.ports, strict=True)
        )
        return total / sum(self.weights)

    def read(self, t: float | None = None) -> float:
        """One reading: the true level plus noise, clipped to 0.0-1.0."""
        value = self.true_level(t)
        if self.noise:
            value += self.rng.gauss(0.0, self.noise)
        return min(1.0, max(0.0, value))
