"""Property: any JSON in any field of a command gives a command or a clear error.

And through :class:`LedServer`: exactly one answer, one the hub's encoder
takes, and the chip changed only when that answer is the state. ``make fuzz``
runs these with the fuzz profile's example count.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import orjson
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from earlgate.led import TCA6507, LedModule, SimulatedTCA6507
from earlgate.led.commands import ACTIONS, CommandError, LedCommand, parse_command
from earlgate.led.serve import LedServer

from .publishers import EncodingRecorder

LEDS = ("lower", "upper")

# Text with lone surrogates too: what a "\ud800" escape in JSON text decodes to.
texts = st.text(st.characters(exclude_categories=()), max_size=20)
edges = st.sampled_from(
    [2**53, 2**64, -(2**63) - 1, 10**400, 1e308, -0.0, 0, 15, 16, 512, 700, "up", "all", ""]
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),  # nan and infinities included
    texts,
    edges,
)


def _nested(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth - 1):
        value = [value]
    return value


json_values = st.one_of(
    st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
        max_leaves=12,
    ),
    st.integers(1, 1000).map(_nested),  # as deep as the hub's decoder lets through
)


def field(plausible: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A field's value: mostly plausible, else any JSON at all."""
    return st.one_of(plausible, json_values)


times = field(st.one_of(st.sampled_from([0, 64, 512, 1024, 300]), st.floats(0, 20_000)))
blinks = st.fixed_dictionaries(
    {},
    optional={"on_ms": times, "off_ms": times, "fade_ms": times, "once": field(st.booleans())},
)
commands = st.fixed_dictionaries(
    {},
    optional={
        "id": field(st.one_of(st.integers(), texts)),
        "led": field(st.sampled_from([*LEDS, "all"])),
        "color": field(st.lists(st.integers(0, 15), min_size=3, max_size=3)),
        "blink": field(blinks),
        "off": field(st.just(True)),
        "brightness": field(st.sampled_from(["up", "down"])),
        "strict": field(st.booleans()),
    },
)


def _as_text(value: Any) -> str | None:
    try:
        return json.dumps(value)  # NaN, huge integers and lone surrogates as Python writes them
    except (RecursionError, ValueError):
        return None


texts_of_commands = st.one_of(
    commands.map(_as_text).filter(lambda text: text is not None),
    st.text(max_size=40),
    st.integers(1, 6000).map(lambda depth: "[" * depth + "]" * depth),
)
data = st.one_of(commands, json_values, texts_of_commands)


# Cases that once went unanswered: tried on every run, besides the random ones.
ID_BEYOND_64_BITS = {"id": 2**64, "led": "lower", "color": [15, 0, 0]}
ID_LONE_SURROGATE = {"id": "\ud800", "led": "lower", "color": [15, 0, 0]}
DEEP_TEXT = "[" * 5000 + "]" * 5000
TIME_BEYOND_FLOATS = {"led": "upper", "color": [15, 0, 0], "blink": {"on_ms": 10**400, "off_ms": 1}}
DEEP_ECHO = {"id": 0, "strict": _nested(252)}


def _encodable(value: Any) -> bool:
    try:
        return bool(orjson.loads(orjson.dumps(value)) == value)
    except TypeError:
        return False


@pytest.mark.fuzz
@given(data)
@example(ID_BEYOND_64_BITS)
@example(ID_LONE_SURROGATE)
@example(DEEP_TEXT)
@example(TIME_BEYOND_FLOATS)
def test_any_json_gives_a_command_or_a_clear_error(value: Any) -> None:
    try:
        command = parse_command(value, LEDS)
    except CommandError as exc:
        assert exc.code in ("bad_json", "bad_command")
        assert isinstance(exc.reason, str) and 0 < len(exc.reason) < 500
        orjson.dumps(exc.reason)
        assert exc.command_id is None or _encodable(exc.command_id)
        return
    assert isinstance(command, LedCommand) and command.action in ACTIONS
    assert command.led in LEDS or (command.led == "all" and command.action == "off")
    assert command.id is None or _encodable(command.id)
    assert all(isinstance(v, int) and 0 <= v <= 15 for v in command.color)
    for ms in (command.on_ms, command.off_ms, command.fade_ms):
        assert 0 <= ms < float("inf")


@pytest.mark.fuzz
@given(data, st.sampled_from([None, 0, 1.7e12, 2**64 - 1, -1e308, 10**400]))
@example(ID_BEYOND_64_BITS, None)
@example(ID_LONE_SURROGATE, None)
@example(DEEP_TEXT, None)
@example(TIME_BEYOND_FLOATS, None)
@example(DEEP_ECHO, None)
@example({"led": "lower", "color": [15, 0, 0]}, 10**400)
def test_the_server_answers_each_command_once(value: Any, published: float | None) -> None:
    sim = SimulatedTCA6507(clock=lambda: 100.0)
    chip = TCA6507(sim)
    chip.load()
    recorder = EncodingRecorder()
    server = LedServer(recorder, LedModule(chip), "earl/b/led")
    before = sim.register_bytes()
    frame: dict[str, Any] = {"type": "publish", "subject": "earl/b/led", "data": value}
    if published is not None:
        frame["published"] = published
    asyncio.run(server.handle(frame))
    ((subject, _, _),) = recorder.published
    if subject == "earl/b/led/error":
        assert sim.register_bytes() == before
        assert server.refused == 1
    else:
        assert subject == "earl/b/led/state" and server.applied == 1
