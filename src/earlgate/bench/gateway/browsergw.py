"""The browser as the rtc bench's gateway: the ``/gateway`` page in headless Chromium.

The thesis's gateway was a browser on a phone. This runs the page the
signaling server serves (``earlgate signal``: ``/gateway?id=...&routes=...``)
in Debian's Chromium, driven by Playwright, with the same routes the Python
gateway gets; senders and receivers are the same Python peers, so only the
gateway differs between the two series of a run.

- Routes: the page fetches them from ``routes=URL``; the URL is on the page's
  own origin and Playwright answers it with the step's routes, so nothing
  else has to serve them.
- Placement and CPU: :class:`~earlgate.bench.gateway.chromiumproc.BenchChromium`
  (pinned like the Python gateway; the whole process tree's CPU).
- Counters: ``earlgateGateway.stats()`` (the page's GatewayStats).
"""

from __future__ import annotations

import json
import urllib.parse
from pathlib import Path
from typing import Any

from earlgate.bench.gateway.chromiumproc import BenchChromium
from earlgate.bench.gateway.gatewayproc import GATEWAY_ID
from earlgate.bench.gateway.options import Placement
from earlgate.gateway.peering import PeerOptions

__all__ = [
    "BrowserGateway",
    "BrowserGatewayError",
    "gateway_url",
    "ice_servers",
    "origin_of",
    "processing_from_stats",
    "wait_ready",
]

READY_TIMEOUT_S = 30.0
ROUTES_PATH = "/bench-routes.toml"


class BrowserGatewayError(Exception):
    """A page did not come up (did not load, or its ``ready`` rejected); says why."""


def ice_servers(peering: PeerOptions) -> list[dict[str, str]]:
    """The peering's ICE servers as the pages' ``ice`` parameter wants them (RTCIceServer)."""
    servers = []
    for url in peering.ice_servers:
        server = {"urls": url}
        if peering.ice_username:
            server["username"] = peering.ice_username
        if peering.ice_credential:
            server["credential"] = peering.ice_credential
        servers.append(server)
    return servers


def ice_params(peering: PeerOptions) -> dict[str, str]:
    """``key``, ``ice`` and ``relay-only`` of a page's URL, from the peering."""
    params = {"key": peering.key}
    if peering.ice_servers:
        params["ice"] = json.dumps(ice_servers(peering), separators=(",", ":"))
    if peering.relay_only:
        params["relay-only"] = "1"
    return params


def origin_of(signal: str) -> str:
    parts = urllib.parse.urlsplit(signal)
    return f"{parts.scheme}://{parts.netloc}"


def gateway_url(peering: PeerOptions, signal: str) -> str:
    """``/gateway?...`` on ``signal``'s origin: the bench's gateway id, routes, ICE, no dialing."""
    params = {"id": GATEWAY_ID, "routes": origin_of(signal) + ROUTES_PATH, "dial": "0"}
    params |= ice_params(peering)
    return f"{origin_of(signal)}/gateway?{urllib.parse.urlencode(params)}"


async def wait_ready(page: Any, url: str, api: str, errors: list[str]) -> None:
    """Load ``url`` in ``page`` and wait for ``window[api].ready``.

    Raises:
        BrowserGatewayError: the page did not load, has no ``api``, or its
            ``ready`` rejected or did not settle in time (with its last errors).
    """
    from playwright.async_api import Error

    timeout_ms = READY_TIMEOUT_S * 1000
    try:
        reply = await page.goto(url, timeout=timeout_ms)
        if reply is None or not reply.ok:
            raise BrowserGatewayError(f"{url}: {reply.status if reply else 'no reply'}")
        await page.wait_for_function(f"() => window.{api} !== undefined", timeout=timeout_ms)
        await page.evaluate(
            f"(ms) => Promise.race([window.{api}.ready, new Promise((_, no) =>"
            " setTimeout(() => no(new Error(`not ready within ${ms} ms`)), ms))])",
            timeout_ms,
        )
    except Error as exc:
        detail = "; ".join(errors[-3:])
        raise BrowserGatewayError(
            f"{url.partition('?')[0]}: {exc.message.splitlines()[0]}"
            + (f" ({detail})" if detail else "")
        ) from None


class BrowserGateway:
    """The step's gateway as a page in a Chromium of its own, stopped after the step."""

    def __init__(
        self, peering: PeerOptions, routes: str, placement: Placement, workdir: Path
    ) -> None:
        self.peering = peering
        self.routes = routes
        self.placement = placement
        self.workdir = workdir
        self._chromium: BenchChromium | None = None
        self._page: Any = None

    async def start(self) -> None:
        signal = self.placement.gateway_signal or self.peering.signal
        self._chromium = BenchChromium(self.placement.gateway_prefix, self.workdir)
        await self._chromium.start()
        try:
            page = self._page = await self._chromium.new_page()
            routes = self.routes

            async def answer_routes(route: Any) -> None:
                await route.fulfill(status=200, content_type="text/plain", body=routes)

            await page.route(f"**{ROUTES_PATH}", answer_routes)
            url = gateway_url(self.peering, signal)
            await wait_ready(page, url, "earlgateGateway", self._chromium.errors)
        except BaseException:
            await self.stop()
            raise

    @property
    def errors(self) -> list[str]:
        return self._chromium.errors if self._chromium else []

    def cpu_s(self) -> float:
        assert self._chromium is not None
        return self._chromium.cpu_s()

    async def stats(self) -> dict[str, Any]:
        """The page's GatewayStats (plain JSON)."""
        stats: dict[str, Any] = await self._page.evaluate("() => earlgateGateway.stats()")
        return stats

    async def forwarded(self) -> int:
        routes = (await self.stats()).get("routes", {})
        return sum(int(route.get("messages", 0)) for route in routes.values())

    async def processing_ms(self) -> dict[str, float]:
        return processing_from_stats(await self.stats())

    async def stop(self) -> None:
        if self._chromium is not None:
            await self._chromium.close()


def processing_from_stats(stats: dict[str, Any]) -> dict[str, float]:
    """The mux/demux routes' processing delay from GatewayStats, as the report's keys.

    The page reports it per route as ``processing_ms: {p50, p99, mean?, count?}``;
    with several routes the worst one is taken. Empty when the page reports none.
    """
    best: dict[str, float] = {}
    for name, route in stats.get("routes", {}).items():
        figures: Any = route.get("processing_ms") if name.startswith(("mux", "demux")) else None
        if not isinstance(figures, dict) or "p99" not in figures:
            continue
        if best and best["p99"] >= float(figures["p99"]):
            continue
        count = figures["count"] if "count" in figures else route.get("messages") or 0
        median = figures["p50"] if "p50" in figures else 0.0
        best = {
            "count": float(count),
            "mean": float(figures["mean"] if "mean" in figures else median),
            "median": float(median),
            "p99": float(figures["p99"]),
        }
    return best
