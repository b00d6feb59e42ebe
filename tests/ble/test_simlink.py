"""The simulated link's connection-interval model."""

from __future__ import annotations

import asyncio

import pytest

from earlgate.ble import profile
from earlgate.ble.central import CentralError
from earlgate.ble.fleet import Fleet, parse_simulate
from earlgate.ble.simlink import IntervalLink


async def test_notifications_arrive_at_connection_events() -> None:
    interval = 0.05
    fleet = await Fleet.create([("temp", "earl-temp-1")], interval_s=interval, period=0.033)
    try:
        await fleet.central.start()
        link = await fleet.central.connect("earl-temp-1", 5)
        loop = asyncio.get_running_loop()
        earl = fleet.devices["earl-temp-1"]
        arrivals: list[tuple[float, int]] = []
        await link.subscribe(
            profile.READINGS_UUID,
            lambda d: arrivals.append((loop.time(), profile.decode_reading(d).clock_us)),
        )
        while len(arrivals) < 15:
            await asyncio.sleep(0.05)
        delays = [at - (earl._t0 + clock / 1e6) for at, clock in arrivals]
        assert all(0 <= d <= interval + 0.015 for d in delays), delays
        # every arrival sits on the connection's event grid (within the loop's lateness)
        pair = next(iter(fleet.link._anchors))
        anchor = fleet.link._anchors[pair]
        phases = [((at - anchor) % interval) for at, _ in arrivals]
        assert all(p < 0.012 or p > interval - 0.002 for p in phases), phases
        t0 = loop.time()
        with pytest.raises(CentralError, match="0x81"):  # a device without LEDs refuses
            await link.write(profile.LED_UUID, b"\x01")
        assert loop.time() - t0 >= interval * 0.99  # the request and its answer wait for events
    finally:
        await fleet.central.close()
        await fleet.close()


def test_interval_limits_and_parse_simulate() -> None:
    with pytest.raises(ValueError, match="7.5 ms to 4 s"):
        IntervalLink(0.001)
    assert IntervalLink(0).interval_s == 0
    assert parse_simulate("accel:2,ball") == [
        ("accel", "earl-accel-1"),
        ("accel", "earl-accel-2"),
        ("ball", "earl-ball-1"),
    ]
    with pytest.raises(ValueError, match="unknown kind 'gyro'"):
        parse_simulate("gyro")
    with pytest.raises(ValueError, match="not an integer"):
        parse_simulate("temp:x")
