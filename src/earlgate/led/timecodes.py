"""The TCA6507's 4-bit time codes and rounding a time in milliseconds to one.

Every blink phase (fade-on, fully-on, fade-off, both fully-off times) is one of
sixteen durations. A requested time is rounded to the nearest code; it is
*reachable* when that code lies within 12.5 % of the request, the tolerance
the Linux driver ``leds-tca6507`` uses ("We only accept a result within 1/8
of the target"). Pure: no I/O, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = [
    "TIME_CODES_MS",
    "TOLERANCE",
    "RoundedTime",
    "code_ms",
    "round_time",
]

# Datasheet table 8 (spec "Time codes"): code -> milliseconds.
TIME_CODES_MS: Final[tuple[int, ...]] = (
    0, 64, 128, 192, 256, 384, 512, 768,
    1024, 1536, 2048, 3072, 4096, 5760, 8128, 16320,
)  # fmt: skip

# A request is met when the code is within 1/8 of it (Linux leds-tca6507).
TOLERANCE: Final = 0.125


@dataclass(frozen=True)
class RoundedTime:
    """A requested time and the code it rounds to.

    Attributes:
        requested_ms: what was asked for.
        code: the nearest time code, 0-15.
        exact: whether the code lies within :data:`TOLERANCE` of the request.
    """

    requested_ms: float
    code: int
    exact: bool

    @property
    def ms(self) -> int:
        """The duration the chip will actually use."""
        return TIME_CODES_MS[self.code]

    @property
    def error(self) -> float:
        """Relative error of the rounding (0.0 for a perfect match)."""
        if self.requested_ms == 0:
            return 0.0 if self.ms == 0 else float("inf")
        return abs(self.ms - self.requested_ms) / self.requested_ms


def code_ms(code: int) -> int:
    """Milliseconds of a time code, checking its range."""
    if not 0 <= code <= 15:
        raise ValueError(f"time code must be 0-15, got {code}")
    return TIME_CODES_MS[code]


def round_time(ms: float) -> RoundedTime:
    """Round ``ms`` to the nearest time code; ties go to the shorter code.

    Raises:
        ValueError: for a negative or non-finite time.
    """
    if not ms >= 0 or ms == float("inf"):
        raise ValueError(f"a time must be a finite number of ms >= 0, got {ms}")
    code = min(range(16), key=lambda c: (abs(TIME_CODES_MS[c] - ms), c))
    exact = abs(TIME_CODES_MS[code] - ms) <= TOLERANCE * ms
    return RoundedTime(requested_ms=ms, code=code, exact=exact)
