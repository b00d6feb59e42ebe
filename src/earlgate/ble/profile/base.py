"""What every characteristic of the Earl profile shares.

The UUIDs, the version byte each value starts with, the device kinds, the
one exception every codec raises, and the checks each decoder opens with.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "INFO_UUID",
    "KIND_ACCEL",
    "KIND_BALL",
    "KIND_CODES",
    "KIND_TEMP",
    "KINDS",
    "LED_UUID",
    "READINGS_UUID",
    "SERVICE_UUID",
    "STATUS_UUID",
    "VERSION",
    "ProfileError",
    "check_length",
    "check_version",
    "kind_code",
    "kind_name",
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


class ProfileError(ValueError):
    """A value does not follow the Earl profile; the message names the field.

    Raised by every decoder for malformed bytes ("the peer misbehaved") and by
    every encoder for a value the layout cannot carry ("you misused the API").
    """


def check_version(data: bytes, what: str) -> None:
    """Refuse an empty value or one of another profile version."""
    if not data:
        raise ProfileError(f"{what}: empty value, expected at least the version byte")
    if data[0] != VERSION:
        raise ProfileError(f"{what}: version {data[0]}, this gateway speaks version {VERSION}")


def check_length(data: bytes, what: str, needed: int, detail: str) -> None:
    """Refuse a value shorter than ``needed`` bytes; ``detail`` says what needs them."""
    if len(data) < needed:
        raise ProfileError(f"{what}: {len(data)} bytes, {detail} needs {needed}")


def kind_name(code: int, what: str) -> str:
    """The kind a code on the wire stands for."""
    try:
        return KINDS[code]
    except KeyError:
        raise ProfileError(f"{what}: unknown device kind {code}") from None


def kind_code(kind: str, what: str) -> int:
    """The wire code of a kind's name."""
    try:
        return KIND_CODES[kind]
    except KeyError:
        known = ", ".join(KIND_CODES)
        raise ProfileError(f"{what}: unknown device kind {kind!r}; known: {known}") from None
