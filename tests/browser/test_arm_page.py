"""The /arm page in Chromium: arm-probe pages and a Python ``earlgate mesh`` peer form one mesh.

A real ``earlgate signal`` serves the pages and signals, coturn relays
(relay-only ICE on both sides, as the Python peers need on loopback). The
Python member is :func:`earlgate.gateway.mesh.run_mesh` with ``run=(0,)``,
what ``earlgate mesh --run 0`` runs; the pages are members 1 and 2 and dial
the lower indices as it does. Each member sees the others' readings with
their one-way delays.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import urllib.parse
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "gateway"))
sys.path.insert(0, str(HERE.parent / "rtc"))

from gwpeers import peering  # noqa: E402
from gwprocs import Process  # noqa: E402
from rtcprocs import TURN_PASS, TURN_USER, Turn  # noqa: E402

from browserproc import PHONE, Chromium, WatchedPage  # noqa: E402
from earlgate.bench.gateway.meshdelays import MeshDelays  # noqa: E402
from earlgate.gateway.mesh import MeshOptions, run_mesh  # noqa: E402

SCREENSHOTS = HERE.parents[1] / "build" / "screenshots"
READY_S = 20.0


def arm_url(signal: str, relay: Turn, **params: str) -> str:
    ice = json.dumps([{"urls": relay.url, "username": TURN_USER, "credential": TURN_PASS}])
    query = {**params, "ice": ice, "relay-only": "1"}
    return f"{signal.rstrip('/')}/arm?{urllib.parse.urlencode(query)}"


async def open_arm(
    browser: Chromium, url: str, viewport: dict[str, int] | None = None
) -> WatchedPage:
    watched = await browser.new_page(viewport)
    await watched.page.goto(url)
    return watched


async def wait_ready(watched: WatchedPage) -> None:
    await watched.page.evaluate(
        "(ms) => Promise.race([earlgateArm.ready, new Promise((_, no) =>"
        " setTimeout(() => no(new Error('not ready')), ms))])",
        READY_S * 1000,
    )


async def stats(watched: WatchedPage) -> dict[str, Any]:
    result: dict[str, Any] = await watched.page.evaluate("() => earlgateArm.stats()")
    return result


async def test_two_pages_and_a_python_peer_form_one_mesh(
    browser: Chromium, signal_server: Process, relay: Turn
) -> None:
    sources: Counter[str] = Counter()
    delays = MeshDelays(keep=True)

    def on_message(value: dict[str, Any]) -> None:
        sources[value["src"]] += 1
        delays.on_message(value)

    options = MeshOptions(
        peering(signal_server, relay),
        peers=3,
        prefix="am",
        run=(0,),
        duration=3.0,
        connect_timeout=READY_S,
        on_message=on_message,
    )
    python = asyncio.ensure_future(run_mesh(options))
    try:
        pages = [
            await open_arm(browser, arm_url(signal_server.url, relay, mesh="am", n="3", i=str(i)))
            for i in (1, 2)
        ]
        await asyncio.gather(*(wait_ready(page) for page in pages))
        for page, me in ((pages[0], "am-1"), (pages[1], "am-2")):
            figures = await stats(page)
            assert (figures["id"], figures["setup_ms"] is not None) == (me, True)
            assert figures["connected"] == sorted({"am-0", "am-1", "am-2"} - {me})
        async with asyncio.timeout(READY_S + 10):
            result = await python
    finally:
        if not python.done():
            python.cancel()
    assert result.connections == result.expected_connections == 2
    assert result.sent > 0 and result.received > 0
    assert set(sources) == {"am-1", "am-2"}, "the Python member heard both pages"
    assert all(0 <= d < 500 for d in delays.delays_ms), "thesis 3.1.2: under half a second"
    for page, other in ((pages[0], "am-2"), (pages[1], "am-1")):
        figures = await stats(page)
        assert figures["received"].get("am-0", 0) >= 4, "readings from the Python member"
        assert figures["received"].get(other, 0) >= 4, "readings from the other page"
        assert figures["sent"] > 0
        assert figures["delays_ms"] and all(0 <= d < 500 for d in figures["delays_ms"])
        assert figures["per_peer"]["am-0"]["p50_ms"] is not None
        # The page shows each peer's readings and delay.
        card = page.page.locator(f'.arm[data-peer="{other}"]')
        await card.locator(".pill").filter(has_text="connected").wait_for()
        assert "ms" in await card.locator("dd").nth(1).inner_text()
        assert page.page_errors() == []
    await pages[0].page.wait_for_timeout(1100)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await pages[0].page.screenshot(path=str(SCREENSHOTS / "arm-desktop.png"), full_page=True)
    await pages[0].page.set_viewport_size(PHONE)  # type: ignore[arg-type]
    await pages[0].page.wait_for_timeout(1100)
    await pages[0].page.screenshot(path=str(SCREENSHOTS / "arm-phone.png"), full_page=True)
    width = await pages[0].page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= PHONE["width"], "nothing wider than the phone's screen"
    assert (await asyncio.to_thread(os.path.getsize, SCREENSHOTS / "arm-phone.png")) > 10_000
    for page in pages:
        await page.page.evaluate("() => earlgateArm.close()")
        assert page.page_errors() == []


async def test_a_ten_peer_mesh_of_pages_and_python_peers(
    browser: Chromium, signal_server: Process, relay: Turn
) -> None:
    """The arm-probe's ten workers: six Python peers and four pages, every pair connected."""
    sources: Counter[str] = Counter()
    delays = MeshDelays(keep=True)

    def on_message(value: dict[str, Any]) -> None:
        sources[value["src"]] += 1
        delays.on_message(value)

    everyone = {f"a10-{i}" for i in range(10)}
    options = MeshOptions(
        peering(signal_server, relay),
        peers=10,
        prefix="a10",
        run=tuple(range(6)),
        duration=4.0,
        connect_timeout=READY_S * 2,
        on_message=on_message,
    )
    python = asyncio.ensure_future(run_mesh(options))
    try:
        pages = [
            await open_arm(browser, arm_url(signal_server.url, relay, mesh="a10", n="10", i=str(i)))
            for i in range(6, 10)
        ]
        await asyncio.gather(*(wait_ready(page) for page in pages))
        for index, page in zip(range(6, 10), pages, strict=True):
            figures = await stats(page)
            assert figures["connected"] == sorted(everyone - {f"a10-{index}"})
        async with asyncio.timeout(READY_S * 2 + 15):
            result = await python
    finally:
        if not python.done():
            python.cancel()
    # Each Python peer to the nine others, counted once per pair: 15 among them + 6 x 4.
    assert result.connections == result.expected_connections
    assert set(sources) >= {f"a10-{i}" for i in range(6, 10)}, "Python heard every page"
    # Thesis 3.1.2: under half a second. Ten peers' setup on two shared cores can delay
    # the first readings, so the bound is on the median and the bulk, not every message.
    ordered = sorted(delays.delays_ms)
    assert ordered and ordered[0] >= 0
    assert ordered[len(ordered) // 2] < 500, f"median {ordered[len(ordered) // 2]:.0f} ms"
    assert ordered[int(len(ordered) * 0.9)] < 1000, f"p90 {ordered[int(len(ordered) * 0.9)]:.0f} ms"
    for index, page in zip(range(6, 10), pages, strict=True):
        me = f"a10-{index}"
        figures = await stats(page)
        heard = {peer for peer, n in figures["received"].items() if n > 0}
        assert heard == everyone - {me}, f"{me} heard {sorted(heard)}"
        assert figures["delays_ms"] and min(figures["delays_ms"]) >= 0
        await page.page.evaluate("() => earlgateArm.close()")
        assert page.page_errors() == []


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"n": "3", "i": "0"}, "mesh: missing"),
        ({"mesh": "am", "n": "3", "i": "3"}, "i=3: expected a whole number from 0 to 2"),
        ({"mesh": "am", "n": "3", "i": "0", "rate": "fast"}, "rate=fast"),
        ({"mesh": "am", "n": "3", "i": "0", "peers": "3"}, "unknown parameter(s) peers"),
    ],
)
async def test_a_bad_arm_parameter_is_named_on_the_page(
    browser: Chromium, signal_server: Process, relay: Turn, params: dict[str, str], named: str
) -> None:
    watched = await open_arm(browser, arm_url(signal_server.url, relay, **params))
    banner = watched.page.locator("#error")
    await banner.wait_for(state="visible", timeout=5000)
    assert named in await banner.inner_text()
    rejected = await watched.page.evaluate(
        "() => earlgateArm.ready.then(() => null, (e) => e.message)"
    )
    assert rejected is not None and named in rejected
    assert watched.page_errors() == []
