"""The gateway's central on bleak: BlueZ over D-Bus on a real Linux host.

For a Raspberry Pi (or any Linux with BlueZ): ``earlgate ble --hub URL
--adapter hci0 --scan earl-``. Not exercised by the tests (there is no
Bluetooth adapter nor BlueZ in the test environment); the gateway logic it
feeds is the same one the bumble central's tests run.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from earlgate.ble import profile
from earlgate.ble.central import CentralError, Found

__all__ = ["BleakCentral", "BleakLink"]


class BleakLink:
    """One connected Earl device through a :class:`bleak.BleakClient`."""

    def __init__(self, name: str, client: Any, down: asyncio.Future[str]) -> None:
        self.name = name
        self.address = str(client.address)
        self.client = client
        self._down = down

    async def read(self, uuid: str) -> bytes:
        try:
            return bytes(await self.client.read_gatt_char(uuid))
        except Exception as exc:
            raise CentralError(f"{self.name}: read failed: {exc}") from None

    async def subscribe(self, uuid: str, callback: Callable[[bytes], None]) -> None:
        try:
            await self.client.start_notify(uuid, lambda _char, data: callback(bytes(data)))
        except Exception as exc:
            raise CentralError(f"{self.name}: subscribe failed: {exc}") from None

    async def write(self, uuid: str, data: bytes) -> None:
        try:
            await self.client.write_gatt_char(uuid, data, response=True)
        except Exception as exc:  # BlueZ reports an ATT error as a D-Bus error
            raise CentralError(f"{self.name}: write refused: {exc}") from None

    async def wait_disconnected(self) -> str:
        return await asyncio.shield(self._down)

    async def disconnect(self) -> None:
        with contextlib.suppress(Exception):
            await self.client.disconnect()


class BleakCentral:
    """A central on a BlueZ adapter (``hci0``...) through bleak."""

    def __init__(self, adapter: str = "hci0") -> None:
        self.adapter = adapter
        self.seen: dict[str, Any] = {}  # name -> BLEDevice
        self._rssi: dict[str, int] = {}  # name or address -> dBm of its last advertisement

    def rssi(self, target: str) -> int | None:
        return self._rssi.get(target)

    async def start(self) -> None:
        try:
            import bleak  # noqa: F401
        except ImportError as exc:  # pragma: no cover - a dependency
            raise CentralError("bleak is not installed: pip install bleak") from exc

    async def scan(self, prefix: str, within: float) -> list[Found]:
        from bleak import BleakScanner

        found = await BleakScanner.discover(
            timeout=within, return_adv=True, bluez={"adapter": self.adapter}
        )
        out = []
        for device, advertisement in found.values():
            name = advertisement.local_name or device.name or ""
            self._rssi[str(device.address)] = int(advertisement.rssi)
            if name:
                self._rssi[name] = int(advertisement.rssi)
            if name.startswith(prefix):
                self.seen[name] = device
                out.append(Found(name, str(device.address)))
        return out

    async def connect(self, target: str, within: float) -> BleakLink:
        from bleak import BleakClient, BleakScanner

        device: Any = self.seen.get(target)
        if device is None:
            device = await BleakScanner.find_device_by_name(
                target, timeout=within, bluez={"adapter": self.adapter}
            ) or await BleakScanner.find_device_by_address(
                target, timeout=within, bluez={"adapter": self.adapter}
            )
        if device is None:
            raise CentralError(f"{target}: not seen advertising within {within} s")
        down: asyncio.Future[str] = asyncio.get_running_loop().create_future()

        def on_disconnect(_client: Any) -> None:
            if not down.done():
                down.set_result("disconnected")

        client = BleakClient(
            device,
            on_disconnect,
            services=[profile.SERVICE_UUID],
            timeout=within,
            bluez={"adapter": self.adapter},
        )
        try:
            await client.connect()
        except Exception as exc:
            raise CentralError(f"{target}: connect failed: {exc}") from None
        return BleakLink(target, client, down)

    async def close(self) -> None:
        return None
