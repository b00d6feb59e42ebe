"""I²C access: the bus interface the driver needs, and errors a person can act on.

The driver talks to any object with ``smbus2.SMBus``'s four transfer methods
(:class:`SMBusLike`): a real bus from :func:`open_bus`, or the simulator.
:class:`I2CDevice` is the thin I/O layer between them: it turns ``OSError``
into :class:`~earlgate.led.errors.I2CError` naming the bus, the address and the
register, and retries transient failures (a NACK on a noisy bus) a bounded
number of times.
"""

from __future__ import annotations

import errno as errnos
import logging
import time
from collections.abc import Callable, Sequence
from typing import Final, Protocol, TypeVar

from smbus2 import SMBus

from earlgate.led.errors import I2CError

__all__ = [
    "EREMOTEIO",
    "I2CDevice",
    "NamedSMBus",
    "SMBusLike",
    "bus_name",
    "open_bus",
]

logger = logging.getLogger(__name__)

# Linux reports a NACK as EREMOTEIO ("Remote I/O error").
EREMOTEIO: Final = getattr(errnos, "EREMOTEIO", 121)
# Worth a retry: a NACK or a glitch on the wires, not a configuration problem.
TRANSIENT_ERRNOS: Final = frozenset(
    {EREMOTEIO, errnos.EIO, errnos.EAGAIN, errnos.ETIMEDOUT, errnos.ENXIO}
)

_EBUSY_HINT: Final = (
    "the kernel driver leds-tca6507 owns this address; unbind it "
    "(echo {bus_no}-00{address:02x} | sudo tee /sys/bus/i2c/drivers/leds-tca6507/unbind) "
    "or use its LEDs under /sys/class/leds instead"
)
_NACK_HINT: Final = (
    "no acknowledge: check the wiring (SDA, SCL, GND, 3.3 V), the pull-ups and the "
    "address (i2cdetect -y {bus_no})"
)

T = TypeVar("T")


class SMBusLike(Protocol):
    """The subset of ``smbus2.SMBus`` the driver uses."""

    def write_i2c_block_data(
        self, i2c_addr: int, register: int, data: Sequence[int], force: bool | None = None
    ) -> None: ...

    def write_byte_data(
        self, i2c_addr: int, register: int, value: int, force: bool | None = None
    ) -> None: ...

    def read_i2c_block_data(
        self, i2c_addr: int, register: int, length: int, force: bool | None = None
    ) -> list[int]: ...

    def read_byte_data(self, i2c_addr: int, register: int, force: bool | None = None) -> int: ...


class NamedSMBus(SMBus):
    """An ``smbus2.SMBus`` that remembers its device path, for error messages."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.name = path


def open_bus(path: str = "/dev/i2c-1") -> NamedSMBus:
    """Open an I²C bus device; ``/dev/i2c-1`` is the Raspberry Pi's header bus.

    Raises:
        I2CError: the device node is missing or not accessible, with a hint.
    """
    try:
        return NamedSMBus(path)
    except FileNotFoundError as exc:
        raise I2CError(
            "no such I²C bus",
            bus=path,
            errno=exc.errno,
            hint="enable I²C (raspi-config, or dtparam=i2c_arm=on) and check ls /dev/i2c-*",
        ) from exc
    except PermissionError as exc:
        raise I2CError(
            "permission denied opening the I²C bus",
            bus=path,
            errno=exc.errno,
            hint="add yourself to the i2c group (sudo adduser $USER i2c) and log in again",
        ) from exc
    except OSError as exc:
        raise I2CError(
            f"cannot open the I²C bus: {exc.strerror}", bus=path, errno=exc.errno
        ) from exc


def bus_name(bus: object) -> str:
    """A readable name for a bus object: its ``name`` attribute, or its type."""
    name = getattr(bus, "name", None)
    return name if isinstance(name, str) else type(bus).__name__


def _bus_number(name: str) -> str:
    digits = name.rsplit("-", 1)[-1]
    return digits if digits.isdigit() else "N"


class I2CDevice:
    """One device on one bus, with error translation and bounded retries.

    Args:
        bus: an ``smbus2.SMBus`` or anything with its methods.
        address: 7-bit address.
        retries: extra attempts after a transient failure (NACK, EIO, timeout).
        retry_delay: seconds between attempts.
        sleep: injected so tests never wait.
    """

    def __init__(
        self,
        bus: SMBusLike,
        address: int,
        *,
        retries: int = 2,
        retry_delay: float = 0.001,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not 0x03 <= address <= 0x77:
            raise ValueError(f"a 7-bit I²C address is 0x03-0x77, got 0x{address:02X}")
        if retries < 0:
            raise ValueError("retries must be >= 0")
        self.bus = bus
        self.address = address
        self.name = bus_name(bus)
        self.retries = retries
        self.retry_delay = retry_delay
        self._sleep = sleep
        self.retried = 0  # transfers that succeeded only after a retry, for statistics

    def _call(self, register: int, action: Callable[[], T]) -> T:
        for attempt in range(self.retries + 1):
            try:
                result = action()
            except OSError as exc:
                code = exc.errno
                if code in TRANSIENT_ERRNOS and attempt < self.retries:
                    logger.debug("retrying 0x%02X after errno %s", register, code)
                    self._sleep(self.retry_delay)
                    continue
                raise self._error(exc, register) from exc
            if attempt:
                self.retried += 1
            return result
        raise AssertionError("unreachable")  # pragma: no cover

    def _error(self, exc: OSError, register: int) -> I2CError:
        code = exc.errno
        bus_no = _bus_number(self.name)
        if code == errnos.EBUSY:
            message = "device or resource busy"
            hint = _EBUSY_HINT.format(bus_no=bus_no, address=self.address)
        elif code in (EREMOTEIO, errnos.ENXIO):
            message = f"NACK after {self.retries + 1} attempts"
            hint = _NACK_HINT.format(bus_no=bus_no)
        else:
            message = f"I²C transfer failed: {exc.strerror or exc}"
            hint = ""
        return I2CError(
            message, bus=self.name, address=self.address, register=register, errno=code, hint=hint
        )

    def write_block(self, command: int, data: Sequence[int]) -> None:
        """One write transfer: command byte, then ``data``."""
        self._call(
            command & 0x0F,
            lambda: self.bus.write_i2c_block_data(self.address, command, list(data)),
        )

    def write_byte(self, register: int, value: int) -> None:
        """Write one register (command byte without auto-increment)."""
        self._call(register, lambda: self.bus.write_byte_data(self.address, register, value))

    def read_block(self, command: int, length: int) -> list[int]:
        """One read transfer of ``length`` bytes after the command byte."""
        return self._call(
            command & 0x0F,
            lambda: list(self.bus.read_i2c_block_data(self.address, command, length)),
        )

    def read_byte(self, register: int) -> int:
        """Read one register."""
        return self._call(register, lambda: int(self.bus.read_byte_data(self.address, register)))
