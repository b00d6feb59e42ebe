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

Whatever ``data`` holds, :func:`parse_command` returns a command or raises
:class:`CommandError`; its reason is short, valid UTF-8 whatever the input
(values are quoted through :func:`preview`), and a command's ``id`` is one the
answer can carry back: JSON clients read it exactly and the hub's encoder
takes it. Pure: nothing here does I/O.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import orjson

from earlgate.led.module import LedModule, LedState

__all__ = [
    "ACTIONS",
    "COMMAND_SCHEMA",
    "CommandError",
    "LedCommand",
    "MAX_DEPTH",
    "MAX_ID_INTEGER",
    "MAX_ID_LENGTH",
    "deeper_than",
    "execute",
    "parse_command",
    "preview",
]

ACTIONS: Final = ("set", "blink", "off", "up", "down")
_KEYS: Final = frozenset({"id", "led", "color", "blink", "off", "brightness", "strict"})
_BLINK_KEYS: Final = frozenset({"on_ms", "off_ms", "fade_ms", "once"})

# Limits on a command (docs/led.md, "Commands"). Nesting: arrays and objects
# inside one another; a valid command has two levels (the command, its color
# or blink).
MAX_DEPTH: Final = 16
MAX_ID_LENGTH: Final = 256  # characters of a string id
# An integer id comes back exactly in every JSON client (JavaScript included)
# only up to 2^53 - 1, the bound the hub puts on its own frame ids.
MAX_ID_INTEGER: Final = 2**53 - 1
# Characters of a value quoted in an error's reason.
PREVIEW_CHARS: Final = 60

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
    if value is None:
        return "null"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, str):
        return "a string"
    return f"a {type(value).__name__}"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def preview(value: Any, limit: int = PREVIEW_CHARS) -> str:
    """``value`` as short JSON text for an error's reason.

    At most ``limit`` characters and always valid UTF-8, whatever was sent: a
    value the encoder refuses (a lone surrogate, an integer beyond 64 bits,
    deep nesting) is named by its type.
    """
    if isinstance(value, float):
        return _clip(repr(value), limit)  # nan and inf are not JSON: say what was sent
    try:
        return _clip(orjson.dumps(value).decode(), limit)
    except TypeError:  # orjson.JSONEncodeError is one
        if isinstance(value, int) and not isinstance(value, bool):
            return f"an integer of {value.bit_length()} bits"
        return _json_type(value)


def _names(keys: Iterable[str]) -> str:
    """Keys for a reason: a few, each short, lone surrogates as escapes."""
    ordered = sorted(keys)
    shown = [_clip(key.encode(errors="backslashreplace").decode(), 40) for key in ordered[:5]]
    more = len(ordered) - len(shown)
    return ", ".join(shown) + (f" and {more} more" if more else "")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_utf8(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:  # a lone surrogate, from a "\ud800" escape
        return False
    return True


def deeper_than(value: Any, limit: int) -> bool:
    """Whether arrays and objects nest more than ``limit`` levels in ``value``."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Iterable[Any] = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def _ms(blink: dict[str, Any], key: str, default: float | None = None) -> float:
    if key not in blink:
        if default is None:
            raise CommandError(f"blink.{key} is required")
        return default
    value = blink[key]
    if _is_number(value):
        try:
            ms = float(value)
        except OverflowError:  # an integer beyond the floats, e.g. 10**400
            ms = math.inf
        if ms >= 0 and ms != math.inf:
            return ms
    raise CommandError(f"blink.{key} must be a number of ms >= 0, finite, got {preview(value)}")


def _check_id(command_id: Any, max_length: int) -> str | int | float | None:
    """The ``id`` if the answer can carry it back unchanged; else why not."""
    if command_id is None:
        return None
    if isinstance(command_id, str):
        if len(command_id) > max_length:
            raise CommandError(f"id must be at most {max_length} characters, got {len(command_id)}")
        if not _is_utf8(command_id):
            raise CommandError("id must be valid Unicode text, got a lone surrogate")
        return command_id
    if isinstance(command_id, bool) or not isinstance(command_id, int | float):
        raise CommandError(f"id must be a string or a number, got {_json_type(command_id)}")
    if isinstance(command_id, int) and not -MAX_ID_INTEGER <= command_id <= MAX_ID_INTEGER:
        raise CommandError(
            "an integer id must be between -(2^53-1) and 2^53-1 to come back exactly, "
            f"got one of {command_id.bit_length()} bits"
        )
    if isinstance(command_id, float) and not math.isfinite(command_id):
        raise CommandError(f"id must be a finite number, got {command_id!r}")
    return command_id


def parse_command(
    data: Any,
    leds: Sequence[str],
    *,
    max_depth: int = MAX_DEPTH,
    max_id_length: int = MAX_ID_LENGTH,
) -> LedCommand:
    """Check one command against the schema.

    Args:
        data: the publish frame's ``data`` (an object, or JSON text of one).
        leds: the layout's LED names.
        max_depth: arrays and objects may nest this many levels in ``data``.
        max_id_length: the longest string ``id``, in characters.

    Raises:
        CommandError: the command is malformed; the reason names the field.
    """
    too_deep = f"data nests arrays and objects more than {max_depth} levels deep"
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except RecursionError:  # far deeper than any limit: the decoder's own
            raise CommandError(too_deep) from None
        except ValueError as exc:
            raise CommandError(f"data is a string but not JSON: {exc}", code="bad_json") from None
    if data is None:
        raise CommandError(
            'the publish frame has no data; a command is e.g. {"led": "upper", "color": [15, 0, 0]}'
        )
    if not isinstance(data, dict):
        raise CommandError(f"a command is a JSON object, got {_json_type(data)}")
    if deeper_than(data, max_depth):
        raise CommandError(too_deep)
    command_id = _check_id(data.get("id"), max_id_length)
    try:
        return _parse(data, leds, command_id)
    except CommandError as exc:
        exc.command_id = command_id
        raise


def _parse(data: dict[str, Any], leds: Sequence[str], command_id: Any) -> LedCommand:
    unknown = set(data) - _KEYS
    if unknown:
        raise CommandError(f"unknown key(s) {_names(unknown)}; allowed: {', '.join(sorted(_KEYS))}")
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
        raise CommandError(
            f"unknown led {_clip(repr(led), PREVIEW_CHARS)}; this module has {', '.join(leds)}"
        )
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
        raise CommandError(f"color must be three integers 0-15, got {preview(color)}")
    if "blink" not in data:
        return LedCommand("set", color=tuple(color), **common)
    blink = data["blink"]
    if not isinstance(blink, dict):
        raise CommandError("blink must be an object with on_ms and off_ms")
    extra = set(blink) - _BLINK_KEYS
    if extra:
        raise CommandError(f"unknown blink key(s) {_names(extra)}")
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
