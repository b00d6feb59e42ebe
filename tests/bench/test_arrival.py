"""The load generator's arrival plans, without sockets: rates, phases, seeds, the old slots."""

from __future__ import annotations

import heapq
import itertools
import statistics

import pytest

from earlgate.bench.arrival import (
    ARRIVALS,
    DEFAULT_ARRIVAL,
    SLOTS,
    describe,
    due_times,
    firings,
    slot_groups,
)

START = 1000.0
PERIOD = 0.25


def old_slot_plan(publishers: int, period: float, start: float, until: float) -> list:
    """The load generator's plan before arrivals existed, as its timers fired."""
    slots: list[list[int]] = [[] for _ in range(min(SLOTS, publishers))]
    for index in range(publishers):
        slots[index % len(slots)].append(index)
    timers = [(start + period * slot / len(slots), slot) for slot in range(len(slots))]
    heapq.heapify(timers)
    fired = []
    while timers[0][0] < until:
        due, slot = heapq.heappop(timers)
        fired.append((due, tuple(slots[slot])))
        heapq.heappush(timers, (due + period, slot))
    return fired


def take(arrival: str, publishers: int, until: float, **options: float) -> list:
    plan = firings(arrival, publishers, PERIOD, START, **options)  # type: ignore[arg-type]
    return list(itertools.takewhile(lambda firing: firing[0] < until, plan))


@pytest.mark.parametrize("publishers", [1, 7, 49, 50, 51, 1000, 9000])
def test_slots_are_the_old_plan_to_the_bit(publishers: int) -> None:
    until = START + 20 * PERIOD
    assert take("slots", publishers, until) == old_slot_plan(publishers, PERIOD, START, until)


def test_slots_deal_publishers_into_fifty_groups() -> None:
    groups = slot_groups(1000)
    assert len(groups) == SLOTS and all(len(group) == 20 for group in groups)
    assert groups[3][:3] == (3, 53, 103)
    assert slot_groups(3) == [(0,), (1,), (2,)]


@pytest.mark.parametrize("arrival", ARRIVALS)
def test_every_plan_is_in_time_order_and_sends_each_publisher_at_the_mean_rate(
    arrival: str,
) -> None:
    publishers, periods = 200, 400
    until = START + periods * PERIOD
    plan = take(arrival, publishers, until, seed=7)
    dues = [due for due, _ in plan]
    assert dues == sorted(dues) and dues[0] >= START
    sends = sum(len(members) for _, members in plan)
    # slots and spread are exact; poisson within a few standard deviations (sd ~ 1/sqrt(80000)).
    assert sends / (periods * PERIOD) == pytest.approx(publishers / PERIOD, rel=0.02)
    per_publisher = due_times(
        firings(arrival, publishers, PERIOD, START, seed=7), publishers, until
    )
    counts = [len(times) for times in per_publisher]
    assert min(counts) > 0 and sum(counts) == sends


def test_spread_gives_every_publisher_its_own_phase() -> None:
    publishers = 4000
    plan = take("spread", publishers, START + PERIOD)
    assert [members for _, members in plan] == [(index,) for index in range(publishers)]
    phases = [due - START for due, _ in plan]
    gaps = [b - a for a, b in itertools.pairwise(phases)]
    assert len(set(phases)) == publishers
    assert min(gaps) == pytest.approx(PERIOD / publishers) == pytest.approx(max(gaps))


def test_spread_repeats_each_publisher_exactly_every_period() -> None:
    times = due_times(firings("spread", 9000, PERIOD, START), 9000, START + 10 * PERIOD)
    for index in (0, 1, 4500, 8999):
        gaps = [b - a for a, b in itertools.pairwise(times[index])]
        assert len(gaps) == 9 and all(gap == pytest.approx(PERIOD) for gap in gaps)


def test_spread_phases_of_two_processes_interleave() -> None:
    first = [due for due, _ in take("spread", 100, START + PERIOD, phase=0.0)]
    second = [due for due, _ in take("spread", 100, START + PERIOD, phase=0.5)]
    merged = sorted(first + second)
    gaps = [b - a for a, b in itertools.pairwise(merged)]
    assert min(gaps) == pytest.approx(PERIOD / 200) == pytest.approx(max(gaps))


def test_poisson_gaps_are_exponential_with_mean_period() -> None:
    times = due_times(firings("poisson", 50, PERIOD, START, seed=3), 50, START + 2000 * PERIOD)
    gaps = [b - a for series in times for a, b in itertools.pairwise(series)]
    assert len(gaps) > 90_000
    mean = statistics.fmean(gaps)
    assert mean == pytest.approx(PERIOD, rel=0.02)
    # An exponential's standard deviation equals its mean; evenly paced sends would give 0.
    assert statistics.pstdev(gaps) == pytest.approx(mean, rel=0.03)
    assert sum(gap < PERIOD / 10 for gap in gaps) / len(gaps) == pytest.approx(0.095, abs=0.01)


def test_poisson_is_determined_by_seed_and_stream() -> None:
    until = START + 4 * PERIOD
    assert take("poisson", 100, until, seed=1) == take("poisson", 100, until, seed=1)
    assert take("poisson", 100, until, seed=1) != take("poisson", 100, until, seed=2)
    assert take("poisson", 100, until, seed=1, stream=1) != take(
        "poisson", 100, until, seed=1, stream=101
    )


def test_slots_and_spread_do_not_depend_on_the_seed() -> None:
    until = START + 3 * PERIOD
    for arrival in ("slots", "spread"):
        assert take(arrival, 120, until, seed=1) == take(arrival, 120, until, seed=99, stream=5)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (("bursty", 10, PERIOD), "arrival 'bursty': choose from slots, spread, poisson"),
        (("spread", 0, PERIOD), "publishers 0: need at least 1"),
        (("spread", 10, 0.0), "period 0.0: need a period > 0 seconds"),
        (("poisson", 10, -1.0), "period -1.0: need a period > 0 seconds"),
    ],
)
def test_bad_plans_are_refused_by_name(arguments: tuple, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        firings(*arguments, START)


@pytest.mark.parametrize("phase", [-0.1, 1.0, 2.5])
def test_a_phase_outside_one_gap_is_refused(phase: float) -> None:
    with pytest.raises(ValueError, match="need 0 <= phase < 1"):
        firings("spread", 10, PERIOD, START, phase=phase)


def test_reports_name_the_arrival() -> None:
    assert DEFAULT_ARRIVAL == "spread"
    assert describe("spread").startswith("arrival: spread (each publisher at its own phase")
    assert describe("slots") == (
        "arrival: slots (publishers dealt into 50 groups per period, "
        "each group's messages sent together)"
    )
    assert "seed 42" in describe("poisson", 42)
    with pytest.raises(ValueError, match="arrival 'x'"):
        describe("x")
