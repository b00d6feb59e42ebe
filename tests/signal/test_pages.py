"""``earlgate signal`` serves the browser pages beside PeerServer's routes, never over them."""

from __future__ import annotations

import gzip
import json
import urllib.error
import urllib.request
from collections.abc import Callable
from importlib import resources

from signalpeers import opened

from earlgate.testing.signalprocs import ServerProcess, SignalSettings

Factory = Callable[..., ServerProcess]
WEB = resources.files("earlgate.web")


def get(url: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status, {k.lower(): v for k, v in answer.headers.items()}, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read()


def test_pages_and_their_scripts_are_served(signal_factory: Factory) -> None:
    server = signal_factory()
    base = server.http_url
    status, headers, body = get(base + "/vendor/peerjs/peerjs.min.js")
    assert status == 200
    assert headers["content-type"].startswith("text/javascript")
    assert body == WEB.joinpath("vendor/peerjs/peerjs.min.js").read_bytes()
    status, headers, body = get(base + "/earlgate.js", **{"Accept-Encoding": "gzip"})
    assert status == 200 and headers["content-encoding"] == "gzip"
    assert gzip.decompress(body) == WEB.joinpath("earlgate.js").read_bytes()
    # A reload costs a 304.
    again = {"If-None-Match": headers["etag"], "Accept-Encoding": "gzip"}
    status, _, body = get(base + "/earlgate.js", **again)
    assert (status, body) == (304, b"")
    # The gzip variant's validator does not stand for the plain body.
    status, _, body = get(base + "/earlgate.js", **{"If-None-Match": headers["etag"]})
    assert status == 200 and body == WEB.joinpath("earlgate.js").read_bytes()


def test_peerserver_routes_keep_their_answers(signal_factory: Factory) -> None:
    server = signal_factory(SignalSettings(), "--allow-discovery")
    base = server.http_url
    status, _, body = get(base + "/")
    assert status == 200 and json.loads(body)["name"] == "PeerJS Server"
    status, _, body = get(base + "/peerjs/id?ts=1&version=1.5.5")
    assert status == 200 and len(body.decode()) == 36  # a UUID
    status, _, body = get(base + "/peerjs/peers")
    assert (status, json.loads(body)) == (200, [])
    status, _, body = get(base + "/metrics")
    assert status == 200 and b"earlgate_signal_http_requests_total" in body


async def test_the_socket_still_works_beside_the_pages(signal_factory: Factory) -> None:
    server = signal_factory()
    peer = await opened(server.ws_url("a", "t"))
    assert get(server.http_url + "/gateway")[0] == 200
    await peer.close()


def test_unknown_and_hostile_paths_are_404(signal_factory: Factory) -> None:
    server = signal_factory()
    base = server.http_url
    for path in (
        "/nothing-here",
        "/gateway/none.js",
        "/vendor/../signal/server.py",
        "/vendor/%2e%2e/earlgate.js",
        "/signal/http.py",
        "/__init__.py",
        "/dashboard",  # the hub's page, not the signaling server's
    ):
        status, _, body = get(base + path)
        assert status == 404, path
        assert b"Cannot GET" in body


def test_no_pages_leaves_peerserver_alone(signal_factory: Factory) -> None:
    server = signal_factory(SignalSettings(), "--no-pages")
    status, _, body = get(server.http_url + "/earlgate.js")
    assert status == 404 and body == b"Cannot GET /earlgate.js"
    assert get(server.http_url + "/peerjs/id")[0] == 200
