"""MQTT.js, the browser's MQTT client, in Chromium against the hub's ``/mqtt``.

npm's ``mqtt`` (pinned below) is installed into ``.cache/mqttjs`` on first use;
where npm is missing or cannot reach its registry the test is skipped with
npm's reason, except under CI (``$CI`` set), where it fails. The library's
browser bundle (``dist/mqtt.esm.js``) reaches a page of the hub's origin
through Playwright's route interception. A Python WebSocket client
(:class:`earlgate.client.HubClient`) is on the other side.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from browserproc import Chromium
from earlgate.client import HubClient
from earlgate.testing.npm import NpmError, npm_install
from hubproc import HubProcess, start_hub

ROOT = Path(__file__).resolve().parents[2]
MQTTJS_VERSION = "5.16.0"
MQTTJS_DIR = ROOT / ".cache" / "mqttjs"
BUNDLE = MQTTJS_DIR / "node_modules" / "mqtt" / "dist" / "mqtt.esm.js"
IMPORT = 'import mqtt from "/mqttjs/mqtt.esm.js"; window.mqtt = mqtt;'


def install_mqttjs() -> Path:
    """The bundle of ``mqtt@MQTTJS_VERSION``, installed when missing; why not, as an error."""
    package = MQTTJS_DIR / "node_modules" / "mqtt" / "package.json"
    try:
        npm_install(
            MQTTJS_DIR,
            ["--save-exact", f"mqtt@{MQTTJS_VERSION}"],
            lambda: BUNDLE.is_file() and f'"version": "{MQTTJS_VERSION}"' in package.read_text(),
        )
    except NpmError as exc:
        raise RuntimeError(f"MQTT.js: {exc}") from None
    return BUNDLE


@pytest.fixture(scope="module")
def bundle() -> Path:
    try:
        return install_mqttjs()
    except RuntimeError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"MQTT.js is required under CI: {exc}")
        pytest.skip(f"MQTT.js unavailable: {exc}")


@pytest.fixture(scope="module")
def hub() -> Iterator[HubProcess]:
    process = start_hub()
    yield process
    process.stop()


@pytest.fixture
async def ws(hub: HubProcess) -> AsyncIterator[HubClient]:
    async with HubClient(hub.ws_url) as client:
        yield client


async def mqttjs_page(browser: Chromium, hub: HubProcess, bundle: Path) -> Any:
    """A page of the hub's origin with MQTT.js as ``window.mqtt``.

    The document is one the hub really serves (``/healthz``): Chromium's local
    network access checks refuse a WebSocket to 127.0.0.1 from a document that
    interception made up (it has no address). Only the bundle is intercepted.
    """
    watched = await browser.new_page()
    page = watched.page

    async def serve(route: Any) -> None:
        await route.fulfill(path=str(bundle), content_type="text/javascript")

    await page.route(f"{hub.http_url}/mqttjs/mqtt.esm.js", serve)
    await page.goto(f"{hub.http_url}/healthz")
    await page.add_script_tag(type="module", content=IMPORT)
    await page.wait_for_function("typeof window.mqtt?.connectAsync === 'function'", timeout=5000)
    return watched


# Connected, or why not: MQTT.js's connectAsync waits for ever when the socket
# closes before a CONNACK and reconnecting is off.
CONNECT = """async ([url, version, id]) => {
    window.received = [];
    const client = mqtt.connect(url, {
        protocolVersion: version, clientId: id, reconnectPeriod: 0, connectTimeout: 5000,
    });
    client.on("message", (topic, payload, packet) => window.received.push({
        topic, payload: new TextDecoder().decode(payload), qos: packet.qos, retain: packet.retain,
    }));
    window.client = client;
    return await new Promise((resolve) => {
        client.once("connect", () => resolve("connected"));
        client.once("error", (error) => resolve(`error: ${error.message}`));
        client.once("close", () => resolve("closed before a CONNACK"));
    });
}"""


async def received(page: Any, topic: str) -> dict[str, Any]:
    """The first message the page's client got on ``topic``."""
    await page.wait_for_function(
        "(topic) => window.received.some((m) => m.topic === topic)", arg=topic, timeout=5000
    )
    found: dict[str, Any] = await page.evaluate(
        "(topic) => window.received.find((m) => m.topic === topic)", topic
    )
    return found


@pytest.mark.parametrize("version", [4, 5], ids=["3.1.1", "5"])
async def test_mqttjs_in_chromium_over_mqtt_with_a_websocket_client(
    browser: Chromium, hub: HubProcess, bundle: Path, ws: HubClient, version: int
) -> None:
    watched = await mqttjs_page(browser, hub, bundle)
    page = watched.page
    base = f"js{version}"
    url = f"ws://127.0.0.1:{hub.port}/mqtt"
    connected = await page.evaluate(CONNECT, [url, version, f"mqttjs-{version}"])
    assert connected == "connected", (connected, watched.page_errors())
    granted = await page.evaluate(
        "async (filter) => (await window.client.subscribeAsync(filter, { qos: 2 }))"
        ".map((g) => [g.topic, g.qos])",
        f"{base}/#",
    )
    assert granted == [[f"{base}/#", 2]]
    sub = await ws.subscribe(f"{base}/#")

    # MQTT.js publishes at each QoS: the WebSocket client and MQTT.js itself get them.
    await page.evaluate(
        """async (base) => {
            await window.client.publishAsync(`${base}/q0`, "zero", { qos: 0 });
            await window.client.publishAsync(`${base}/q1`, '{"n": 1}', { qos: 1 });
            await window.client.publishAsync(`${base}/q2`, "two", { qos: 2 });
        }""",
        base,
    )
    got: dict[str, Any] = {}
    async with asyncio.timeout(5):
        while len(got) < 3:
            message = await sub.get()
            got[message["subject"]] = message
    assert got[f"{base}/q0"]["data"] == "zero"
    assert got[f"{base}/q1"]["data"] == {"n": 1}
    assert got[f"{base}/q1"]["mqtt"]["qos"] == 1
    assert got[f"{base}/q2"]["data"] == "two"
    assert got[f"{base}/q2"]["mqtt"]["qos"] == 2
    for topic, payload, qos in (("q0", "zero", 0), ("q1", '{"n": 1}', 1), ("q2", "two", 2)):
        echoed = await received(page, f"{base}/{topic}")
        assert (echoed["payload"], echoed["qos"], echoed["retain"]) == (payload, qos, False)

    # The WebSocket client publishes: MQTT.js gets the JSON value and the text.
    await ws.publish(f"{base}/from-ws", {"t": 21.5, "ok": True}, ack=True)
    await ws.publish(f"{base}/from-ws-text", "hello from Python", ack=True)
    from_ws = await received(page, f"{base}/from-ws")
    assert from_ws["qos"] == 1  # the hub acked it: QoS 1, within the subscription's 2
    assert await page.evaluate("(text) => JSON.parse(text)", from_ws["payload"]) == {
        "t": 21.5,
        "ok": True,
    }
    assert (await received(page, f"{base}/from-ws-text"))["payload"] == "hello from Python"

    # A retained value set over WebSocket reaches a new MQTT.js subscription with RETAIN;
    # one MQTT.js retains reaches a late WebSocket subscriber.
    await ws.publish(f"{base}/kept/ws", "set by Python", retain=True, ack=True)
    await page.evaluate(
        "async (f) => { await window.client.subscribeAsync(f, { qos: 1 }); }", f"{base}/kept/ws"
    )
    await page.wait_for_function(
        "(t) => window.received.some((m) => m.topic === t && m.retain)",
        arg=f"{base}/kept/ws",
        timeout=5000,
    )
    kept = await page.evaluate(
        "(t) => window.received.find((m) => m.topic === t && m.retain)", f"{base}/kept/ws"
    )
    assert (kept["payload"], kept["qos"]) == ("set by Python", 1)
    await page.evaluate(
        "async (t) => { await window.client.publishAsync(t, '21.50', { qos: 1, retain: true }); }",
        f"{base}/kept/js",
    )
    late = await ws.subscribe(f"{base}/kept/js", last=True)
    async with asyncio.timeout(5):
        retained = await late.get()
    assert retained["retain"] is True and retained["data"] == 21.5
    await page.evaluate("async () => { await window.client.endAsync(); }")
    assert watched.page_errors() == []
