"""The TCA6507 driver: a shadow of the registers, written in minimal bursts.

:class:`TCA6507` keeps what it last wrote (or read) as a :class:`Registers`
shadow; :meth:`TCA6507.apply` writes only the registers that differ, as
auto-increment bursts planned by :func:`~earlgate.led.registers.plan_bursts`.
The 2013 C library's functions are here under clear names:

=====================  ==========================================
``tca6507.c``          here
=====================  ==========================================
``initTCA6507``        :meth:`TCA6507.write_all`
``transmitCommand``    :meth:`TCA6507.write_register`
``incrementPWMx``      :meth:`TCA6507.increment_intensity`
``decrementPWMx``      :meth:`TCA6507.decrement_intensity`
``testPorts``          :meth:`TCA6507.test_ports`
``testCount``          :meth:`TCA6507.test_count`
=====================  ==========================================
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import replace
from typing import Literal

from earlgate.led.bus import I2CDevice, SMBusLike
from earlgate.led.registers import (
    ADDRESS,
    AUTO_INCREMENT,
    INITIALIZATION,
    NUM_PORTS,
    NUM_REGISTERS,
    READABLE_REGISTERS,
    SELECT0,
    STATE_MASTER,
    STATE_ON,
    Burst,
    Registers,
    init_value,
    plan_bursts,
)

__all__ = ["IntensitySource", "TCA6507"]

logger = logging.getLogger(__name__)

IntensitySource = Literal["bank0", "bank1", "master"]


class TCA6507:
    """Driver for one TCA6507 on an I²C bus.

    The shadow starts *unknown*: the first :meth:`apply` writes every register
    (one burst), unless :meth:`load` read them first. Every write goes through
    the shadow, so after a failed transfer (``I2CError``) call :meth:`load` or
    :meth:`write_all` to resynchronise.

    Args:
        bus: an ``smbus2.SMBus`` (see :func:`~earlgate.led.bus.open_bus`) or a
            :class:`~earlgate.led.simulator.SimulatedTCA6507`.
        address: the chip's 7-bit address; the TCA6507's is fixed at 0x45.
        retries: extra attempts after a transient failure.
        sleep: injected delay function (retries and self-tests).
    """

    def __init__(
        self,
        bus: SMBusLike,
        address: int = ADDRESS,
        *,
        retries: int = 2,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.device = I2CDevice(bus, address, retries=retries, sleep=sleep)
        self._sleep = sleep
        self._shadow = Registers()
        self._known = False
        self.debug = False

    @property
    def registers(self) -> Registers:
        """The shadow: what the chip holds, as far as this driver knows."""
        return self._shadow

    @property
    def synchronised(self) -> bool:
        """Whether the shadow is known to match the chip (after a write or a read)."""
        return self._known

    # -- reading -------------------------------------------------------------

    def read_registers(self) -> Registers:
        """Read registers 0x00-0x09 in one auto-increment read (0x0A is write-only)."""
        data = self.device.read_block(AUTO_INCREMENT | SELECT0, READABLE_REGISTERS)
        return Registers.decode(data)

    def load(self) -> Registers:
        """Read the chip's registers and adopt them as the shadow."""
        self._shadow = self.read_registers()
        self._known = True
        return self._shadow

    # -- writing -------------------------------------------------------------

    def write_all(self, registers: Registers | None = None, restart: Collection[int] = ()) -> Burst:
        """Write every register in one auto-increment burst (``initTCA6507``).

        Args:
            registers: the new contents; the shadow when omitted.
            restart: banks whose pattern INITIALIZATION restarts (the burst
                then runs on to 0x0A).

        Returns:
            The burst written.
        """
        target = self._shadow if registers is None else registers
        data = target.encode()
        if restart:
            data += bytes([init_value(restart)])
        burst = Burst(start=SELECT0, data=data)
        self._burst(burst)
        self._shadow = target
        self._known = True
        return burst

    def write_register(self, register: int, value: int) -> None:
        """Write one register without auto-increment (``transmitCommand``).

        Writing INITIALIZATION (0x0A) restarts the banks its bits name.
        """
        if not 0 <= register < NUM_REGISTERS:
            raise ValueError(f"the TCA6507 has registers 0x00-0x0A, not 0x{register:02X}")
        if not 0 <= value <= 0xFF:
            raise ValueError(f"a register holds one byte, got {value}")
        if self.debug:
            logger.debug("write 0x%02X = 0x%02X", register, value)
        self.device.write_byte(register, value)
        if register != INITIALIZATION:
            data = bytearray(self._shadow.encode())
            data[register] = value
            self._shadow = Registers.decode(data)

    def restart(self, banks: Iterable[int]) -> None:
        """Restart the banks' patterns from fade-on (INITIALIZATION)."""
        value = init_value(banks)
        if value:
            self.write_register(INITIALIZATION, value)

    def apply(self, registers: Registers, restart: Collection[int] = ()) -> list[Burst]:
        """Make the chip hold ``registers``, writing only what differs from the shadow.

        Returns:
            The bursts written (empty when nothing changed).
        """
        if not self._known:
            return [self.write_all(registers, restart)]
        bursts = plan_bursts(self._shadow.encode(), registers.encode(), restart)
        for burst in bursts:
            self._burst(burst)
        self._shadow = registers
        return bursts

    def _burst(self, burst: Burst) -> None:
        if self.debug:
            logger.debug("burst at 0x%02X: %s", burst.start, burst.data.hex(" "))
        if len(burst.data) == 1:
            self.device.write_byte(burst.start, burst.data[0])
        else:
            self.device.write_block(AUTO_INCREMENT | burst.start, burst.data)

    # -- the thesis's helpers ------------------------------------------------

    def increment_intensity(self, source: IntensitySource = "master") -> int:
        """One of 16 brightness steps up for a bank's maximum or ALD (``incrementPWMx``).

        Returns:
            The new level (stays at 15).
        """
        return self._step_intensity(source, +1)

    def decrement_intensity(self, source: IntensitySource = "master") -> int:
        """One brightness step down (``decrementPWMx``); stays at 0."""
        return self._step_intensity(source, -1)

    def _step_intensity(self, source: IntensitySource, delta: int) -> int:
        regs = self._shadow
        if source == "master":
            level = max(0, min(15, regs.master + delta))
            new = replace(regs, master=level)
        elif source in ("bank0", "bank1"):
            bank = 0 if source == "bank0" else 1
            levels = list(regs.max_intensity)
            level = levels[bank] = max(0, min(15, levels[bank] + delta))
            new = replace(regs, max_intensity=(levels[0], levels[1]))
        else:
            raise ValueError(f"source must be bank0, bank1 or master, got {source!r}")
        self.apply(new)
        return level

    def test_ports(self, delay: float = 0.5, ports: Iterable[int] = range(NUM_PORTS)) -> list[int]:
        """Turn each port fully on, then off, one after the other (``testPorts``).

        The registers are restored afterwards.

        Returns:
            The ports tested, in order.
        """
        saved = self._shadow
        tested = []
        try:
            for port in ports:
                if not 0 <= port < NUM_PORTS:
                    raise ValueError(f"port must be 0-{NUM_PORTS - 1}, got {port}")
                blank = replace(saved, ports=(0,) * NUM_PORTS)
                self.apply(blank.with_port(port, STATE_ON))
                self._sleep(delay)
                self.apply(blank)
                tested.append(port)
        finally:
            self.apply(saved)
        return tested

    def test_count(
        self, delay: float = 0.05, ports: Iterable[int] = range(NUM_PORTS), cycles: int = 1
    ) -> list[int]:
        """Ramp the master level 0→15 on ``ports`` (``testCount``, bounded).

        The 2013 library looped for ever; this runs ``cycles`` ramps and then
        restores the registers.

        Returns:
            The levels shown, in order.
        """
        saved = self._shadow
        chosen = set(ports)
        states = tuple(STATE_MASTER if p in chosen else 0 for p in range(NUM_PORTS))
        shown = []
        try:
            self.apply(replace(saved, ports=states, master=0))
            shown.append(0)
            for _ in range(cycles):
                if self._shadow.master == 15:
                    self.apply(replace(self._shadow, master=0))
                    shown.append(0)
                while self._shadow.master < 15:
                    self._sleep(delay)
                    shown.append(self.increment_intensity("master"))
        finally:
            self.apply(saved)
        return shown
