"""``earlgate led serve``: every command gets exactly one answer the hub can carry.

A command whose answer could not be encoded used to change the chip and then
fail to publish (the retained state went stale); some got no answer at all.
Each case here gets one answer, which the hub client's encoder takes, and
the chip changes only when that answer is the state.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from earlgate.client import HubClient
from earlgate.led import TCA6507, LedModule, SimulatedTCA6507
from earlgate.led.commands import MAX_DEPTH
from earlgate.led.serve import LedServer
from hubproc import HubProcess, start_hub

from .publishers import EncodingRecorder

WAIT = 10.0  # seconds: a bound on waiting for a message, never a delay
SET = {"led": "lower", "color": [15, 0, 0]}


def nested(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth - 1):
        value = [value]
    return value


def frame(data: Any, **fields: Any) -> dict[str, Any]:
    return {"type": "publish", "subject": "earl/b/led", "data": data, **fields}


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ({**SET, "id": 2**64}, "2^53-1"),
        ({**SET, "id": "\ud800"}, "lone surrogate"),
        ('{"id": 18446744073709551616, "led": "lower", "color": [15, 0, 0]}', "2^53-1"),
        ('{"id": "\\ud800", "led": "lower", "color": [15, 0, 0]}', "lone surrogate"),
        ("[" * 5000 + "]" * 5000, f"more than {MAX_DEPTH} levels"),
        ({**SET, "blink": {"on_ms": 10**400, "off_ms": 512}}, "blink.on_ms must be"),
        ('{"led": "lower", "color": [15, 0, 0], "blink": {"on_ms": 1e400, "off_ms": 1}}', "on_ms"),
        ({"led": "upper", "color": nested(300)}, f"more than {MAX_DEPTH} levels"),
        ({"id": 0, "strict": nested(252)}, f"more than {MAX_DEPTH} levels"),
    ],
)
async def test_one_error_answer_and_the_chip_untouched(
    leds: LedModule, sim: SimulatedTCA6507, data: Any, reason: str
) -> None:
    recorder = EncodingRecorder()
    server = LedServer(recorder, leds, "earl/b/led")
    before = sim.register_bytes(), len(sim.transfers)
    await server.handle(frame(data))
    ((subject, error, retain),) = recorder.published
    assert (subject, retain) == ("earl/b/led/error", False)
    assert error["error"] == "bad_command" and reason in error["reason"]
    assert (sim.register_bytes(), len(sim.transfers)) == before
    assert server.statistics()["refused"] == 1


async def test_the_echo_is_left_out_when_it_cannot_be_sent(leds: LedModule) -> None:
    recorder = EncodingRecorder()
    server = LedServer(recorder, leds, "earl/b/led", max_echo_bytes=64)
    await server.handle(frame({"id": "big", "led": "upper", "dance": "x" * 100}))
    await server.handle(frame({"led": "upper", "color": nested(300)}))
    await server.handle(frame({"led": "upper", "dance": 1}))
    big, deep, small = (data for _, data, _ in recorder.published)
    assert "command" not in big and big["command_omitted"].endswith("bytes of JSON, over 64")
    assert big["id"] == "big" and "unknown key(s) dance" in big["reason"]
    assert deep["command_omitted"] == f"nested more than {MAX_DEPTH} levels"
    assert small["command"] == {"led": "upper", "dance": 1}


async def test_a_published_time_beyond_the_floats_is_left_out(
    leds: LedModule, sim: SimulatedTCA6507
) -> None:
    recorder = EncodingRecorder()
    server = LedServer(recorder, leds, "earl/b/led")
    await server.handle(frame({**SET, "id": 1}, published=10**400))
    ((subject, state, _),) = recorder.published
    assert subject == "earl/b/led/state" and state["command"]["id"] == 1
    assert set(state["latency_ms"]) == {"receive_to_written"}
    assert sim.registers.ports[1] == 4  # fully on


class FailingModule(LedModule):
    """An LED module with a bug in ``set_color``."""

    def set_color(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug")


async def test_a_failure_inside_the_server_is_answered_and_logged(
    chip: TCA6507, caplog: pytest.LogCaptureFixture
) -> None:
    recorder = EncodingRecorder()
    server = LedServer(recorder, FailingModule(chip), "earl/b/led")
    with caplog.at_level(logging.INFO, logger="earlgate.led.serve"):
        await server.handle(frame({**SET, "id": "b"}))
        await server.handle(frame({"id": "c", "led": "upper", "off": True}))
    (_, error, _), (subject, state, _) = recorder.published
    assert error == {
        "error": "internal",
        "reason": "RuntimeError: a bug",
        "command": {**SET, "id": "b"},
        "id": "b",
    }
    assert subject == "earl/b/led/state" and state["command"]["id"] == "c"
    failed = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert failed and failed[0].exc_info is not None
    assert "command internal (id 'b'): RuntimeError: a bug" in caplog.text


async def test_a_failed_save_still_publishes_the_state(
    leds: LedModule, caplog: pytest.LogCaptureFixture
) -> None:
    def save() -> None:
        raise OSError(28, "No space left on device")

    recorder = EncodingRecorder()
    server = LedServer(recorder, leds, "earl/b/led", on_change=save)
    await server.handle(frame({**SET, "id": 5}))
    ((subject, state, _),) = recorder.published
    assert subject == "earl/b/led/state" and state["command"]["id"] == 5
    assert "saving the LED state failed" in caplog.text


async def test_error_answers_are_logged(leds: LedModule, caplog: pytest.LogCaptureFixture) -> None:
    server = LedServer(EncodingRecorder(), leds, "earl/b/led")
    with caplog.at_level(logging.INFO, logger="earlgate.led.serve"):
        await server.handle(frame({"id": 4, "led": "upper", "colour": [1, 0, 0]}))
    assert "command bad_command (id 4): unknown key(s) colour" in caplog.text


# -- the serve command's log -----------------------------------------------------------


@pytest.fixture(scope="module")
def hub() -> Iterator[HubProcess]:
    process = start_hub()
    yield process
    process.stop()


def test_the_serve_command_logs_its_error_answers(hub: HubProcess, tmp_path: Any) -> None:
    subject = "earl/ball-03/led"
    command = [sys.executable, "-m", "earlgate", "led", "serve", "--simulate"]
    command += ["--state-file", str(tmp_path / "sim.json"), "--hub", hub.ws_url]
    command += ["--subject", subject, "--log-level", "debug"]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    server = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True
    )
    try:
        answer = asyncio.run(_send_a_bad_command(hub.ws_url, subject))
        assert answer["error"] == "bad_command" and "id" not in answer
        assert answer["command"]["id"] == 2**53
        server.send_signal(signal.SIGTERM)
        out, _ = server.communicate(timeout=WAIT)
    finally:
        if server.poll() is None:
            server.kill()
            server.communicate()
    assert server.returncode == 0, out
    assert " INFO earlgate.led.serve: command bad_command (id None): an integer id must" in out


async def _send_a_bad_command(url: str, subject: str) -> dict[str, Any]:
    async with HubClient(url) as user:
        states = await user.subscribe(f"{subject}/state", last=True)
        errors = await user.subscribe(f"{subject}/error")
        async with asyncio.timeout(WAIT):
            await states.get()  # the server is up
            await user.publish(subject, {**SET, "id": 2**53})
            return dict((await errors.get())["data"])
