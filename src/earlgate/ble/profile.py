"""The Earl GATT profile: UUIDs and the byte layout of every characteristic.

Pure: ``struct`` in, ``struct`` out, no Bluetooth stack. Every decoder
raises :class:`ProfileError` (and nothing else) for any malformed input, with
a message naming the field that was wrong. All integers are little-endian, as
in the Bluetooth Core specification. The layouts are documented byte by byte
in ``docs/earl-ble.md``.

::

    service  4561726c-0001-4b1e-9a3c-6561726c0000   one per Earl device
      readings  ...-0002-...  read, notify        Reading
      info      ...-0003-...  read                DeviceInfo
      led       ...-0004-...  write (with resp.)  LedWrite
      status    ...-0005-...  read, notify        Status
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from typing import Final

__all__ = [
    "ACCEL_SCALE",
    "INFO_UUID",
    "KIND_CODES",
    "KINDS",
    "LED_CODES",
    "LED_UUID",
    "LEDS",
    "READINGS_UUID",
    "SERVICE_UUID",
    "STATUS_CODES",
    "STATUS_UUID",
    "TEMP_SCALE",
    "VERSION",
    "DeviceInfo",
    "LedState",
    "LedWrite",
    "ProfileError",
    "Reading",
    "Status",
    "decode_info",
    "decode_led",
    "decode_reading",
    "decode_status",
    "encode_info",
    "encode_led",
    "encode_reading",
    "encode_status",
]

# -- UUIDs: "Earl" (0x4561726c) twice, the characteristic in the second group --
SERVICE_UUID: Final = "4561726c-0001-4b1e-9a3c-6561726c0000"
READINGS_UUID: Final = "4561726c-0002-4b1e-9a3c-6561726c0000"
INFO_UUID: Final = "4561726c-0003-4b1e-9a3c-6561726c0000"
LED_UUID: Final = "4561726c-0004-4b1e-9a3c-6561726c0000"
STATUS_UUID: Final = "4561726c-0005-4b1e-9a3c-6561726c0000"

# -- the first byte of every value --------------------------------------------
VERSION: Final = 1

# -- device kinds ---------------------------------------------------------------
KIND_ACCEL: Final = 1
KIND_TEMP: Final = 2
KIND_BALL: Final = 3
KINDS: Final = {KIND_ACCEL: "accel", KIND_TEMP: "temp", KIND_BALL: "ball"}
KIND_CODES: Final = {name: code for code, name in KINDS.items()}

# -- reading scales: accel in mm/s^2 (int16), temperature in 0.01 degC (int16) --
ACCEL_SCALE: Final = 1000
TEMP_SCALE: Final = 100

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
MAX_UNITS_BYTES: Final = 16
MAX_LEVEL: Final = 15
MAX_TIME_MS: Final = 0xFFFF

_HEADER = struct.Struct("<BBIQ")  # version, kind, seq, device clock (us)
_ACCEL = struct.Struct("<hhh")
_TEMP = struct.Struct("<h")
_INFO = struct.Struct("<BBIB")  # version, kind, period (us), units length
_LED_HEADER = struct.Struct("<BBHBB")  # version, opcode, id, led, flags
_COLOR = struct.Struct("<BBB")
_TIMES = struct.Struct("<HHH")  # on, off, fade (ms)
_STATUS_HEADER = struct.Struct("<BBH")  # version, result, id
_LED_STATE = struct.Struct("<BBBBB")  # led, r, g, b, blinking
_BLINK_STATE = struct.Struct("<HHHB")  # on, off, fade (ms), once

Value = float | tuple[float, float, float] | None


class ProfileError(ValueError):
    """A value does not follow the Earl profile; the message names the field.

    Raised by every decoder for malformed bytes ("the peer misbehaved") and by
    every encoder for a value the layout cannot carry ("you misused the API").
    """


def _version(data: bytes, what: str) -> None:
    if not data:
        raise ProfileError(f"{what}: empty value, expected at least the version byte")
    if data[0] != VERSION:
        raise ProfileError(f"{what}: version {data[0]}, this gateway speaks version {VERSION}")


def _length(data: bytes, what: str, needed: int, detail: str) -> None:
    if len(data) < needed:
        raise ProfileError(f"{what}: {len(data)} bytes, {detail} needs {needed}")


def _kind(code: int, what: str) -> str:
    try:
        return KINDS[code]
    except KeyError:
        raise ProfileError(f"{what}: unknown device kind {code}") from None


def _kind_code(kind: str, what: str) -> int:
    try:
        return KIND_CODES[kind]
    except KeyError:
        known = ", ".join(KIND_CODES)
        raise ProfileError(f"{what}: unknown device kind {kind!r}; known: {known}") from None


def _scaled(value: float, scale: int, name: str) -> int:
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        raise ProfileError(f"reading: {name} must be a finite number, got {value!r}")
    raw = round(value * scale)
    if not -32768 <= raw <= 32767:
        low, high = -32768 / scale, 32767 / scale
        raise ProfileError(f"reading: {name} = {value} is outside {low}..{high}")
    return raw


# -- readings ---------------------------------------------------------------------


@dataclass(frozen=True)
class Reading:
    """One sample, as the device's readings characteristic notifies it.

    Attributes:
        kind: ``accel``, ``temp`` or ``ball`` (no payload).
        seq: the device's sample counter, 0-2^32-1, wrapping; gaps mean lost samples.
        clock_us: the device's own clock when it sampled, in microseconds since it started.
        value: ``(x, y, z)`` m/s^2 (accel, 0.001 steps), degrees Celsius
            (temp, 0.01 steps), ``None`` (ball).
    """

    kind: str
    seq: int
    clock_us: int
    value: Value = None


def encode_reading(reading: Reading) -> bytes:
    """The bytes of a reading (14-byte header, then 6 bytes accel or 2 bytes temp)."""
    kind = _kind_code(reading.kind, "reading")
    if not 0 <= reading.seq <= 0xFFFFFFFF:
        raise ProfileError(f"reading: seq {reading.seq} is outside 0..2^32-1")
    if not 0 <= reading.clock_us <= 0xFFFFFFFFFFFFFFFF:
        raise ProfileError(f"reading: clock_us {reading.clock_us} is outside 0..2^64-1")
    head = _HEADER.pack(VERSION, kind, reading.seq, reading.clock_us)
    if kind == KIND_ACCEL:
        if not isinstance(reading.value, tuple) or len(reading.value) != 3:
            raise ProfileError(f"reading: accel needs (x, y, z), got {reading.value!r}")
        x, y, z = (_scaled(v, ACCEL_SCALE, n) for v, n in zip(reading.value, "xyz", strict=True))
        return head + _ACCEL.pack(x, y, z)
    if kind == KIND_TEMP:
        if isinstance(reading.value, tuple) or reading.value is None:
            raise ProfileError(f"reading: temp needs one number, got {reading.value!r}")
        return head + _TEMP.pack(_scaled(reading.value, TEMP_SCALE, "temperature"))
    if reading.value is not None:
        raise ProfileError(f"reading: ball has no value, got {reading.value!r}")
    return head


def decode_reading(data: bytes) -> Reading:
    """Parse a readings value; :class:`ProfileError` names what is wrong."""
    data = bytes(data)
    _version(data, "reading")
    _length(data, "reading", _HEADER.size, "the header (version, kind, seq, clock)")
    _, code, seq, clock = _HEADER.unpack_from(data)
    kind = _kind(code, "reading")
    body = data[_HEADER.size :]
    payload = {KIND_ACCEL: _ACCEL, KIND_TEMP: _TEMP}.get(code)
    size = payload.size if payload is not None else 0
    if len(body) != size:
        raise ProfileError(
            f"reading: {kind} carries {size} payload bytes after the header, got {len(body)}"
        )
    value: Value = None
    if code == KIND_ACCEL:
        x, y, z = _ACCEL.unpack(body)
        value = (x / ACCEL_SCALE, y / ACCEL_SCALE, z / ACCEL_SCALE)
    elif code == KIND_TEMP:
        (raw,) = _TEMP.unpack(body)
        value = raw / TEMP_SCALE
    return Reading(kind, seq, clock, value)


# -- device information -------------------------------------------------------------


@dataclass(frozen=True)
class DeviceInfo:
    """What a device is: its kind, the units of its readings, its sampling period.

    Attributes:
        kind: ``accel``, ``temp`` or ``ball``.
        period_us: microseconds between readings (0: none, e.g. a ball).
        units: e.g. ``m/s^2``, ``degC``; at most 16 UTF-8 bytes.
    """

    kind: str
    period_us: int
    units: str = ""

    @property
    def rate_hz(self) -> float:
        return 1e6 / self.period_us if self.period_us else 0.0


def encode_info(info: DeviceInfo) -> bytes:
    kind = _kind_code(info.kind, "info")
    if not 0 <= info.period_us <= 0xFFFFFFFF:
        raise ProfileError(f"info: period_us {info.period_us} is outside 0..2^32-1")
    units = info.units.encode("utf-8", "strict")
    if len(units) > MAX_UNITS_BYTES:
        raise ProfileError(f"info: units {info.units!r} is over {MAX_UNITS_BYTES} UTF-8 bytes")
    return _INFO.pack(VERSION, kind, info.period_us, len(units)) + units


def decode_info(data: bytes) -> DeviceInfo:
    data = bytes(data)
    _version(data, "info")
    _length(data, "info", _INFO.size, "the header (version, kind, period, units length)")
    _, code, period, length = _INFO.unpack_from(data)
    kind = _kind(code, "info")
    units = data[_INFO.size :]
    if length > MAX_UNITS_BYTES:
        raise ProfileError(f"info: units length {length} is over {MAX_UNITS_BYTES}")
    if len(units) != length:
        raise ProfileError(f"info: units length says {length} bytes, {len(units)} follow")
    try:
        text = units.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProfileError(
            f"info: units are not UTF-8 ({exc.reason} at byte {exc.start})"
        ) from None
    return DeviceInfo(kind, period, text)


# -- LED commands ------------------------------------------------------------------------


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
    _version(data, "led")
    _length(data, "led", _LED_HEADER.size, "the header (version, opcode, id, led, flags)")
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


# -- status ----------------------------------------------------------------------------------


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
    _version(data, "status")
    _length(data, "status", _STATUS_HEADER.size + 1, "the header (version, result, id, count)")
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
        _length(data, "status", pos + _LED_STATE.size, f"LED {i}")
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
            _length(data, "status", pos + _BLINK_STATE.size, f"LED {i}'s blink times")
            on, off, fade, once = _BLINK_STATE.unpack_from(data, pos)
            pos += _BLINK_STATE.size
            if once > 1:
                raise ProfileError(f"status: LED {i} once flag {once}, expected 0 or 1")
            blink = (on, off, fade, bool(once))
        leds.append(LedState(LEDS[code], (r, g, b), blink))
    if pos != len(data):
        raise ProfileError(f"status: {len(data) - pos} bytes after the last LED")
    return Status(name, command_id, tuple(leds), "")
