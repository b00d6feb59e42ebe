"""The queue of commands waiting for the chip: the latest for an LED wins (pure)."""

from __future__ import annotations

from typing import TypeVar

import pytest

from earlgate.led.coalesce import ALL, CommandQueue, QueueFull

T = TypeVar("T")


def drain(queue: CommandQueue[T]) -> list[T]:
    items: list[T] = []
    while (item := queue.pop()) is not None:
        items.append(item)
    return items


def test_the_latest_outright_command_for_an_led_wins() -> None:
    queue: CommandQueue[str] = CommandQueue()
    assert queue.push("lower-1", "lower", outright=True) == []
    assert queue.push("upper-1", "upper", outright=True) == []
    assert queue.push("lower-2", "lower", outright=True) == ["lower-1"]
    assert queue.push("lower-3", "lower", outright=True) == ["lower-2"]
    assert len(queue) == 2
    # The winner joins the end: commands reach the chip in arrival order.
    assert drain(queue) == ["upper-1", "lower-3"]
    assert queue.pop() is None and len(queue) == 0


def test_steps_wait_in_order_until_an_outright_command_supersedes_them() -> None:
    queue: CommandQueue[str] = CommandQueue()
    queue.push("up-1", "lower", outright=False)
    assert queue.push("up-2", "lower", outright=False) == []
    queue.push("upper-set", "upper", outright=True)
    assert queue.push("down", "upper", outright=False) == []
    assert queue.push("lower-set", "lower", outright=True) == ["up-1", "up-2"]
    assert drain(queue) == ["upper-set", "down", "lower-set"]


def test_all_supersedes_every_led_but_one_led_does_not_supersede_all() -> None:
    queue: CommandQueue[str] = CommandQueue()
    queue.push("lower", "lower", outright=True)
    queue.push("up", "upper", outright=False)
    queue.push("off-1", ALL, outright=True)
    assert queue.push("off-2", ALL, outright=True) == ["off-1"]
    assert queue.push("lower-again", "lower", outright=True) == []
    assert queue.push("off-3", ALL, outright=True) == ["off-2", "lower-again"]
    assert drain(queue) == ["off-3"]
    queue.push("lower", "lower", outright=True)
    queue.push("up", "upper", outright=False)
    assert queue.push("off", ALL, outright=True) == ["lower", "up"]


def test_a_full_queue_refuses_what_supersedes_nothing() -> None:
    queue: CommandQueue[str] = CommandQueue(max_waiting=2)
    queue.push("up-1", "lower", outright=False)
    queue.push("up-2", "upper", outright=False)
    with pytest.raises(QueueFull, match="2 commands are waiting"):
        queue.push("up-3", "lower", outright=False)
    with pytest.raises(QueueFull):
        queue.push("middle-set", "middle", outright=True)  # no LED of its own waits
    assert len(queue) == 2  # nothing changed
    assert queue.push("lower-set", "lower", outright=True) == ["up-1"]
    assert drain(queue) == ["up-2", "lower-set"]


def test_max_waiting_is_at_least_one() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        CommandQueue(max_waiting=0)


def test_a_flood_stays_bounded_by_counting() -> None:
    """5,000 commands, five arriving for each one the chip takes: none waits long."""
    queue: CommandQueue[tuple[int, int]] = CommandQueue()
    outcome: dict[int, str] = {}
    waited: list[int] = []
    tick = 0
    for i in range(5000):
        led = ("lower", "upper")[i % 2]
        for old, _ in queue.push((i, tick), led, outright=True):
            assert old not in outcome
            outcome[old] = "superseded"
        if i % 5 == 4:  # the chip takes one command per five arrivals
            tick += 1
            served = queue.pop()
            assert served is not None
            outcome[served[0]] = "applied"
            waited.append(tick - served[1])
        assert len(queue) <= 2
    for i, _ in drain(queue):
        outcome[i] = "applied"
    assert sorted(outcome) == list(range(5000))  # each command one outcome
    assert max(waited) <= 2  # ticks from arrival to the chip
    assert outcome[4998] == outcome[4999] == "applied"  # the last for each LED
    assert list(outcome.values()).count("applied") < 1100
