"""A virtual Earl: the Earl GATT profile served by bumble's host stack.

``accel`` and ``temp`` sample :mod:`earlgate.devices.models` and notify
readings; ``ball`` drives a simulated TCA6507 through
:class:`~earlgate.led.module.LedModule` from writes to the LED characteristic
and answers each on the status characteristic. The device runs on any bumble
controller: an in-process one on a :class:`~earlgate.ble.simlink.IntervalLink`
(tests, benches), or a real one through a bumble transport
(``usb:0``, ``hci-socket:0``, ``serial:/dev/ttyACM0``...).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable
from typing import Any

from bumble import gatt
from bumble.att import ATT_Error
from bumble.controller import Controller
from bumble.core import UUID, AdvertisingData
from bumble.device import Connection, Device
from bumble.hci import Address
from bumble.host import Host
from bumble.link import LocalLink
from bumble.transport.common import AsyncPipeSink

from earlgate.ble import profile
from earlgate.ble.profile import DeviceInfo, LedWrite, ProfileError, Reading, Status
from earlgate.devices.models import Accelerometer, Thermometer
from earlgate.led.chip import TCA6507
from earlgate.led.commands import LedCommand, execute
from earlgate.led.errors import I2CError, LedResourceError, LedUsageError
from earlgate.led.module import LedModule
from earlgate.led.simulator import SimulatedTCA6507

__all__ = ["ATT_MALFORMED", "KIND_UNITS", "VirtualEarl", "address_for", "on_link"]

logger = logging.getLogger(__name__)

# ATT error codes 0x80-0x9F are the application's (Core spec Vol 3, Part F, 3.4.1.1).
ATT_MALFORMED = 0x80  # the LED write does not follow the profile (status says why)
ATT_NOT_A_BALL = 0x81  # an LED write to a device without an LED module

KIND_UNITS = {"accel": "m/s^2", "temp": "degC", "ball": ""}


def address_for(name: str) -> str:
    """A stable random static address for ``name`` (top two bits set, Core Vol 6 1.3.2.1)."""
    digest = bytearray(hashlib.sha256(name.encode()).digest()[:6])
    digest[0] |= 0xC0
    return ":".join(f"{b:02X}" for b in digest)


class VirtualEarl:
    """One Earl device: the profile's service, its sampling loop, its LED module.

    Args:
        device: the bumble device to serve on (see :func:`on_link`).
        kind: ``accel``, ``temp`` or ``ball``.
        period: seconds between readings (accel, temp).
        seed: the sensor model's seed.
        leds: the ball's LED module (default: one on a simulated TCA6507).
        clock: monotonic seconds, the device's own clock (default: the event loop's).
    """

    def __init__(
        self,
        device: Device,
        kind: str,
        *,
        period: float = 0.25,
        seed: int = 0,
        leds: LedModule | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if kind not in profile.KIND_CODES:
            raise ValueError(f"unknown kind {kind!r}; known: accel, temp, ball")
        self.device = device
        self.kind = kind
        self.name = device.name
        self.period = period if kind != "ball" else 0.0
        self.clock = clock
        self.advertising_interval_ms = 50.0
        self.seq = 0
        self.sent = 0
        self.writes = 0
        self.malformed = 0
        self.applied = 0
        self.refused = 0
        self._t0 = 0.0
        self.epoch_at_zero = 0.0  # time.time() when the device clock read 0
        self._accel = Accelerometer(seed=seed)
        self._temp = Thermometer(seed=seed)
        self.chip: SimulatedTCA6507 | None = None
        if kind == "ball" and leds is None:
            self.chip = SimulatedTCA6507()
            leds = LedModule(TCA6507(self.chip))
        self.leds = leds
        self._task: asyncio.Task[None] | None = None
        self._status = Status("applied", 0)
        self.info = DeviceInfo(kind, round(self.period * 1e6), KIND_UNITS[kind])
        self.readings = gatt.Characteristic(
            profile.READINGS_UUID,
            gatt.Characteristic.Properties.READ | gatt.Characteristic.Properties.NOTIFY,
            gatt.Characteristic.READABLE,
            b"",
        )
        self.status = gatt.Characteristic(
            profile.STATUS_UUID,
            gatt.Characteristic.Properties.READ | gatt.Characteristic.Properties.NOTIFY,
            gatt.Characteristic.READABLE,
            profile.encode_status(self._status),
        )
        self.led: gatt.Characteristic[bytes] = gatt.Characteristic(
            profile.LED_UUID,
            gatt.Characteristic.Properties.WRITE,
            gatt.Characteristic.WRITEABLE,
            gatt.CharacteristicValue[bytes](write=self._on_led_write),
        )
        info = gatt.Characteristic(
            profile.INFO_UUID,
            gatt.Characteristic.Properties.READ,
            gatt.Characteristic.READABLE,
            profile.encode_info(self.info),
        )
        self.service = gatt.Service(
            profile.SERVICE_UUID, [self.readings, info, self.led, self.status]
        )

    # -- the device clock and its readings -------------------------------------------

    def _now(self) -> float:
        return self.clock() if self.clock is not None else asyncio.get_running_loop().time()

    def clock_us(self) -> int:
        return max(0, round((self._now() - self._t0) * 1e6))

    def sample(self) -> Reading:
        """The next reading (advances ``seq``)."""
        clock = self.clock_us()
        t = clock / 1e6
        value: profile.Value
        if self.kind == "accel":
            r = self._accel.reading(t)
            value = (r["x"], r["y"], r["z"])
        else:
            value = self._temp.reading(t)
        reading = Reading(self.kind, self.seq & 0xFFFFFFFF, clock, value)
        self.seq += 1
        return reading

    # -- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        """Power on, add the service, advertise (again after every disconnection), sample."""
        self.device.add_service(self.service)
        await self.device.power_on()
        self._t0 = self._now()
        self.epoch_at_zero = time.time()
        ad = AdvertisingData(
            [
                (AdvertisingData.FLAGS, bytes([0x06])),
                (AdvertisingData.COMPLETE_LOCAL_NAME, self.name.encode()[:26]),
            ]
        )
        scan = AdvertisingData(
            [
                (
                    AdvertisingData.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
                    bytes(UUID(profile.SERVICE_UUID).to_bytes(force_128=True)),
                )
            ]
        )
        await self.device.start_advertising(
            advertising_data=bytes(ad),
            scan_response_data=bytes(scan),
            auto_restart=True,
            advertising_interval_min=self.advertising_interval_ms,
            advertising_interval_max=self.advertising_interval_ms,
        )
        if self.period:
            self._task = asyncio.create_task(self._sampling(), name=f"earl-{self.name}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        for connection in list(self.device.connections.values()):
            try:
                await connection.disconnect()
            except Exception:  # already gone
                pass
        await self.device.power_off()

    async def _sampling(self) -> None:
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while True:
            next_at += self.period
            await asyncio.sleep(max(0.0, next_at - loop.time()))
            value = profile.encode_reading(self.sample())
            self.readings.value = value
            if self.device.connections:
                await self.device.notify_subscribers(self.readings, value)
                self.sent += 1

    # -- the LED characteristic -------------------------------------------------------

    def _on_led_write(self, connection: Connection, value: bytes) -> None:
        """Apply one command; answer it on the status characteristic.

        A write that does not follow the profile is refused with ATT error
        0x80 *and* a ``bad_command`` status naming the field, so a client that
        only watches the status learns why too.
        """
        self.writes += 1
        if self.leds is None:
            self.malformed += 1
            self._answer(Status("bad_command", 0, reason=f"{self.kind} has no LED module"))
            raise ATT_Error(ATT_NOT_A_BALL, message=f"{self.kind} has no LED module")
        try:
            command = profile.decode_led(bytes(value))
        except ProfileError as exc:
            self.malformed += 1
            self._answer(Status("bad_command", 0, reason=str(exc)))
            raise ATT_Error(ATT_MALFORMED, message=str(exc)) from None
        self._answer(self.apply(command))

    def apply(self, command: LedWrite) -> Status:
        """Run one decoded command on the LED module; the status that answers it."""
        assert self.leds is not None
        led_command = LedCommand(
            command.action,
            command.led,
            command.color,
            command.on_ms,
            command.off_ms,
            command.fade_ms,
            command.once,
            command.strict,
        )
        try:
            touched = execute(self.leds, led_command)
        except LedResourceError as exc:
            self.refused += 1
            return Status("refused", command.id, reason=str(exc))
        except LedUsageError as exc:
            self.refused += 1
            return Status("bad_command", command.id, reason=str(exc))
        except I2CError as exc:
            self.refused += 1
            return Status("i2c", command.id, reason=str(exc))
        except Exception as exc:  # a bug: answer it, keep serving
            logger.exception("LED command failed: %r", command)
            self.refused += 1
            return Status("internal", command.id, reason=f"{type(exc).__name__}: {exc}")
        self.applied += 1
        states = []
        for name, state in touched.items():
            color = (state.color + (0, 0, 0))[:3]
            blink = None
            if state.blink is not None:
                b = state.blink
                blink = (b.on_ms, b.off_ms, b.fade_ms, b.once)
            states.append(profile.LedState(name, (color[0], color[1], color[2]), blink))
        return Status("applied", command.id, tuple(states))

    def _answer(self, status: Status) -> None:
        self._status = status
        value = profile.encode_status(status)
        self.status.value = value
        if self.device.connections:
            asyncio.get_running_loop().create_task(
                self.device.notify_subscribers(self.status, value)
            )

    def statistics(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "readings": self.seq,
            "notified": self.sent,
            "led_writes": self.writes,
            "malformed_writes": self.malformed,
            "applied": self.applied,
            "refused": self.refused,
        }


def on_link(link: LocalLink, name: str, address: str | None = None) -> Device:
    """A bumble device with its own in-process controller on ``link``."""
    address = address or address_for(name)
    controller = Controller(f"ctl-{name}", link=link, public_address=address)
    return Device(
        name=name, address=Address(address), host=Host(controller, AsyncPipeSink(controller))
    )
