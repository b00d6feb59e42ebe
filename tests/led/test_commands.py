"""The JSON commands of ``earlgate led serve``: checking and applying, no I/O."""

from __future__ import annotations

from typing import Any

import pytest

from earlgate.led import LedModule, LedResourceError, LedUsageError, SimulatedTCA6507
from earlgate.led.commands import (
    COMMAND_SCHEMA,
    CommandError,
    LedCommand,
    execute,
    parse_command,
)

LEDS = ("lower", "upper")


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"led": "upper", "color": [15, 8, 0]}, LedCommand("set", "upper", (15, 8, 0))),
        (
            {"led": "upper", "color": [15, 0, 0], "blink": {"on_ms": 512, "off_ms": 1024}},
            LedCommand("blink", "upper", (15, 0, 0), 512.0, 1024.0),
        ),
        (
            {
                "id": "c-1",
                "led": "lower",
                "color": [0, 9, 0],
                "blink": {"on_ms": 256, "off_ms": 256, "fade_ms": 128, "once": True},
                "strict": False,
            },
            LedCommand("blink", "lower", (0, 9, 0), 256.0, 256.0, 128.0, True, False, "c-1"),
        ),
        ({"led": "all", "off": True}, LedCommand("off", "all")),
        ({"led": "upper", "off": True, "id": 7}, LedCommand("off", "upper", id=7)),
        ({"led": "lower", "brightness": "up"}, LedCommand("up", "lower")),
        ({"led": "lower", "brightness": "down"}, LedCommand("down", "lower")),
        ('{"led": "upper", "color": [1, 2, 3]}', LedCommand("set", "upper", (1, 2, 3))),
    ],
)
def test_valid_commands(data: Any, expected: LedCommand) -> None:
    assert parse_command(data, LEDS) == expected


@pytest.mark.parametrize(
    ("data", "code", "reason"),
    [
        ("not json {", "bad_json", "not JSON"),
        (None, "bad_command", "no data"),
        ([1, 2], "bad_command", "JSON object, got an array"),
        ("15", "bad_command", "JSON object, got a number"),
        ({"color": [1, 1, 1]}, "bad_command", "led is required"),
        ({"led": "middle", "color": [1, 1, 1]}, "bad_command", "unknown led 'middle'"),
        ({"led": "all", "color": [1, 1, 1]}, "bad_command", "unknown led 'all'"),
        ({"led": "upper", "dance": 1}, "bad_command", "unknown key(s) dance"),
        ({"led": "upper"}, "bad_command", "exactly one of"),
        ({"led": "upper", "color": [1, 1, 1], "off": True}, "bad_command", "exactly one of"),
        ({"led": "upper", "color": [16, 0, 0]}, "bad_command", "three integers 0-15"),
        ({"led": "upper", "color": [-1, 0, 0]}, "bad_command", "three integers 0-15"),
        ({"led": "upper", "color": [1.5, 0, 0]}, "bad_command", "three integers 0-15"),
        ({"led": "upper", "color": [True, 0, 0]}, "bad_command", "three integers 0-15"),
        ({"led": "upper", "color": [1, 0]}, "bad_command", "three integers 0-15"),
        ({"led": "upper", "off": False}, "bad_command", "off must be true"),
        ({"led": "upper", "brightness": "max"}, "bad_command", "'up' or 'down'"),
        ({"led": "upper", "off": True, "blink": {}}, "bad_command", "blink needs a color"),
        ({"led": "upper", "color": [1, 0, 0], "blink": 5}, "bad_command", "blink must be"),
        (
            {"led": "upper", "color": [1, 0, 0], "blink": {"on_ms": 1}},
            "bad_command",
            "blink.off_ms is required",
        ),
        (
            {"led": "upper", "color": [1, 0, 0], "blink": {"on_ms": -1, "off_ms": 1}},
            "bad_command",
            "blink.on_ms must be a number of ms >= 0",
        ),
        (
            {"led": "upper", "color": [1, 0, 0], "blink": {"on_ms": "1", "off_ms": 1}},
            "bad_command",
            "blink.on_ms must be",
        ),
        (
            '{"led": "upper", "color": [1, 0, 0], "blink": {"on_ms": NaN, "off_ms": 1}}',
            "bad_command",
            "blink.on_ms must be",
        ),
        (
            {"led": "upper", "color": [1, 0, 0], "blink": {"on_ms": 1, "off_ms": 1, "x": 1}},
            "bad_command",
            "unknown blink key(s) x",
        ),
        (
            {"led": "upper", "color": [1, 0, 0], "blink": {"on_ms": 1, "off_ms": 1, "once": 1}},
            "bad_command",
            "blink.once must be true or false",
        ),
        ({"led": "upper", "off": True, "strict": "no"}, "bad_command", "strict must be"),
        ({"led": "upper", "off": True, "id": [1]}, "bad_command", "id must be"),
    ],
)
def test_invalid_commands_say_why(data: Any, code: str, reason: str) -> None:
    with pytest.raises(CommandError) as refused:
        parse_command(data, LEDS)
    assert refused.value.code == code
    assert reason in refused.value.reason


def test_the_id_travels_with_the_error() -> None:
    with pytest.raises(CommandError) as refused:
        parse_command({"id": "x9", "led": "upper", "color": [99, 0, 0]}, LEDS)
    assert refused.value.command_id == "x9"


def test_the_schema_names_the_same_fields_as_the_parser() -> None:
    properties = COMMAND_SCHEMA["properties"]
    assert set(properties) == {"id", "led", "color", "blink", "off", "brightness", "strict"}
    assert set(properties["blink"]["properties"]) == {"on_ms", "off_ms", "fade_ms", "once"}
    assert properties["color"]["items"] == {"type": "integer", "minimum": 0, "maximum": 15}
    assert COMMAND_SCHEMA["additionalProperties"] is False


def test_execute_applies_each_action(leds: LedModule, sim: SimulatedTCA6507) -> None:
    applied = execute(leds, parse_command({"led": "lower", "color": [15, 8, 0]}, LEDS))
    assert applied["lower"].color == (15, 8, 0)
    applied = execute(leds, parse_command({"led": "lower", "brightness": "down"}, LEDS))
    assert applied["lower"].color == (14, 7, 0)
    applied = execute(leds, parse_command({"led": "lower", "brightness": "up"}, LEDS))
    assert applied["lower"].color == (15, 8, 0)
    command = {"led": "upper", "color": [0, 0, 15], "blink": {"on_ms": 512, "off_ms": 1024}}
    blink = execute(leds, parse_command(command, LEDS))["upper"].blink
    assert blink is not None and blink.period_ms == 3072
    applied = execute(leds, parse_command({"led": "all", "off": True}, LEDS))
    assert set(applied) == {"lower", "upper"}
    assert all(state.color == (0, 0, 0) for state in applied.values())
    assert sim.registers.ports == (0,) * 7


def test_execute_refusals_come_from_the_module(leds: LedModule) -> None:
    execute(leds, parse_command({"led": "lower", "color": [5, 8, 3]}, LEDS))
    with pytest.raises(LedResourceError):
        execute(leds, parse_command({"led": "upper", "color": [2, 0, 0]}, LEDS))
    loose = execute(
        leds, parse_command({"led": "upper", "color": [2, 0, 0], "strict": False}, LEDS)
    )
    assert loose["upper"].color == (3, 0, 0)
    with pytest.raises(LedUsageError):
        zero = {"led": "upper", "color": [9, 0, 0], "blink": {"on_ms": 0, "off_ms": 0}}
        execute(leds, parse_command(zero, LEDS))
