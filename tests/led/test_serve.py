"""``earlgate led serve``: commands from a hub subject drive the simulated chip.

The server is tested alone against a recording publisher, then end to end
through a real ``earlgate hub`` process: in this process with the simulator's
clock in hand, and as the ``earlgate led serve --simulate`` command.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from earlgate.client import HubClient, Subscription
from earlgate.led import TCA6507, LedModule, SimulatedTCA6507
from earlgate.led.serve import LedServer
from earlgate.led.simstate import load_simulator
from hubproc import HubProcess, start_hub

from .conftest import FakeClock

WAIT = 10.0  # seconds: a bound on waiting for a message, never a delay


class Recorder:
    """A publisher that keeps what it is given."""

    def __init__(self) -> None:
        self.published: list[tuple[str, Any, bool]] = []

    async def publish(self, subject: str, data: Any = None, *, retain: bool = False) -> None:
        self.published.append((subject, data, retain))


def chip_snapshot(sim: SimulatedTCA6507) -> tuple[bytes, list[float | None], int]:
    """Registers, pattern phases and the number of bus transfers."""
    return sim.register_bytes(), [sim.pattern_start(p) for p in range(7)], len(sim.transfers)


def frame(data: Any, published: float | None = None) -> dict[str, Any]:
    result: dict[str, Any] = {"type": "publish", "subject": "earl/b/led", "data": data}
    if published is not None:
        result["published"] = published
    return result


# -- the server alone -------------------------------------------------------------


async def test_applies_and_publishes_state_with_latency(
    leds: LedModule, sim: SimulatedTCA6507
) -> None:
    recorder = Recorder()
    wall = FakeClock(1_000.0)
    perf = iter([5.0, 5.002])
    server = LedServer(recorder, leds, "earl/b/led", clock=wall, perf=lambda: next(perf))
    command = {"id": 3, "led": "lower", "color": [15, 8, 0]}
    await server.handle(frame(command, published=999_990.0))
    assert [round(sim.level(p) * 15) for p in (1, 2, 3)] == [15, 8, 0]
    ((subject, state, retain),) = recorder.published
    assert (subject, retain) == ("earl/b/led/state", True)
    assert state["seq"] == 1
    assert state["command"] == {"action": "set", "led": "lower", "id": 3}
    assert state["applied"] == {"lower": {"color": [15, 8, 0], "blink": None}}
    assert state["leds"]["upper"] == {"color": [0, 0, 0], "blink": None}
    assert state["registers"] == sim.register_bytes().hex(" ")
    assert state["written_at"] == 1_000_000.0
    assert state["latency_ms"] == {"receive_to_written": 2.0, "command_to_written": 10.0}
    assert server.statistics() == {
        "received": 1,
        "applied": 1,
        "refused": 0,
        "superseded": 0,
        "overloaded": 0,
        "waiting": 0,
        "command_to_written": {"count": 1, "median": 10.0, "p99": 10.0, "max": 10.0},
        "receive_to_written": {"count": 1, "median": 2.0, "p99": 2.0, "max": 2.0},
    }


@pytest.mark.parametrize(
    ("data", "code"),
    [
        ("{not json", "bad_json"),
        ({"led": "upper", "color": [16, 0, 0]}, "bad_command"),
        ({"led": "upper", "colour": [1, 0, 0]}, "bad_command"),
        ({"led": "upper", "color": [9, 0, 0], "blink": {"on_ms": 0, "off_ms": 0}}, "bad_command"),
        ({"led": "upper", "color": [2, 0, 0]}, "refused"),  # a fourth partial level
        ({"led": "upper", "color": [9, 0, 0], "blink": {"on_ms": 700, "off_ms": 0}}, "refused"),
    ],
)
async def test_refused_commands_change_nothing(
    leds: LedModule, sim: SimulatedTCA6507, data: Any, code: str
) -> None:
    leds.set_color("lower", (5, 8, 3))
    recorder = Recorder()
    server = LedServer(recorder, leds, "earl/b/led")
    before = chip_snapshot(sim)
    await server.handle(frame(data))
    assert chip_snapshot(sim) == before
    ((subject, error, retain),) = recorder.published
    assert (subject, retain) == ("earl/b/led/error", False)
    assert error["error"] == code and error["command"] == data and error["reason"]
    assert (server.applied, server.refused) == (0, 1)


async def test_a_bus_failure_is_reported_and_the_shadow_reloaded(
    leds: LedModule, sim: SimulatedTCA6507
) -> None:
    recorder = Recorder()
    server = LedServer(recorder, leds, "earl/b/led")
    sim.inject_nacks(100)
    await server.handle(frame({"id": "a", "led": "upper", "color": [15, 0, 0]}))
    ((subject, error, _),) = recorder.published
    assert subject == "earl/b/led/error" and error["error"] == "i2c" and error["id"] == "a"
    assert "0x45" in error["reason"]
    sim.inject_nacks(0)
    await server.handle(frame({"led": "upper", "color": [15, 0, 0]}))
    assert recorder.published[-1][0] == "earl/b/led/state"
    assert sim.registers.ports[4:7] == (4, 0, 0)  # fully on


# -- through a real hub -------------------------------------------------------------


@pytest.fixture(scope="module")
def hub() -> Iterator[HubProcess]:
    process = start_hub()
    yield process
    process.stop()


async def next_message(sub: Subscription) -> dict[str, Any]:
    async with asyncio.timeout(WAIT):
        return await sub.get()


@pytest.fixture
async def served(
    hub: HubProcess, sim: SimulatedTCA6507, chip: TCA6507
) -> AsyncIterator[tuple[HubClient, Subscription, Subscription, LedServer]]:
    """A server on ``earl/ball-01/led`` and a client watching its state and errors."""
    subject = "earl/ball-01/led"
    stop = asyncio.Event()
    async with HubClient(hub.ws_url) as led_side, HubClient(hub.ws_url) as user:
        states = await user.subscribe(f"{subject}/state")
        errors = await user.subscribe(f"{subject}/error")
        server = LedServer(led_side, LedModule(chip), subject)
        task = asyncio.create_task(server.run(await led_side.subscribe(subject), stop))
        assert (await next_message(states))["data"]["seq"] == 1  # the state at start
        yield user, states, errors, server
        assert not task.done(), "the server stopped while serving"
        stop.set()
        await task


async def test_end_to_end_through_a_hub(
    served: tuple[HubClient, Subscription, Subscription, LedServer],
    sim: SimulatedTCA6507,
    clock: FakeClock,
) -> None:
    user, states, errors, server = served
    subject = server.subject

    await user.publish(subject, {"id": 1, "led": "lower", "color": [15, 8, 0]})
    state = (await next_message(states))["data"]
    assert state["seq"] == 2 and state["command"] == {"action": "set", "led": "lower", "id": 1}
    assert [round(sim.level(p) * 15) for p in (1, 2, 3)] == [15, 8, 0]
    assert state["registers"] == sim.register_bytes().hex(" ")
    assert 0 <= state["latency_ms"]["command_to_written"] < WAIT * 1000

    blink = {"on_ms": 512, "off_ms": 1024}
    started = clock.now
    await user.publish(subject, {"id": 2, "led": "upper", "color": [15, 0, 0], "blink": blink})
    state = (await next_message(states))["data"]
    assert state["leds"]["upper"]["blink"]["period_ms"] == 3072
    assert sim.level(4, started + 0.1) == 1.0 and sim.level(4, started + 0.7) == 0.0
    assert sim.level(4, started + 3.072 + 0.1) == 1.0 and sim.level(5, started + 0.1) == 0.0

    # Bank 0 blinks upper; lower's 5 and 8 take bank 1 and ALD: nothing is left for a 3.
    await user.publish(subject, {"led": "lower", "color": [5, 8, 0]})
    assert (await next_message(states))["data"]["seq"] == 4
    before = chip_snapshot(sim)
    bad: list[Any] = [
        "not json at all",
        {"id": "op", "led": "upper", "dim": True},
        {"id": "range", "led": "upper", "color": [15, 0, 99]},
        {"id": "full", "led": "lower", "color": [5, 8, 3]},
    ]
    for data in bad:
        await user.publish(subject, data)
    answers = [(await next_message(errors))["data"] for _ in bad]
    assert [a["error"] for a in answers] == ["bad_json", "bad_command", "bad_command", "refused"]
    assert [a.get("id") for a in answers] == [None, "op", "range", "full"]
    assert [a["command"] for a in answers] == bad
    assert "unknown key(s) dim" in answers[1]["reason"]
    assert "0-15" in answers[2]["reason"]
    assert chip_snapshot(sim) == before

    # Still serving, and no state was published for the refused commands.
    await user.publish(subject, {"id": 5, "led": "all", "off": True})
    state = (await next_message(states))["data"]
    assert state["seq"] == 5 and state["command"]["id"] == 5
    assert sim.registers.ports == (0,) * 7
    assert (server.applied, server.refused) == (4, 4)

    # The state is retained: a late subscriber gets it at once.
    async with HubClient(user.url) as late:
        retained = await late.subscribe(f"{subject}/state", last=True)
        assert (await next_message(retained))["data"]["seq"] == 5


def test_the_serve_command_through_a_hub(hub: HubProcess, tmp_path: Path) -> None:
    """``earlgate led serve --simulate`` as a process: state file, signals, summary."""
    state_file = tmp_path / "sim.json"
    subject = "earl/ball-02/led"
    command = [sys.executable, "-m", "earlgate", "led", "serve", "--simulate"]
    command += ["--state-file", str(state_file), "--hub", hub.ws_url, "--subject", subject]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    server = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True
    )
    try:
        data = asyncio.run(_drive_serve_process(hub.ws_url, subject))
        assert data["applied"]["upper"]["blink"]["on_ms"] == 512
        sim = load_simulator(state_file)
        assert sim.registers.ports[4:7] == (6, 0, 0)  # upper red blinks on bank 0
        server.send_signal(signal.SIGTERM)
        out, _ = server.communicate(timeout=WAIT)
    finally:
        if server.poll() is None:
            server.kill()
            server.communicate()
    assert server.returncode == 0, out
    assert f"serving {subject} on {hub.ws_url}" in out
    summary = json.loads(out.strip().splitlines()[-1].removeprefix("earlgate led: "))
    assert summary["applied"] == 1 and summary["refused"] == 1
    assert summary["command_to_written"]["count"] == 1


async def _drive_serve_process(url: str, subject: str) -> dict[str, Any]:
    async with HubClient(url) as user:
        states = await user.subscribe(f"{subject}/state", last=True)
        errors = await user.subscribe(f"{subject}/error")
        assert (await next_message(states))["data"]["seq"] == 1  # the server is up
        await user.publish(subject, {"led": "upper", "color": [15, 0, 0], "blink": {"on_ms": 7}})
        assert "blink.off_ms is required" in (await next_message(errors))["data"]["reason"]
        blink = {"on_ms": 512, "off_ms": 1024}
        await user.publish(subject, {"led": "upper", "color": [15, 0, 0], "blink": blink})
        state = (await next_message(states))["data"]
        assert state["seq"] == 2
        return dict(state)
