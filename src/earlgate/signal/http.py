"""PeerServer's HTTP routes, as a pure function of the request target.

PEERJS.md, Server: HTTP (routes under ``path``, default ``/``):

- ``GET {path}`` -> JSON ``{name, description, website}``;
- ``GET {path}{key}/id`` -> a fresh unused id as the plain body ("PeerServer
  uses a UUID; it does not check the key here");
- ``GET {path}{key}/peers`` -> JSON array of connected ids when discovery is
  enabled, else 401;
- "The client appends ``?ts=…&version=…``; ignore them. CORS: allow any origin
  by default."

Plus ``GET /metrics`` (Prometheus), and the browser pages (:data:`WEB_FILES`:
``/gateway``, ``/arm`` and what they import), which the server looks up only
for a GET that none of PeerServer's routes takes, so a page can never shadow
``{path}{key}/id`` or the socket. Every PeerServer answer carries the CORS headers, and
a CORS preflight (``OPTIONS``) is answered 204 as the ``cors`` middleware of
PeerServer answers it. PeerJS itself never sends one: its ``fetch`` is a simple
GET without custom headers. The I/O layer sends what :meth:`HttpRoutes.respond`
returns.
"""

from __future__ import annotations

import urllib.parse
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

import orjson

from earlgate.metrics.exposition import CONTENT_TYPE as METRICS_CONTENT_TYPE
from earlgate.signal.config import SignalConfig
from earlgate.signal.router import SignalingRouter

__all__ = ["CORS_HEADERS", "WEB_FILES", "HttpReply", "HttpRoutes", "page_name"]

JSON: Final = "application/json; charset=utf-8"
TEXT: Final = "text/plain; charset=utf-8"
HTML: Final = "text/html; charset=utf-8"

# app.json of PeerServer, served at {path}.
ABOUT: Final = orjson.dumps(
    {
        "name": "PeerJS Server",
        "description": "A server side element to broker connections between PeerJS clients.",
        "website": "https://peerjs.com/",
    }
)

# The pages a phone or a laptop opens on the signaling server itself (the gateway
# page, the arm probe), the browser hub client and what they import (the pages'
# common/ sheet and scripts, the Bluetooth panel, the vendored libraries).
WEB_FILES: Final = (
    "earlgate.js",
    "earlgate.d.ts",
    "common/",
    "gateway/",
    "arm/",
    "ble/",
    "vendor/",
)

# cors({origin: true}) reflects the Origin; "*" allows the same requests
# (PeerJS sends no credentials) and needs no Vary header.
CORS_HEADERS: Final = (
    ("Access-Control-Allow-Origin", "*"),
    ("Access-Control-Allow-Methods", "GET"),
    ("Access-Control-Expose-Headers", "Content-Type"),
)


# cors(): "optionsSuccessStatus: 204" and the methods it allows by default.
PREFLIGHT_METHODS: Final = "GET,HEAD,PUT,PATCH,POST,DELETE"


@dataclass(frozen=True, slots=True)
class HttpReply:
    """Status, body and headers (besides Content-Type and Content-Length)."""

    status: int
    body: bytes
    content_type: str = TEXT
    headers: tuple[tuple[str, str], ...] = CORS_HEADERS


class HttpRoutes:
    """Answers PeerServer's GET routes from the router's state.

    Args:
        config: ``path``, ``allow_discovery``.
        router: whose peers ``/peers`` lists and ``/id`` avoids.
        metrics_page: renders ``/metrics``.
        new_id: makes candidate ids (``uuid4`` by default; tests pass their own).
    """

    def __init__(
        self,
        config: SignalConfig,
        router: SignalingRouter,
        metrics_page: Callable[[], bytes],
        new_id: Callable[[], str] | None = None,
    ) -> None:
        self.config = config
        self.router = router
        self.metrics_page = metrics_page
        self.new_id = new_id or (lambda: str(uuid.uuid4()))

    def respond(
        self, method: str, target: str, headers: Mapping[str, str] | None = None
    ) -> HttpReply:
        """The reply to ``method target`` (path and query; the query is ignored).

        Args:
            method: the request method; GET and HEAD are served, OPTIONS is a
                CORS preflight, others get 404 as Express gives them.
            target: the request target.
            headers: request headers with lower-case names (for the preflight).
        """
        if method == "OPTIONS":
            return self._preflight(headers or {})
        if method == "HEAD":
            reply = self.respond("GET", target)
            return HttpReply(reply.status, b"", reply.content_type, reply.headers)
        path = urllib.parse.unquote(urllib.parse.urlsplit(target).path)
        if method != "GET":
            return HttpReply(404, f"Cannot {method} {path}".encode())
        base = self.config.base_path
        if path == "/metrics":
            return HttpReply(200, self.metrics_page(), METRICS_CONTENT_TYPE)
        # Express mounts the API at path and ignores one trailing slash.
        if path in (base, base.rstrip("/")) or (path == "/" and base == "/"):
            return HttpReply(200, ABOUT, JSON)
        if path.startswith(base):
            parts = path[len(base) :].rstrip("/").split("/")
            if len(parts) == 2 and parts[0]:
                if parts[1] == "id":
                    return HttpReply(200, self._fresh_id().encode(), HTML)
                if parts[1] == "peers":
                    return self._peers()
        return HttpReply(404, f"Cannot GET {path}".encode())

    def _preflight(self, headers: Mapping[str, str]) -> HttpReply:
        # cors(): reflect Access-Control-Request-Headers, answer 204 with no body.
        extra: tuple[tuple[str, str], ...] = ()
        requested = headers.get("access-control-request-headers")
        if requested:
            extra = (("Access-Control-Allow-Headers", requested),)
        allow = (
            ("Access-Control-Allow-Origin", "*"),
            ("Access-Control-Allow-Methods", PREFLIGHT_METHODS),
        )
        return HttpReply(204, b"", TEXT, allow + extra)

    def _fresh_id(self) -> str:
        # realm.generateClientId: "while (this.getClientById(clientId)) clientId = generateId();"
        peer_id = self.new_id()
        while self.router.is_connected(peer_id):
            peer_id = self.new_id()
        return peer_id

    def _peers(self) -> HttpReply:
        if not self.config.allow_discovery:
            # res.sendStatus(401)
            return HttpReply(401, b"Unauthorized")
        return HttpReply(200, orjson.dumps(self.router.peer_ids()), JSON)


def page_name(method: str, target: str, reply: HttpReply) -> str | None:
    """The web file a request may be answered with, given PeerServer's own reply.

    Only a GET or HEAD that PeerServer's routes answered 404 may be a page, so
    ``/peerjs/...``, ``{path}{key}/id`` and ``/metrics`` keep their answers.
    """
    if reply.status != 404 or method not in ("GET", "HEAD"):
        return None
    path = urllib.parse.urlsplit(target).path
    return path[1:] if path.startswith("/") and len(path) > 1 else None
