"""The info characteristic: what a device is (kind, units, sampling period).

A 7-byte header (version, kind, period in microseconds, units length), then
the units as UTF-8.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final

from earlgate.ble.profile.base import (
    VERSION,
    ProfileError,
    check_length,
    check_version,
    kind_code,
    kind_name,
)

__all__ = ["MAX_UNITS_BYTES", "DeviceInfo", "decode_info", "encode_info"]

MAX_UNITS_BYTES: Final = 16

_INFO = struct.Struct("<BBIB")  # version, kind, period (us), units length


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
    kind = kind_code(info.kind, "info")
    if not 0 <= info.period_us <= 0xFFFFFFFF:
        raise ProfileError(f"info: period_us {info.period_us} is outside 0..2^32-1")
    units = info.units.encode("utf-8", "strict")
    if len(units) > MAX_UNITS_BYTES:
        raise ProfileError(f"info: units {info.units!r} is over {MAX_UNITS_BYTES} UTF-8 bytes")
    return _INFO.pack(VERSION, kind, info.period_us, len(units)) + units


def decode_info(data: bytes) -> DeviceInfo:
    data = bytes(data)
    check_version(data, "info")
    check_length(data, "info", _INFO.size, "the header (version, kind, period, units length)")
    _, code, period, length = _INFO.unpack_from(data)
    kind = kind_name(code, "info")
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
