"""The gateway: a long-running peer that applies the routes to DataChannel messages.

A thin asyncio layer over the pure :class:`~earlgate.gateway.router.Router`
(which applies :mod:`~earlgate.gateway.routes`): the service turns what
happens on its connections and hub subscriptions into the router's events
and performs the actions it returns. Peers connect to the gateway (or the
gateway dials a destination that has not); every message read from a
connection goes through the routes of its source:

- **forward** (thesis 3.4, application-layer forwarding): the message, as the
  source sent it, to each destination. A destination that is a glob
  (``"arm-*"``) means every peer connected now whose id matches.
- **mux**: into the rule's :class:`~earlgate.gateway.mux.Multiplexer`; the
  aggregate goes to the rule's target when the window closes (a timer at
  the window's deadline) or fills.
- **demux**: an aggregate from a demux source is split; each new part's
  ``data`` goes to its ``dst``, else to the rule's ``to``. Aggregates taken
  by a demux rule go nowhere else.
- **bridge**: the message becomes a hub publish on the rule's subject, and
  the hub's messages on the rule's subscription (with the retained value)
  are delivered to the peer as the hub's publish frames. A peer whose id
  would change a rule's subjects gets no bridge from it.

Each destination has its own bounded :class:`~earlgate.gateway.outbox.Outbox`,
so a slow or absent peer costs only its own queue. Connections come and go:
a destination's queue waits (bounded) for its next connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any

from earlgate.client import HubClient
from earlgate.client.hub_client import HubClientError, Subscription
from earlgate.gateway.lanes import MuxLane
from earlgate.gateway.metrics import make_registry
from earlgate.gateway.outbox import Item, Outbox
from earlgate.gateway.peering import PeerOptions
from earlgate.gateway.router import (
    Action,
    Drop,
    Event,
    HubMessage,
    MuxInto,
    PeerJoined,
    PeerLeft,
    PeerMessage,
    Publish,
    Refuse,
    Router,
    Send,
    Subscribe,
    Unsubscribe,
)
from earlgate.gateway.routes import Routes
from earlgate.gateway.stats import GatewayMetrics
from earlgate.metrics.endpoint import serve_metrics
from earlgate.rtc import DataConnection, DataConnectionError, Peer, PeerError

__all__ = ["Gateway", "GatewayOptions"]

logger = logging.getLogger("earlgate.gateway")

# Waits before dialing a destination again after a failed attempt, then the last.
DIAL_BACKOFF = (1.0, 2.0, 5.0, 10.0)


@dataclass
class GatewayOptions:
    """How a gateway runs (the ``earlgate gateway`` flags)."""

    id: str
    peering: PeerOptions
    routes: Routes = field(default_factory=Routes)
    hub: str | None = None
    hub_token: str | None = None
    mux_window: float = 0.25
    # Aggregates stay under json's 16,300-byte message limit (PEERJS.md).
    mux_max_bytes: int = 15_000
    mux_max_parts: int = 1000
    queue_limit: int = 1000  # messages per destination
    high_water: int = 256 * 1024  # bytes in a channel's bufferedAmount
    dial: bool = True
    serialization: str = "binary"  # of the connections the gateway opens
    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = None
    connect_timeout: float = 15.0


@dataclass
class Bridged:
    """One hub subscription made for a peer: the task that reads it, once it is made."""

    task: asyncio.Task[None] | None = None
    sub: Subscription | None = None


class Gateway:
    """Accepts data connections and applies the routes to their messages.

    Use as ``async with Gateway(options) as gateway:``; :meth:`statistics`
    and ``/metrics`` (with ``metrics_port``) say what it did.
    """

    def __init__(self, options: GatewayOptions) -> None:
        self.options = options
        self.routes = options.routes
        self.metrics = GatewayMetrics()
        # Without a hub there is nothing to bridge to.
        routes = (
            self.routes if options.hub is not None else dataclasses.replace(self.routes, bridges=[])
        )
        self.router = Router(routes, self.metrics)
        self.peer: Peer | None = None
        self.hub: HubClient | None = None
        self.metrics_port: int | None = None
        self._links: dict[str, list[DataConnection]] = {}
        self._outboxes: dict[str, Outbox] = {}
        self._lanes: dict[str, MuxLane] = {}
        self._bridges: dict[tuple[str, str], Bridged] = {}  # (peer, subject)
        self._dialing: dict[str, asyncio.Task[None]] = {}
        self._dial_after: dict[str, tuple[int, float]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._metrics_server: asyncio.Server | None = None
        self._links_changed = asyncio.Event()
        self._stopping = False

    # -- lifecycle --------------------------------------------------------------

    async def start(self) -> None:
        """Open the metrics endpoint, the hub client and the signaling socket."""
        options = self.options
        for rule in self.routes.muxes:
            self._lanes[rule.name] = MuxLane(
                rule,
                self.metrics.route(rule.name, "mux"),
                self.deliver,
                window=rule.window or options.mux_window,
                max_parts=options.mux_max_parts,
                max_bytes=options.mux_max_bytes,
            )
        if options.metrics_port is not None:
            registry = make_registry(self.metrics, self._gauges, self._queues)
            self._metrics_server = await serve_metrics(
                registry, options.metrics_host, options.metrics_port
            )
            self.metrics_port = self._metrics_server.sockets[0].getsockname()[1]
        if options.hub is not None:
            self.hub = HubClient(options.hub, options.hub_token)
            await self.hub.connect(wait=False)
        self.peer = options.peering.make_peer(options.id)
        await self.peer.open()
        self._spawn(self._accept_loop(self.peer))

    async def stop(self) -> None:
        """Flush the open mux windows, close every connection, the hub and the endpoint."""
        if self._stopping:
            return
        self._stopping = True
        for lane in self._lanes.values():
            lane.close()
        for outbox in self._outboxes.values():
            outbox.drain()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.peer is not None:
            await self.peer.destroy()
        if self.hub is not None:
            await self.hub.close()
        if self._metrics_server is not None:
            self._metrics_server.close()
            await self._metrics_server.wait_closed()

    async def __aenter__(self) -> Gateway:
        try:
            await self.start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def _spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(_log_failure)
        return task

    # -- introspection ------------------------------------------------------------

    @property
    def peers(self) -> list[str]:
        """Ids of the peers with an open connection to the gateway."""
        return sorted(peer for peer, conns in self._links.items() if conns)

    async def wait_peers(self, *ids: str) -> None:
        """Wait until each of ``ids`` has an open connection to the gateway."""
        while not all(self._links.get(peer) for peer in ids):
            await self._links_changed.wait()

    def _on_links_changed(self) -> None:
        self._links_changed.set()
        self._links_changed = asyncio.Event()

    def _gauges(self) -> dict[str, float]:
        hub_up = self.hub is not None and self.hub.connected.is_set()
        return {
            "peers": float(len(self.peers)),
            "hub_connected": float(hub_up),
            "signaling_connected": float(self.peer is not None and self.peer.is_open),
        }

    def _queues(self) -> dict[str, tuple[int, int]]:
        return {peer: (len(box.queue), box.dropped) for peer, box in self._outboxes.items()}

    def statistics(self) -> dict[str, Any]:
        """Counters per route and per destination, for tests and reports."""
        routes = {
            name: {
                "in": s.messages_in,
                "out": s.messages_out,
                "parts_out": s.parts_out,
                "lost": s.lost,
                "duplicates": s.duplicates,
                "refused": s.refused,
                "dropped": dict(s.dropped),
                "latency_ms": s.latency.summary_ms(),
                "processing_ms": s.processing.summary_ms(),
            }
            for name, s in self.metrics.routes.items()
        }
        queues = {
            peer: {"queued": len(b.queue), "sent": b.sent, "dropped": b.dropped}
            for peer, b in self._outboxes.items()
        }
        return {
            "received": self.metrics.received,
            "unrouted": self.metrics.unrouted,
            "peers": self.peers,
            "routes": routes,
            "queues": queues,
        }

    # -- connections ----------------------------------------------------------

    async def _accept_loop(self, peer: Peer) -> None:
        async for conn in peer.connections():
            self._spawn(self._adopt(conn))

    async def _adopt(self, conn: DataConnection) -> None:
        try:
            async with asyncio.timeout(self.options.connect_timeout):
                await conn.wait_open()
        except (TimeoutError, DataConnectionError, PeerError) as exc:
            logger.info("connection from %s did not open: %s", conn.peer, exc)
            await conn.close()
            return
        await self._serve(conn)

    async def _serve(self, conn: DataConnection) -> None:
        """Register an open connection, read it until it closes, unregister it."""
        peer = conn.peer
        self.metrics.connections_opened += 1
        first = not self._links.get(peer)
        self._links.setdefault(peer, []).append(conn)
        self._on_links_changed()
        self._dial_after.pop(peer, None)
        self._outbox(peer).attach(conn)
        if first:
            await self._handle(PeerJoined(peer))
        try:
            async for value in conn:
                await self._handle(PeerMessage(peer, value))
        finally:
            self.metrics.connections_closed += 1
            links = self._links.get(peer, [])
            if conn in links:
                links.remove(conn)
            self._on_links_changed()
            outbox = self._outboxes.get(peer)
            if outbox is not None:
                outbox.detach(conn)
                if links:
                    outbox.attach(links[-1])
            if not links:
                self._links.pop(peer, None)
                # A destination named in the routes keeps its bounded queue for its
                # return (and is dialed); any other (a demux part's ``dst``, a glob's
                # match) must not leave a queue behind for every id ever seen.
                if self._drop_outbox(peer):
                    self._dial_after.pop(peer, None)
                await self._handle(PeerLeft(peer))

    def _drop_outbox(self, peer: str) -> bool:
        """Drop an unconnected queue the routes do not name, counting what it held."""
        outbox = self._outboxes.get(peer)
        if outbox is None or outbox.conn is not None or peer in self.router.named:
            return False
        for item in outbox.queue:
            item.route.dropped["peer_gone"] += 1
        del self._outboxes[peer]
        return True

    def _outbox(self, peer: str) -> Outbox:
        outbox = self._outboxes.get(peer)
        if outbox is None:
            outbox = self._outboxes[peer] = Outbox(
                peer, limit=self.options.queue_limit, high_water=self.options.high_water
            )
        return outbox

    def deliver(self, peer: str, item: Item) -> None:
        """Queue ``item`` for ``peer``; dial it if it has no connection yet."""
        outbox = self._outbox(peer)
        outbox.put(item)
        if outbox.conn is None and not self._stopping:
            self._maybe_dial(peer)

    def _maybe_dial(self, peer: str) -> None:
        if not self.options.dial or peer in self._dialing or peer == self.options.id:
            return
        _, not_before = self._dial_after.get(peer, (0, 0.0))
        if time.monotonic() < not_before:
            return
        self._dialing[peer] = self._spawn(self._dial(peer))

    async def _dial(self, peer: str) -> None:
        assert self.peer is not None
        try:
            async with asyncio.timeout(self.options.connect_timeout):
                conn = await self.peer.connect(peer, serialization=self.options.serialization)
        except (TimeoutError, DataConnectionError, PeerError) as exc:
            failures, _ = self._dial_after.get(peer, (0, 0.0))
            delay = DIAL_BACKOFF[min(failures, len(DIAL_BACKOFF) - 1)]
            self._dial_after[peer] = (failures + 1, time.monotonic() + delay)
            self.metrics.dials["failed"] += 1
            logger.info("cannot reach %s (%s); next try in %.0f s", peer, exc, delay)
            self._drop_outbox(peer)  # a part's dst that is not there: do not hoard for it
            return
        finally:
            self._dialing.pop(peer, None)
        self.metrics.dials["opened"] += 1
        self._spawn(self._serve(conn))

    # -- the router's actions ----------------------------------------------------------

    async def _handle(self, event: Event) -> None:
        """Feed ``event`` to the router and perform what it says."""
        arrived = time.perf_counter_ns()
        for action in self.router.handle(event):
            await self._perform(action, arrived)

    async def _perform(self, action: Action, arrived: int) -> None:
        if isinstance(action, Send):
            self.deliver(action.peer, Item(action.data, self.router.stats(action.route), arrived))
        elif isinstance(action, MuxInto):
            self._lanes[action.route].add(action.src, action.data)
        elif isinstance(action, Publish):
            await self._publish(action, arrived)
        elif isinstance(action, Subscribe):
            entry = self._bridges[(action.peer, action.subject)] = Bridged()
            entry.task = self._spawn(self._subscribe(action.peer, action.subject, entry))
        elif isinstance(action, Unsubscribe):
            await self._unsubscribe(action.peer, action.subject)
        elif isinstance(action, Refuse):
            logger.warning("%s: no bridge for %s: %s", action.route, action.peer, action.detail)
        elif isinstance(action, Drop) and action.detail:
            logger.info("%s: %s", action.route, action.detail)

    async def _publish(self, action: Publish, arrived: int) -> None:
        assert self.hub is not None
        stats = self.router.stats(action.route)
        try:
            await self.hub.publish(action.subject, action.data, published=action.published)
        except HubClientError:
            stats.dropped["hub_queue_full"] += 1
            return
        except TypeError:
            stats.dropped["unserializable"] += 1
            return
        stats.messages_out += 1
        stats.latency.record(time.perf_counter_ns() - arrived)

    async def _subscribe(self, peer: str, subject: str, entry: Bridged) -> None:
        """Subscribe for ``peer`` and hand the hub's messages to the router until cancelled."""
        assert self.hub is not None
        try:
            sub = await self.hub.subscribe(subject, last=True)
        except (HubClientError, TimeoutError) as exc:
            logger.warning("cannot subscribe %s to %s: %s", peer, subject, exc)
            return
        if self._bridges.get((peer, subject)) is not entry:
            await self.hub.unsubscribe(sub)  # the peer left meanwhile
            return
        entry.sub = sub
        async for message in sub:
            await self._handle(HubMessage(peer, subject, message))

    async def _unsubscribe(self, peer: str, subject: str) -> None:
        entry = self._bridges.pop((peer, subject), None)
        # A subscription still being made sees it is no longer wanted and undoes itself.
        if entry is None or entry.sub is None:
            return
        if entry.task is not None:
            entry.task.cancel()
        if self.hub is not None:
            await self.hub.unsubscribe(entry.sub)


def _log_failure(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        with contextlib.suppress(Exception):
            logger.error("gateway task failed", exc_info=task.exception())
