"""How well a detector follows an emitter: the statistics of the thesis's servo loop.

Thesis §5.2 proposes an end-to-end test "from emitter to detector": a
brightness pattern goes through the network to the LED, a light sensor looks
at the LED, and its readings come back. Given the steps the emitter sent and
the readings the detector received, :func:`analyse` measures

* the **latency** of each step: from sending the step to receiving the first
  reading within ``tolerance`` of the step's brightness (``level / 15``); a
  step never seen before the next one is counted as missed;
* the **tracking error** of every reading against the brightness the emitter
  asked for at the moment the reading arrived (lag included), and the
  **settled** error over the readings that arrived after their step was seen
  (the sensor's noise and the LED's accuracy alone).

Pure: times are seconds on one clock, given by the caller.
"""

from __future__ import annotations

import bisect
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from earlgate.metrics.percentile import percentile

__all__ = ["DEFAULT_LEVELS", "LoopReport", "Reading", "Step", "analyse"]

LEVELS = 15  # the TCA6507's duty steps: level n is n/15 on

# A pattern that visits high, low and middle levels, up and down.
DEFAULT_LEVELS: Final = (15, 0, 8, 4, 12, 1, 15, 6, 10, 0)


@dataclass(frozen=True)
class Step:
    """The emitter asked for ``level`` (0-15) at time ``sent``."""

    sent: float
    level: int

    @property
    def brightness(self) -> float:
        return self.level / LEVELS


@dataclass(frozen=True)
class Reading:
    """The detector received ``value`` (0.0-1.0) at time ``received``."""

    received: float
    value: float


@dataclass
class LoopReport:
    """What :func:`analyse` found; times in ms."""

    steps: int
    missed: int
    latencies_ms: list[float] = field(default_factory=list)
    rms_error: float = math.nan
    mean_abs_error: float = math.nan
    settled_rms_error: float = math.nan
    readings: int = 0

    def summary(self) -> dict[str, Any]:
        """JSON-ready figures: counts, latency percentiles, errors (full scale 1.0)."""
        result: dict[str, Any] = {
            "steps": self.steps,
            "missed": self.missed,
            "readings": self.readings,
            "rms_error": _rounded(self.rms_error),
            "mean_abs_error": _rounded(self.mean_abs_error),
            "settled_rms_error": _rounded(self.settled_rms_error),
        }
        if self.latencies_ms:
            result["latency_ms"] = {
                "median": _rounded(statistics.median(self.latencies_ms)),
                "p95": _rounded(percentile(self.latencies_ms, 0.95)),
                "max": _rounded(max(self.latencies_ms)),
                "min": _rounded(min(self.latencies_ms)),
            }
        return result


def _rounded(value: float) -> float | None:
    return None if math.isnan(value) else round(value, 4)


def analyse(
    steps: Sequence[Step], readings: Sequence[Reading], tolerance: float = 0.5 / LEVELS
) -> LoopReport:
    """Latency per step and tracking error of the readings.

    Args:
        steps: the emitter's steps, in the order sent.
        readings: the detector's readings, in the order received.
        tolerance: how close a reading must be to a step's brightness to
            count as seeing it (half a level by default).
    """
    report = LoopReport(steps=len(steps), missed=0, readings=len(readings))
    if not steps:
        return report
    sent = [s.sent for s in steps]
    received = [r.received for r in readings]
    seen_at: list[float | None] = []
    for i, step in enumerate(steps):
        end = steps[i + 1].sent if i + 1 < len(steps) else math.inf
        first = bisect.bisect_right(received, step.sent)
        seen = None
        for reading in readings[first:]:
            if reading.received >= end:
                break
            if abs(reading.value - step.brightness) <= tolerance:
                seen = reading.received
                break
        seen_at.append(seen)
        if seen is None:
            report.missed += 1
        else:
            report.latencies_ms.append((seen - step.sent) * 1000)
    errors: list[float] = []
    settled: list[float] = []
    for reading in readings:
        i = bisect.bisect_right(sent, reading.received) - 1
        if i < 0:
            continue  # before the first step: nothing asked yet
        error = reading.value - steps[i].brightness
        errors.append(error)
        seen = seen_at[i]
        if seen is not None and reading.received >= seen:
            settled.append(error)
    if errors:
        report.rms_error = math.sqrt(statistics.fmean(e * e for e in errors))
        report.mean_abs_error = statistics.fmean(abs(e) for e in errors)
    if settled:
        report.settled_rms_error = math.sqrt(statistics.fmean(e * e for e in settled))
    return report
