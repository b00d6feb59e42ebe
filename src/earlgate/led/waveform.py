"""What a TCA6507 port outputs over time: the waveform model of the simulator.

Pure functions of the registers and of how long a port's pattern has run; the
simulator supplies that time from its injected clock. Brightness is returned
as the PWM duty cycle, 0.0-1.0: the chip's PWM runs at about 125 Hz, far above
what an eye or a light sensor resolves, so the model gives its average.

Modelling choices where the datasheet is silent (spec "Waveform"):

* **Fades are linear staircases.** "A linear ramp of the 16 levels is a fine
  model": during a fade-on of ``A`` ms towards peak level ``P`` the level is
  ``floor(P * t / A)`` (0, 1, … P-1, one step every ``A / P`` ms); the fade-off
  is its mirror image (P, P-1, … 1).
* **A pattern whose period is 0 ms shows nothing** (all five times code 0).
* **One-shot** runs one full period (both halves, ending with the second
  fully-off time) and then stays off.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Final

from earlgate.led.registers import (
    STATE_BANK0,
    STATE_BANK1,
    STATE_BLINK0,
    STATE_MASTER,
    STATE_ON,
    Registers,
)

__all__ = [
    "FADE_OFF",
    "FADE_ON",
    "FIRST_OFF",
    "FULLY_ON",
    "SECOND_OFF",
    "blink_level",
    "blink_phase",
    "period_ms",
    "port_level",
]

# The eight segments of a blink period (spec "Waveform"): "fade-on (A),
# fully-on (B), fade-off (C), first fully-off (D), fade-on (A), fully-on (B),
# fade-off (C), second fully-off (E)".
FADE_ON: Final = "fade-on"
FULLY_ON: Final = "fully-on"
FADE_OFF: Final = "fade-off"
FIRST_OFF: Final = "first-off"
SECOND_OFF: Final = "second-off"
_SEQUENCE: Final = (
    (FADE_ON, 0),
    (FULLY_ON, 1),
    (FADE_OFF, 2),
    (FIRST_OFF, 3),
    (FADE_ON, 0),
    (FULLY_ON, 1),
    (FADE_OFF, 2),
    (SECOND_OFF, 4),
)


def period_ms(times_ms: Sequence[float]) -> float:
    """A bank's period: "Period = 2(A+B+C) + D + E"."""
    a, b, c, d, e = times_ms
    return 2 * (a + b + c) + d + e


def blink_phase(
    times_ms: Sequence[float], elapsed_ms: float, one_shot: bool = False
) -> tuple[str, float, float] | None:
    """Where a pattern is after ``elapsed_ms``: (segment, ms into it, its length).

    Returns ``None`` when the pattern is over (one-shot) or has no period.
    """
    period = period_ms(times_ms)
    if period <= 0 or elapsed_ms < 0 or (one_shot and elapsed_ms >= period):
        return None
    phase = math.fmod(elapsed_ms, period)
    for name, index in _SEQUENCE:
        length = times_ms[index]
        if phase < length:
            return name, phase, length
        phase -= length
    # Rounding at the very end of the period: the last segment's end.
    return SECOND_OFF, times_ms[4], times_ms[4]


def blink_level(
    times_ms: Sequence[float], peak: int, elapsed_ms: float, one_shot: bool = False
) -> int:
    """The level (0-15) a blinking port shows ``elapsed_ms`` after its pattern started."""
    where = blink_phase(times_ms, elapsed_ms, one_shot)
    if where is None:
        return 0
    name, into, length = where
    if name == FULLY_ON:
        return peak
    if name == FADE_ON:
        return min(peak, math.floor(peak * into / length))
    if name == FADE_OFF:
        return max(0, peak - math.floor(peak * into / length))
    return 0


def port_level(registers: Registers, port: int, elapsed_ms: float = 0.0) -> float:
    """A port's brightness as a duty cycle 0.0-1.0.

    Args:
        registers: the chip's registers.
        port: 0-6.
        elapsed_ms: for a blinking port, how long since its pattern started
            (it "starts with fade-on when its port enters a blink state or its
            bank is re-initialised"); ignored for steady states.
    """
    state = registers.ports[port]
    # "Intensity level n (0-15) is a PWM duty of n/15".
    if state == STATE_ON:
        return 1.0
    if state in (STATE_BANK0, STATE_BANK1):
        return registers.bank_level(state - STATE_BANK0) / 15
    if state == STATE_MASTER:
        return registers.master / 15
    if state >= STATE_BLINK0:
        bank = state - STATE_BLINK0
        level = blink_level(
            registers.bank_times_ms(bank),
            registers.bank_level(bank),
            elapsed_ms,
            registers.one_shot[bank],
        )
        return level / 15
    return 0.0  # states 0 and 1: "off (high impedance)"
