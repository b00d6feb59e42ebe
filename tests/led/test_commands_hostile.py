"""Commands built to break the parser: each gets a short, sendable error (pure)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from earlgate.led.commands import (
    MAX_DEPTH,
    MAX_ID_INTEGER,
    MAX_ID_LENGTH,
    PREVIEW_CHARS,
    CommandError,
    parse_command,
    preview,
)

LEDS = ("lower", "upper")
SET = {"led": "lower", "color": [15, 0, 0]}


def nested(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth - 1):
        value = [value]
    return value


def refusal(data: Any, **limits: int) -> CommandError:
    with pytest.raises(CommandError) as refused:
        parse_command(data, LEDS, **limits)
    orjson.dumps(refused.value.reason)  # the hub's encoder takes it
    assert len(refused.value.reason) < 400
    return refused.value


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ({**SET, "id": 2**64}, "between -(2^53-1) and 2^53-1"),
        ({**SET, "id": MAX_ID_INTEGER + 1}, "got one of 54 bits"),
        ({**SET, "id": -MAX_ID_INTEGER - 1}, "between -(2^53-1) and 2^53-1"),
        ('{"id": 18446744073709551616, "led": "lower", "color": [15, 0, 0]}', "2^53-1"),
        ({**SET, "id": "\ud800"}, "lone surrogate"),
        ('{"id": "a\\udc00", "led": "lower", "color": [15, 0, 0]}', "lone surrogate"),
        ({**SET, "id": "x" * (MAX_ID_LENGTH + 1)}, "at most 256 characters, got 257"),
        ('{"id": NaN, "led": "lower", "color": [15, 0, 0]}', "id must be a finite number"),
        ({**SET, "id": float("inf")}, "id must be a finite number"),
        ({**SET, "id": {"a": 1}}, "id must be a string or a number, got an object"),
    ],
)
def test_an_id_the_answer_cannot_carry_back_is_refused(data: Any, reason: str) -> None:
    error = refusal(data)
    assert reason in error.reason and error.code == "bad_command"
    assert error.command_id is None


def test_ids_that_come_back_exactly_are_kept() -> None:
    for command_id in (MAX_ID_INTEGER, -MAX_ID_INTEGER, 1.5, "x" * MAX_ID_LENGTH, "é✓"):
        assert parse_command({**SET, "id": command_id}, LEDS).id == command_id


@pytest.mark.parametrize(
    "data",
    [
        "[" * 5000 + "]" * 5000,  # deeper than the JSON decoder goes
        '{"led": "lower", "color": ' + "[" * 3000 + "]" * 3000 + "}",
        '{"led": "lower", "color": ' + "[" * MAX_DEPTH + "]" * MAX_DEPTH + "}",
        {"led": "lower", "color": nested(300)},
        {"led": "lower", "color": [15, 0, 0], "blink": {"on_ms": nested(MAX_DEPTH)}},
    ],
)
def test_deep_nesting_is_refused(data: Any) -> None:
    error = refusal(data)
    assert error.code == "bad_command"
    assert error.reason == f"data nests arrays and objects more than {MAX_DEPTH} levels deep"


def test_the_depth_limit_is_configurable() -> None:
    blink = {**SET, "blink": {"on_ms": 512, "off_ms": 512}}
    assert parse_command(blink, LEDS, max_depth=2).action == "blink"
    assert "more than 1 levels" in refusal(blink, max_depth=1).reason
    assert parse_command({**SET, "id": "abc"}, LEDS, max_id_length=3).id == "abc"
    assert "at most 2 characters" in refusal({**SET, "id": "abc"}, max_id_length=2).reason


@pytest.mark.parametrize(
    "on_ms",
    [10**400, -(10**400), float("nan"), float("inf"), -1e-9, True, "512", None, [512]],
)
def test_a_time_beyond_the_floats_or_not_a_time_is_refused(on_ms: Any) -> None:
    error = refusal({**SET, "blink": {"on_ms": on_ms, "off_ms": 512}})
    assert error.reason.startswith("blink.on_ms must be a number of ms >= 0, finite, got ")


def test_a_time_of_400_digits_in_json_text_is_refused() -> None:
    text = '{"led": "upper", "color": [15, 0, 0], "blink": {"on_ms": 1%s, "off_ms": 1}}'
    error = refusal(text % ("0" * 400))
    assert "blink.on_ms must be a number of ms >= 0" in error.reason
    assert error.reason.endswith("got an integer of 1329 bits")


def test_huge_finite_times_are_left_to_the_chip() -> None:
    command = parse_command({**SET, "blink": {"on_ms": 1e308, "off_ms": 2**1000}}, LEDS)
    assert command.on_ms == 1e308 and command.off_ms == float(2**1000)


@pytest.mark.parametrize(
    ("data", "shown"),
    [
        ({**SET, "\ud800key": 1}, "unknown key(s) \\ud800key;"),
        ({**SET, "k" * 1000: 1}, "unknown key(s) " + "k" * 39 + "…;"),
        ({**SET, **{f"x{i}": i for i in range(50)}}, "x0, x1, x10, x11, x12 and 45 more;"),
        ({"led": "l" * 10_000, "off": True}, "unknown led 'lll"),
        ({"led": "\udfff", "off": True}, "unknown led '\\udfff'"),
        ({"led": "upper", "color": ["\ud800", 2**70, 0]}, "got an array"),
        ({"led": "upper", "color": list(range(10_000))}, "got [0,1,2,3,"),
        ({"led": "upper", "color": [2**64, 0, 0]}, "got an array"),
    ],
)
def test_reasons_quote_hostile_values_short_and_encodable(data: Any, shown: str) -> None:
    assert shown in refusal(data).reason


def test_preview() -> None:
    assert preview([16, 0, 0]) == "[16,0,0]"
    assert preview(float("nan")) == "nan"
    assert preview("\ud800") == "a string"
    assert preview(10**400) == "an integer of 1329 bits"
    assert preview(2**64 - 1) == str(2**64 - 1)
    assert preview({"a": nested(300)}) == "an object"
    long = preview("x" * 1000)
    assert len(long) == PREVIEW_CHARS and long.endswith("…")
