"""One-way delays of the arm-probe mesh's messages, measured by their receivers.

Each vibration message carries its sender's clock (``ts``, ms since the
epoch), so the receiver measures the delay; peers on one host share that
clock. Thesis 3.1.2: the one-way delay must stay under half a second.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from earlgate.metrics.histogram import Histogram

__all__ = ["MeshDelays"]


class MeshDelays:
    """Record the delay of every message handed to :meth:`on_message`.

    Pass :meth:`on_message` as :attr:`~earlgate.gateway.mesh.MeshOptions.on_message`.
    ``keep``: also keep every delay (ms), for mean and sd.
    """

    def __init__(self, *, keep: bool = False, clock: Callable[[], float] = time.time) -> None:
        self.histogram = Histogram()  # ns
        self.delays_ms: list[float] = []
        self.keep = keep
        self._clock = clock

    def on_message(self, value: dict[str, Any]) -> None:
        ts = value.get("ts")
        if isinstance(ts, int | float):
            delay_ms = self._clock() * 1000.0 - ts
            self.histogram.record(max(0, int(delay_ms * 1e6)))
            if self.keep:
                self.delays_ms.append(delay_ms)

    def summary_ms(self) -> dict[str, float]:
        """Mean, p50, p99 and max in milliseconds, for JSON."""
        return self.histogram.summary_ms()
