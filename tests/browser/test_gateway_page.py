"""The /gateway page in Chromium as the gateway between real Python peers.

A real ``earlgate signal`` serves the page and signals; coturn relays (the
Python peers offer no loopback candidates, so both sides use relay-only ICE);
the Python peers are earlgate.rtc peers, the hub a real ``earlgate hub``.
The page forwards 1:1 and 1:N (dialing a destination that is not connected),
multiplexes into a Python demultiplexing gateway and demultiplexes a Python
multiplexer's aggregates (aggregate v1 both ways), bridges to hub subjects,
names what is wrong in its parameters and routes, re-registers after the
signaling server restarts, and looks right on a desktop and a phone
(screenshots in build/screenshots/).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
import tomllib
import urllib.parse
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "gateway"))
sys.path.insert(0, str(HERE.parent / "rtc"))

from gwpeers import join, peering, take  # noqa: E402
from gwprocs import Process, start_signal, start_slow_peer  # noqa: E402
from rtcprocs import TURN_PASS, TURN_USER, Turn  # noqa: E402

from browserproc import PHONE, Chromium, WatchedPage  # noqa: E402
from earlgate.client import HubClient  # noqa: E402
from earlgate.gateway.aggregate import Part, decode, encode  # noqa: E402
from earlgate.gateway.peering import PeerOptions  # noqa: E402
from earlgate.gateway.routes import parse_routes  # noqa: E402
from earlgate.gateway.service import Gateway, GatewayOptions  # noqa: E402
from earlgate.rtc import DataConnection, Peer  # noqa: E402
from hubproc import start_hub  # noqa: E402

SCREENSHOTS = HERE.parents[1] / "build" / "screenshots"
READY_S = 20.0


@pytest.fixture
def options(signal_server: Process, relay: Turn) -> PeerOptions:
    made: PeerOptions = peering(signal_server, relay)
    return made


@pytest.fixture
async def peers() -> AsyncIterator[list[Peer]]:
    """Python peers to destroy at the end of a test."""
    made: list[Peer] = []
    yield made
    await asyncio.gather(*(peer.destroy() for peer in made))


def ice(relay: Turn) -> str:
    return json.dumps([{"urls": relay.url, "username": TURN_USER, "credential": TURN_PASS}])


def page_url(signal: str, **params: str) -> str:
    origin = signal.rstrip("/")
    return f"{origin}/gateway?{urllib.parse.urlencode(params)}"


async def open_gateway(
    browser: Chromium,
    signal: str,
    relay: Turn,
    gateway_id: str,
    routes: str | None,
    viewport: dict[str, int] | None = None,
    **params: str,
) -> WatchedPage:
    """The page as gateway ``gateway_id`` with ``routes`` served from its origin, ready."""
    watched = await browser.new_page(viewport)
    query = {"id": gateway_id, "ice": ice(relay), "relay-only": "1", **params}
    if routes is not None:
        path = f"/test-routes-{gateway_id}.toml"

        async def answer(route: Any) -> None:
            await route.fulfill(status=200, content_type="text/plain", body=routes)

        await watched.page.route(f"**{path}", answer)
        query["routes"] = path
    await watched.page.goto(page_url(signal, **query))
    await watched.page.evaluate(
        "(ms) => Promise.race([earlgateGateway.ready, new Promise((_, no) =>"
        " setTimeout(() => no(new Error('not ready')), ms))])",
        READY_S * 1000,
    )
    return watched


async def stats(watched: WatchedPage) -> dict[str, Any]:
    result: dict[str, Any] = await watched.page.evaluate("() => earlgateGateway.stats()")
    return result


async def wait_peers(watched: WatchedPage, *ids: str) -> None:
    """Until the page has an open connection from each of ``ids``."""
    await watched.page.wait_for_function(
        "(ids) => ids.every((id) => earlgateGateway.stats().peers.includes(id))",
        arg=list(ids),
        timeout=READY_S * 1000,
    )


async def accept_one(peer: Peer) -> DataConnection:
    """The first data connection someone opens to ``peer``, open."""
    async with asyncio.timeout(READY_S):
        async for conn in peer.connections():
            await conn.wait_open()
            return conn
    raise AssertionError("no connection")


async def screenshot(watched: WatchedPage, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await watched.page.wait_for_timeout(1200)  # a tick of the status view, with rates
    await watched.page.screenshot(path=str(SCREENSHOTS / name), full_page=True)


async def test_forward_one_to_one_and_one_to_many(
    browser: Chromium, signal_server: Process, relay: Turn, options: PeerOptions, peers: list[Peer]
) -> None:
    """A Python sender through the page to two receivers; the page dials the one not there."""
    routes = '[[forward]]\nfrom = "snd"\nto = ["rcv-1", "rcv-2"]\n'
    page = await open_gateway(browser, signal_server.url, relay, "pgw-fwd", routes)
    rcv1, to_gw = await join(options, "rcv-1", "pgw-fwd", serialization="json")
    rcv2 = options.make_peer("rcv-2")  # not connected: the page dials it
    await rcv2.open()
    snd, out = await join(options, "snd", "pgw-fwd")
    peers.extend([rcv1, rcv2, snd])
    await wait_peers(page, "rcv-1", "snd")
    sent = [{"seq": i, "ts": time.time() * 1000.0, "text": "héllo"} for i in range(20)]
    for message in sent:
        out.send(message)
    from_gw = await accept_one(rcv2)
    got1 = await take(to_gw, 20)
    got2 = await take(from_gw, 20)
    key = lambda m: m["seq"]  # noqa: E731 - peerjs's default channel is unordered
    assert sorted(got1, key=key) == sent
    assert sorted(got2, key=key) == sent
    figures = await stats(page)
    route = figures["routes"]["forward#1"]
    assert (route["in"], route["messages"], route["dropped"]) == (20, 40, 0)
    assert route["latency_ms"]["count"] == 40
    assert figures["dials"] == {"started": 1, "opened": 1}
    assert page.page_errors() == []


async def test_a_receiver_that_stops_reading_does_not_stall_the_others(
    browser: Chromium, signal_server: Process, relay: Turn, options: PeerOptions, peers: list[Peer]
) -> None:
    """One destination stops reading: its queue stays bounded and drops, the other gets all."""
    routes = '[[forward]]\nfrom = "bsl-src"\nto = ["bsl-fast", "bsl-slow"]\n'
    page = await open_gateway(
        browser,
        signal_server.url,
        relay,
        "bsl-gw",
        routes,
        **{"queue-limit": "100", "high-water": "65536"},
    )
    slow = start_slow_peer(signal_server.url, relay, "bsl-slow", "bsl-gw")
    try:
        assert slow.stdout is not None
        assert await asyncio.to_thread(slow.stdout.readline) == b"connected\n"
        (src, to_gw), (fast, from_gw) = await asyncio.gather(
            join(options, "bsl-src", "bsl-gw", serialization="json", reliable=True),
            join(options, "bsl-fast", "bsl-gw", serialization="json", reliable=True),
        )
        peers.extend((src, fast))
        await wait_peers(page, "bsl-src", "bsl-fast", "bsl-slow")
        slow.send_signal(signal.SIGSTOP)  # it stops reading and acknowledging
        count, pad = 300, "x" * 1000
        started = time.monotonic()
        received: list[int] = []

        async def receive() -> None:
            while len(received) < count:
                received.append((await from_gw.recv())["n"])

        receiver = asyncio.create_task(receive())
        for n in range(count):
            to_gw.send({"n": n, "pad": pad})
            if n % 10 == 9:  # 200 KB/s: the fast receiver keeps up, the stopped one cannot
                await asyncio.sleep(0.05)
        try:
            async with asyncio.timeout(20):
                await receiver
        except TimeoutError:
            queues = (await stats(page))["queues"]
            raise AssertionError(f"bsl-fast got {len(received)} of {count}; {queues}") from None
        assert sorted(received) == list(range(count))
        assert time.monotonic() - started < 15
        figures = await stats(page)
        queues = figures["queues"]
        assert queues["bsl-fast"]["sent"] == count and queues["bsl-fast"]["dropped"] == 0
        assert queues["bsl-slow"]["queued"] <= 100
        assert queues["bsl-slow"]["dropped"] > 0  # oldest first, counted
        assert page.page_errors() == []
    finally:
        slow.send_signal(signal.SIGCONT)
        slow.kill()
        await asyncio.to_thread(slow.wait)
        if slow.stdout is not None:
            slow.stdout.close()


async def test_page_mux_into_python_demux_and_python_mux_into_page_demux(
    browser: Chromium, signal_server: Process, relay: Turn, options: PeerOptions, peers: list[Peer]
) -> None:
    """Aggregate v1 both ways: the page multiplexes for a Python demultiplexer and splits
    a Python multiplexer's aggregates."""
    page_routes = (
        '[[mux]]\nfrom = "dev-*"\nto = "pygw"\nwindow = 0.1\n\n'
        '[[demux]]\nfrom = "pygw"\nto = ["sink"]\n'
    )
    python_routes = (
        '[[demux]]\nfrom = "pgw-mux"\nto = ["cloud"]\n\n'
        '[[mux]]\nfrom = "up"\nto = "pgw-mux"\nwindow = 0.1\n'
    )
    python = Gateway(GatewayOptions("pygw", options, parse_routes(tomllib.loads(python_routes))))
    await python.start()
    try:
        page = await open_gateway(browser, signal_server.url, relay, "pgw-mux", page_routes)
        cloud, at_cloud = await join(options, "cloud", "pygw")
        devs = [await join(options, f"dev-{i}", "pgw-mux") for i in range(3)]
        sink, at_sink = await join(options, "sink", "pgw-mux")
        up, from_up = await join(options, "up", "pygw")
        peers.extend([cloud, sink, up, *(peer for peer, _ in devs)])
        await wait_peers(page, "dev-0", "dev-1", "dev-2", "sink")
        # Devices -> page (mux) -> Python gateway (demux) -> cloud.
        for i, (_, conn) in enumerate(devs):
            conn.send({"dev": i, "ts": 1764000000000.0 + i})
        got = await take(at_cloud, 3)
        assert sorted(got, key=lambda m: m["dev"]) == [
            {"dev": i, "ts": 1764000000000.0 + i} for i in range(3)
        ]
        # up -> Python gateway (mux) -> page (demux) -> sink.
        for i in range(4):
            from_up.send({"n": i})
        got_sink = await take(at_sink, 4)
        assert sorted(m["n"] for m in got_sink) == [0, 1, 2, 3]
        # The page's own aggregate as a Python reader decodes it.
        figures = await stats(page)
        assert figures["routes"]["mux#1"]["parts_out"] == 3
        assert figures["routes"]["mux#1"]["processing_ms"]["count"] >= 1
        assert figures["routes"]["demux#1"]["out"] == 4
        assert figures["routes"]["demux#1"]["lost"] == 0
        python_stats = python.statistics()["routes"]
        assert python_stats["demux#1"]["out"] == 3 and python_stats["demux#1"]["lost"] == 0
        assert page.page_errors() == []
    finally:
        await python.stop()


async def test_the_page_reads_what_python_encodes_and_python_reads_the_page(
    browser: Chromium, signal_server: Process, relay: Turn, options: PeerOptions, peers: list[Peer]
) -> None:
    """A hand-made aggregate with dst and a sequence gap; the page's own aggregate as
    Python's decode() reads it."""
    routes = '[[demux]]\nfrom = "hq"\nto = []\n\n[[mux]]\nfrom = "t-*"\nto = "hq"\nwindow = 0.05\n'
    page = await open_gateway(browser, signal_server.url, relay, "pgw-agg", routes)
    hq, conn = await join(options, "hq", "pgw-agg")
    a, at_a = await join(options, "a-1", "pgw-agg", serialization="json")
    t, from_t = await join(options, "t-1", "pgw-agg")
    peers.extend([hq, a, t])
    await wait_peers(page, "hq", "a-1", "t-1")
    parts = [Part("d", 0, 1.0, {"x": 1}, "a-1"), Part("d", 2, 2.0, [1, 2], "a-1")]
    conn.send(encode(parts))
    assert await take(at_a, 2) == [{"x": 1}, [1, 2]]
    from_t.send({"ts": 123.5, "v": 7})
    aggregate = (await take(conn, 1))[0]
    assert decode(aggregate) == [Part("t-1", 0, 123.5, {"ts": 123.5, "v": 7})]
    route = (await stats(page))["routes"]["demux#1"]
    assert (route["lost"], route["out"]) == (1, 2)
    assert page.page_errors() == []


async def test_bridge_to_hub_subjects(
    browser: Chromium, signal_server: Process, relay: Turn, options: PeerOptions, peers: list[Peer]
) -> None:
    hub = start_hub()
    client = HubClient(hub.ws_url)
    try:
        await client.connect()
        await client.publish("commands/thermo-1", {"set": 20}, retain=True, ack=True)
        routes = (
            '[[bridge]]\npeer = "thermo-*"\npublish = "sensors/{peer}"\n'
            'subscribe = "commands/{peer}"\n'
        )
        readings = await client.subscribe("sensors/#")
        page = await open_gateway(
            browser, signal_server.url, relay, "pgw-hub", routes, hub=hub.ws_url
        )
        thermo, conn = await join(options, "thermo-1", "pgw-hub")
        peers.append(thermo)
        # The retained command first, as the hub's publish frame.
        first = (await take(conn, 1))[0]
        assert (first["type"], first["subject"], first["data"]) == (
            "publish",
            "commands/thermo-1",
            {"set": 20},
        )
        conn.send({"c": 21.5, "ts": 1764000000123.0})
        async with asyncio.timeout(10):
            reading = await readings.get()
        assert reading["subject"] == "sensors/thermo-1"
        assert reading["data"] == {"c": 21.5, "ts": 1764000000123.0}
        assert reading["published"] == 1764000000123.0, "the sender's ts is the published time"
        await client.publish("commands/thermo-1", {"set": 22})
        live = (await take(conn, 1))[0]
        assert (live["subject"], live["data"]) == ("commands/thermo-1", {"set": 22})
        figures = await stats(page)
        assert figures["hub"] == "connected"
        assert figures["routes"]["bridge#1"]["out"] == 3  # one publish, two deliveries
        assert page.page_errors() == []
    finally:
        await client.close()
        hub.stop()


BAD_ADDRESSES = [
    ({}, "id: missing"),
    ({"id": "gw", "mux-window": "0"}, "mux-window=0: expected a number > 0"),
    ({"id": "gw", "ice": "[{"}, "ice: not JSON"),
    ({"id": "gw", "relay_only": "1"}, "unknown parameter(s) relay_only"),
    ({"id": "gw", "serialization": "msgpack"}, "serialization=msgpack"),
]


@pytest.mark.parametrize(("params", "named"), BAD_ADDRESSES)
async def test_a_bad_parameter_is_named_on_the_page(
    browser: Chromium, signal_server: Process, params: dict[str, str], named: str
) -> None:
    watched = await browser.new_page()
    await watched.page.goto(page_url(signal_server.url, **params))
    banner = watched.page.locator("#error")
    await banner.wait_for(state="visible", timeout=5000)
    assert named in await banner.inner_text()
    rejected = await watched.page.evaluate(
        "() => earlgateGateway.ready.then(() => null, (e) => e.message)"
    )
    assert rejected is not None and named in rejected
    assert watched.page_errors() == []


async def test_bad_routes_are_named_and_the_old_ones_kept(
    browser: Chromium, signal_server: Process, relay: Turn
) -> None:
    """From routes=URL the page says which table and key; pasted, it keeps what runs."""
    page = await open_gateway(
        browser, signal_server.url, relay, "pgw-bad", '[[forward]]\nfrom = "a"\nto = "b"\n'
    )
    await page.page.locator("#editor summary").click()
    text = page.page.locator("#routes-text")
    assert "[[forward]]" in await text.input_value()
    for bad, named in [
        ('[[forward]]\nfrom = "a"\n', "[[forward]] #1.to: name at least one destination"),
        ('[[mux]]\nfrom = "a"\nto = "b"\nwindow = -1\n', "[[mux]] #1.window: expected seconds > 0"),
        ("[[forward]\n", "not valid TOML"),
        ('[[bridge]]\npeer = "a"\npublish = "x/{peer}"\n', "need a hub: add hub="),
        ('[[fwd]]\nfrom = "a"\n', "unknown table(s) fwd"),
    ]:
        await text.fill(bad)
        await page.page.locator("#routes-apply").click()
        error = page.page.locator("#routes-error")
        await error.wait_for(state="visible")
        assert named in await error.inner_text()
        assert await text.get_attribute("aria-invalid") == "true"
    assert list((await stats(page))["routes"]) == ["forward#1"], "the running routes stay"
    # Good routes pasted apply at once.
    await text.fill('[[forward]]\nfrom = "a"\nto = "c"\n\n[[demux]]\nfrom = "z"\n')
    await page.page.locator("#routes-apply").click()
    await page.page.locator("#routes-error").wait_for(state="hidden")
    assert list((await stats(page))["routes"]) == ["forward#1", "demux#1"]
    await page.page.locator('.route[data-route="demux#1"]').wait_for()
    assert page.page_errors() == []

    # A bad document at routes=URL: named with its URL, ready rejects.
    watched = await browser.new_page()

    async def answer(route: Any) -> None:
        await route.fulfill(status=200, body='[[forward]]\nfrom = "a"\nto = "b"\ntp = 1\n')

    await watched.page.route("**/typo.toml", answer)
    await watched.page.goto(page_url(signal_server.url, id="pgw-bad2", routes="/typo.toml"))
    banner = watched.page.locator("#error")
    await banner.wait_for(state="visible", timeout=5000)
    assert "typo.toml: [[forward]] #1: unknown key(s) tp" in await banner.inner_text()
    assert watched.page_errors() == []


async def test_the_page_registers_again_after_the_signaling_server_restarts(
    browser: Chromium, relay: Turn, peers: list[Peer]
) -> None:
    """Kill the signaling server under the page and start it again on its port: the page
    re-registers with the same id, its open connections carried on, and new peers reach it."""
    server = start_signal()
    port = urllib.parse.urlsplit(server.url).port
    assert port is not None
    options = PeerOptions(
        server.url,
        ice_servers=(relay.url,),
        ice_username=TURN_USER,
        ice_credential=TURN_PASS,
        relay_only=True,
    )
    try:
        routes = '[[forward]]\nfrom = "*"\nto = "*"\n'
        page = await open_gateway(browser, server.url, relay, "pgw-restart", routes)
        a, at_a = await join(options, "ra", "pgw-restart")
        peers.append(a)
        await wait_peers(page, "ra")
        server.stop()
        await page.page.wait_for_function(
            "() => !earlgateGateway.stats().registered", timeout=10_000
        )
        server = start_signal(port)
        await page.page.wait_for_function(
            "() => earlgateGateway.stats().registered", timeout=15_000
        )
        b, from_b = await join(options, "rb", "pgw-restart")
        peers.append(b)
        await wait_peers(page, "ra", "rb")
        from_b.send({"after": "restart"})
        assert await take(at_a, 1) == [{"after": "restart"}]
        figures = await stats(page)
        assert figures["connections"]["closed"] == 0, "the data connection outlived the server"
        # Only the browser's own reports of the refused socket while the server was down.
        assert all("WebSocket connection to" in e for e in page.page_errors())
    finally:
        server.stop()


async def test_screenshots_of_a_running_gateway_on_a_desktop_and_a_phone(
    browser: Chromium, signal_server: Process, relay: Turn, options: PeerOptions, peers: list[Peer]
) -> None:
    """Three arms in a star through the page, and a mux to a sink that is not there."""
    routes = (
        '[[forward]]\nfrom = "arm-*"\nto = "arm-*"\n\n[[mux]]\nfrom = "arm-*"\nto = "cloud-p"\n'
    )
    page = await open_gateway(browser, signal_server.url, relay, "pgw-look", routes, dial="0")
    joined = [await join(options, f"arm-{i}", "pgw-look") for i in range(3)]
    peers.extend(peer for peer, _ in joined)
    await wait_peers(page, "arm-0", "arm-1", "arm-2")
    for _ in range(30):
        for i, (_, conn) in enumerate(joined):
            conn.send({"arm": i, "ts": time.time() * 1000.0})
        await asyncio.sleep(0.1)
    await page.page.wait_for_function(
        "() => earlgateGateway.stats().routes['forward#1'].messages >= 180"
    )
    await screenshot(page, "gateway-desktop.png")
    await page.page.set_viewport_size(PHONE)  # type: ignore[arg-type]
    await screenshot(page, "gateway-phone.png")
    width = await page.page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= PHONE["width"], "nothing wider than the phone's screen"
    for name in ("gateway-desktop.png", "gateway-phone.png"):
        assert (await asyncio.to_thread(os.path.getsize, SCREENSHOTS / name)) > 10_000
    assert page.page_errors() == []
