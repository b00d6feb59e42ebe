"""The JSON commands ``earlgate led serve`` takes from the hub, checked and applied.

A command is the ``data`` of a publish frame on the LED's subject (e.g.
``earl/ball-01/led``). Exactly one action per command:

=================================================================  ==================
``{"led": "upper", "color": [15, 8, 0]}``                          steady colour
``{"led": "upper", "color": [15, 0, 0], "blink": {"on_ms": 512,    blink
"off_ms": 1024, "fade_ms": 128, "once": false}}``
``{"led": "upper", "off": true}``  (``"led": "all"`` allowed)      off
``{"led": "upper", "brightness": "up"}`` (or ``"down"``)           one step
=================================================================  ==================

Optional everywhere: ``"strict"`` (``false``: approximate instead of refusing;
the server's default otherwise) and
``"id"`` (a string or number, echoed in the state or the error). Unknown keys
are refused, so a typo is not silently ignored. A ``data`` that is a string is
read as JSON text (what bridges that forward raw payloads send); text that is
not JSON is refused with the code ``bad_json``. :data:`COMMAND_SCHEMA` is the
same contract as a JSON Schema; :func:`parse_command` checks it in plain code.
Pure: nothing here does I/O.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from earlgate.led.module import LedModule, LedState

__all__ = [
    "ACTIONS",
    "COMMAND_SCHEMA",
    "CommandError",
    "LedCommand",
    "execute",
    "parse_command",
]

ACTIONS: Final = ("set", "blink", "off", "up", "down")
_KEYS: Final = frozenset({"id", "led", "color", "blink", "off", "brightness", "strict"})
_BLINK_KEYS: Final = frozenset({"on_ms", "off_ms", "fade_ms", "once"})

_LEVEL: Final = {"type": "integer", "minimum": 0, "maximum": 15}
_MS: Final = {"type": "number", "minimum": 0}


def _any_of(*keys: str) -> dict[str, Any]:
    return {"anyOf": [{"required": [key]} for key in keys]}


# JSON Schema (2020-12) of a command: documentation for clients; the code
# below enforces the same rules.
COMMAND_SCHEMA: Final[dict[str, Any]] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "earlgate LED command",
    "type": "object",
    "additionalProperties": False,
    "required": ["led"],
    "properties": {
        "id": {"type": ["string", "number"]},
        "led": {"type": "string", "description": "an LED of the layout, or 'all' with off"},
        "color": {"type": "array", "items": _LEVEL, "minItems": 3, "maxItems": 3},
        "blink": {
            "type": "object",
            "additionalProperties": False,
            "required": ["on_ms", "off_ms"],
            "properties": {
                "on_ms": _MS,
                "off_ms": _MS,
                "fade_ms": _MS,
                "once": {"type": "boolean"},
            },
        },
        "off": {"const": True},
        "brightness": {"enum": ["up", "down"]},
        "strict": {"type": "boolean"},
    },
    "oneOf": [
        {"required": ["color"], "not": _any_of("off", "brightness")},
        {"required": ["off"], "not": _any_of("color", "blink", "brightness")},
        {"required": ["brightness"], "not": _any_of("color", "blink", "off")},
    ],
}


class CommandError(ValueError):
    """A command does not follow the schema; ``reason`` says where.

    Attributes:
        code: ``bad_json`` (string data that is not JSON) or ``bad_command``.
        command_id: the command's ``id`` when it had a valid one.
    """

    def __init__(
        self,
        reason: str,
        command_id: str | int | float | None = None,
        *,
        code: str = "bad_command",
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.command_id = command_id
        self.code = code


@dataclass(frozen=True)
class LedCommand:
    """A checked command."""

    action: str
    led: str
    color: tuple[int, ...] = ()
    on_ms: float = 0.0
    off_ms: float = 0.0
    fade_ms: float = 0.0
    once: bool = False
    strict: bool | None = None  # None: the module's default
    id: str | int | float | None = None


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return "an array"
    return f"a {type(value).__name__}"


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _ms(blink: dict[str, Any], key: str, default: float | None = None) -> float:
    if key not in blink:
        if default is None:
            raise CommandError(f"blink.{key} is required")
        return default
    value = blink[key]
    if not _is_number(value) or not value >= 0 or value == float("inf"):
        raise CommandError(f"blink.{key} must be a number of ms >= 0, got {value!r}")
    return float(value)


def parse_command(data: Any, leds: Sequence[str]) -> LedCommand:
    """Check one command against the schema.

    Args:
        data: the publish frame's ``data`` (an object, or JSON text of one).
        leds: the layout's LED names.

    Raises:
        CommandError: the command is malformed; the reason names the field.
    """
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except ValueError as exc:
            raise CommandError(f"data is a string but not JSON: {exc}", code="bad_json") from None
    if data is None:
        raise CommandError(
            'the publish frame has no data; a command is e.g. {"led": "upper", "color": [15, 0, 0]}'
        )
    if not isinstance(data, dict):
        raise CommandError(f"a command is a JSON object, got {_json_type(data)}")
    command_id = data.get("id")
    if command_id is not None and (
        isinstance(command_id, bool) or not isinstance(command_id, str | int | float)
    ):
        raise CommandError("id must be a string or a number")
    try:
        return _parse(data, leds, command_id)
    except CommandError as exc:
        exc.command_id = command_id
        raise


def _parse(data: dict[str, Any], leds: Sequence[str], command_id: Any) -> LedCommand:
    unknown = sorted(set(data) - _KEYS)
    if unknown:
        raise CommandError(
            f"unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(_KEYS))}"
        )
    led = data.get("led")
    if not isinstance(led, str):
        raise CommandError("led is required: " + " or ".join(repr(n) for n in (*leds, "all")))
    strict = data.get("strict")
    if strict is not None and not isinstance(strict, bool):
        raise CommandError("strict must be true or false")
    actions = [key for key in ("color", "off", "brightness") if key in data]
    if len(actions) != 1:
        raise CommandError("give exactly one of color (with or without blink), off, brightness")
    if "blink" in data and actions != ["color"]:
        raise CommandError("blink needs a color")
    if led not in leds and not (led == "all" and actions == ["off"]):
        raise CommandError(f"unknown led {led!r}; this module has {', '.join(leds)}")
    common = {"led": led, "strict": strict, "id": command_id}
    if actions == ["off"]:
        if data["off"] is not True:
            raise CommandError("off must be true")
        return LedCommand("off", **common)
    if actions == ["brightness"]:
        step = data["brightness"]
        if step not in ("up", "down"):
            raise CommandError("brightness must be 'up' or 'down'")
        return LedCommand(step, **common)
    color = data["color"]
    if (
        not isinstance(color, list)
        or len(color) != 3
        or not all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 15 for v in color)
    ):
        raise CommandError(f"color must be three integers 0-15, got {color!r}")
    if "blink" not in data:
        return LedCommand("set", color=tuple(color), **common)
    blink = data["blink"]
    if not isinstance(blink, dict):
        raise CommandError("blink must be an object with on_ms and off_ms")
    extra = sorted(set(blink) - _BLINK_KEYS)
    if extra:
        raise CommandError(f"unknown blink key(s) {', '.join(extra)}")
    once = blink.get("once", False)
    if not isinstance(once, bool):
        raise CommandError("blink.once must be true or false")
    return LedCommand(
        "blink",
        color=tuple(color),
        on_ms=_ms(blink, "on_ms"),
        off_ms=_ms(blink, "off_ms"),
        fade_ms=_ms(blink, "fade_ms", 0.0),
        once=once,
        **common,
    )


def execute(module: LedModule, command: LedCommand) -> dict[str, LedState]:
    """Apply a checked command; return the state of the LEDs it touched.

    Raises:
        LedResourceError: strict, and the chip cannot show it (nothing written).
        LedUsageError: e.g. a blink whose times are all zero.
        I2CError: the bus failed.
    """
    if command.action == "off":
        module.off(command.led)
        names = list(module.layout.leds) if command.led == "all" else [command.led]
        return {name: module.state(name) for name in names}
    if command.action == "set":
        state = module.set_color(command.led, command.color, strict=command.strict)
    elif command.action == "blink":
        state = module.blink(
            command.led,
            command.color,
            command.on_ms,
            command.off_ms,
            command.fade_ms,
            once=command.once,
            strict=command.strict,
        )
    elif command.action == "up":
        state = module.brightness_up(command.led, strict=command.strict)
    elif command.action == "down":
        state = module.brightness_down(command.led, strict=command.strict)
    else:  # pragma: no cover - parse_command only makes the five actions
        raise ValueError(f"unknown action {command.action!r}")
    return {command.led: state}
