"""Bluetooth LE for Earl devices: the GATT profile, a virtual Earl, the gateway's BLE side.

Layers, pure core first:

- ``profile``: the Earl GATT profile's UUIDs and byte layouts (pure codecs).
- ``routing``: the gateway's decisions, events in, actions out (pure).
- ``central``: the small interface the gateway drives a BLE central through.
- ``simlink``: bumble's in-process link with a connection-interval model.
- ``virtual``: a virtual Earl (accel, temp, ball) on bumble's host stack.
- ``bumble_central`` / ``bleak_central``: the central on bumble (tests, the
  simulated link, bumble transports) or on bleak (BlueZ on a real Linux host).
- ``gateway``: :class:`BleGateway`, devices to hub subjects and back.
"""

from __future__ import annotations

from earlgate.ble.profile import (
    INFO_UUID,
    LED_UUID,
    READINGS_UUID,
    SERVICE_UUID,
    STATUS_UUID,
    DeviceInfo,
    LedWrite,
    ProfileError,
    Reading,
    Status,
)

__all__ = [
    "INFO_UUID",
    "LED_UUID",
    "READINGS_UUID",
    "SERVICE_UUID",
    "STATUS_UUID",
    "DeviceInfo",
    "LedWrite",
    "ProfileError",
    "Reading",
    "Status",
]
