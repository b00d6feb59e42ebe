"""End-of-turn pauses (``--coalesce-ms``): the pure decision, one pause per turn, the bounds."""

from __future__ import annotations

import asyncio

import pytest

from earlgate.hub.config import HubConfig
from earlgate.server.coalescing import TurnCoalescer, pause_for


def test_pause_tops_a_short_turn_up_to_the_window() -> None:
    assert pause_for(10.0, 10.0003, 0.002) == pytest.approx(0.0017)
    assert pause_for(10.0, 10.0, 0.002) == pytest.approx(0.002)


def test_no_pause_after_a_turn_as_long_as_the_window() -> None:
    assert pause_for(10.0, 10.002, 0.002) == 0.0
    assert pause_for(10.0, 10.5, 0.002) == 0.0


def test_a_clock_going_backwards_pauses_at_most_the_window() -> None:
    assert pause_for(10.0, 9.0, 0.002) == 0.002


class FakeTime:
    """A clock that only moves when told to, and a sleep that records and advances it."""

    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


async def test_one_pause_per_turn_however_many_messages() -> None:
    fake = FakeTime()
    coalescer = TurnCoalescer(0.002, clock=fake.clock, sleep=fake.sleep)
    for _ in range(50):
        coalescer.note()
    fake.now += 0.0005  # the turn's work took 0.5 ms
    await asyncio.sleep(0)  # the end-of-turn callback runs
    assert fake.slept == [pytest.approx(0.0015)]
    coalescer.note()  # the next turn starts its own window
    await asyncio.sleep(0)
    assert fake.slept[1:] == [pytest.approx(0.002)]
    assert coalescer.statistics() == {"window_ms": 2.0, "pauses": 2, "paused_s": 0.0035}


async def test_a_long_turn_is_not_paused() -> None:
    fake = FakeTime()
    coalescer = TurnCoalescer(0.002, clock=fake.clock, sleep=fake.sleep)
    coalescer.note()
    fake.now += 0.003
    await asyncio.sleep(0)
    assert fake.slept == []
    assert coalescer.pauses == 0


async def test_no_message_no_pause() -> None:
    fake = FakeTime()
    TurnCoalescer(0.002, clock=fake.clock, sleep=fake.sleep)
    for _ in range(5):
        await asyncio.sleep(0)
    assert fake.slept == []


async def test_a_real_pause_lasts_the_window_and_no_more() -> None:
    loop = asyncio.get_running_loop()
    coalescer = TurnCoalescer(0.005)
    before = loop.time()
    coalescer.note()
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    took = loop.time() - before
    assert 0.004 <= took < 0.5
    assert coalescer.pauses == 1
    assert 0.0 < coalescer.paused_s <= 0.005


@pytest.mark.parametrize("window", [0.0, -0.001])
def test_the_window_must_be_positive(window: float) -> None:
    with pytest.raises(ValueError, match="coalescing window must be positive"):
        TurnCoalescer(window)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"coalesce_ms": -0.5}, "coalesce ms must be 0-10"),
        ({"coalesce_ms": 10.5}, "coalesce ms must be 0-10"),
        ({"coalesce_ms": 2.0, "shed_lag_ms": 2.0}, "coalesce ms must be below shed lag ms"),
    ],
)
def test_config_refuses_a_coalescing_window_out_of_range(
    settings: dict[str, float], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        HubConfig(**settings).validate()  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "settings",
    [{"coalesce_ms": 0.0}, {"coalesce_ms": 10.0}, {"coalesce_ms": 1.0, "shed_lag_ms": 5.0}],
)
def test_config_accepts_coalescing_windows_in_range(settings: dict[str, float]) -> None:
    HubConfig(**settings).validate()  # type: ignore[arg-type]
