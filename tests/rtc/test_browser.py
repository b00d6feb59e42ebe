"""The real ``peerjs`` 1.5 in Debian's Chromium against our Python peer.

Both directions (the browser connects to Python, Python connects to the
browser), each serialization, values checked on both sides, through each signaling
server (``earlgate signal`` and Node's PeerServer). The page comes from a
loopback HTTP server; ICE goes through coturn with relay-only policy on both
sides.
"""

from __future__ import annotations

import asyncio
import functools
import http.server
import shutil
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Page, async_playwright
from rtcprocs import TURN_PASS, TURN_USER, Server, Turn, npm_modules

from earlgate.rtc import DataConnection, Peer
from earlgate.testing.chromium import CHROMIUM, CHROMIUM_FLAGS

pytestmark = pytest.mark.asyncio(loop_scope="module")

BROWSER_ID = "browser-1"

BIG_TEXT = "0123456789abcdé" * 2800  # 42,000 UTF-8 bytes: chunked
BIG_BYTES = bytes(range(256)) * 160  # 40,960 bytes: chunked


def as_plain(value: Any) -> Any:
    """How the page reports a value: byte arrays as ``{"bytes": [...]}``."""
    if isinstance(value, bytes):
        return {"bytes": list(value)}
    if isinstance(value, list):
        return [as_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: as_plain(v) for k, v in value.items()}
    return value


RECORD = {"n": 1, "t": "héllo", "list": [1, 2.5, True, None], "nested": {"k": "v"}}
VALUES: dict[str, list[Any]] = {
    "json": [RECORD, "text", 42, [True, 0.5]],
    "binary": [RECORD, "text", BIG_TEXT, BIG_BYTES, {"bytes_inside": b"\x00\x01"}],
    "raw": ["plain text", b"\x00\x01\xff"],
}


def same_items(got: list[Any], expected: list[Any]) -> bool:
    """peerjs's default channel is unordered: compare as multisets."""
    return sorted(map(repr, got)) == sorted(map(repr, expected))


@pytest.fixture(scope="module")
def page_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("page")
    shutil.copy(Path(__file__).with_name("peerjs_page.html"), root / "index.html")
    shutil.copy(npm_modules() / "peerjs" / "dist" / "peerjs.min.js", root / "peerjs.min.js")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/index.html"
    httpd.shutdown()
    httpd.server_close()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def page(page_url: str, peer_server: Server, turn: Turn) -> AsyncIterator[Page]:
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=list(CHROMIUM_FLAGS))
        page = await browser.new_page()
        await page.goto(page_url)
        opened = await page.evaluate(
            "([id, port, url, user, pass]) => startPeer(id, port, url, user, pass)",
            [BROWSER_ID, peer_server.port, turn.url, TURN_USER, TURN_PASS],
        )
        assert opened == BROWSER_ID
        yield page
        assert await page.evaluate("errors") == []
        await browser.close()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def py_peer(peer_server: Server, turn: Turn) -> AsyncIterator[Peer]:
    peer = Peer(
        "python-1",
        port=peer_server.port,
        ice_servers=[turn.ice_server],
        ice_transport_policy="relay",
    )
    await peer.open()
    yield peer
    await peer.destroy()


async def exchange(page: Page, conn: DataConnection, label: str, serialization: str) -> None:
    """Python sends, the browser checks; the browser sends, Python checks."""
    values = VALUES[serialization]
    for value in values:
        conn.send(value)
    got_in_browser = await page.evaluate(
        "([label, n]) => waitReceived(label, n)", [label, len(values)]
    )
    assert same_items(got_in_browser, [as_plain(v) for v in values])

    await page.evaluate(
        "([label, values]) => sendAll(label, values)", [label, [as_plain(v) for v in values]]
    )
    got_in_python = [await conn.recv() for _ in values]
    assert same_items(got_in_python, values)


@pytest.mark.parametrize("serialization", ["json", "binary", "raw"])
async def test_browser_connects_to_python(page: Page, py_peer: Peer, serialization: str) -> None:
    label = f"b2p-{serialization}"
    async with asyncio.timeout(30):
        connecting = asyncio.create_task(
            page.evaluate(
                "([id, label, s]) => connectTo(id, label, s)", ["python-1", label, serialization]
            )
        )
        conn = await py_peer.accept()
        await conn.wait_open()
        await connecting
        assert (conn.peer, conn.label, conn.serialization) == (BROWSER_ID, label, serialization)
        assert conn.metadata == {"from": "browser"}
        await exchange(page, conn, label, serialization)
        await conn.close()


@pytest.mark.parametrize("serialization", ["json", "binary", "raw"])
async def test_python_connects_to_browser(page: Page, py_peer: Peer, serialization: str) -> None:
    label = f"p2b-{serialization}"
    async with asyncio.timeout(30):
        conn = await py_peer.connect(
            BROWSER_ID, label=label, serialization=serialization, metadata={"from": "python"}
        )
        await page.evaluate("(label) => waitOpen(label)", label)
        info = await page.evaluate("(label) => connInfo(label)", label)
        assert info == {
            "peer": "python-1",
            "label": label,
            "serialization": serialization,
            "reliable": False,
            "metadata": {"from": "python"},
        }
        await exchange(page, conn, label, serialization)
        await conn.close()
