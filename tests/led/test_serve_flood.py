"""``earlgate led serve`` under a flood: the latest command for an LED wins.

Commands queued behind a busy bus used to wait their turn, so at 1,000
commands a second the time from a command to its registers grew without
bound. Now the waiting commands for an LED are superseded by the latest,
each still answered once, and the time stays within a few commands' bus
time: shown with an injected clock that only the bus moves, then through a
real hub.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from typing import Any

from earlgate.client import HubClient, Subscription
from earlgate.led import TCA6507, LedModule, SimulatedTCA6507
from earlgate.led.serve import LedServer
from hubproc import HubProcess

from .conftest import FakeClock
from .publishers import EncodingRecorder

WAIT = 10.0  # seconds: a bound on waiting for a message, never a delay
WRITE_S = 0.001  # bus time per write transfer on the timed bus
COMMANDS = 5000


class TimedBus(SimulatedTCA6507):
    """The simulated chip behind a bus on which each write takes ``WRITE_S`` of the clock."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__(clock=clock)
        self.fake_clock = clock

    def write_i2c_block_data(
        self, i2c_addr: int, register: int, data: Sequence[int], force: bool | None = None
    ) -> None:
        super().write_i2c_block_data(i2c_addr, register, data, force)
        self.fake_clock.advance(WRITE_S)

    def write_byte_data(
        self, i2c_addr: int, register: int, value: int, force: bool | None = None
    ) -> None:
        super().write_byte_data(i2c_addr, register, value, force)
        self.fake_clock.advance(WRITE_S)


class Flood:
    """A subscription whose frames arrive at set times of the fake clock.

    A frame due later waits while the server has commands to apply (the bus
    moves the clock); when none waits, the clock jumps to the next arrival.
    """

    def __init__(self, frames: list[tuple[float, dict[str, Any]]], clock: FakeClock) -> None:
        self.frames = frames
        self.clock = clock
        self.server: LedServer | None = None
        self.next = 0

    def __aiter__(self) -> Flood:
        return self

    async def __anext__(self) -> dict[str, Any]:
        if self.next == len(self.frames):
            raise StopAsyncIteration
        arrival, frame = self.frames[self.next]
        while self.clock.now < arrival:
            assert self.server is not None
            if len(self.server.queue) == 0:
                self.clock.now = arrival
            else:
                await asyncio.sleep(0)  # the server applies one, and the bus moves the clock
        self.next += 1
        return frame


def flood_command(i: int) -> dict[str, Any]:
    """Command ``i``: alternately for each LED, colours of levels 0 and 15 only (always fit)."""
    color = [15 * (i // 2 % 2), 15 * (i // 4 % 2), 15]
    return {"id": i, "led": ("lower", "upper")[i % 2], "color": color}


def answers_by_id(published: list[tuple[str, Any, bool]]) -> Counter[Any]:
    ids: Counter[Any] = Counter()
    for subject, data, _ in published:
        if subject.endswith("/state") and "command" in data:
            ids[data["command"]["id"]] += 1
        elif subject.endswith("/error"):
            ids[data["id"]] += 1
    return ids


async def test_a_flood_at_the_bus_keeps_the_latency_bounded() -> None:
    """5,000 commands a second, where the bus takes 1-3 ms per command."""
    clock = FakeClock(1000.0)
    sim = TimedBus(clock)
    chip = TCA6507(sim)
    chip.load()
    frames = [
        (1000.0 + i * 0.0002, {"data": flood_command(i), "published": (1000.0 + i * 0.0002) * 1e3})
        for i in range(COMMANDS)
    ]
    flood = Flood(frames, clock)
    recorder = EncodingRecorder()
    server = LedServer(recorder, LedModule(chip), "earl/b/led", clock=clock, perf=clock)
    flood.server = server
    await server.run(flood)

    assert answers_by_id(recorder.published) == Counter(range(COMMANDS))  # one answer each
    stats = server.statistics()
    assert stats["received"] == COMMANDS == stats["applied"] + stats["superseded"]
    assert stats["refused"] == stats["overloaded"] == stats["waiting"] == 0
    # From the command's arrival to its registers: a few commands' bus time, not seconds.
    assert stats["command_to_written"]["max"] <= 10 * WRITE_S * 1000
    assert stats["superseded"] > COMMANDS // 2
    # The latest command for each LED is the one the chip shows.
    last = {name: flood_command(COMMANDS - k)["color"] for k, name in ((2, "lower"), (1, "upper"))}
    state = recorder.published[-1][1]
    assert {name: led["color"] for name, led in state["leds"].items()} == last
    superseded = [d for s, d, _ in recorder.published if s.endswith("/error")]
    assert all(d["error"] == "superseded" and d["command"]["id"] == d["id"] for d in superseded)
    assert all(d["by"] > d["id"] and d["by"] % 2 == d["id"] % 2 for d in superseded)


def frame(data: Any) -> dict[str, Any]:
    return {"type": "publish", "subject": "earl/b/led", "data": data}


async def test_superseded_commands_are_answered_and_counted(
    leds: LedModule, sim: SimulatedTCA6507
) -> None:
    recorder = EncodingRecorder()
    server = LedServer(recorder, leds, "earl/b/led")
    await server.receive(frame({"id": "a", "led": "lower", "color": [15, 0, 0]}))
    await server.receive(frame({"led": "lower", "color": [0, 15, 0]}))
    await server.receive(frame({"id": "c", "led": "lower", "color": [0, 0, 15]}))
    assert sim.registers.ports == (0,) * 7  # nothing reached the chip yet
    await server.apply_waiting()
    (_, a, _), (_, b, _), (subject, state, _) = recorder.published
    assert a == {
        "error": "superseded",
        "reason": "a later command for lower replaced it before it reached the chip",
        "command": {"id": "a", "led": "lower", "color": [15, 0, 0]},
        "id": "a",
    }
    assert b["error"] == "superseded" and b["by"] == "c" and "id" not in b
    assert subject == "earl/b/led/state" and state["command"]["id"] == "c"
    assert sim.registers.ports[1:4] == (0, 0, 4)  # blue fully on
    stats = server.statistics()
    assert (stats["received"], stats["applied"], stats["superseded"]) == (3, 1, 2)


async def test_steps_wait_their_turn_up_to_max_waiting(
    leds: LedModule, sim: SimulatedTCA6507
) -> None:
    leds.set_color("upper", (10, 0, 0))
    recorder = EncodingRecorder()
    server = LedServer(recorder, leds, "earl/b/led", max_waiting=2)
    for i in range(3):
        await server.receive(frame({"id": i, "led": "upper", "brightness": "up"}))
    ((_, overloaded, _),) = recorder.published
    assert overloaded["error"] == "overloaded" and overloaded["id"] == 2
    assert "2 commands are waiting" in overloaded["reason"]
    await server.apply_waiting()
    assert leds.state("upper").color == (12, 0, 0)  # two steps, none dropped
    await server.receive(frame({"id": 3, "led": "upper", "brightness": "down"}))
    await server.receive(frame({"id": 4, "led": "upper", "off": True}))
    await server.apply_waiting()
    (_, step, _), (_, state, _) = recorder.published[-2:]
    assert (step["error"], step["id"], step["by"]) == ("superseded", 3, 4)
    assert state["command"] == {"action": "off", "led": "upper", "id": 4}
    assert leds.state("upper").color == (0, 0, 0)
    stats = server.statistics()
    assert (stats["applied"], stats["overloaded"], stats["superseded"]) == (3, 1, 1)


async def test_a_flood_through_a_real_hub(shared_hub: HubProcess, chip: TCA6507) -> None:
    """5,000 commands published at once: one answer each, the latest applied."""
    subject = "earl/ball-flood/led"
    stop = asyncio.Event()
    answers: Counter[Any] = Counter()
    outcome: dict[Any, str] = {}
    all_answered = asyncio.Event()

    async def collect(sub: Subscription) -> None:
        async for message in sub:
            data = message["data"]
            command_id = data["command"]["id"] if "seq" in data else data["id"]
            outcome[command_id] = "applied" if "seq" in data else data["error"]
            answers[command_id] += 1
            if len(answers) == COMMANDS:
                all_answered.set()

    async with HubClient(shared_hub.ws_url) as led_side, HubClient(shared_hub.ws_url) as user:
        states = await user.subscribe(f"{subject}/state")
        errors = await user.subscribe(f"{subject}/error")
        server = LedServer(led_side, LedModule(chip), subject)
        task = asyncio.create_task(server.run(await led_side.subscribe(subject), stop))
        async with asyncio.timeout(WAIT):
            assert (await states.get())["data"]["seq"] == 1  # the state at start
        collectors = [asyncio.create_task(collect(sub)) for sub in (states, errors)]
        for i in range(COMMANDS):
            await user.publish(subject, flood_command(i))
        async with asyncio.timeout(WAIT * 3):
            await all_answered.wait()
        stop.set()
        await task
        for collector in collectors:
            collector.cancel()
    assert answers == Counter(range(COMMANDS))
    assert set(outcome.values()) <= {"applied", "superseded"}
    assert outcome[COMMANDS - 1] == outcome[COMMANDS - 2] == "applied"
    stats = server.statistics()
    assert stats["received"] == COMMANDS == stats["applied"] + stats["superseded"]
    leds = LedModule(chip)
    assert leds.state("upper").color == tuple(flood_command(COMMANDS - 1)["color"])
    assert leds.state("lower").color == tuple(flood_command(COMMANDS - 2)["color"])
    assert states.dropped == errors.dropped == 0
