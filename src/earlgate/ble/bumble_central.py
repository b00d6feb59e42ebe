"""The gateway's central on bumble: the simulated link, or a bumble transport."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Callable
from typing import Any

from bumble.att import ATT_Error
from bumble.core import AdvertisingData
from bumble.device import Advertisement, Connection, Device, Peer
from bumble.gatt_client import CharacteristicProxy
from bumble.hci import Address

from earlgate.ble import profile
from earlgate.ble.central import CentralError, Found

__all__ = ["BumbleCentral", "BumbleLink"]

ADDRESS = re.compile(r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}(/P)?$")
GATEWAY_MTU = 247  # room for a status's reason in one notification


class BumbleLink:
    """One connected Earl device, over a bumble :class:`Connection`."""

    def __init__(self, name: str, connection: Connection, peer: Peer) -> None:
        self.name = name
        self.address = str(connection.peer_address)
        self.connection = connection
        self.peer = peer
        self._chars: dict[str, CharacteristicProxy[bytes]] = {}
        self._down: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        connection.on(connection.EVENT_DISCONNECTION, self._on_disconnection)

    def _on_disconnection(self, reason: Any = None) -> None:
        if not self._down.done():
            self._down.set_result(f"disconnected (reason {reason})")

    async def discover(self) -> None:
        with contextlib.suppress(Exception):  # a peer that refuses keeps ATT_MTU 23
            await self.peer.request_mtu(GATEWAY_MTU)
        services = await self.peer.discover_service(profile.SERVICE_UUID)
        if not services:
            raise CentralError(f"{self.name}: no Earl service ({profile.SERVICE_UUID})")
        for char in await self.peer.discover_characteristics(service=services[0]):
            self._chars[str(char.uuid).lower()] = char

    def _char(self, uuid: str) -> CharacteristicProxy[bytes]:
        try:
            return self._chars[uuid.lower()]
        except KeyError:
            raise CentralError(f"{self.name}: no characteristic {uuid}") from None

    async def read(self, uuid: str) -> bytes:
        try:
            return bytes(await self.peer.read_value(self._char(uuid)))
        except ATT_Error as exc:
            raise CentralError(f"{self.name}: read refused: {exc.error_name}") from None

    async def subscribe(self, uuid: str, callback: Callable[[bytes], None]) -> None:
        await self.peer.subscribe(self._char(uuid), lambda value: callback(bytes(value)))

    async def write(self, uuid: str, data: bytes) -> None:
        if self._down.done():
            raise CentralError(f"{self.name}: {self._down.result()}")
        try:
            await self.peer.write_value(self._char(uuid), data, with_response=True)
        except ATT_Error as exc:
            raise CentralError(
                f"{self.name}: write refused with ATT error 0x{exc.error_code:02X}"
            ) from None
        except Exception as exc:  # the link dropped under the write
            raise CentralError(f"{self.name}: write failed: {type(exc).__name__}") from None

    async def wait_disconnected(self) -> str:
        return await asyncio.shield(self._down)

    async def disconnect(self) -> None:
        if not self._down.done():
            with contextlib.suppress(Exception):
                await self.connection.disconnect()


class BumbleCentral:
    """A central on a bumble :class:`Device` (its controller: simulated or real).

    It scans all the time it runs, so that names resolve to addresses; one
    connection is being made at a time (an LE controller makes one at a time).
    """

    def __init__(self, device: Device) -> None:
        self.device = device
        self.seen: dict[str, str] = {}  # name -> address
        self._rssi: dict[str, int] = {}  # name -> dBm of its last advertisement
        self._connecting = asyncio.Lock()
        self._seen_event = asyncio.Event()

    async def start(self) -> None:
        self.device.on(self.device.EVENT_ADVERTISEMENT, self._on_advertisement)
        await self.device.power_on()
        await self.device.start_scanning(filter_duplicates=False)

    def _on_advertisement(self, advertisement: Advertisement) -> None:
        name = advertisement.data.get(AdvertisingData.COMPLETE_LOCAL_NAME)
        if isinstance(name, bytes):
            name = name.decode(errors="replace")
        if isinstance(name, str) and name:
            self.seen[name] = str(advertisement.address)
            self._rssi[name] = int(advertisement.rssi)
            self._seen_event.set()

    def rssi(self, target: str) -> int | None:
        if target in self._rssi:
            return self._rssi[target]
        names = [n for n, a in self.seen.items() if a.split("/")[0] == target.split("/")[0]]
        return self._rssi.get(names[0]) if names else None

    async def scan(self, prefix: str, within: float) -> list[Found]:
        await asyncio.sleep(within)
        return [Found(n, a) for n, a in sorted(self.seen.items()) if n.startswith(prefix)]

    async def _resolve(self, target: str, within: float) -> tuple[str, str]:
        if ADDRESS.match(target):
            names = [n for n, a in self.seen.items() if a.split("/")[0] == target.split("/")[0]]
            return (names[0] if names else target), target
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while target not in self.seen:
            self._seen_event.clear()
            left = deadline - loop.time()
            if left <= 0:
                raise CentralError(f"{target}: not seen advertising within {within} s")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._seen_event.wait(), left)
        return target, self.seen[target]

    async def connect(self, target: str, within: float) -> BumbleLink:
        name, address = await self._resolve(target, within)
        async with self._connecting:
            try:
                connection = await self.device.connect(
                    Address(address.split("/")[0] if "/P" not in address else address),
                    timeout=within,
                )
            except Exception as exc:
                raise CentralError(f"{name}: connect failed: {type(exc).__name__} {exc}") from None
        link = BumbleLink(name, connection, Peer(connection))
        try:
            await asyncio.wait_for(link.discover(), within)
        except (Exception, TimeoutError) as exc:
            await link.disconnect()
            if isinstance(exc, CentralError):
                raise
            raise CentralError(f"{name}: discovery failed: {type(exc).__name__}") from None
        return link

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.device.stop_scanning()
        for connection in list(self.device.connections.values()):
            with contextlib.suppress(Exception):
                await connection.disconnect()
        with contextlib.suppress(Exception):
            await self.device.power_off()
