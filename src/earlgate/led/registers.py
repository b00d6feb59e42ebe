"""The TCA6507 register map: a value type, its encoder/decoder, and write planning.

Theory of operation: the chip is configured entirely by eleven registers
(datasheet table 7). :class:`Registers` holds the ten readable ones as fields
with names, ``encode()`` turns them into the ten bytes 0x00-0x09 and
``decode()`` back. The eleventh, INITIALIZATION (0x0A), is write-only and
acts as a pulse ("restart that bank's pattern"), so it is not state: the
driver passes the banks to restart alongside the registers. ``plan_bursts``
turns "these bytes changed" into the fewest auto-increment bursts. Pure: no
I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Final

from earlgate.led.timecodes import TIME_CODES_MS

__all__ = [
    "ADDRESS",
    "AUTO_INCREMENT",
    "FADE_OFF_TIME",
    "FADE_ON_TIME",
    "FIRST_FULLY_OFF_TIME",
    "FULLY_ON_TIME",
    "INITIALIZATION",
    "MASTER_INTENSITY",
    "MAX_INTENSITY",
    "NUM_PORTS",
    "NUM_REGISTERS",
    "PORT_STATE_NAMES",
    "READABLE_REGISTERS",
    "REGISTER_NAMES",
    "SECOND_FULLY_OFF_TIME",
    "SELECT0",
    "SELECT1",
    "SELECT2",
    "STATE_BANK0",
    "STATE_BANK1",
    "STATE_BLINK0",
    "STATE_BLINK1",
    "STATE_MASTER",
    "STATE_OFF",
    "STATE_ON",
    "Burst",
    "Registers",
    "init_value",
    "plan_bursts",
]

# Bus (spec "Bus"): "7-bit address 0x45 (fixed)".
ADDRESS: Final = 0x45
# "Command byte: 0 0 0 AI A3 A2 A1 A0; AI (0x10) = auto-increment".
AUTO_INCREMENT: Final = 0x10

# Register addresses (datasheet table 7).
SELECT0: Final = 0x00
SELECT1: Final = 0x01
SELECT2: Final = 0x02
FADE_ON_TIME: Final = 0x03
FULLY_ON_TIME: Final = 0x04
FADE_OFF_TIME: Final = 0x05
FIRST_FULLY_OFF_TIME: Final = 0x06
SECOND_FULLY_OFF_TIME: Final = 0x07
MAX_INTENSITY: Final = 0x08
MASTER_INTENSITY: Final = 0x09  # ONE_SHOT / MASTER_INTENSITY
INITIALIZATION: Final = 0x0A
NUM_REGISTERS: Final = 11  # "wraps from 0x0A to 0x00"
READABLE_REGISTERS: Final = 10  # 0x0A is write-only

REGISTER_NAMES: Final = (
    "SELECT0",
    "SELECT1",
    "SELECT2",
    "FADE_ON_TIME",
    "FULLY_ON_TIME",
    "FADE_OFF_TIME",
    "FIRST_FULLY_OFF_TIME",
    "SECOND_FULLY_OFF_TIME",
    "MAX_INTENSITY",
    "ONE_SHOT/MASTER_INTENSITY",
    "INITIALIZATION",
)

# Port states S2 S1 S0 (spec "Ports P0-P6").
NUM_PORTS: Final = 7
STATE_OFF: Final = 0  # 0 and 1: "off (high impedance)"
STATE_BANK0: Final = 2  # "on, steady at bank 0's maximum intensity"
STATE_BANK1: Final = 3  # "on, steady at bank 1's maximum intensity"
STATE_ON: Final = 4  # "fully on"
STATE_MASTER: Final = 5  # "on, steady at the ALD (master) level"
STATE_BLINK0: Final = 6  # "blinking with bank 0"
STATE_BLINK1: Final = 7  # "blinking with bank 1"

PORT_STATE_NAMES: Final = (
    "off",
    "off",
    "bank 0 max",
    "bank 1 max",
    "fully on",
    "master (ALD)",
    "blink bank 0",
    "blink bank 1",
)

_TIME_FIELDS: Final = ("fade_on", "fully_on", "fade_off", "first_off", "second_off")

Pair = tuple[int, int]


def _check_pair(name: str, pair: Sequence[int], hi: int) -> None:
    if len(pair) != 2 or not all(0 <= v <= hi for v in pair):
        raise ValueError(f"{name} must be two values 0-{hi} (bank 0, bank 1), got {pair!r}")


@dataclass(frozen=True)
class Registers:
    """The readable registers 0x00-0x09 as named fields; defaults are power-up.

    Bank pairs are ``(bank 0, bank 1)``. Time fields hold time codes (0-15),
    intensities hold levels (0-15).
    """

    ports: tuple[int, ...] = (STATE_OFF,) * NUM_PORTS
    fade_on: Pair = (4, 4)  # 0x03 default 0x44
    fully_on: Pair = (4, 4)  # 0x04
    fade_off: Pair = (4, 4)  # 0x05
    first_off: Pair = (4, 4)  # 0x06
    second_off: Pair = (4, 4)  # 0x07
    max_intensity: Pair = (15, 15)  # 0x08 default 0xFF
    master: int = 15  # 0x09 bits 3..0, default 0x0F
    master_overrides: tuple[bool, bool] = field(default=(False, False))  # bits 4, 5
    one_shot: tuple[bool, bool] = field(default=(False, False))  # bits 6, 7

    def __post_init__(self) -> None:
        if len(self.ports) != NUM_PORTS or not all(0 <= s <= 7 for s in self.ports):
            raise ValueError(f"ports must be {NUM_PORTS} states 0-7, got {self.ports!r}")
        for name in _TIME_FIELDS:
            _check_pair(name, getattr(self, name), 15)
        _check_pair("max_intensity", self.max_intensity, 15)
        if not 0 <= self.master <= 15:
            raise ValueError(f"master must be 0-15, got {self.master}")

    # -- encoding --------------------------------------------------------

    def encode(self) -> bytes:
        """The bytes of registers 0x00-0x09, in address order."""
        out = bytearray(READABLE_REGISTERS)
        for port, state in enumerate(self.ports):
            # "SELECT0: bit n = bit 0 of port Pn's 3-bit state" (and so on).
            for bit in range(3):
                if state >> bit & 1:
                    out[SELECT0 + bit] |= 1 << port
        for offset, name in enumerate(_TIME_FIELDS):
            bank0, bank1 = getattr(self, name)
            # "high nibble = bank 1, low nibble = bank 0".
            out[FADE_ON_TIME + offset] = bank1 << 4 | bank0
        out[MAX_INTENSITY] = self.max_intensity[1] << 4 | self.max_intensity[0]
        # "bits 3..0 = ALD (master) level; bit 4/5: bank 0/1 maximum taken from
        # ALD; bit 6/7: bank 0/1 one-shot".
        out[MASTER_INTENSITY] = (
            self.master
            | self.master_overrides[0] << 4
            | self.master_overrides[1] << 5
            | self.one_shot[0] << 6
            | self.one_shot[1] << 7
        )
        return bytes(out)

    @classmethod
    def decode(cls, data: Sequence[int]) -> Registers:
        """Registers from the bytes of 0x00-0x09 (bit 7 of SELECTn, no port, ignored)."""
        if len(data) < READABLE_REGISTERS:
            raise ValueError(f"need {READABLE_REGISTERS} register bytes, got {len(data)}")
        ports = tuple(
            sum((data[SELECT0 + bit] >> port & 1) << bit for bit in range(3))
            for port in range(NUM_PORTS)
        )
        times = {
            name: (data[FADE_ON_TIME + i] & 0x0F, data[FADE_ON_TIME + i] >> 4)
            for i, name in enumerate(_TIME_FIELDS)
        }
        reg9 = data[MASTER_INTENSITY]
        return cls(
            ports=ports,
            max_intensity=(data[MAX_INTENSITY] & 0x0F, data[MAX_INTENSITY] >> 4),
            master=reg9 & 0x0F,
            master_overrides=(bool(reg9 & 0x10), bool(reg9 & 0x20)),
            one_shot=(bool(reg9 & 0x40), bool(reg9 & 0x80)),
            **times,
        )

    # -- convenient views ------------------------------------------------

    def with_port(self, port: int, state: int) -> Registers:
        """A copy with one port's state changed."""
        ports = list(self.ports)
        ports[port] = state
        return replace(self, ports=tuple(ports))

    def bank_level(self, bank: int) -> int:
        """The level a bank shows: its maximum, or ALD when its override bit is set."""
        return self.master if self.master_overrides[bank] else self.max_intensity[bank]

    def bank_times(self, bank: int) -> tuple[int, int, int, int, int]:
        """A bank's five time codes: fade-on, fully-on, fade-off, first-off, second-off."""
        a, b, c, d, e = (getattr(self, name)[bank] for name in _TIME_FIELDS)
        return (a, b, c, d, e)

    def bank_times_ms(self, bank: int) -> tuple[int, int, int, int, int]:
        """A bank's five phase durations in milliseconds."""
        a, b, c, d, e = (TIME_CODES_MS[code] for code in self.bank_times(bank))
        return (a, b, c, d, e)

    def with_bank(
        self,
        bank: int,
        times: Sequence[int],
        level: int,
        one_shot: bool = False,
    ) -> Registers:
        """A copy with one bank's five time codes, maximum and one-shot bit set.

        The bank's ALD override is cleared, so ``level`` is what it shows.
        """
        if len(times) != 5:
            raise ValueError(f"a bank has five time codes, got {times!r}")
        changes: dict[str, object] = {}
        for name, code in zip(_TIME_FIELDS, times, strict=True):
            pair = list(getattr(self, name))
            pair[bank] = code
            changes[name] = (pair[0], pair[1])
        levels = list(self.max_intensity)
        levels[bank] = level
        overrides = list(self.master_overrides)
        overrides[bank] = False
        shots = list(self.one_shot)
        shots[bank] = one_shot
        return replace(
            self,
            max_intensity=(levels[0], levels[1]),
            master_overrides=(overrides[0], overrides[1]),
            one_shot=(shots[0], shots[1]),
            **changes,  # type: ignore[arg-type]
        )

    def describe(self) -> list[str]:
        """One human-readable line per register, for ``earlgate led show``."""
        data = self.encode()
        lines = [
            f"0x{SELECT0:02X}-0x{SELECT2:02X} SELECT0-2  = "
            f"{data[0]:02X} {data[1]:02X} {data[2]:02X}  ports: "
            + ", ".join(f"P{p}={s} ({PORT_STATE_NAMES[s]})" for p, s in enumerate(self.ports))
        ]
        for offset, name in enumerate(_TIME_FIELDS):
            reg = FADE_ON_TIME + offset
            b0, b1 = getattr(self, name)
            lines.append(
                f"0x{reg:02X} {REGISTER_NAMES[reg]:<21} = {data[reg]:02X}  "
                f"bank 0: {TIME_CODES_MS[b0]} ms, bank 1: {TIME_CODES_MS[b1]} ms"
            )
        lines.append(
            f"0x{MAX_INTENSITY:02X} {REGISTER_NAMES[MAX_INTENSITY]:<21} = "
            f"{data[MAX_INTENSITY]:02X}  bank 0: {self.max_intensity[0]}/15, "
            f"bank 1: {self.max_intensity[1]}/15"
        )
        lines.append(
            f"0x{MASTER_INTENSITY:02X} {'ONE_SHOT/MASTER':<21} = "
            f"{data[MASTER_INTENSITY]:02X}  ALD {self.master}/15, bank max from ALD: "
            f"{_flags(self.master_overrides)}, one-shot: {_flags(self.one_shot)}"
        )
        return lines


def _flags(pair: tuple[bool, bool]) -> str:
    names = [f"bank {bank}" for bank, on in enumerate(pair) if on]
    return ", ".join(names) if names else "none"


def init_value(banks: Iterable[int]) -> int:
    """The INITIALIZATION byte that restarts ``banks``.

    Spec: "per-bank nibble (bit 3 bank 0, bit 7 bank 1): restart that bank's
    pattern".
    """
    value = 0
    for bank in banks:
        if bank not in (0, 1):
            raise ValueError(f"bank must be 0 or 1, got {bank}")
        value |= 0x08 << (4 * bank)
    return value


@dataclass(frozen=True)
class Burst:
    """One auto-increment write: ``data`` goes to ``start``, ``start+1``, … (wrapping)."""

    start: int
    data: bytes

    @property
    def registers(self) -> list[int]:
        """The register addresses this burst writes, in order."""
        return [(self.start + i) % NUM_REGISTERS for i in range(len(self.data))]


# A new transfer costs the address and the command byte; bridging an
# unchanged register costs one byte. Bridge gaps up to this many registers.
_BRIDGE_MAX_GAP: Final = 2


def plan_bursts(old: bytes, new: bytes, restart: Collection[int] = ()) -> list[Burst]:
    """The fewest-bytes auto-increment bursts that turn ``old`` into ``new``.

    ``old`` and ``new`` are registers 0x00-0x09; ``restart`` names the banks
    whose pattern INITIALIZATION (0x0A) must restart. Spec: "With AI the
    register pointer increments after each data byte and wraps from 0x0A to
    0x00", so a run of changes may wrap through 0x0A (written as 0, a no-op,
    unless a restart is wanted there). Unchanged registers inside a burst are
    rewritten with their current value.
    """
    if len(old) != READABLE_REGISTERS or len(new) != READABLE_REGISTERS:
        raise ValueError("plan_bursts needs the ten readable registers, old and new")
    target = list(new) + [init_value(restart)]
    changed = [reg for reg in range(READABLE_REGISTERS) if old[reg] != new[reg]]
    if restart:
        changed.append(INITIALIZATION)
    if not changed:
        return []
    # Gaps (unchanged registers) after each changed register, going round.
    gaps = [
        (changed[(i + 1) % len(changed)] - reg - 1) % NUM_REGISTERS for i, reg in enumerate(changed)
    ]
    cuts = [i for i, gap in enumerate(gaps) if gap > _BRIDGE_MAX_GAP]
    if not cuts:
        # Everything can be bridged: cut once, at the widest gap.
        cuts = [max(range(len(gaps)), key=lambda i: (gaps[i], -i))]
    bursts = []
    for k, cut in enumerate(cuts):
        first = changed[(cut + 1) % len(changed)]
        last = changed[cuts[(k + 1) % len(cuts)]]
        length = (last - first) % NUM_REGISTERS + 1
        data = bytes(target[(first + i) % NUM_REGISTERS] for i in range(length))
        bursts.append(Burst(start=first, data=data))
    # The burst that pulses INITIALIZATION goes last, after the new times.
    return sorted(bursts, key=lambda b: (INITIALIZATION in b.registers, b.start))
