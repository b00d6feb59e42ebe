"""Fixtures of the LED suite: a settable clock, the simulated chip, the driver."""

from __future__ import annotations

import pytest

from earlgate.led import TCA6507, LedModule, SimulatedTCA6507


class FakeClock:
    """A clock the test moves by hand; never sleeps."""

    def __init__(self, start: float = 100.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sim(clock: FakeClock) -> SimulatedTCA6507:
    return SimulatedTCA6507(clock=clock)


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def chip(sim: SimulatedTCA6507, sleeps: list[float]) -> TCA6507:
    driver = TCA6507(sim, sleep=sleeps.append)
    driver.load()
    return driver


@pytest.fixture
def leds(chip: TCA6507) -> LedModule:
    return LedModule(chip)
