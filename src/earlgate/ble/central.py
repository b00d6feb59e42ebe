"""The small interface the gateway drives a BLE central through.

Two implementations: :mod:`earlgate.ble.bumble_central` (bumble's host
stack: the in-process simulated link in tests and benches, or a controller
through a bumble transport) and :mod:`earlgate.ble.bleak_central` (bleak, i.e.
BlueZ over D-Bus on a real Linux host such as a Raspberry Pi).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

__all__ = ["Central", "CentralError", "EarlLink", "Found"]


class CentralError(Exception):
    """A BLE operation failed: not found, connection lost, a write refused."""


@dataclass(frozen=True)
class Found:
    """A device seen advertising: its name and its address (as the central spells it)."""

    name: str
    address: str


class EarlLink(Protocol):
    """One connected Earl device."""

    name: str
    address: str

    async def read(self, uuid: str) -> bytes:
        """Read a characteristic of the Earl service."""
        ...

    async def subscribe(self, uuid: str, callback: Callable[[bytes], None]) -> None:
        """Get every notification of a characteristic through ``callback``."""
        ...

    async def write(self, uuid: str, data: bytes) -> None:
        """Write with response; :class:`CentralError` when refused or the link drops."""
        ...

    async def wait_disconnected(self) -> str:
        """Return (a reason) once the link is down."""
        ...

    async def disconnect(self) -> None: ...


class Central(Protocol):
    """A BLE central: scans, connects to Earl devices by name or address."""

    async def start(self) -> None: ...

    async def scan(self, prefix: str, within: float) -> list[Found]:
        """Devices whose name starts with ``prefix`` seen within ``within`` s."""
        ...

    async def connect(self, target: str, within: float) -> EarlLink:
        """Connect to a device by name or address and find the Earl service."""
        ...

    def rssi(self, target: str) -> int | None:
        """The signal strength (dBm) of ``target``'s last advertisement seen; None: none seen."""
        ...

    async def close(self) -> None: ...
