"""The simulated light sensor: the LED's brightness as a detector sees it."""

from __future__ import annotations

import random
import statistics

import pytest

from earlgate.led import LedModule, SimulatedLightSensor, SimulatedTCA6507

from .conftest import FakeClock


def test_reads_the_mean_duty_of_its_ports(leds: LedModule, sim: SimulatedTCA6507) -> None:
    sensor = SimulatedLightSensor(sim, (4, 5, 6), noise=0.0)
    assert sensor.read() == 0.0
    leds.set_color("upper", (15, 6, 0))
    assert sensor.read() == pytest.approx((1 + 6 / 15) / 3)
    weighted = SimulatedLightSensor(sim, (4, 5, 6), weights=(1, 0, 0), noise=0.0)
    assert weighted.read() == 1.0


def test_follows_a_blink(leds: LedModule, sim: SimulatedTCA6507, clock: FakeClock) -> None:
    sensor = SimulatedLightSensor(sim, (4,), noise=0.0)
    t0 = clock.now
    leds.blink("upper", (15, 0, 0), on_ms=512, off_ms=1024)
    assert sensor.read(t0 + 0.1) == 1.0
    assert sensor.read(t0 + 0.7) == 0.0


def test_noise_is_repeatable_and_clipped(leds: LedModule, sim: SimulatedTCA6507) -> None:
    leds.set_color("upper", (8, 0, 0))
    a = SimulatedLightSensor(sim, (4,), noise=0.05, rng=random.Random(7))
    b = SimulatedLightSensor(sim, (4,), noise=0.05, rng=random.Random(7))
    readings = [a.read() for _ in range(400)]
    assert readings == [b.read() for _ in range(400)]
    assert statistics.mean(readings) == pytest.approx(8 / 15, abs=0.01)
    assert 0.03 < statistics.stdev(readings) < 0.07
    dark = SimulatedLightSensor(sim, (1,), noise=0.5, rng=random.Random(1))
    assert all(0.0 <= dark.read() <= 1.0 for _ in range(100))
    assert a.true_level() == pytest.approx(8 / 15)


def test_bad_arguments(sim: SimulatedTCA6507) -> None:
    with pytest.raises(ValueError):
        SimulatedLightSensor(sim, ())
    with pytest.raises(ValueError):
        SimulatedLightSensor(sim, (1, 2), weights=(1,))
    with pytest.raises(ValueError):
        SimulatedLightSensor(sim, (1,), noise=-1)
    with pytest.raises(ValueError):
        SimulatedLightSensor(sim, (1,), weights=(0,))
