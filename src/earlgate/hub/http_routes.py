"""The hub's HTTP routes: /healthz, /stats, /metrics, POST /publish, / and the web files.

:class:`HubRoutes` answers every HTTP request that is not a WebSocket upgrade.
``POST /publish`` passes the body and the ``Authorization`` header to the core
(authorization and the frame's checks are there, beside the WebSocket ones)
and awaits the broker's verdict through :meth:`Effects.publish_http`.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import orjson

from earlgate import __version__
from earlgate.metrics.exposition import CONTENT_TYPE, render
from earlgate.mqtt.overview import OverviewError, listed_sessions
from earlgate.server import HttpRequest, HttpResponse

if TYPE_CHECKING:
    from earlgate.hub.server import HubServer

Handler = Callable[[HttpRequest], Awaitable[HttpResponse]]


class HubRoutes:
    """Routes the HTTP requests of one :class:`HubServer`."""

    def __init__(self, server: HubServer) -> None:
        self._server = server
        self._routes: dict[str, tuple[str, Handler]] = {
            "/healthz": ("GET", self._healthz),
            "/stats": ("GET", self._stats),
            "/metrics": ("GET", self._metrics_page),
            "/publish": ("POST", self._publish),
            "/": ("GET", self._index),
            "/ws": ("GET", self._ws_hint),
        }

    async def handle(self, request: HttpRequest) -> HttpResponse:
        server = self._server
        server.metrics.http_requests += 1
        path = request.path
        route = self._routes.get(path)
        if route is None:
            if request.method in ("GET", "HEAD"):
                page = server.web.respond(request, path[1:])
                if page is not None:
                    return page
            return HttpResponse.json(404, {"error": f"no route {path}"})
        method, handler = route
        if request.method != method and not (method == "GET" and request.method == "HEAD"):
            return HttpResponse(
                405,
                orjson.dumps({"error": f"{path} takes {method}"}) + b"\n",
                headers=(("allow", method),),
            )
        return await handler(request)

    async def _index(self, request: HttpRequest) -> HttpResponse:
        if "text/html" in request.headers.get("accept", ""):
            page = self._server.web.respond(request, "dashboard/index.html")
            if page is not None:
                return page
        return HttpResponse.json(
            200,
            {"name": "earlgate hub", "version": __version__, "websocket": "/ws"},
        )

    async def _ws_hint(self, request: HttpRequest) -> HttpResponse:
        return HttpResponse.json(426, {"error": "this endpoint takes a WebSocket upgrade"})

    async def _healthz(self, request: HttpRequest) -> HttpResponse:
        server = self._server
        healthy = server.broker.healthy() and not server.stopping
        body = {
            "status": "ok" if healthy else "unavailable",
            "broker": server.broker.name,
            "connections": server.metrics.connections_open,
        }
        if server.config.supervisor_status:
            from earlgate.cluster.status import supervision

            body.update(supervision(server.config.supervisor_status))
        return HttpResponse.json(200 if healthy else 503, body)

    async def _stats(self, request: HttpRequest) -> HttpResponse:
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(request.target).query)
        asked = query.get("mqtt_sessions")
        try:
            listed = listed_sessions(asked[-1] if asked else None)
        except OverviewError as exc:
            return HttpResponse.json(400, {"error": str(exc)})
        return HttpResponse.json(200, self._server.stats(listed))

    async def _metrics_page(self, request: HttpRequest) -> HttpResponse:
        return HttpResponse(200, render(self._server.registry), CONTENT_TYPE)

    async def _publish(self, request: HttpRequest) -> HttpResponse:
        authorization = request.headers.get("authorization", "")
        status, body = await self._server.effects.publish_http(request.body, authorization)
        return HttpResponse.json(status, body)
