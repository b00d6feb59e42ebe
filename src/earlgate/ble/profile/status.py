"""The status characteristic: the answer to one LED command.

A 4-byte header (version, result, id) and a count byte; then, when applied,
each LED the command touched (with its blink times if it blinks), else the
reason as UTF-8.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final

from earlgate.ble.profile.base import VERSION, ProfileError, check_length, check_version
from earlgate.ble.profile.led import LED_CODES, LEDS, MAX_LEVEL, MAX_TIME_MS

__all__ = [
    "MAX_REASON_BYTES",
    "STATUS_APPLIED",
    "STATUS_CODES",
    "STATUS_NAMES",
    "LedState",
    "Status",
    "decode_status",
    "encode_status",
]

# -- status results: 0 applied, else the error names of ``earlgate led serve`` ---------
STATUS_APPLIED: Final = 0
STATUS_CODES: Final = {
    0: "applied",
    1: "bad_command",
    2: "refused",
    3: "i2c",
    4: "internal",
    5: "busy",
}
STATUS_NAMES: Final = {name: code for code, name in STATUS_CODES.items()}

MAX_REASON_BYTES: Final = 200  # a status's reason is cut to this many UTF-8 bytes

_STATUS_HEADER = struct.Struct("<BBH")  # version, result, id
_LED_STATE = struct.Struct("<BBBBB")  # led, r, g, b, blinking
_BLINK_STATE = struct.Struct("<HHHB")  # on, off, fade (ms), once


@dataclass(frozen=True)
class LedState:
    """One LED as the chip shows it after a command."""

    led: str
    color: tuple[int, int, int]
    blink: tuple[int, int, int, bool] | None = None  # on, off, fade ms, once


@dataclass(frozen=True)
class Status:
    """The answer to one command, on the status characteristic.

    Attributes:
        result: ``applied``, or an error of ``earlgate led serve``: ``bad_command``,
            ``refused``, ``i2c``, ``internal``; ``busy`` (a command was still running).
        id: the command's id (0 before any command).
        leds: applied: the LEDs it touched.
        reason: an error: why, at most 200 UTF-8 bytes.
    """

    result: str
    id: int
    leds: tuple[LedState, ...] = ()
    reason: str = ""

    @property
    def applied(self) -> bool:
        return self.result == "applied"


def _cut_utf8(text: str, limit: int) -> bytes:
    raw = text.encode("utf-8", "replace")
    if len(raw) <= limit:
        return raw
    return raw[: limit - 3].decode("utf-8", "ignore").encode("utf-8") + "…".encode()


def encode_status(status: Status) -> bytes:
    try:
        result = STATUS_NAMES[status.result]
    except KeyError:
        raise ProfileError(f"status: unknown result {status.result!r}") from None
    if not 0 <= status.id <= 0xFFFF:
        raise ProfileError(f"status: id {status.id} is outside 0..65535")
    out = _STATUS_HEADER.pack(VERSION, result, status.id)
    if result != STATUS_APPLIED:
        reason = _cut_utf8(status.reason, MAX_REASON_BYTES)
        return out + bytes([len(reason)]) + reason
    if len(status.leds) > 2:
        raise ProfileError(f"status: at most 2 LEDs, got {len(status.leds)}")
    out += bytes([len(status.leds)])
    for state in status.leds:
        code = LED_CODES.get(state.led)
        if code is None or code == LED_CODES["all"]:
            raise ProfileError(f"status: unknown LED {state.led!r}")
        if len(state.color) != 3 or any(not 0 <= c <= MAX_LEVEL for c in state.color):
            raise ProfileError(f"status: color needs three levels 0-15, got {state.color!r}")
        out += _LED_STATE.pack(code, *state.color, state.blink is not None)
        if state.blink is not None:
            on, off, fade, once = state.blink
            if any(not 0 <= t <= MAX_TIME_MS for t in (on, off, fade)):
                raise ProfileError(f"status: blink times {state.blink!r} outside 0..65535")
            out += _BLINK_STATE.pack(on, off, fade, once)
    return out


def decode_status(data: bytes) -> Status:
    data = bytes(data)
    check_version(data, "status")
    check_length(data, "status", _STATUS_HEADER.size + 1, "the header (version, result, id, count)")
    _, result, command_id = _STATUS_HEADER.unpack_from(data)
    if result not in STATUS_CODES:
        raise ProfileError(f"status: unknown result code {result}")
    name = STATUS_CODES[result]
    count = data[_STATUS_HEADER.size]
    pos = _STATUS_HEADER.size + 1
    if result != STATUS_APPLIED:
        reason = data[pos:]
        if len(reason) != count:
            raise ProfileError(f"status: reason length says {count} bytes, {len(reason)} follow")
        try:
            text = reason.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ProfileError(f"status: reason is not UTF-8 (byte {exc.start})") from None
        return Status(name, command_id, (), text)
    if count > 2:
        raise ProfileError(f"status: {count} LEDs, the ball-probe has 2")
    leds: list[LedState] = []
    for i in range(count):
        check_length(data, "status", pos + _LED_STATE.size, f"LED {i}")
        code, r, g, b, blinking = _LED_STATE.unpack_from(data, pos)
        pos += _LED_STATE.size
        if code not in (0, 1):
            raise ProfileError(f"status: LED {i} has unknown code {code}")
        for level in (r, g, b):
            if level > MAX_LEVEL:
                raise ProfileError(f"status: LED {i} level {level} is over {MAX_LEVEL}")
        blink: tuple[int, int, int, bool] | None = None
        if blinking > 1:
            raise ProfileError(f"status: LED {i} blinking flag {blinking}, expected 0 or 1")
        if blinking:
            check_length(data, "status", pos + _BLINK_STATE.size, f"LED {i}'s blink times")
            on, off, fade, once = _BLINK_STATE.unpack_from(data, pos)
            pos += _BLINK_STATE.size
            if once > 1:
                raise ProfileError(f"status: LED {i} once flag {once}, expected 0 or 1")
            blink = (on, off, fade, bool(once))
        leds.append(LedState(LEDS[code], (r, g, b), blink))
    if pos != len(data):
        raise ProfileError(f"status: {len(data) - pos} bytes after the last LED")
    return Status(name, command_id, tuple(leds), "")
