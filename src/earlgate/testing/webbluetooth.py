"""Earl devices in Chromium's emulated Bluetooth adapter, for the tests and ``bench e2e``.

Chromium's ``BluetoothEmulation`` CDP domain (on a browser-level session)
gives the page a fake adapter with fake peripherals and hands every GATT
operation the page makes to the CDP client to answer. :class:`EmulatedEarl`
answers them as the Earl profile (``earlgate.ble.profile``) says: reads of
the readings characteristic are readings with a sequence number and the
device's own clock (the emulation cannot push a notification, so the page
polls), the status characteristic has a CCCD so its notifications start, and
LED writes are decoded, applied to a model of the ball-probe's two LEDs and
answered on the status characteristic. :class:`Radio` is the adapter;
:class:`Chooser` answers the page's device chooser through ``DeviceAccess``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from earlgate.ble import profile
from earlgate.ble.profile import LedState, Reading, Status

if TYPE_CHECKING:
    from playwright.async_api import CDPSession, Page

__all__ = ["CCCD", "Chooser", "EmulatedEarl", "Radio", "answer_chooser", "enable_radio"]

CCCD = "00002902-0000-1000-8000-00805f9b34fb"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@dataclass
class EmulatedEarl:
    """One Earl peripheral in Chromium's emulated adapter, answering as the profile says."""

    cdp: CDPSession
    address: str
    name: str
    kind: str
    temperatures: Callable[[int], float] = lambda seq: 20.0 + (seq % 50) / 4
    chars: dict[str, str] = field(default_factory=dict)
    served: list[Reading] = field(default_factory=list)
    writes: list[bytes] = field(default_factory=list)
    write_types: list[str] = field(default_factory=list)
    gatt_ops: list[str] = field(default_factory=list)
    status: Status = field(default_factory=lambda: Status("applied", 0))
    leds: dict[str, LedState] = field(default_factory=dict)
    refuse_next: str | None = None
    seq: int = 0
    # Set after each answered read: disconnect() waits for that quiet moment.
    answered: asyncio.Event = field(default_factory=asyncio.Event)
    started: float = field(default_factory=time.monotonic)
    # time.time() when the device clock read 0: readings' delays in one machine's clock
    epoch_at_zero: float = field(default_factory=lambda: time.time())

    async def install(self) -> None:
        await self.cdp.send(
            "BluetoothEmulation.simulatePreconnectedPeripheral",
            {
                "address": self.address,
                "name": self.name,
                "manufacturerData": [],
                "knownServiceUuids": [profile.SERVICE_UUID],
            },
        )
        await self.add_services()

    async def add_services(self) -> None:
        """The Earl service and its characteristics (again after a disconnection drops them)."""
        cdp = self.cdp
        self.chars.clear()
        service = await cdp.send(
            "BluetoothEmulation.addService",
            {"address": self.address, "serviceUuid": profile.SERVICE_UUID},
        )
        layout = {
            "readings": (profile.READINGS_UUID, {"read": True, "notify": True}),
            "info": (profile.INFO_UUID, {"read": True}),
            "led": (profile.LED_UUID, {"write": True}),
            "status": (profile.STATUS_UUID, {"read": True, "notify": True}),
        }
        for what, (uuid, properties) in layout.items():
            added = await cdp.send(
                "BluetoothEmulation.addCharacteristic",
                {
                    "serviceId": service["serviceId"],
                    "characteristicUuid": uuid,
                    "properties": properties,
                },
            )
            self.chars[added["characteristicId"]] = what
        # The status notifies (startNotifications needs the CCCD); the readings
        # have no CCCD, so the page falls back to polling them.
        status_id = next(c for c, w in self.chars.items() if w == "status")
        await cdp.send(
            "BluetoothEmulation.addDescriptor",
            {"characteristicId": status_id, "descriptorUuid": CCCD},
        )

    def value(self, what: str) -> bytes:
        if what == "info":
            period = 0 if self.kind == "ball" else 50_000
            units = {"temp": "degC", "accel": "m/s^2", "ball": ""}[self.kind]
            return profile.encode_info(profile.DeviceInfo(self.kind, period, units))
        if what == "status":
            return profile.encode_status(self.status)
        self.seq += 1
        clock = round((time.monotonic() - self.started) * 1e6)
        value: Any = None
        if self.kind == "temp":
            value = self.temperatures(self.seq)
        elif self.kind == "accel":
            value = (0.001 * self.seq, -1.5, 9.81)
        reading = Reading(self.kind, self.seq, clock, value)
        self.served.append(reading)
        return profile.encode_reading(reading)

    def apply(self, data: bytes) -> None:
        """A write to the LED characteristic: decode it, change the LEDs, set the status."""
        try:
            command = profile.decode_led(data)
        except profile.ProfileError as exc:
            self.status = Status("bad_command", 0, reason=str(exc))
            return
        if self.refuse_next is not None:
            self.status = Status("refused", command.id, reason=self.refuse_next)
            self.refuse_next = None
            return
        names = ["lower", "upper"] if command.led == "all" else [command.led]
        for led in names:
            if command.action == "off":
                self.leds[led] = LedState(led, (0, 0, 0))
            elif command.action == "set":
                self.leds[led] = LedState(led, command.color)
            elif command.action == "blink":
                times = (command.on_ms, command.off_ms, command.fade_ms, command.once)
                self.leds[led] = LedState(led, command.color, times)
        self.status = Status("applied", command.id, tuple(self.leds[n] for n in names))

    async def on_gatt(self, event: dict[str, Any]) -> None:
        if event["address"] != self.address:
            return
        self.gatt_ops.append(event["type"])
        await self.cdp.send(
            "BluetoothEmulation.simulateGATTOperationResponse",
            {"address": self.address, "type": event["type"], "code": 0},
        )

    async def on_characteristic(self, event: dict[str, Any]) -> None:
        what = self.chars.get(event["characteristicId"])
        if what is None:
            return
        answer: dict[str, Any] = {
            "characteristicId": event["characteristicId"],
            "type": event["type"],
            "code": 0,
        }
        if event["type"] == "read":
            answer["data"] = b64(self.value(what))
        elif event["type"] == "write":
            data = base64.b64decode(event.get("data", ""))
            self.writes.append(data)
            self.write_types.append(event.get("writeType", ""))
            self.apply(data)
        await self.cdp.send("BluetoothEmulation.simulateCharacteristicOperationResponse", answer)
        if event["type"] == "read":
            self.answered.set()

    async def disconnect(self) -> None:
        """The link drops (out of range); the device stays, with its services, for a reconnect.

        Chromium's emulation wedges the device when a read is in flight at the
        drop (its answer is refused and later connects never start), so the
        drop waits, up to a second, for the moment just after an answered read.
        """
        self.answered.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.answered.wait(), 1.0)
        await self.cdp.send(
            "BluetoothEmulation.simulateGATTDisconnection", {"address": self.address}
        )
        await self.add_services()


class Radio:
    """The browser-level CDP session: the emulated adapter and its peripherals."""

    def __init__(self, cdp: CDPSession) -> None:
        self.cdp = cdp
        self.devices: list[EmulatedEarl] = []
        self.failures: list[str] = []
        self._tasks: set[asyncio.Task[None]] = set()
        cdp.on("BluetoothEmulation.gattOperationReceived", self._each("on_gatt"))
        cdp.on(
            "BluetoothEmulation.characteristicOperationReceived", self._each("on_characteristic")
        )
        cdp.on("BluetoothEmulation.descriptorOperationReceived", self._descriptor)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)

        def done(t: asyncio.Task[None]) -> None:
            self._tasks.discard(t)
            if not t.cancelled() and t.exception() is not None:
                self.failures.append(repr(t.exception()))

        task.add_done_callback(done)

    def _each(self, method: str) -> Callable[[dict[str, Any]], None]:
        def handler(event: dict[str, Any]) -> None:
            for device in self.devices:
                self._spawn(getattr(device, method)(event))

        return handler

    def _descriptor(self, event: dict[str, Any]) -> None:
        answer: dict[str, Any] = {"descriptorId": event["descriptorId"], "type": event["type"]}
        answer["code"] = 0
        if event["type"] == "read":
            answer["data"] = b64(b"\x00\x00")
        self._spawn(self.cdp.send("BluetoothEmulation.simulateDescriptorOperationResponse", answer))

    async def add(self, address: str, name: str, kind: str) -> EmulatedEarl:
        device = EmulatedEarl(self.cdp, address, name, kind)
        await device.install()
        self.devices.append(device)
        return device


class Chooser:
    """Answers the page's device chooser with the device a test asks for, once per prompt.

    (A second select of one prompt crashes Chromium.)
    """

    def __init__(self, cdp: CDPSession) -> None:
        self.cdp = cdp
        self.want: str | None = None  # an address (the prompt lists no names)
        self.answered: set[str] = set()
        cdp.on("DeviceAccess.deviceRequestPrompted", self._prompted)

    def _prompted(self, event: dict[str, Any]) -> None:
        if event["id"] in self.answered:
            return
        chosen = [d for d in event["devices"] if self.want is None or d["id"] == self.want]
        if not chosen:
            return  # the wanted device is listed in a later event of this prompt
        self.answered.add(event["id"])
        asyncio.get_running_loop().create_task(
            self.cdp.send(
                "DeviceAccess.selectPrompt", {"id": event["id"], "deviceId": chosen[0]["id"]}
            )
        )


async def answer_chooser(page: Page) -> Chooser:
    cdp = await page.context.new_cdp_session(page)
    await cdp.send("DeviceAccess.enable")
    return Chooser(cdp)


async def enable_radio(cdp: CDPSession) -> Radio:
    """Power on the emulated adapter of a browser-level CDP session."""
    await cdp.send("BluetoothEmulation.enable", {"state": "powered-on", "leSupported": True})
    return Radio(cdp)
