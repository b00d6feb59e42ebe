"""The readings characteristic: one sample per notification.

A 14-byte header (version, kind, seq, device clock in microseconds), then
6 bytes for an accelerometer, 2 for a thermometer, none for a ball.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from typing import Final

from earlgate.ble.profile.base import (
    KIND_ACCEL,
    KIND_TEMP,
    VERSION,
    ProfileError,
    check_length,
    check_version,
    kind_code,
    kind_name,
)

__all__ = ["ACCEL_SCALE", "TEMP_SCALE", "Reading", "Value", "decode_reading", "encode_reading"]

# -- reading scales: accel in mm/s^2 (int16), temperature in 0.01 degC (int16) --
ACCEL_SCALE: Final = 1000
TEMP_SCALE: Final = 100

_HEADER = struct.Struct("<BBIQ")  # version, kind, seq, device clock (us)
_ACCEL = struct.Struct("<hhh")
_TEMP = struct.Struct("<h")

Value = float | tuple[float, float, float] | None


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


def _scaled(value: float, scale: int, name: str) -> int:
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        raise ProfileError(f"reading: {name} must be a finite number, got {value!r}")
    raw = round(value * scale)
    if not -32768 <= raw <= 32767:
        low, high = -32768 / scale, 32767 / scale
        raise ProfileError(f"reading: {name} = {value} is outside {low}..{high}")
    return raw


def encode_reading(reading: Reading) -> bytes:
    """The bytes of a reading (14-byte header, then 6 bytes accel or 2 bytes temp)."""
    kind = kind_code(reading.kind, "reading")
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
    check_version(data, "reading")
    check_length(data, "reading", _HEADER.size, "the header (version, kind, seq, clock)")
    _, code, seq, clock = _HEADER.unpack_from(data)
    kind = kind_name(code, "reading")
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
