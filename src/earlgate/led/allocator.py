"""Sharing the TCA6507's few resources among the ports: the allocator.

Theory of operation. A port shows *off*, *fully on*, a *steady partial level*
or a *blink pattern*. Off and fully on are free (port states 0 and 4); every
other output borrows a shared resource (datasheet port states 2, 3, 5, 6, 7):

===============  ============================================================
resource         what it provides
===============  ============================================================
bank 0           five time codes + a maximum level: one blink pattern, and
                 that maximum as a steady level (state 2) for any port
bank 1           the same (states 3 and 7)
ALD (master)     one steady level (state 5)
===============  ============================================================

So at most two distinct blink patterns, and at most three distinct partial
levels counting the patterns' peaks, can be shown at once.

:func:`allocate` takes the registers now on the chip and new outputs for some
ports (the *requested* ports); every other port is *pinned*: what it shows
must not change. A pinned blinking port keeps its bank and that bank keeps its
registers, so its pattern runs on undisturbed. A pinned steady port may be
moved to another resource showing the same level, which is invisible. The few
possible assignments (at most 2 banks x 3! level orders) are enumerated and the
one that changes the fewest register fields wins; when none fits,
:class:`~earlgate.led.errors.LedResourceError` names the conflict. Pure: no
I/O, no clock.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from earlgate.led.errors import LedResourceError
from earlgate.led.registers import (
    NUM_PORTS,
    STATE_BANK0,
    STATE_BANK1,
    STATE_BLINK0,
    STATE_MASTER,
    STATE_OFF,
    STATE_ON,
    Registers,
)
from earlgate.led.timecodes import TIME_CODES_MS

__all__ = [
    "MASTER",
    "Allocation",
    "Blinking",
    "Output",
    "Pattern",
    "Steady",
    "allocate",
    "decode_outputs",
]

MASTER = "ALD"  # the slot name of the master level; banks are 0 and 1

Slot = int | str  # 0, 1 or MASTER


@dataclass(frozen=True)
class Pattern:
    """A bank's blink pattern: five time codes, the peak level and one-shot."""

    times: tuple[int, int, int, int, int]
    peak: int
    one_shot: bool = False

    def describe(self) -> str:
        """E.g. ``fade 0/on 512/fade 0/off 1024/1024 ms at 15``."""
        a, b, c, d, e = (TIME_CODES_MS[code] for code in self.times)
        shot = ", once" if self.one_shot else ""
        return f"fade {a}/on {b}/fade {c}/off {d}/{e} ms at {self.peak}{shot}"


@dataclass(frozen=True)
class Steady:
    """A steady level 0-15 (0 off, 15 fully on)."""

    level: int


@dataclass(frozen=True)
class Blinking:
    """Blinking with a pattern."""

    pattern: Pattern


Output = Steady | Blinking


@dataclass(frozen=True)
class Allocation:
    """The allocator's answer: the new registers and the banks to restart."""

    registers: Registers
    restart: frozenset[int]


def _steady_level(registers: Registers, state: int) -> int | None:
    """The level a steady state shows under ``registers``; ``None`` for a blink state."""
    if state >= STATE_BLINK0:
        return None
    if state == STATE_ON:
        return 15
    if state == STATE_MASTER:
        return registers.master
    if state in (STATE_BANK0, STATE_BANK1):
        return registers.bank_level(state - STATE_BANK0)
    return 0


def decode_outputs(registers: Registers) -> tuple[Output, ...]:
    """What each port P0-P6 shows, read from the registers."""
    outputs: list[Output] = []
    for state in registers.ports:
        level = _steady_level(registers, state)
        if level is None:
            outputs.append(Blinking(_bank_pattern(registers, state - STATE_BLINK0)))
        else:
            outputs.append(Steady(level))
    return tuple(outputs)


def _bank_pattern(registers: Registers, bank: int) -> Pattern:
    return Pattern(registers.bank_times(bank), registers.bank_level(bank), registers.one_shot[bank])


def _fields(registers: Registers) -> tuple[object, ...]:
    r = registers
    return (
        *r.ports,
        *r.fade_on,
        *r.fully_on,
        *r.fade_off,
        *r.first_off,
        *r.second_off,
        *r.max_intensity,
        r.master,
        *r.master_overrides,
        *r.one_shot,
    )


def _cost(old: Registers, new: Registers) -> int:
    return sum(a != b for a, b in zip(_fields(old), _fields(new), strict=True))


class _Problem:
    """One allocation problem: the pinned world plus the requests."""

    def __init__(
        self, previous: Registers, requests: Mapping[int, Output], names: Mapping[int, str]
    ) -> None:
        for port in requests:
            if not 0 <= port < NUM_PORTS:
                raise ValueError(f"port must be 0-{NUM_PORTS - 1}, got {port}")
        self.previous = previous
        self.names = names
        current = decode_outputs(previous)
        self.outputs: list[Output] = [requests.get(p, current[p]) for p in range(NUM_PORTS)]
        self.requested = frozenset(requests)
        # Pinned blinking ports keep their bank.
        self.pinned_banks: dict[int, list[int]] = {}
        for port in range(NUM_PORTS):
            state = previous.ports[port]
            if port not in self.requested and state >= STATE_BLINK0:
                self.pinned_banks.setdefault(state - STATE_BLINK0, []).append(port)
        self.pinned_patterns = {bank: _bank_pattern(previous, bank) for bank in self.pinned_banks}
        self.new_patterns: list[Pattern] = []
        for port in sorted(self.requested):
            out = self.outputs[port]
            if isinstance(out, Blinking) and out.pattern not in self.new_patterns:
                self.new_patterns.append(out.pattern)

    def name(self, port: int) -> str:
        return self.names.get(port, f"P{port}")

    def bank_options(self) -> list[dict[Pattern, int]]:
        """Every way to give each new pattern a bank."""
        choices = []
        for pattern in self.new_patterns:
            shared = [b for b, p in self.pinned_patterns.items() if p == pattern]
            free = [b for b in (0, 1) if b not in self.pinned_banks]
            choices.append(shared + free)
        options = []
        for banks in itertools.product(*choices):
            # Two different new patterns cannot share a bank.
            if len(set(banks)) == len(banks):
                options.append(dict(zip(self.new_patterns, banks, strict=True)))
        return options

    def partial_levels(self) -> dict[int, list[int]]:
        """Steady levels 1-14 wanted, each with the ports that want it."""
        levels: dict[int, list[int]] = {}
        for port, out in enumerate(self.outputs):
            if isinstance(out, Steady) and 0 < out.level < 15:
                levels.setdefault(out.level, []).append(port)
        return levels

    def solve(self) -> Allocation:
        best: tuple[int, int, int, Allocation] | None = None
        bank_options = self.bank_options()
        levels = self.partial_levels()
        index = 0
        for assignment in bank_options:
            banks_used: dict[int, Pattern] = dict(self.pinned_patterns)
            for pattern, bank in assignment.items():
                banks_used[bank] = pattern
            peaks = {p.peak: b for b, p in sorted(banks_used.items())}
            needed = [lvl for lvl in sorted(levels) if lvl not in peaks]
            free: list[Slot] = [MASTER] + [b for b in (0, 1) if b not in banks_used]
            for slots in itertools.permutations(free, len(needed)):
                placed = {**peaks, **dict(zip(needed, slots, strict=True))}
                alloc = self._build(banks_used, assignment, placed)
                key = (
                    _cost(self.previous, alloc.registers) + len(alloc.restart),
                    sum(1 for s in slots if s != MASTER),
                    index,
                )
                index += 1
                if best is None or key < best[:3]:
                    best = (*key, alloc)
        if best is None:
            raise LedResourceError(self._conflict(bank_options, levels))
        return best[3]

    def _build(
        self,
        banks_used: Mapping[int, Pattern],
        assignment: Mapping[Pattern, int],
        placed: Mapping[int, Slot],
    ) -> Allocation:
        regs = self.previous
        for bank, pattern in banks_used.items():
            regs = regs.with_bank(bank, pattern.times, pattern.peak, pattern.one_shot)
        for level, slot in placed.items():
            if slot == MASTER:
                regs = replace(regs, master=level)
            elif slot not in banks_used:
                assert isinstance(slot, int)
                regs = regs.with_bank(slot, regs.bank_times(slot), level, regs.one_shot[slot])
        states = []
        for port, out in enumerate(self.outputs):
            old_state = self.previous.ports[port]
            if isinstance(out, Blinking):
                if port in self.requested:
                    bank = assignment[out.pattern]
                else:
                    bank = old_state - STATE_BLINK0
                states.append(STATE_BLINK0 + bank)
                continue
            states.append(self._steady_state(regs, out.level, old_state, placed))
        new = replace(regs, ports=tuple(states))
        return Allocation(new, self._restarts(new, assignment))

    @staticmethod
    def _steady_state(
        regs: Registers, level: int, old_state: int, placed: Mapping[int, Slot]
    ) -> int:
        # Keep the old state when it still shows the same level: fewer writes.
        if old_state < STATE_BLINK0 and _steady_level(regs, old_state) == level:
            return old_state
        if level == 0:
            return STATE_OFF
        if level == 15:
            return STATE_ON
        slot = placed[level]
        return STATE_MASTER if slot == MASTER else STATE_BANK0 + int(slot)

    def _restarts(self, new: Registers, assignment: Mapping[Pattern, int]) -> frozenset[int]:
        """Banks to restart so a requested pattern starts afresh, in step.

        A port entering a blink state starts its pattern by itself; a port that
        stays on a bank whose pattern changed (or that gains ports, or runs
        once) needs INITIALIZATION. A pinned bank is never restarted.
        """
        restart = set()
        for pattern, bank in assignment.items():
            if bank in self.pinned_banks:
                continue
            state = STATE_BLINK0 + bank
            before = {p for p in range(NUM_PORTS) if self.previous.ports[p] == state}
            after = {p for p in range(NUM_PORTS) if new.ports[p] == state}
            changed = (
                _bank_pattern(self.previous, bank) != pattern or before != after or pattern.one_shot
            )
            if changed and before & after:
                restart.add(bank)
        return frozenset(restart)

    def _conflict(
        self, bank_options: Sequence[Mapping[Pattern, int]], levels: Mapping[int, list[int]]
    ) -> str:
        """One line naming what the request needs and who holds the resources."""
        holders = []
        for bank, ports in sorted(self.pinned_banks.items()):
            who = ", ".join(self.name(p) for p in ports)
            holders.append(f"bank {bank} blinks {who} ({self.pinned_patterns[bank].describe()})")
        if not bank_options:
            wanted = "; ".join(p.describe() for p in self.new_patterns)
            return f"no blink bank is free for {wanted}: the chip has two and " + (
                "; ".join(holders) if holders else "the request needs more than two"
            )
        wanted_levels = ", ".join(
            f"{lvl} ({', '.join(self.name(p) for p in ports)})"
            for lvl, ports in sorted(levels.items())
        )
        held = "; ".join(holders) if holders else "no bank blinks"
        return (
            f"too many distinct partial levels: {wanted_levels}; the chip shows at most "
            f"three (bank 0 max, bank 1 max, ALD), fewer while banks blink ({held})"
        )


def allocate(
    previous: Registers,
    requests: Mapping[int, Output],
    names: Mapping[int, str] | None = None,
) -> Allocation:
    """Registers that show ``requests`` and leave every other port as it is.

    Args:
        previous: the registers on the chip now.
        requests: port -> new output, for the ports to change.
        names: port -> name for error messages (e.g. ``"upper.red"``).

    Raises:
        LedResourceError: the request cannot be met without disturbing a pinned
            port; nothing is returned to write, so the chip stays as it is.
    """
    return _Problem(previous, requests, names or {}).solve()
