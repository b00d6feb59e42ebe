"""The pacer on a real event loop, without sockets: every firing sent once, in order, when due."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from earlgate.bench.arrival import firings
from earlgate.bench.pacing import Pacer


@pytest.mark.parametrize("arrival", ["slots", "spread", "poisson"])
async def test_every_due_firing_is_sent_once_and_not_early(arrival: str) -> None:
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.02
    stop_at = start + 0.4
    expected = list(
        itertools.takewhile(
            lambda firing: firing[0] < stop_at, firings(arrival, 60, 0.1, start, seed=5)
        )
    )
    sent: list[tuple[tuple[int, ...], float]] = []
    pacer = Pacer(
        loop,
        firings(arrival, 60, 0.1, start, seed=5),
        lambda m: sent.append((m, loop.time())),
        stop_at,
    )
    pacer.start()
    await asyncio.sleep(stop_at - loop.time() + 0.1)
    assert pacer.done
    assert [members for members, _ in sent] == [members for _, members in expected]
    resolution = 0.001
    for (_, at), (due, _) in zip(sent, expected, strict=True):
        assert at >= due - resolution
    stats = pacer.statistics()
    assert stats["sent"] == sum(len(m) for _, m in expected) == pacer.lateness.total
    assert stats["sent_late"] <= stats["sent"] and stats["late_after_ms"] == 2.0
    assert 0 < stats["wakeups"] <= len(expected)
    assert set(stats["lateness_ms"]) == {"count", "mean", "p50", "p99", "max"}


async def test_a_send_held_up_is_counted_late() -> None:
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.01
    plan = firings("spread", 4, 0.04, start)

    def slow(members: tuple[int, ...]) -> None:
        if members == (0,):
            # Hold the loop for 20 ms: the next publishers' sends go out behind time.
            deadline = loop.time() + 0.02
            while loop.time() < deadline:
                pass

    pacer = Pacer(loop, plan, slow, start + 0.035, late_after=0.005)
    pacer.start()
    await asyncio.sleep(0.1)
    assert pacer.sent == 4
    assert pacer.late >= 1  # publisher 1 was due 10 ms after publisher 0
    assert pacer.lateness.max_ns >= 5_000_000


def test_a_negative_lateness_limit_is_refused() -> None:
    loop = asyncio.new_event_loop()
    try:
        with pytest.raises(ValueError, match="late_after -1: need >= 0 seconds"):
            Pacer(loop, firings("spread", 1, 1.0, 0.0), lambda m: None, 1.0, late_after=-1)
    finally:
        loop.close()
