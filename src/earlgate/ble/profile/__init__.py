"""The Earl GATT profile: UUIDs and the byte layout of every characteristic.

Pure: ``struct`` in, ``struct`` out, no Bluetooth stack. Every decoder
raises :class:`ProfileError` (and nothing else) for any malformed input, with
a message naming the field that was wrong. All integers are little-endian, as
in the Bluetooth Core specification. The layouts are documented byte by byte
in ``docs/earl-ble.md``.

::

    service  4561726c-0001-4b1e-9a3c-6561726c0000   one per Earl device
      readings  ...-0002-...  read, notify        Reading     (readings.py)
      info      ...-0003-...  read                DeviceInfo  (info.py)
      led       ...-0004-...  write (with resp.)  LedWrite    (led.py)
      status    ...-0005-...  read, notify        Status      (status.py)

``base`` holds what they share: the UUIDs, the version byte, the device
kinds and :class:`ProfileError`. This package is the public face; import
from ``earlgate.ble.profile``.
"""

from __future__ import annotations

from earlgate.ble.profile.base import (
    INFO_UUID,
    KIND_ACCEL,
    KIND_BALL,
    KIND_CODES,
    KIND_TEMP,
    KINDS,
    LED_UUID,
    READINGS_UUID,
    SERVICE_UUID,
    STATUS_UUID,
    VERSION,
    ProfileError,
)
from earlgate.ble.profile.info import MAX_UNITS_BYTES, DeviceInfo, decode_info, encode_info
from earlgate.ble.profile.led import (
    FLAG_APPROXIMATE,
    FLAG_DEFAULT_STRICT,
    FLAG_ONCE,
    LED_CODES,
    LEDS,
    MAX_LEVEL,
    MAX_TIME_MS,
    OP_BLINK,
    OP_CODES,
    OP_DOWN,
    OP_OFF,
    OP_SET,
    OP_UP,
    OPS,
    LedWrite,
    decode_led,
    encode_led,
)
from earlgate.ble.profile.readings import (
    ACCEL_SCALE,
    TEMP_SCALE,
    Reading,
    Value,
    decode_reading,
    encode_reading,
)
from earlgate.ble.profile.status import (
    MAX_REASON_BYTES,
    STATUS_APPLIED,
    STATUS_CODES,
    STATUS_NAMES,
    LedState,
    Status,
    decode_status,
    encode_status,
)

__all__ = [
    "ACCEL_SCALE",
    "FLAG_APPROXIMATE",
    "FLAG_DEFAULT_STRICT",
    "FLAG_ONCE",
    "INFO_UUID",
    "KIND_ACCEL",
    "KIND_BALL",
    "KIND_CODES",
    "KIND_TEMP",
    "KINDS",
    "LED_CODES",
    "LED_UUID",
    "LEDS",
    "MAX_LEVEL",
    "MAX_REASON_BYTES",
    "MAX_TIME_MS",
    "MAX_UNITS_BYTES",
    "OP_BLINK",
    "OP_CODES",
    "OP_DOWN",
    "OP_OFF",
    "OP_SET",
    "OP_UP",
    "OPS",
    "READINGS_UUID",
    "SERVICE_UUID",
    "STATUS_APPLIED",
    "STATUS_CODES",
    "STATUS_NAMES",
    "STATUS_UUID",
    "TEMP_SCALE",
    "VERSION",
    "DeviceInfo",
    "LedState",
    "LedWrite",
    "ProfileError",
    "Reading",
    "Status",
    "Value",
    "decode_info",
    "decode_led",
    "decode_reading",
    "decode_status",
    "encode_info",
    "encode_led",
    "encode_reading",
    "encode_status",
]
