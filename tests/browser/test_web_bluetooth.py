"""The /devices page as a Bluetooth gateway: Chromium's Web Bluetooth emulation, a real hub.

An emulated Earl (Chromium's ``BluetoothEmulation`` CDP domain, on a
browser-level session) answers every GATT operation of the page with the
profile's bytes (``earlgate.ble.profile``): readings come from polled reads
(a peripheral cannot push a notification in the emulation; a read's answer
fires ``characteristicvaluechanged``), the status characteristic has a CCCD
(0x2902) so its notifications start, and LED writes are decoded, applied to a
model of the ball-probe's two LEDs and answered on the status
characteristic. The chooser is answered through ``DeviceAccess``, once per
prompt. A Python subscriber on the hub sees what the page publishes.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
import urllib.parse
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from playwright.async_api import Browser, Page, async_playwright

from browserproc import chromium_missing
from earlgate.ble import profile
from earlgate.client import HubClient
from earlgate.testing.chromium import CHROMIUM, CHROMIUM_FLAGS
from earlgate.testing.webbluetooth import Chooser, EmulatedEarl, Radio, answer_chooser, enable_radio
from hubproc import HubProcess, start_hub

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "gateway"))
sys.path.insert(0, str(ROOT / "tests" / "rtc"))
from gwprocs import start_signal  # noqa: E402

SHOTS = ROOT / "build" / "screenshots"
POLL_MS = 40
T = TypeVar("T")


async def eventually(what: str, check: Callable[[], T | None], timeout: float = 10.0) -> T:
    """Wait (without blocking the loop) until ``check`` gives a true value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        await asyncio.sleep(0.02)
    raise AssertionError(f"not within {timeout} s: {what}")


@pytest.fixture(scope="module")
def hub() -> Iterator[HubProcess]:
    process = start_hub()
    yield process
    process.stop()


@dataclass
class Bench:
    browser: Browser
    radio: Radio
    hub: HubProcess


@pytest.fixture
async def bench(hub: HubProcess) -> AsyncIterator[Bench]:
    missing = chromium_missing()
    if missing is not None:
        pytest.fail(missing)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=list(CHROMIUM_FLAGS)
        )
        try:
            radio = await enable_radio(await browser.new_browser_cdp_session())
            yield Bench(browser, radio, hub)
            assert radio.failures == []
        finally:
            with contextlib.suppress(Exception):
                await browser.close()


@dataclass
class Watched:
    page: Page
    errors: list[str]
    chooser: Chooser


async def open_devices(
    bench: Bench, query: str = "", viewport: dict[str, int] | None = None
) -> Watched:
    context = await bench.browser.new_context(viewport=viewport or {"width": 1280, "height": 900})  # type: ignore[arg-type]
    page = await context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(f"console: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"uncaught: {e.message}"))
    chooser = await answer_chooser(page)
    await page.goto(f"{bench.hub.http_url}/devices?poll-ms={POLL_MS}{query}")
    await page.wait_for_selector("#conn[data-state=connected]", timeout=5000)
    return Watched(page, errors, chooser)


async def connect_device(watched: Watched, device: EmulatedEarl) -> None:
    """Press the page's connect button and choose ``device`` in the chooser."""
    watched.chooser.want = device.address
    name = device.name
    page = watched.page
    await page.click("button.ble-connect")
    await page.wait_for_selector(
        f'.ble-device[data-device="{name}"][data-state=connected]', timeout=8000
    )


class Subscriber:
    """Everything the hub delivers on ``earl/#``, in order."""

    def __init__(self, client: HubClient) -> None:
        self.client = client
        self.frames: list[dict[str, Any]] = []
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        sub = await self.client.subscribe("earl/#")

        async def take() -> None:
            async for frame in sub:
                self.frames.append(frame)

        self.task = asyncio.create_task(take())

    def on(self, subject: str) -> list[dict[str, Any]]:
        return [f for f in self.frames if f.get("subject") == subject]


@pytest.fixture
async def subscriber(hub: HubProcess) -> AsyncIterator[Subscriber]:
    async with HubClient(hub.ws_url) as client:
        watcher = Subscriber(client)
        await watcher.start()
        yield watcher
        assert watcher.task is not None
        watcher.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher.task


async def test_readings_reach_the_hub_with_the_device_clock(
    bench: Bench, subscriber: Subscriber
) -> None:
    device = await bench.radio.add("09:00:00:00:00:01", "earl-temp-1", "temp")
    watched = await open_devices(bench)
    await connect_device(watched, device)
    frames = await eventually(
        "five temperatures on the hub",
        lambda: (got := subscriber.on("earl/earl-temp-1/temp")) and len(got) >= 5 and got,
    )
    served = {r.seq: r for r in device.served}
    for frame in frames:
        data = frame["data"]
        reading = served[data["seq"]]
        assert data["value"] == pytest.approx(reading.value, abs=0.01)
        assert data["unit"] == "degC"
        assert data["clock_us"] == reading.clock_us
        # published is the device's clock mapped to the epoch: close to now, never ahead
        assert abs(frame["published"] - time.time() * 1000) < 5000
    seqs = [f["data"]["seq"] for f in frames]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    link = subscriber.on("earl/earl-temp-1/link")
    assert link[0]["data"]["event"] == "connected"
    assert link[0]["data"]["kind"] == "temp"
    stats = await watched.page.evaluate("() => earlgateDevices.statistics()")
    assert stats["devices"]["earl-temp-1"]["mode"]["readings"] == "poll"
    assert stats["devices"]["earl-temp-1"]["readings"] >= 5
    assert watched.errors == []


async def test_an_led_command_becomes_a_write_and_its_status_comes_back(
    bench: Bench, subscriber: Subscriber
) -> None:
    device = await bench.radio.add("09:00:00:00:00:02", "earl-ball-1", "ball")
    watched = await open_devices(bench)
    await connect_device(watched, device)
    await eventually(
        "the ball's connected event",
        lambda: subscriber.on("earl/earl-ball-1/link"),
    )
    command = {"led": "upper", "color": [15, 0, 3], "id": "c-1"}
    await subscriber.client.publish("earl/earl-ball-1/led", command)
    state = await eventually(
        "the applied state", lambda: subscriber.on("earl/earl-ball-1/led/state")
    )
    assert state[0]["data"]["id"] == "c-1"
    assert state[0]["data"]["applied"]["upper"]["color"] == [15, 0, 3]
    assert device.leds["upper"].color == (15, 0, 3)
    assert device.write_types[-1] == "write-with-response"
    decoded = profile.decode_led(device.writes[-1])
    assert (decoded.action, decoded.led, decoded.color) == ("set", "upper", (15, 0, 3))

    blink = {"led": "lower", "color": [0, 9, 0], "blink": {"on_ms": 200, "off_ms": 300}}
    await subscriber.client.publish("earl/earl-ball-1/led", blink)
    await eventually("the blink applied", lambda: "lower" in device.leds)
    assert device.leds["lower"].blink == (200, 300, 0, False)

    device.refuse_next = "lower is busy"
    await subscriber.client.publish("earl/earl-ball-1/led", {"led": "lower", "off": True, "id": 7})
    error = await eventually("the refusal", lambda: subscriber.on("earl/earl-ball-1/led/error"))
    assert error[0]["data"]["error"] == "refused"
    assert error[0]["data"]["reason"] == "lower is busy"
    assert error[0]["data"]["id"] == 7
    assert watched.errors == []


async def test_a_bad_command_is_answered_without_a_write(
    bench: Bench, subscriber: Subscriber
) -> None:
    device = await bench.radio.add("09:00:00:00:00:03", "earl-ball-2", "ball")
    watched = await open_devices(bench)
    await connect_device(watched, device)
    await eventually("connected", lambda: subscriber.on("earl/earl-ball-2/link"))
    await subscriber.client.publish("earl/earl-ball-2/led", {"led": "middle", "color": [1, 2, 3]})
    await subscriber.client.publish("earl/earl-ball-2/led", "{not json")
    await subscriber.client.publish(
        "earl/earl-ball-2/led",
        {"led": "upper", "color": [1, 2, 3], "blink": {"on_ms": 70000, "off_ms": 1}},
    )
    errors = await eventually(
        "three errors",
        lambda: (got := subscriber.on("earl/earl-ball-2/led/error")) and len(got) >= 3 and got,
    )
    codes = [e["data"]["error"] for e in errors]
    assert codes == ["bad_command", "bad_json", "bad_command"]
    assert "unknown led" in errors[0]["data"]["reason"]
    assert "65535" in errors[2]["data"]["reason"]
    assert device.writes == []
    assert watched.errors == []


async def test_a_dropped_device_is_reconnected_and_said_so(
    bench: Bench, subscriber: Subscriber
) -> None:
    device = await bench.radio.add("09:00:00:00:00:04", "earl-temp-2", "temp")
    watched = await open_devices(bench)
    await connect_device(watched, device)
    await eventually("a reading", lambda: subscriber.on("earl/earl-temp-2/temp"))
    await device.disconnect()
    events = await eventually(
        "disconnected, then connected again",
        lambda: (
            (got := [f["data"]["event"] for f in subscriber.on("earl/earl-temp-2/link")])[-2:]
            == ["disconnected", "connected"]
            and got
        ),
    )
    assert events == ["connected", "disconnected", "connected"]
    before = len(subscriber.on("earl/earl-temp-2/temp"))
    await eventually(
        "readings after the reconnect",
        lambda: len(subscriber.on("earl/earl-temp-2/temp")) > before + 2,
    )
    stats = await watched.page.evaluate("() => earlgateDevices.statistics()")
    device_stats = stats["devices"]["earl-temp-2"]
    assert (device_stats["connects"], device_stats["drops"]) == (2, 1)
    assert watched.errors == []


@pytest.mark.parametrize(
    ("label", "viewport"),
    [("desktop", {"width": 1280, "height": 900}), ("phone", {"width": 390, "height": 844})],
)
async def test_the_devices_page_reads_on_a_desktop_and_a_phone(
    bench: Bench, subscriber: Subscriber, label: str, viewport: dict[str, int]
) -> None:
    accel = await bench.radio.add("09:00:00:00:00:05", "earl-accel-1", "accel")
    ball = await bench.radio.add("09:00:00:00:00:06", "earl-ball-3", "ball")
    watched = await open_devices(bench, viewport=viewport)
    page = watched.page
    await connect_device(watched, accel)
    await connect_device(watched, ball)
    await eventually(
        "accelerations on the hub", lambda: len(subscriber.on("earl/earl-accel-1/accel")) > 3
    )
    await page.wait_for_function(
        "() => document.querySelector('[data-device=\"earl-accel-1\"] .ble-value')"
        ".textContent.startsWith('x ')"
    )
    # nothing wider than the viewport: no sideways scrolling on a phone
    width = await page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= viewport["width"]
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SHOTS / f"devices-{label}.png"), full_page=True)
    assert watched.errors == []


async def test_without_web_bluetooth_the_page_says_so(hub: HubProcess) -> None:
    missing = chromium_missing()
    if missing is not None:
        pytest.fail(missing)
    async with async_playwright() as playwright:
        # Chromium on Linux without --enable-features=WebBluetooth has no navigator.bluetooth
        flags = [flag for flag in CHROMIUM_FLAGS if "WebBluetooth" not in flag]
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=flags)
        try:
            page = await browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(e.message))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            await page.goto(f"{hub.http_url}/devices")
            await page.wait_for_selector("#conn[data-state=connected]", timeout=5000)
            assert await page.is_disabled("button.ble-connect")
            text = await page.text_content(".ble-error")
            assert text is not None and "no Web Bluetooth" in text
            assert "--enable-features=WebBluetooth" in text
            assert errors == []
        finally:
            await browser.close()


async def test_the_gateway_page_with_a_hub_is_also_the_devices_gateway(
    bench: Bench, subscriber: Subscriber
) -> None:
    """/gateway?hub=... mounts the same Bluetooth panel: readings go to its hub."""
    device = await bench.radio.add("09:00:00:00:00:07", "earl-temp-9", "temp")
    signal = start_signal()
    try:
        context = await bench.browser.new_context(viewport={"width": 390, "height": 844})
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(f"uncaught: {e.message}"))
        chooser = await answer_chooser(page)
        chooser.want = device.address
        hub = urllib.parse.quote(bench.hub.ws_url, safe="")
        await page.goto(f"{signal.url.rstrip('/')}/gateway?id=gw-ble&hub={hub}")
        await page.wait_for_function("() => window.earlgateGateway !== undefined")
        await page.evaluate("() => earlgateGateway.ready")
        await page.click("button.ble-connect")
        await page.wait_for_selector(
            '.ble-device[data-device="earl-temp-9"][data-state=connected]', timeout=8000
        )
        await eventually(
            "temperatures from the gateway page",
            lambda: len(subscriber.on("earl/earl-temp-9/temp")) >= 3,
        )
        # the status view redraws every second: both pills say connected
        await page.wait_for_selector("#hub[data-state=connected]", timeout=3000)
        await page.wait_for_selector("#signal[data-state=connected]", timeout=3000)
        stats = await page.evaluate("() => earlgateGateway.ble()")
        assert stats["devices"]["earl-temp-9"]["readings"] >= 3
        SHOTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(SHOTS / "gateway-ble-phone.png"), full_page=True)
        assert errors == []
    finally:
        signal.stop()
