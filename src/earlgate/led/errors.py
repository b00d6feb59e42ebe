"""Exceptions of the LED module, one tree under :class:`LedError`.

::

    LedError
    ├── I2CError            the bus or the chip misbehaved (NACK, EBUSY, no device)
    ├── LedResourceError    the chip cannot show the request (banks, levels, times)
    └── LedUsageError       the caller passed a bad argument (also a ValueError)

``I2CError`` is "the peer misbehaved"; ``LedUsageError`` is "you misused the
API"; ``LedResourceError`` sits between: the request is well formed, but the
TCA6507's shared resources cannot meet it, and nothing was written.
"""

from __future__ import annotations

__all__ = ["I2CError", "LedError", "LedResourceError", "LedUsageError"]


class LedError(Exception):
    """Root of every error the LED module raises."""


class I2CError(LedError):
    """An I²C transfer failed; carries where, so the message is actionable.

    Attributes:
        bus: the bus's name, e.g. ``/dev/i2c-1``.
        address: the 7-bit device address, or ``None`` (opening the bus).
        register: the register the transfer addressed, or ``None`` (opening).
        errno: the ``OSError`` errno from the kernel, or ``None``.
        hint: what to try next, or ``""``.
    """

    def __init__(
        self,
        message: str,
        *,
        bus: str,
        address: int | None = None,
        register: int | None = None,
        errno: int | None = None,
        hint: str = "",
    ) -> None:
        where = bus if address is None else f"{bus}, address 0x{address:02X}"
        if register is not None:
            where += f", register 0x{register:02X}"
        text = f"{message} ({where})"
        if hint:
            text += f": {hint}"
        super().__init__(text)
        self.bus = bus
        self.address = address
        self.register = register
        self.errno = errno
        self.hint = hint


class LedResourceError(LedError):
    """The request needs more of the chip than it has; the chip was not touched.

    Attributes:
        conflict: one line naming what the request needed and who holds it.
    """

    def __init__(self, conflict: str) -> None:
        super().__init__(conflict)
        self.conflict = conflict


class LedUsageError(LedError, ValueError):
    """An argument is out of range or names an unknown LED."""
