"""The led characteristic: one LED-module command per write.

A 6-byte header (version, opcode, id, LED, flags), then 3 colour levels
(``set``, ``blink``) and 6 bytes of times (``blink``): ``earlgate led``'s five
actions.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final

from earlgate.ble.profile.base import VERSION, ProfileError, check_length, check_version

__all__ = [
    "FLAG_APPROXIMATE",
    "FLAG_DEFAULT_STRICT",
    "FLAG_ONCE",
    "LED_CODES",
    "LEDS",
    "MAX_LEVEL",
    "MAX_TIME_MS",
    "OP_BLINK",
    "OP_CODES",
    "OP_DOWN",
    "OP_OFF",
    "OP_SET",
    "OP_UP",
    "OPS",
    "LedWrite",
    "decode_led",
    "encode_led",
]

# -- LED command opcodes ---------------------------------------------------------
OP_SET: Final = 1
OP_BLINK: Final = 2
OP_OFF: Final = 3
OP_UP: Final = 4
OP_DOWN: Final = 5
OPS: Final = {OP_SET: "set", OP_BLINK: "blink", OP_OFF: "off", OP_UP: "up", OP_DOWN: "down"}
OP_CODES: Final = {name: code for code, name in OPS.items()}

# -- LEDs of the ball-probe --------------------------------------------------------
LEDS: Final = {0: "lower", 1: "upper", 0xFF: "all"}
LED_CODES: Final = {name: code for code, name in LEDS.items()}

# -- command flags -----------------------------------------------------------------
FLAG_APPROXIMATE: Final = 0x01  # strict=False: apply the nearest feasible request
FLAG_ONCE: Final = 0x02  # blink one period only
FLAG_DEFAULT_STRICT: Final = 0x04  # neither strict nor approximate: the module's default
_KNOWN_FLAGS: Final = FLAG_APPROXIMATE | FLAG_ONCE | FLAG_DEFAULT_STRICT

MAX_LEVEL: Final = 15
MAX_TIME_MS: Final = 0xFFFF

_LED_HEADER = struct.Struct("<BBHBB")  # version, opcode, id, led, flags
_COLOR = struct.Struct("<BBB")
_TIMES = struct.Struct("<HHH")  # on, off, fade (ms)


@dataclass(frozen=True)
class LedWrite:
    """One LED-module command, as written to the led characteristic.

    Attributes:
        action: ``set``, ``blink``, ``off``, ``up``, ``down`` (``earlgate led``'s five).
        id: 0-65535, echoed in the status that answers it.
        led: ``lower``, ``upper``; ``all`` with ``off`` only.
        color: three levels 0-15 (``set`` and ``blink``).
        on_ms, off_ms, fade_ms: blink times, 0-65535 ms.
        once: blink one period only.
        strict: ``True`` refuse, ``False`` approximate, ``None`` the module's default.
    """

    action: str
    id: int
    led: str
    color: tuple[int, int, int] = (0, 0, 0)
    on_ms: int = 0
    off_ms: int = 0
    fade_ms: int = 0
    once: bool = False
    strict: bool | None = None


def encode_led(command: LedWrite) -> bytes:
    """The bytes of a command: 6-byte header, + 3 colour bytes, + 6 time bytes (blink)."""
    try:
        op = OP_CODES[command.action]
    except KeyError:
        raise ProfileError(f"led: unknown action {command.action!r}") from None
    if not 0 <= command.id <= 0xFFFF:
        raise ProfileError(f"led: id {command.id} is outside 0..65535")
    try:
        led = LED_CODES[command.led]
    except KeyError:
        raise ProfileError(f"led: unknown LED {command.led!r}") from None
    if led == LED_CODES["all"] and op != OP_OFF:
        raise ProfileError(f"led: 'all' goes with off only, not {command.action}")
    flags = FLAG_ONCE if command.once else 0
    if command.strict is None:
        flags |= FLAG_DEFAULT_STRICT
    elif not command.strict:
        flags |= FLAG_APPROXIMATE
    out = _LED_HEADER.pack(VERSION, op, command.id, led, flags)
    if op in (OP_SET, OP_BLINK):
        if len(command.color) != 3 or any(
            not isinstance(c, int) or not 0 <= c <= MAX_LEVEL for c in command.color
        ):
            raise ProfileError(f"led: color needs three levels 0-15, got {command.color!r}")
        out += _COLOR.pack(*command.color)
    if op == OP_BLINK:
        times = (command.on_ms, command.off_ms, command.fade_ms)
        for name, ms in zip(("on_ms", "off_ms", "fade_ms"), times, strict=True):
            if not isinstance(ms, int) or not 0 <= ms <= MAX_TIME_MS:
                raise ProfileError(f"led: {name} {ms!r} is not an integer 0..{MAX_TIME_MS}")
        out += _TIMES.pack(*times)
    return out


def decode_led(data: bytes) -> LedWrite:
    """Parse a command write; :class:`ProfileError` names what is wrong."""
    data = bytes(data)
    check_version(data, "led")
    check_length(data, "led", _LED_HEADER.size, "the header (version, opcode, id, led, flags)")
    _, op, command_id, led_code, flags = _LED_HEADER.unpack_from(data)
    if op not in OPS:
        raise ProfileError(f"led: unknown opcode {op}; known 1-5 (set, blink, off, up, down)")
    action = OPS[op]
    if led_code not in LEDS:
        raise ProfileError(f"led: unknown LED code {led_code}; 0 lower, 1 upper, 255 all (off)")
    led = LEDS[led_code]
    if led == "all" and op != OP_OFF:
        raise ProfileError(f"led: LED 255 (all) goes with off only, not {action}")
    if flags & ~_KNOWN_FLAGS:
        raise ProfileError(f"led: unknown flag bits 0x{flags & ~_KNOWN_FLAGS:02x}")
    if flags & FLAG_APPROXIMATE and flags & FLAG_DEFAULT_STRICT:
        raise ProfileError("led: flags say both approximate and the default strictness")
    size = _LED_HEADER.size
    size += _COLOR.size if op in (OP_SET, OP_BLINK) else 0
    size += _TIMES.size if op == OP_BLINK else 0
    if len(data) != size:
        raise ProfileError(f"led: {action} is {size} bytes, got {len(data)}")
    strict: bool | None = None if flags & FLAG_DEFAULT_STRICT else not flags & FLAG_APPROXIMATE
    color = (0, 0, 0)
    times = (0, 0, 0)
    if op in (OP_SET, OP_BLINK):
        color = _COLOR.unpack_from(data, _LED_HEADER.size)
        for name, level in zip(("red", "green", "blue"), color, strict=True):
            if level > MAX_LEVEL:
                raise ProfileError(f"led: {name} level {level} is over {MAX_LEVEL}")
    if op == OP_BLINK:
        times = _TIMES.unpack_from(data, _LED_HEADER.size + _COLOR.size)
    elif flags & FLAG_ONCE:
        raise ProfileError(f"led: the once flag goes with blink only, not {action}")
    on, off, fade = times
    return LedWrite(action, command_id, led, color, on, off, fade, bool(flags & FLAG_ONCE), strict)
