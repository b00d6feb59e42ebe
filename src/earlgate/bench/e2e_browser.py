"""The browser gateway's series of ``earlgate bench e2e``: Web Bluetooth in headless Chromium.

The hub's ``/devices`` page is the gateway; the Earl devices are emulated by
Chromium's Bluetooth emulation (:mod:`earlgate.testing.webbluetooth`): the
page connects to them through ``navigator.bluetooth`` as it would to real
ones, and every GATT operation it makes is answered over CDP. The emulation
has no radio, so there is no connection interval here, and a peripheral
cannot push a notification, so the page polls the readings characteristic
once per sampling period (``?poll-ms=``). A reading's clock is taken when the
emulated device answers the page's read, so its delay at the subscriber is
the page's and the hub's share of the path: the emulated read answer ->
``characteristicvaluechanged`` -> the page's decoding -> ``earlgate.js`` ->
the hub -> the subscriber. The LED path is timed as in the Python series:
a command published until its state reaches the subscriber (the page's GATT
write and its status read are answered over CDP, not over a radio).
"""

from __future__ import annotations

import contextlib

from earlgate.bench.e2e import IntervalRun, measure

__all__ = ["run_browser"]


async def run_browser(
    ws_url: str,
    http_url: str,
    *,
    devices: int = 4,
    rate_hz: float = 4.0,
    duration_s: float = 10.0,
    led_period_s: float = 0.25,
    warmup_s: float = 1.0,
) -> IntervalRun:
    """One run of ``devices`` accelerometers and a ball-probe through the /devices page."""
    from playwright.async_api import async_playwright

    from earlgate.client import HubClient
    from earlgate.testing.chromium import CHROMIUM, CHROMIUM_FLAGS
    from earlgate.testing.webbluetooth import answer_chooser, enable_radio

    result = IntervalRun(0.0, devices, rate_hz, duration_s, gateway="browser")
    poll_ms = max(10, round(1000 / rate_hz))
    names = [(f"earl-web-{i + 1}", "accel") for i in range(devices)] + [("earl-web-ball", "ball")]
    console_errors: list[str] = []
    async with async_playwright() as playwright, HubClient(ws_url) as subscriber:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=list(CHROMIUM_FLAGS)
        )
        try:
            radio = await enable_radio(await browser.new_browser_cdp_session())
            earls = {}
            for i, (name, kind) in enumerate(names):
                earls[name] = await radio.add(f"0A:00:00:00:00:{i + 1:02X}", name, kind)
            readings = await subscriber.subscribe("earl/+/accel")
            answers = await subscriber.subscribe("earl/earl-web-ball/led/+")
            page = await (await browser.new_context()).new_page()
            page.on(
                "console",
                lambda m: console_errors.append(m.text) if m.type == "error" else None,
            )
            chooser = await answer_chooser(page)
            await page.goto(f"{http_url}/devices?poll-ms={poll_ms}")
            await page.wait_for_selector("#conn[data-state=connected]", timeout=10_000)
            for name, earl in earls.items():
                chooser.want = earl.address
                await page.click("button.ble-connect")
                await page.wait_for_selector(
                    f'.ble-device[data-device="{name}"][data-state=connected]', timeout=15_000
                )
            epochs = {name: earl.epoch_at_zero for name, earl in earls.items()}
            await measure(
                result,
                subscriber,
                readings,
                answers,
                epochs,
                "earl/earl-web-ball/led",
                warmup_s=warmup_s,
                led_period_s=led_period_s,
                settle_s=0.5,
            )
            if radio.failures:
                raise RuntimeError(f"the emulated devices failed: {radio.failures[:3]}")
        finally:
            with contextlib.suppress(Exception):
                await browser.close()
    result.console_errors = len(console_errors)
    return result
