"""earlgate.js in Chromium against real hub processes (and a real redis-server).

Every page loads the module from the hub itself (``import("/earlgate.js")`` on
a page of the hub's origin), so what is tested is what a hub serves.
"""

from __future__ import annotations

import asyncio
import gzip
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from playwright.async_api import Page

from browserproc import Chromium, WatchedPage
from earlgate.client import HubClient as PyClient
from hubproc import HubProcess, start_hub
from redisproc import RedisServer, free_port

MODULE = Path(__file__).parents[2] / "src" / "earlgate" / "web" / "earlgate.js"
FAST = {"backoff": {"initial": 100, "max": 400}, "pingInterval": 2000, "pongTimeout": 2000}

# Opens a HubClient in the page and records its events and messages on window.
SETUP = """
async ({url, options, withToken}) => {
  const eg = await import("/earlgate.js");
  window.eg = eg;
  window.events = [];
  window.got = {};
  window.subs = {};
  const o = {...options};
  if (withToken) o.getToken = () => window.pyToken();
  const client = new eg.HubClient(url, o);
  const kinds = ["connecting", "connected", "disconnected", "dropped", "unrecovered", "error"];
  for (const type of [...kinds, "token"]) {
    client.on(type, (d) => window.events.push([type, JSON.parse(JSON.stringify({
      ...d,
      subscription: d.subscription && d.subscription.pattern,
      error: d.error && {code: d.error.code, message: d.error.message},
    }))]));
  }
  window.client = client;
  window.sub = async (pattern, opts) => {
    const s = await client.subscribe(pattern, opts);
    window.got[pattern] = [];
    window.subs[pattern] = s;
    s.on("message", (m) => window.got[pattern].push(m));
    return s.recovered;
  };
  window.outcome = (promise) => promise.then(
    () => "ok",
    (e) => `${e.name}:${e.code}:${e.message}`);
  if (o.getToken || !options.noWait) await client.connected;
}
"""


async def open_client(
    browser: Chromium,
    hub: HubProcess,
    options: dict[str, Any] | None = None,
    url: str | None = None,
    token: Any = None,
) -> WatchedPage:
    watched = await browser.new_page()
    if token is not None:
        await watched.page.expose_function("pyToken", token)
    # The hub has no favicon: its 404 would be a console error.
    await watched.page.route("**/favicon.ico", lambda route: route.fulfill(status=204))
    await watched.page.goto(hub.http_url + "/healthz")
    await watched.page.evaluate(
        SETUP,
        {
            "url": url or hub.ws_url,
            "options": {**FAST, **(options or {})},
            "withToken": token is not None,
        },
    )
    return watched


def unexpected(watched: WatchedPage) -> list[str]:
    """The page's errors, less Chromium's own line for each refused reconnect attempt."""
    return [e for e in watched.page_errors() if "ERR_CONNECTION_REFUSED" not in e]


async def events(page: Page, kind: str) -> list[Any]:
    found: list[list[Any]] = await page.evaluate("window.events")
    return [detail for name, detail in found if name == kind]


async def datas(page: Page, pattern: str) -> list[Any]:
    result: list[Any] = await page.evaluate(
        "(p) => (window.got[p] || []).map((m) => m.data)", pattern
    )
    return result


async def wait_js(page: Page, expression: str, arg: Any = None, timeout: float = 8.0) -> None:
    await page.wait_for_function(expression, arg=arg, timeout=timeout * 1000, polling=50)


@pytest.fixture
def hub() -> Iterator[HubProcess]:
    started = start_hub("--durable", "q/#")
    yield started
    started.stop()


@pytest.fixture
def redis() -> Iterator[RedisServer]:
    server = RedisServer().start()
    yield server
    server.close()


def test_the_hub_serves_the_module_and_its_types(hub: HubProcess) -> None:
    request = urllib.request.Request(
        hub.http_url + "/earlgate.js", headers={"Accept-Encoding": "gzip"}
    )
    with urllib.request.urlopen(request, timeout=5) as answer:
        assert answer.headers["Content-Type"] == "text/javascript; charset=utf-8"
        assert answer.headers["Content-Encoding"] == "gzip"
        assert answer.headers["ETag"]
        body = gzip.decompress(answer.read())
    assert body == MODULE.read_bytes()
    with urllib.request.urlopen(hub.http_url + "/earlgate.d.ts", timeout=5) as answer:
        assert answer.headers["Content-Type"].startswith("text/plain")
        assert b"export class HubClient" in answer.read()


async def test_subscribe_publish_ack_last_and_errors(browser: Chromium, hub: HubProcess) -> None:
    async with PyClient(hub.ws_url) as py:
        await py.publish("earl/a/accel", {"x": 1}, retain=True, ack=True)
        watched = await open_client(browser, hub)
        page = watched.page
        await page.evaluate("window.sub('earl/+/accel', {last: true})")
        await wait_js(page, "window.got['earl/+/accel'].length === 1")
        assert await datas(page, "earl/+/accel") == [{"x": 1}]  # the retained value first

        seen = await py.subscribe("earl/#")
        ok = await page.evaluate(
            "window.outcome(client.publish('earl/b/accel', {x: 2}, {ack: true, retain: true}))"
        )
        assert ok == "ok"
        message = await asyncio.wait_for(seen.get(), 5)
        assert message["subject"] == "earl/b/accel" and message["data"] == {"x": 2}
        assert message["retain"] is True and isinstance(message["published"], float | int)
        await py.publish("earl/c/accel", 3)
        await wait_js(page, "window.got['earl/+/accel'].length === 3")
        assert await datas(page, "earl/+/accel") == [{"x": 1}, {"x": 2}, 3]

        # Checked before sending, with the hub's rules and its words.
        for subject, reason in [
            ("$hub/x", "reserved for the hub"),
            ("earl/+/accel", "wildcards are not allowed"),
            ("a//b", "empty level"),
        ]:
            refused = await page.evaluate(f"window.outcome(client.publish({subject!r}, 1))")
            assert refused.startswith("SubjectError:bad_subject:") and reason in refused
        bad_pattern = await page.evaluate("window.outcome(client.subscribe('a/#/b'))")
        assert "'#' is allowed only as the last level" in bad_pattern
        # The hub's own refusal, with its code (the client's check bypassed).
        by_hub = await page.evaluate(
            "window.outcome(client.request({type: 'publish', subject: '$hub/x'}))"
        )
        assert by_hub.startswith("HubError:bad_subject:")

        await page.evaluate("window.subs['earl/+/accel'].unsubscribe()")
        await py.publish("earl/d/accel", 4, ack=True)
        await py.publish("earl/e/accel", 5, ack=True)
        await asyncio.sleep(0.2)
        assert len(await datas(page, "earl/+/accel")) == 3
    assert watched.page_errors() == []


async def test_for_await_reads_the_messages(browser: Chromium, hub: HubProcess) -> None:
    watched = await open_client(browser, hub)
    got = await watched.page.evaluate(
        """async () => {
          const sub = await client.subscribe("it/+");
          for (let i = 0; i < 5; i++) client.publish("it/x", i);
          const seen = [];
          for await (const m of sub) { seen.push(m.data); if (seen.length === 5) break; }
          await sub.unsubscribe();
          return seen;
        }"""
    )
    assert got == [0, 1, 2, 3, 4]
    assert watched.page_errors() == []


async def test_reconnects_after_a_hub_restart_and_resubscribes(
    browser: Chromium, hub: HubProcess
) -> None:
    watched = await open_client(browser, hub)
    page = watched.page
    await page.evaluate("window.sub('live/x')")
    port = hub.port
    hub.stop()
    await wait_js(page, "client.state === 'connecting'")
    again = start_hub(port=port)
    listening = time.monotonic()
    try:
        await wait_js(page, "client.state === 'connected'", timeout=5)
        # Once the hub listens: the backoff bound (400 ms) and one connect.
        assert time.monotonic() - listening < 2.0
        async with PyClient(again.ws_url) as py:
            await py.publish("live/x", "after", ack=True)
        await wait_js(page, "window.got['live/x'].length === 1")
        assert len(await events(page, "connected")) == 2
        (gone,) = await events(page, "disconnected")
        assert gone["code"] in (1001, 1006)
        delays = [e["delay"] for e in await events(page, "connecting") if e["attempt"] > 0]
        assert delays and all(0 <= d < 400 for d in delays)
    finally:
        again.stop()
    assert unexpected(watched) == []


async def test_durable_subject_across_hub_restarts_and_a_lost_store(
    browser: Chromium, redis: RedisServer
) -> None:
    args = ("--broker", redis.url, "--durable", "durable/#")
    hub = start_hub(*args)
    other = start_hub(*args)  # publishes while the first one is down
    try:
        watched = await open_client(browser, hub)
        page = watched.page
        await page.evaluate("window.sub('durable/a')")
        async with PyClient(other.ws_url) as py:
            for n in range(1, 6):
                await py.publish("durable/a", n, ack=True)
            await wait_js(page, "window.got['durable/a'].length === 5")
            port = hub.port
            hub.stop()
            for n in range(6, 11):
                await py.publish("durable/a", n, ack=True)
            hub = start_hub(*args, port=port)
            await wait_js(page, "window.got['durable/a'].length >= 10")
            for n in range(11, 13):
                await py.publish("durable/a", n, ack=True)
            await wait_js(page, "window.got['durable/a'].length >= 12")
            await asyncio.sleep(0.2)
            assert await datas(page, "durable/a") == list(range(1, 13))  # no gap, no duplicate
            assert await page.evaluate("window.subs['durable/a'].recovered") is True
            assert await events(page, "unrecovered") == []

            # The store loses its history: the resume is answered recovered=false.
            hub.stop()
            redis.cli("FLUSHALL")
            await py.publish("durable/a", 100, ack=True)  # a new stream, a new epoch
            hub = start_hub(*args, port=port)
            await wait_js(page, "window.events.some(([t]) => t === 'unrecovered')")
            assert await page.evaluate("window.subs['durable/a'].recovered") is False
            (lost,) = await events(page, "unrecovered")
            assert lost["subscription"] == "durable/a"
            await wait_js(page, "window.got['durable/a'].some((m) => m.data === 100)")
        assert unexpected(watched) == []
    finally:
        hub.stop()
        other.stop()


SECRET = "s" * 40


async def test_a_short_token_is_refreshed_on_the_open_connection(browser: Chromium) -> None:
    hub = start_hub("--auth-secret", SECRET)
    calls: list[float] = []

    def token() -> str:
        calls.append(time.time())
        claims = {"publish": ["earl/#"], "subscribe": ["earl/#"], "exp": int(time.time() + 5)}
        return jwt.encode(claims, SECRET, algorithm="HS256")

    try:
        watched = await open_client(browser, hub, token=token)
        page = watched.page
        await page.evaluate("window.sub('earl/#')")
        first = time.time()
        await wait_js(page, "window.events.filter(([t]) => t === 'token').length >= 2", timeout=8)
        assert len(calls) >= 2
        # Past the first token's exp: still the same connection, still allowed.
        await asyncio.sleep(max(0.0, first + 5.5 - time.time()))
        outcome = await page.evaluate("window.outcome(client.publish('earl/x', 1, {ack: true}))")
        assert outcome == "ok"
        await wait_js(page, "window.got['earl/#'].length === 1")
        assert await events(page, "disconnected") == []
        assert len(await events(page, "connected")) == 1
        forbidden = await page.evaluate("window.outcome(client.publish('other/x', 1, {ack: true}))")
        assert forbidden.startswith("HubError:forbidden:")
        assert watched.page_errors() == []
    finally:
        hub.stop()


async def test_the_offline_queue_is_bounded_and_flushed(browser: Chromium, hub: HubProcess) -> None:
    port = free_port()  # nothing listens there yet
    url = f"ws://127.0.0.1:{port}/ws"
    watched = await open_client(browser, hub, {"queueSize": 3, "noWait": True}, url=url)
    page = watched.page
    outcomes = await page.evaluate(
        "Promise.all([1, 2, 3, 4].map((n) => window.outcome(client.publish('q/a', n))))"
    )
    assert outcomes[:3] == ["ok", "ok", "ok"]
    assert outcomes[3].startswith("ClientError:queue_full:") and "3 frames" in outcomes[3]
    assert await page.evaluate("client.queued") == 3
    assert await page.evaluate("client.state") == "connecting"
    later = start_hub("--durable", "q/#", port=port)
    try:
        await wait_js(page, "client.state === 'connected' && client.queued === 0")
        async with PyClient(later.ws_url) as py:
            stored = await py.subscribe("q/a", since=0)
            got = [(await asyncio.wait_for(stored.get(), 5))["data"] for _ in range(3)]
        assert got == [1, 2, 3]
    finally:
        later.stop()
    assert unexpected(watched) == []


async def test_a_frozen_page_does_not_slow_the_others(browser: Chromium, hub: HubProcess) -> None:
    frozen = await open_client(browser, hub)
    lively = await open_client(browser, hub)
    for watched in (frozen, lively):
        await watched.page.evaluate("window.sub('f/#')")
    # The frozen page's main thread spins for 3 s: it reads nothing meanwhile.
    await frozen.page.evaluate(
        "setTimeout(() => { const end = Date.now() + 3000; while (Date.now() < end); }, 0)"
    )
    await asyncio.sleep(0.1)
    count = 300
    started = time.monotonic()
    async with PyClient(hub.ws_url) as py:
        for n in range(count):
            await py.publish("f/x", n)
        await wait_js(lively.page, f"window.got['f/#'].length === {count}", timeout=5)
        took = time.monotonic() - started
        assert took < 2.5, f"the lively page took {took:.2f} s"
        # The frozen page catches up on the same connection once it runs again.
        await wait_js(frozen.page, f"window.got['f/#'].length === {count}", timeout=8)
    assert await datas(frozen.page, "f/#") == list(range(count))
    assert await events(frozen.page, "disconnected") == []
    assert frozen.page_errors() == [] and lively.page_errors() == []
