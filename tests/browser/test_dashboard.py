"""The dashboard at the hub's GET /, in Chromium, against a running ``earlgate demo``.

One demo (hub, simulated devices, simulated ball-probe) serves the module's
tests; only the LED test commands the ball-probe. ``EARLGATE_UPDATE_SCREENSHOT=1``
also writes the desktop screenshot to docs/img/dashboard.png (README).
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from browserproc import PHONE, Chromium, WatchedPage
from earlgate.children import drain_in_background, stop_processes, wait_for_line
from earlgate.client import HubClient
from earlgate.led import TCA6507, LedModule, SimulatedTCA6507
from hubproc import HubProcess, start_hub
from polling import wait_for

LISTEN = re.compile(rb"listening on ws://([^:]+):(\d+)/ws")
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = ROOT / "docs" / "img" / "dashboard.png"
DEVICES = [
    "earl/arm-01/accel",
    "earl/arm-02/accel",
    "earl/arm-03/accel",
    "earl/temp-01/temperature",
    "earl/temp-02/temperature",
]
LED = "earl/ball-01/led"
PANELS = ("#subjects-panel", "#publish-panel", "#stats-panel", "#led-panel")


@dataclass
class Demo:
    process: subprocess.Popen[bytes]
    port: int
    output: list[bytes] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"


@pytest.fixture(scope="module")
def demo() -> Iterator[Demo]:
    process = subprocess.Popen(
        [sys.executable, "-m", "earlgate", "demo", "--plain", "--port", "0", "--mqtt-port", "0"]
        + ["--duration", "300"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=dict(os.environ, PYTHONUNBUFFERED="1", COLUMNS="200"),
    )
    match, seen = wait_for_line(process, LISTEN, 20)
    if match is None:
        raise RuntimeError(f"demo did not start: {seen.decode(errors='replace')}")
    running = Demo(process, int(match[2]))
    drain = drain_in_background(process, running.output)
    yield running
    stop_processes([process])
    drain.join(5)
    if process.stdout is not None:
        process.stdout.close()


@pytest.fixture
async def hub(demo: Demo) -> AsyncIterator[HubClient]:
    async with HubClient(demo.ws_url) as client:
        yield client


async def open_dashboard(
    browser: Chromium, url: str, viewport: dict[str, int] | None = None
) -> WatchedPage:
    watched = await browser.new_page(viewport=viewport)
    await watched.page.goto(url)
    await watched.page.wait_for_selector("#conn[data-state=connected]", timeout=5000)
    return watched


def row(subject: str) -> str:
    return f'.node.subject[data-subject="{subject}"]'


async def test_every_simulated_subject_appears_with_a_changing_value(
    browser: Chromium, demo: Demo
) -> None:
    watched = await open_dashboard(browser, demo.url)
    page = watched.page
    for subject in [*DEVICES, f"{LED}/state"]:
        await page.wait_for_selector(row(subject), timeout=2000)
    # Only rows in view are redrawn (subjects.js): each row is scrolled into the tree's view.
    for subject in DEVICES:
        await page.locator(row(subject)).scroll_into_view_if_needed()
        first = await page.text_content(f"{row(subject)} .value")
        await asyncio.sleep(0.6)
        assert await page.text_content(f"{row(subject)} .value") != first, subject
        assert (await page.text_content(f"{row(subject)} .rate")).endswith("/s")
    # Retained values are marked: the thermometers and the LED state.
    assert await page.is_visible(f"{row('earl/temp-01/temperature')} .badge")
    assert await page.is_visible(f"{row(LED + '/state')} .badge")
    assert not await page.is_visible(f"{row('earl/arm-01/accel')} .badge")
    # A click shows the history with what changed from one message to the next.
    await page.click(f"{row('earl/arm-01/accel')} button.name")
    await page.wait_for_selector("#history .diff .changed", timeout=2000)
    assert "earl/arm-01/accel" in (await page.text_content("#detail-title") or "")
    # The filter narrows the tree to what its pattern matches.
    await page.fill("#filter", "earl/+/accel")
    await page.press("#filter", "Enter")
    await page.wait_for_selector(row("earl/temp-01/temperature"), state="detached", timeout=2000)
    assert await page.is_visible(row("earl/arm-02/accel"))
    await page.fill("#filter", "earl/#/x")
    assert await page.is_visible("#filter-error")
    # The hub's figures arrive from /stats.
    await page.wait_for_function(
        "document.querySelector('[data-field=messages_in_per_s] dd')?.textContent !== '0/s'",
        timeout=3000,
    )
    assert watched.page_errors() == []


async def test_the_publish_form_reaches_a_subscriber(
    browser: Chromium, demo: Demo, hub: HubClient
) -> None:
    sub = await hub.subscribe("earl/dashboard/#")
    watched = await open_dashboard(browser, demo.url)
    page = watched.page
    await page.fill("#pub-subject", "earl/dashboard/note")
    await page.fill("#pub-data", '{"n": 7, "text": "from the form"}')
    await page.click("#pub-send")
    async with asyncio.timeout(5):
        message = await sub.get()
    assert message["subject"] == "earl/dashboard/note"
    assert message["data"] == {"n": 7, "text": "from the form"}
    assert not message.get("retain")
    await page.wait_for_selector("#pub-result[data-kind=ok]", timeout=3000)
    assert "ack" in (await page.text_content("#pub-result") or "")
    # Retained, then deleted (retain without data: the hub forgets the value).
    await page.check("#pub-retain")
    await page.click("#pub-send")
    async with asyncio.timeout(5):
        retained = await sub.get()
    assert retained["retain"] is True
    await page.click("#pub-clear")
    async with asyncio.timeout(5):
        cleared = await sub.get()
    assert cleared["retain"] is True and cleared.get("data") is None
    await page.wait_for_selector(f"{row('earl/dashboard/note')}.cleared", timeout=3000)
    assert "retained value deleted" in (await page.text_content("#pub-result") or "")
    late = await hub.subscribe("earl/dashboard/note", last=True)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.5):
            await late.get()
    # A subject the hub refuses shows the error before anything is sent.
    await page.fill("#pub-subject", "earl/+/note")
    assert await page.is_visible("#pub-subject-error")
    assert await page.is_disabled("#pub-send")
    assert watched.page_errors() == []


async def test_bad_json_shows_an_error_and_sends_nothing(
    browser: Chromium, demo: Demo, hub: HubClient
) -> None:
    sub = await hub.subscribe("earl/dashboard/#")
    watched = await open_dashboard(browser, demo.url)
    page = watched.page
    await page.fill("#pub-subject", "earl/dashboard/bad")
    await page.fill("#pub-data", '{"n": 7,')
    assert await page.is_visible("#pub-data-error")
    assert "Not JSON" in (await page.text_content("#pub-data-error") or "")
    assert await page.get_attribute("#pub-data", "aria-invalid") == "true"
    assert await page.is_disabled("#pub-send")
    await page.press("#pub-subject", "Enter")  # submitting anyway
    await page.evaluate("document.querySelector('#publish-form').requestSubmit()")
    await page.wait_for_selector("#pub-result[data-kind=error]", timeout=2000)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.7):
            await sub.get()
    await page.fill("#pub-data", '{"n": 8}')
    assert not await page.is_visible("#pub-data-error")
    assert await page.is_enabled("#pub-send")
    assert watched.page_errors() == []


async def led_state(sub: Any, command_id: int | None = None) -> dict[str, Any]:
    """The next state on the subscription (answering ``command_id`` when given)."""
    async with asyncio.timeout(5):
        while True:
            message = await sub.get()
            data = message["data"]
            if command_id is None or (data.get("command") or {}).get("id") == command_id:
                return dict(data)


async def set_levels(page: Any, ball: str, led: str, color: tuple[int, int, int]) -> None:
    await page.check(f'{ball} input[name=led][value="{led}"]')
    for name, level in zip(("red", "green", "blue"), color, strict=True):
        await page.fill(f"{ball} input[name={name}]", str(level))


async def pixel(page: Any, ball: str, led: str) -> list[int]:
    return list(
        await page.evaluate(
            """([selector, led]) => {
                const canvas = document.querySelector(selector);
                const [x, y] = canvas.dataset[led + 'At'].split(',').map(Number);
                return [...canvas.getContext('2d').getImageData(x, y, 1, 1).data.slice(0, 3)];
            }""",
            [f"{ball} canvas.ball-canvas", led],
        )
    )


async def test_the_led_controls_change_the_chip_and_the_drawing(
    browser: Chromium, demo: Demo, hub: HubClient
) -> None:
    states = await hub.subscribe(f"{LED}/state", last=True)
    errors = await hub.subscribe(f"{LED}/error")
    initial = await led_state(states)
    model = LedModule(TCA6507(SimulatedTCA6507()))
    model.chip.load()
    watched = await open_dashboard(browser, demo.url)
    page = watched.page
    ball = f'.ball[data-subject="{LED}"]'
    await page.wait_for_selector(f"{ball} canvas.ball-canvas", timeout=3000)
    assert await page.get_attribute(f"{ball} canvas.ball-canvas", "data-upper") == "0,0,0"

    # A steady colour: the registers the chip got are those of the same request.
    await set_levels(page, ball, "upper", (0, 15, 0))
    await page.click(f"{ball} button[type=submit]")
    state = await led_state(states)
    model.set_color("upper", (0, 15, 0))
    assert state["registers"] != initial["registers"]
    assert state["registers"] == model.chip.registers.encode().hex(" ")
    assert state["leds"]["upper"] == {"color": [0, 15, 0], "blink": None}
    await page.wait_for_selector(f'{ball} canvas.ball-canvas[data-upper="0,15,0"]', timeout=2000)
    assert await pixel(page, ball, "upper") == [0, 255, 0]
    await page.wait_for_selector(f"{ball} .led-status:has-text('applied')", timeout=2000)

    # One step dimmer, then a blink, animated as the chip shows it.
    await page.click(f"{ball} button[data-action=down]")
    state = await led_state(states)
    assert state["leds"]["upper"]["color"] == [0, 14, 0]
    await set_levels(page, ball, "upper", (15, 0, 0))
    await page.fill(f"{ball} input[name=on_ms]", "512")
    await page.fill(f"{ball} input[name=off_ms]", "512")
    await page.click(f"{ball} button[data-action=blink]")
    state = await led_state(states)
    blink = state["leds"]["upper"]["blink"]
    assert state["leds"]["upper"]["color"] == [15, 0, 0]
    assert (blink["on_ms"], blink["off_ms"]) == (512, 512)
    seen: set[str] = set()
    for _ in range(30):
        seen.add(await page.get_attribute(f"{ball} canvas.ball-canvas", "data-upper") or "")
        await asyncio.sleep(0.1)
    assert {"15,0,0", "0,0,0"} <= seen, seen

    # A command the chip cannot show: the module's error answer is shown.
    await page.fill(f"{ball} input[name=on_ms]", "100")
    await page.click(f"{ball} button[data-action=blink]")
    async with asyncio.timeout(5):
        error = (await errors.get())["data"]
    assert error["error"] == "refused"
    await page.wait_for_selector(f"{ball} .led-error:has-text('refused')", timeout=2000)

    await page.click(f"{ball} button[data-action=all-off]")
    state = await led_state(states)
    assert state["leds"]["upper"]["color"] == [0, 0, 0]
    await page.wait_for_selector(f'{ball} canvas.ball-canvas[data-upper="0,0,0"]', timeout=2000)
    assert watched.page_errors() == []


def distinct_colours(png: bytes) -> int:
    image = Image.open(io.BytesIO(png)).convert("RGB")
    colours = image.getcolors(maxcolors=image.width * image.height)
    return len(colours or [])


async def test_the_screenshot_holds_every_panel(
    browser: Chromium, demo: Demo, hub: HubClient, tmp_path: Path
) -> None:
    await hub.publish(LED, {"led": "lower", "color": [15, 8, 0]}, ack=True)
    await hub.publish(LED, {"led": "upper", "color": [0, 6, 15]}, ack=True)
    watched = await open_dashboard(browser, demo.url, {"width": 1400, "height": 1000})
    page = watched.page
    for subject in DEVICES:
        await page.wait_for_selector(row(subject), timeout=2000)
    await page.wait_for_selector(f'.ball[data-subject="{LED}"]', timeout=2000)
    for panel in PANELS:
        assert await page.is_visible(panel), panel
    await page.click(f"{row('earl/arm-01/accel')} button.name")
    await page.fill("#pub-data", '{"text": "hello", "level": 3}')
    # A few seconds of /stats on the charts.
    await page.wait_for_function(
        "window.earlgateDashboard.stats.charts.rates.series[0].length >= 6", timeout=10000
    )
    await page.wait_for_selector(f"{row(LED + '/state')}", timeout=2000)
    await page.evaluate("document.activeElement.blur()")
    await asyncio.sleep(0.3)
    png = await page.screenshot(full_page=True)
    (tmp_path / "dashboard.png").write_bytes(png)
    if os.environ.get("EARLGATE_UPDATE_SCREENSHOT"):
        SCREENSHOT.write_bytes(png)
    assert distinct_colours(png) > 500
    assert watched.page_errors() == []


async def test_a_phone_screen_has_no_horizontal_overflow_and_every_panel(
    browser: Chromium, demo: Demo
) -> None:
    watched = await open_dashboard(browser, demo.url, PHONE)
    page = watched.page
    await page.wait_for_selector(row(DEVICES[0]), timeout=2000)
    await page.wait_for_selector(f'.ball[data-subject="{LED}"]', timeout=2000)
    await asyncio.sleep(0.5)
    width = await page.evaluate("[document.scrollingElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], width
    for panel in PANELS:
        await page.locator(panel).scroll_into_view_if_needed()
        box = await page.locator(panel).bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    # The keyboard reaches the controls in reading order.
    order: list[str] = []
    for _ in range(40):
        await page.keyboard.press("Tab")
        order.append(
            await page.evaluate("document.activeElement.id || document.activeElement.className")
        )
    wanted = ["filter", "pub-subject", "pub-data", "pub-retain", "pub-send"]
    positions = [order.index(name) for name in wanted]
    assert positions == sorted(positions), order
    assert watched.page_errors() == []


async def test_a_hub_with_auth_takes_the_token_from_the_session(browser: Chromium) -> None:
    from earlgate.hub import make_token

    secret = "s" * 40
    hub = start_hub("--auth-secret", secret)
    try:
        token = make_token(secret, publish=["earl/#"], subscribe=["#"], ttl=600)
        watched = await browser.new_page()
        page = watched.page
        await page.add_init_script(f"sessionStorage.setItem('earlgate.dashboard.token', {token!r})")
        await page.goto(hub.http_url + "/")
        await page.wait_for_selector("#conn[data-state=connected]", timeout=5000)
        assert "token" not in page.url
        await page.fill("#pub-subject", "earl/auth/note")
        await page.fill("#pub-data", "1")
        await page.click("#pub-send")
        await page.wait_for_selector("#pub-result[data-kind=ok]", timeout=3000)
        await page.wait_for_selector(row("earl/auth/note"), timeout=2000)
        # Outside the token's grants: the hub's refusal is shown.
        await page.fill("#pub-subject", "other/note")
        await page.click("#pub-send")
        await page.wait_for_selector("#pub-result[data-kind=error]", timeout=3000)
        assert "forbidden" in (await page.text_content("#pub-result") or "")
        assert watched.page_errors() == []
    finally:
        hub.stop()


async def test_a_burst_of_2000_messages_a_second_stays_bounded_and_smooth(
    browser: Chromium, demo: Demo, hub: HubClient
) -> None:
    watched = await open_dashboard(browser, demo.url)
    page = watched.page
    await page.fill("#filter", "load/#")
    await page.press("#filter", "Enter")
    await page.wait_for_function("location.hash.includes('load')", timeout=3000)
    await page.evaluate(
        """() => {
            window.frameGaps = [];
            let last = performance.now();
            const frame = (t) => {
                window.frameGaps.push(t - last);
                last = t;
                if (window.frameGaps.length < 100000) requestAnimationFrame(frame);
            };
            requestAnimationFrame(frame);
        }"""
    )
    loop = asyncio.get_running_loop()
    start = loop.time()
    for i in range(2000):  # 2000 messages over about a second, on 100 subjects
        await hub.publish(f"load/s{i % 100:03d}", {"i": i, "v": i % 17})
        if i % 100 == 99:
            await asyncio.sleep(max(0.0, start + (i + 1) / 2000 - loop.time()))
    await hub.publish("load/s000", {"i": "last"}, ack=True)
    await page.wait_for_function(
        "document.querySelectorAll('.node.subject').length === 100", timeout=5000
    )
    await page.wait_for_function(
        "document.querySelector('.node.subject[data-subject=\"load/s000\"] .value')"
        ".textContent.includes('last')",
        timeout=5000,
    )
    lengths = await page.evaluate(
        "[...window.earlgateDashboard.view.store.entries.values()].map(e => e.history.length)"
    )
    assert max(lengths) <= 50
    worst = await page.evaluate("Math.max(...window.frameGaps)")
    assert worst < 1000, worst  # frames kept coming (2 shared cores: a loose bound)
    assert watched.page_errors() == []


MOSQUITTO_SUB = shutil.which("mosquitto_sub")
MOSQUITTO_PUB = shutil.which("mosquitto_pub")
SCREENSHOTS = ROOT / "build" / "screenshots"
SMALL_PHONE = {"width": 375, "height": 812}


def hub_stats(http_url: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{http_url}/stats", timeout=5) as answer:
        stats: dict[str, Any] = json.load(answer)
        return stats


def listed(http_url: str, client_id: str, state: str) -> dict[str, Any]:
    """The /stats entry of ``client_id`` in ``state``, or an empty dict."""
    for entry in hub_stats(http_url)["mqtt"]["listed"]:
        if entry["client_id"] == client_id and entry["state"] == state:
            return dict(entry)
    return {}


def wait_listed(hub: HubProcess, client_id: str, state: str, key: str, value: int) -> None:
    wait_for(
        f"{client_id} {state} with {key} {value}",
        lambda: True if listed(hub.http_url, client_id, state).get(key) == value else None,
    )


def mosquitto_sub(port: int, client_id: str, *args: str) -> subprocess.Popen[bytes]:
    assert MOSQUITTO_SUB is not None
    command = [MOSQUITTO_SUB, "-h", "127.0.0.1", "-p", str(port), "-i", client_id, *args]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def start_mqtt_clients(hub: HubProcess, paho_client: Any) -> list[subprocess.Popen[bytes]]:
    """A kept session with a message queued, a connected MQTT 5 client, one on /mqtt."""
    assert hub.mqtt_port is not None and MOSQUITTO_PUB is not None
    port = hub.mqtt_port
    # Clean session 0, then killed: the hub keeps its session, and what it subscribed to.
    kept = mosquitto_sub(port, "dash-kept", "-c", "-q", "1", "-t", "dash/kept/#")
    wait_listed(hub, "dash-kept", "connected", "subscriptions", 1)
    kept.kill()
    kept.wait(5)
    wait_listed(hub, "dash-kept", "kept", "queued", 0)
    publish = [MOSQUITTO_PUB, "-h", "127.0.0.1", "-p", str(port), "-q", "1"]
    subprocess.run([*publish, "-t", "dash/kept/cmd", "-m", "on"], check=True, timeout=10)
    wait_listed(hub, "dash-kept", "kept", "queued", 1)
    topics = ["-t", "dash/live/#", "-t", "earl/+/temperature"]
    live = mosquitto_sub(port, "dash-live", "-V", "mqttv5", "-q", "2", *topics)
    paho_client.ws_set_options(path="/mqtt")
    paho_client.connect("127.0.0.1", hub.port)
    paho_client.loop_start()
    paho_client.subscribe("dash/web/#", qos=1)
    wait_listed(hub, "dash-live", "connected", "subscriptions", 2)
    wait_listed(hub, "dash-web", "connected", "subscriptions", 1)
    return [kept, live]


ROWS_AS_CELLS = """rows => Object.fromEntries(rows.map(r => [r.dataset.client,
    Object.fromEntries([...r.children].map(c => [c.className, c.textContent]))]))"""


async def check_mqtt_panel(page: Any) -> None:
    await page.wait_for_selector(
        '#mqtt-clients tr[data-client="dash-kept"][data-state="kept"]', timeout=5000
    )
    await page.wait_for_selector('#mqtt-clients tr[data-client="dash-live"]', timeout=3000)
    cells = await page.eval_on_selector_all("#mqtt-clients tbody tr", ROWS_AS_CELLS)
    assert list(cells) == ["dash-live", "dash-web", "dash-kept"]  # connected first
    kept = cells["dash-kept"]
    assert (kept["version"], kept["transport"], kept["queued"]) == ("3.1.1", "TCP", "1")
    assert re.fullmatch(r"kept \d+ s, ends in (59|60) min", kept["state"]), kept
    assert kept["subscriptions"] == "dash/kept/# (1)"
    live = cells["dash-live"]
    assert (live["version"], live["transport"]) == ("5", "TCP")
    assert live["subscriptions"] == "dash/live/# (2), earl/+/temperature (2)"
    assert live["inflight"] == "0 / 0"
    web = cells["dash-web"]
    assert (web["version"], web["transport"]) == ("5", "/mqtt")
    assert web["state"].startswith("connected ")
    summary = await page.text_content("#mqtt-summary") or ""
    assert summary.startswith("3 sessions: 2 connected (1 TCP, 1 /mqtt), 1 kept"), summary
    # The page's own two connections and the Python client are the WebSocket ones.
    await page.wait_for_function(
        "/^WebSocket ([3-9]|\\d\\d)/.test("
        "document.querySelector('[data-field=connections_open] dd.split')?.textContent)",
        timeout=3000,
    )
    total, split = await page.eval_on_selector_all(
        "[data-field=connections_open] dd", "dds => dds.map(d => d.textContent)"
    )
    found = re.fullmatch(r"WebSocket (\d+) · MQTT TCP 1 · /mqtt 1 · kept 1", split)
    assert found is not None and int(found[1]) >= 3, split
    assert total == str(int(found[1]) + 3), (total, split)


@pytest.mark.skipif(
    MOSQUITTO_SUB is None or MOSQUITTO_PUB is None,
    reason="mosquitto_pub/mosquitto_sub missing: apt-get install mosquitto-clients",
)
async def test_mqtt_clients_appear_in_their_panel_on_desktop_and_phone(
    browser: Chromium,
) -> None:
    import paho.mqtt.client as paho

    hub = start_hub("--mqtt-session-expiry-max", "3600", mqtt=True)
    web = paho.Client(
        paho.CallbackAPIVersion.VERSION2, "dash-web", transport="websockets", protocol=paho.MQTTv5
    )
    processes: list[subprocess.Popen[bytes]] = []
    try:
        processes += start_mqtt_clients(hub, web)
        async with HubClient(hub.ws_url) as ws:
            await ws.subscribe("dash/#")
            connections = hub_stats(hub.http_url)["connections"]
            assert connections == {
                "websocket": 1,
                "mqtt_tcp": 1,
                "mqtt_websocket": 1,
                "mqtt_kept": 1,
            }
            for name, viewport in (("desktop", {"width": 1400, "height": 1000}),
                                   ("phone", SMALL_PHONE)):  # fmt: skip
                watched = await open_dashboard(browser, hub.http_url + "/", viewport)
                page = watched.page
                await check_mqtt_panel(page)
                width = await page.evaluate(
                    "[document.scrollingElement.scrollWidth, window.innerWidth]"
                )
                assert width[0] <= width[1], (name, width)
                panel = page.locator("#mqtt-panel")
                await panel.scroll_into_view_if_needed()
                box = await panel.bounding_box()
                assert box is not None and box["x"] >= 0
                assert box["x"] + box["width"] <= viewport["width"], (name, box)
                await page.evaluate("document.activeElement.blur()")
                await asyncio.sleep(0.3)
                SCREENSHOTS.mkdir(parents=True, exist_ok=True)
                png = await page.screenshot(full_page=True)
                (SCREENSHOTS / f"dashboard-mqtt-{name}.png").write_bytes(png)
                assert watched.page_errors() == [], name
                await page.close()
    finally:
        web.loop_stop()
        web.disconnect()
        stop_processes(processes)
        hub.stop()
