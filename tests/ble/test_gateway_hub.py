"""Virtual Earls <-> the BLE gateway <-> a real hub process, over the simulated link."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from tests.hubproc import HubProcess, start_hub

from earlgate.ble import profile
from earlgate.ble.fleet import Fleet
from earlgate.ble.gateway import BleGateway
from earlgate.client import HubClient


@pytest.fixture(scope="module")
def hub() -> Iterator[HubProcess]:
    process = start_hub()
    yield process
    process.stop()


class Running:
    def __init__(self, fleet: Fleet, gateway: BleGateway, client: HubClient) -> None:
        self.fleet = fleet
        self.gateway = gateway
        self.client = client


@contextlib.asynccontextmanager
async def running(
    hub: HubProcess,
    devices: list[tuple[str, str]],
    *,
    interval_s: float = 0.0075,
    period: float = 0.05,
) -> AsyncIterator[Running]:
    fleet = await Fleet.create(devices, interval_s=interval_s, period=period)
    client = HubClient(hub.ws_url)
    await client.connect()
    gateway = BleGateway(client, fleet.central, [name for _, name in devices])
    stop = asyncio.Event()
    task = asyncio.create_task(gateway.run(stop))
    try:
        yield Running(fleet, gateway, client)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
        await fleet.close()
        await client.close()


async def collect(sub: Any, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []

    async def take() -> None:
        async for frame in sub:
            out.append(frame)
            if len(out) >= count:
                return

    await asyncio.wait_for(take(), timeout)
    return out


async def test_readings_in_order_through_a_reconnect(hub: HubProcess) -> None:
    async with HubClient(hub.ws_url) as listener:
        readings = await listener.subscribe("earl/earl-accel-1/accel")
        link = await listener.subscribe("earl/earl-accel-1/link")
        async with running(hub, [("accel", "earl-accel-1")]) as run:
            first = await collect(readings, 10)
            await run.fleet.drop("earl-accel-1")
            events = await collect(link, 3)  # connected, disconnected, connected
            later = await collect(readings, 10)
            stats = run.gateway.statistics()
    seqs = [f["data"]["seq"] for f in first + later]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert [e["data"]["event"] for e in events] == ["connected", "disconnected", "connected"]
    # readings sampled while the link was down are reported as a gap, not hidden
    missing = seqs[-1] - seqs[0] + 1 - len(seqs)
    device = stats["devices"]["earl-accel-1"]
    assert device["drops"] == 1 and device["connects"] == 2
    assert device["lost"] >= missing
    if missing:
        assert device["gaps"] >= 1
    frame = first[-1]
    assert set(frame["data"]["value"]) == {"x", "y", "z"}
    assert frame["data"]["unit"] == "m/s^2"
    assert isinstance(frame["published"], int | float)


async def test_no_reading_lost_while_the_link_stays_up(hub: HubProcess) -> None:
    async with HubClient(hub.ws_url) as listener:
        readings = await listener.subscribe("earl/earl-temp-1/temp")
        async with running(hub, [("temp", "earl-temp-1")], interval_s=0.03) as run:
            got = await collect(readings, 20)
            stats = run.gateway.statistics()["devices"]["earl-temp-1"]
    seqs = [f["data"]["seq"] for f in got]
    assert seqs == list(range(seqs[0], seqs[0] + 20))
    assert stats["lost"] == 0 and stats["gaps"] == 0
    assert isinstance(got[0]["data"]["value"], float)


async def test_led_commands_reach_the_chip_and_refusals_come_back(hub: HubProcess) -> None:
    async with HubClient(hub.ws_url) as listener:
        state = await listener.subscribe("earl/earl-ball-1/led/state")
        errors = await listener.subscribe("earl/earl-ball-1/led/error")
        async with running(hub, [("ball", "earl-ball-1")]) as run:
            link = await listener.subscribe("earl/earl-ball-1/link", last=True)
            await collect(link, 1)
            chip = run.fleet.devices["earl-ball-1"].chip
            assert chip is not None
            await listener.publish(
                "earl/earl-ball-1/led", {"id": 1, "led": "lower", "color": [15, 8, 0]}
            )
            applied = (await collect(state, 1))[0]["data"]
            assert applied["id"] == 1
            assert applied["applied"]["lower"]["color"] == [15, 8, 0]
            assert chip.register_bytes().hex(" ") == "04 00 06 44 44 44 44 44 ff 08"
            # three partial levels use every level source; a fourth is refused
            await listener.publish(
                "earl/earl-ball-1/led", {"id": 2, "led": "upper", "color": [5, 3, 1]}
            )
            refused = (await collect(errors, 1))[0]["data"]
            assert refused["error"] == "refused" and refused["id"] == 2
            assert "partial levels" in refused["reason"]
            await listener.publish("earl/earl-ball-1/led", {"id": 3, "led": "upper", "colour": [1]})
            bad = (await collect(errors, 1))[0]["data"]
            assert bad["error"] == "bad_command" and "colour" in bad["reason"]
            await listener.publish(
                "earl/earl-ball-1/led",
                {
                    "id": 4,
                    "led": "upper",
                    "color": [15, 0, 0],
                    "blink": {"on_ms": 512, "off_ms": 1024},
                },
            )
            blink = (await collect(state, 1))[0]["data"]
            assert blink["applied"]["upper"]["blink"]["on_ms"] == 512
            await listener.publish("earl/earl-ball-1/led", {"id": 5, "led": "all", "off": True})
            off = (await collect(state, 1))[0]["data"]
            assert off["id"] == 5
            assert chip.registers.ports == (0,) * 7 or all(p == 0 for p in chip.registers.ports)


async def test_twenty_devices_at_4_hz(hub: HubProcess) -> None:
    devices = [("accel" if i % 2 else "temp", f"earl-many-{i:02d}") for i in range(20)]
    async with HubClient(hub.ws_url) as listener:
        sub = await listener.subscribe("earl/+/+")
        async with running(hub, devices, interval_s=0.03, period=0.25) as run:
            seen: dict[str, list[int]] = {}

            async def take() -> None:
                async for frame in sub:
                    if "seq" not in (frame.get("data") or {}):
                        continue
                    name = frame["subject"].split("/")[1]
                    seen.setdefault(name, []).append(frame["data"]["seq"])
                    if len(seen) == 20 and all(len(v) >= 8 for v in seen.values()):
                        return

            await asyncio.wait_for(take(), 30)
            stats = run.gateway.statistics()
    assert stats["lost"] == 0
    for seqs in seen.values():
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))


async def test_malformed_notifications_are_reported_not_fatal(hub: HubProcess) -> None:
    async with HubClient(hub.ws_url) as listener:
        link = await listener.subscribe("earl/earl-temp-9/link")
        readings = await listener.subscribe("earl/earl-temp-9/temp")
        async with running(hub, [("temp", "earl-temp-9")]) as run:
            await collect(link, 1)
            await collect(readings, 1)  # subscribed to both characteristics by now
            earl = run.fleet.devices["earl-temp-9"]
            await earl.device.notify_subscribers(earl.readings, b"\x01\x02\x03")
            await earl.device.notify_subscribers(earl.status, b"\x07")
            events = await collect(link, 2)
            await collect(readings, 3)  # still serving
    reasons = [e["data"]["reason"] for e in events]
    assert all(e["data"]["event"] == "bad_notification" for e in events)
    assert "reading: 3 bytes" in reasons[0]
    assert "status: version 7" in reasons[1]


async def test_malformed_writes_get_att_errors_and_a_status() -> None:
    fleet = await Fleet.create([("ball", "earl-ball-7")], interval_s=0.0075)
    try:
        await fleet.central.start()
        link = await fleet.central.connect("earl-ball-7", 5)
        statuses: list[profile.Status] = []
        await link.subscribe(
            profile.STATUS_UUID, lambda d: statuses.append(profile.decode_status(d))
        )
        from earlgate.ble.central import CentralError

        for bad, why in [
            (b"", "empty value"),
            (b"\x01\x09\x00\x00\x00\x00", "unknown opcode 9"),
            (bytes([1, 1, 0, 0, 0, 0, 99, 0, 0]), "red level 99"),
        ]:
            with pytest.raises(CentralError, match="0x80"):
                await link.write(profile.LED_UUID, bad)
            for _ in range(100):
                if statuses and why in statuses[-1].reason:
                    break
                await asyncio.sleep(0.01)
            assert statuses[-1].result == "bad_command" and why in statuses[-1].reason
        good = profile.encode_led(profile.LedWrite("set", 9, "upper", (0, 15, 0)))
        await link.write(profile.LED_UUID, good)
        for _ in range(100):
            if statuses[-1].id == 9:
                break
            await asyncio.sleep(0.01)
        assert statuses[-1].applied
        assert fleet.devices["earl-ball-7"].malformed == 3
    finally:
        await fleet.central.close()
        await fleet.close()
