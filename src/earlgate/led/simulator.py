"""A TCA6507 in software: an ``smbus2``-compatible bus that *is* the chip.

:class:`SimulatedTCA6507` answers the four ``smbus2.SMBus`` transfer methods
the driver uses exactly as the chip on a Linux I²C bus would: registers,
auto-increment with wrap, NACK (``OSError`` errno 121, EREMOTEIO) for
registers 0x0B-0x0F, for a command byte with bits 7..5 set and for any other
address. It also remembers *when* each port entered its state and each bank
was re-initialised, so :meth:`level` can say how bright a port is at any
clock time (the waveform itself is :mod:`earlgate.led.waveform`).

Choices where the datasheet is silent:

* Register 0x0A (INITIALIZATION) is write-only; it reads as 0x00.
* Bit 7 of SELECT0-2 (there is no P7) reads as 0.
* A command byte without AI writes every data byte to the same register.
* A port's new state takes effect at the end of the transfer that set it, so
  a burst that changes several SELECT registers never passes through the
  intermediate states.
* Changing a bank's times while it runs keeps the pattern's start time; only
  entering a blink state or INITIALIZATION restarts it.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final

from earlgate.led.bus import EREMOTEIO
from earlgate.led.registers import (
    ADDRESS,
    AUTO_INCREMENT,
    INITIALIZATION,
    NUM_PORTS,
    NUM_REGISTERS,
    READABLE_REGISTERS,
    SELECT0,
    SELECT2,
    STATE_BLINK0,
    Registers,
)
from earlgate.led.waveform import port_level

__all__ = ["SimulatedTCA6507", "Transfer"]

# smbus2: "Max 32 data bytes per block".
I2C_SMBUS_BLOCK_MAX: Final = 32
_LOG_LENGTH: Final = 1024


@dataclass(frozen=True)
class Transfer:
    """One I²C transfer the simulated chip acknowledged, for tests and plots.

    Attributes:
        kind: ``"write"`` or ``"read"``.
        command: the command byte (``AUTO_INCREMENT | register`` for a burst).
        data: the data bytes written or read.
        time: clock time of the transfer.
    """

    kind: str
    command: int
    data: bytes
    time: float

    @property
    def register(self) -> int:
        """The first register addressed."""
        return self.command & 0x0F

    @property
    def auto_increment(self) -> bool:
        """Whether the command byte set AI."""
        return bool(self.command & AUTO_INCREMENT)


def _nack(what: str) -> OSError:
    return OSError(EREMOTEIO, f"Remote I/O error ({what})")


class SimulatedTCA6507:
    """A fake I²C bus holding one TCA6507; pass it wherever an ``SMBus`` goes.

    Args:
        clock: seconds, monotonic; injected so tests control time.
        address: the chip's 7-bit address.
    """

    name = "simulated"

    def __init__(self, clock: Callable[[], float] = time.monotonic, address: int = ADDRESS):
        self.clock = clock
        self.address = address
        self._regs = bytearray(Registers().encode())
        now = clock()
        self._since = [now] * NUM_PORTS
        self._restarted: list[float | None] = [None, None]
        self._nacks = 0
        self.transfers: deque[Transfer] = deque(maxlen=_LOG_LENGTH)

    # -- the smbus2 interface ----------------------------------------------

    def write_i2c_block_data(
        self, i2c_addr: int, register: int, data: Sequence[int], force: bool | None = None
    ) -> None:
        """An I²C write: command byte ``register``, then ``data``."""
        if len(data) > I2C_SMBUS_BLOCK_MAX:
            raise ValueError("Data length cannot exceed 32 bytes")
        self._write(i2c_addr, register, data)

    def write_byte_data(
        self, i2c_addr: int, register: int, value: int, force: bool | None = None
    ) -> None:
        """An I²C write of one data byte."""
        self._write(i2c_addr, register, [value])

    def read_i2c_block_data(
        self, i2c_addr: int, register: int, length: int, force: bool | None = None
    ) -> list[int]:
        """An I²C write of the command byte, repeated START, then ``length`` reads."""
        if not 0 <= length <= I2C_SMBUS_BLOCK_MAX:
            raise ValueError("Desired block length over 32 bytes")
        return self._read(i2c_addr, register, length)

    def read_byte_data(self, i2c_addr: int, register: int, force: bool | None = None) -> int:
        """Read one register."""
        return self._read(i2c_addr, register, 1)[0]

    def close(self) -> None:
        """Nothing to release; here so the simulator can stand in for ``SMBus``."""

    def __enter__(self) -> SimulatedTCA6507:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- the chip ------------------------------------------------------------

    def _check(self, i2c_addr: int, command: int) -> int:
        if self._nacks:
            self._nacks -= 1
            raise _nack("injected")
        if i2c_addr != self.address:
            raise _nack(f"no device at 0x{i2c_addr:02X}")
        # "Bits 7..5 must be 0."
        if command & 0xE0:
            raise _nack(f"command byte 0x{command:02X}")
        register = command & 0x0F
        # "Registers 0x0B-0x0F are not acknowledged (NACK)."
        if register >= NUM_REGISTERS:
            raise _nack(f"register 0x{register:02X}")
        return register

    def _write(self, i2c_addr: int, command: int, data: Sequence[int]) -> None:
        pointer = self._check(i2c_addr, command)
        values = bytes(data)  # ValueError for a byte out of range, as smbus2
        now = self.clock()
        before = self.registers.ports
        for value in values:
            if pointer == INITIALIZATION:
                # "bit 3 bank 0, bit 7 bank 1: restart that bank's pattern".
                for bank in (0, 1):
                    if value & (0x08 << (4 * bank)):
                        self._restarted[bank] = now
            elif SELECT0 <= pointer <= SELECT2:
                self._regs[pointer] = value & 0x7F  # no P7
            else:
                self._regs[pointer] = value
            if command & AUTO_INCREMENT:
                # "increments after each data byte and wraps from 0x0A to 0x00".
                pointer = (pointer + 1) % NUM_REGISTERS
        after = self.registers.ports
        for port in range(NUM_PORTS):
            if after[port] != before[port]:
                self._since[port] = now
        self.transfers.append(Transfer("write", command, values, now))

    def _read(self, i2c_addr: int, command: int, length: int) -> list[int]:
        pointer = self._check(i2c_addr, command)
        out = []
        for _ in range(length):
            out.append(self._regs[pointer] if pointer < READABLE_REGISTERS else 0)
            if command & AUTO_INCREMENT:
                pointer = (pointer + 1) % NUM_REGISTERS
        self.transfers.append(Transfer("read", command, bytes(out), self.clock()))
        return out

    def inject_nacks(self, count: int) -> None:
        """Make the next ``count`` transfers fail with a NACK, as a noisy bus does."""
        self._nacks = count

    @property
    def registers(self) -> Registers:
        """The registers 0x00-0x09, decoded."""
        return Registers.decode(self._regs)

    def register_bytes(self) -> bytes:
        """The raw bytes of registers 0x00-0x09."""
        return bytes(self._regs)

    def pattern_start(self, port: int) -> float | None:
        """Clock time the blink pattern of ``port`` started, or ``None`` if not blinking.

        Spec: "A pattern starts with fade-on when its port enters a blink state
        or its bank is re-initialised through register 0x0A."
        """
        state = self.registers.ports[port]
        if state < STATE_BLINK0:
            return None
        restarted = self._restarted[state - STATE_BLINK0]
        since = self._since[port]
        return since if restarted is None else max(since, restarted)

    def level(self, port: int, t: float | None = None) -> float:
        """Brightness of ``port`` (0.0-1.0, the PWM duty) at clock time ``t`` (now).

        The waveform is that of the current registers; a time before the
        current pattern started reads as off.
        """
        if not 0 <= port < NUM_PORTS:
            raise ValueError(f"port must be 0-{NUM_PORTS - 1}, got {port}")
        when = self.clock() if t is None else t
        start = self.pattern_start(port)
        elapsed_ms = 0.0 if start is None else (when - start) * 1000.0
        return port_level(self.registers, port, elapsed_ms)

    def render(self, port: int, t0: float, t1: float, step: float) -> list[tuple[float, float]]:
        """Samples ``(t, level)`` of ``port`` from ``t0`` to ``t1`` every ``step`` s, for plots."""
        if step <= 0:
            raise ValueError("step must be > 0")
        count = int((t1 - t0) / step + 1e-9) + 1
        return [(t0 + i * step, self.level(port, t0 + i * step)) for i in range(max(count, 0))]

    # -- persistence (the CLI's --simulate across invocations) ---------------

    def to_dict(self) -> dict[str, Any]:
        """The chip's state as JSON-ready data (clock times as the clock gives them)."""
        return {
            "address": self.address,
            "registers": self._regs.hex(),
            "since": list(self._since),
            "restarted": list(self._restarted),
        }

    @classmethod
    def from_dict(
        cls, state: dict[str, Any], clock: Callable[[], float] = time.monotonic
    ) -> SimulatedTCA6507:
        """A simulator restored from :meth:`to_dict`'s output.

        Raises:
            ValueError: the state is malformed.
        """
        try:
            sim = cls(clock=clock, address=int(state.get("address", ADDRESS)))
            regs = bytes.fromhex(str(state["registers"]))
            since = [float(t) for t in state["since"]]
            restarted = [None if t is None else float(t) for t in state["restarted"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"bad simulator state: {exc}") from exc
        if len(regs) != READABLE_REGISTERS or len(since) != NUM_PORTS or len(restarted) != 2:
            raise ValueError("bad simulator state: wrong number of registers, ports or banks")
        Registers.decode(regs)
        sim._regs = bytearray(regs)
        sim._since = since
        sim._restarted = restarted
        return sim
