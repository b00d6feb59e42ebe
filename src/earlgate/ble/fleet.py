"""Virtual Earl devices and a gateway central on one simulated link, in process.

What the tests, ``earlgate bench e2e`` and ``earlgate ble --simulate`` run:
``Fleet.create([("accel", "earl-accel-1"), ...], interval_s=0.030)`` gives the
devices (started, advertising, sampling) and a :class:`BumbleCentral` on the
same :class:`~earlgate.ble.simlink.IntervalLink`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from earlgate.ble.bumble_central import BumbleCentral
from earlgate.ble.simlink import DEFAULT_INTERVAL_S, IntervalLink
from earlgate.ble.virtual import VirtualEarl, on_link

__all__ = ["Fleet", "parse_simulate"]


def parse_simulate(text: str) -> list[tuple[str, str]]:
    """``accel:2,temp,ball`` -> ``[("accel", "earl-accel-1"), ("accel", "earl-accel-2"), ...]``."""
    devices: list[tuple[str, str]] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        kind, _, count = part.partition(":")
        if kind not in ("accel", "temp", "ball"):
            raise ValueError(f"unknown kind {kind!r} in {text!r}; known: accel, temp, ball")
        try:
            n = int(count) if count else 1
        except ValueError:
            raise ValueError(f"count {count!r} of {kind} is not an integer") from None
        if not 1 <= n <= 1000:
            raise ValueError(f"count of {kind} must be 1-1000, got {n}")
        devices += [(kind, f"earl-{kind}-{i}") for i in range(1, n + 1)]
    if not devices:
        raise ValueError("no devices to simulate")
    return devices


@dataclass
class Fleet:
    link: IntervalLink
    devices: dict[str, VirtualEarl]
    central: BumbleCentral
    _started: list[VirtualEarl] = field(default_factory=list)

    @classmethod
    async def create(
        cls,
        devices: Sequence[tuple[str, str]],
        *,
        interval_s: float = DEFAULT_INTERVAL_S,
        period: float = 0.25,
    ) -> Fleet:
        link = IntervalLink(interval_s)
        earls = {}
        for i, (kind, name) in enumerate(devices):
            earls[name] = VirtualEarl(on_link(link, name), kind, period=period, seed=i)
        fleet = cls(link, earls, BumbleCentral(on_link(link, "earl-gateway")))
        for earl in earls.values():
            await earl.start()
            fleet._started.append(earl)
        return fleet

    async def drop(self, name: str) -> None:
        """Cut a device's link (it advertises again, the gateway reconnects)."""
        earl = self.devices[name]
        for connection in list(earl.device.connections.values()):
            with contextlib.suppress(Exception):
                await connection.disconnect()

    async def close(self) -> None:
        for earl in self._started:
            with contextlib.suppress(Exception):
                await earl.stop()
