"""The gateway: a long-running peer that applies the routes to DataChannel messages.

A thin asyncio layer over the pure core (:mod:`~earlgate.gateway.routes`,
:mod:`~earlgate.gateway.mux`, :mod:`~earlgate.gateway.aggregate`). Peers
connect to the gateway (or the gateway dials a destination that has not);
every message read from a connection goes through the routes of its source:

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
  are delivered to the peer as the hub's publish frames.

Each destination has its own bounded :class:`~earlgate.gateway.outbox.Outbox`,
so a slow or absent peer costs only its own queue. Connections come and go:
a destination's queue waits (bounded) for its next connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import logging
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any

import orjson

from earlgate.client import HubClient
from earlgate.client.hub_client import HubClientError, Subscription
from earlgate.gateway.aggregate import AggregateError, is_aggregate
from earlgate.gateway.metrics import GatewayMetrics, RouteStats, make_registry, serve_metrics
from earlgate.gateway.mux import Batch, Demultiplexer, Multiplexer
from earlgate.gateway.outbox import Item, Outbox
from earlgate.gateway.peering import PeerOptions
from earlgate.gateway.routes import Demux, Mux, Routes
from earlgate.rtc import DataConnection, DataConnectionError, Peer, PeerError

__all__ = ["Gateway", "GatewayOptions"]

logger = logging.getLogger("earlgate.gateway")

# Waits before dialing a destination again after a failed attempt, then the last.
DIAL_BACKOFF = (1.0, 2.0, 5.0, 10.0)
# Per-part overhead of the aggregate envelope (src, seq, ts keys), for the size limit.
PART_OVERHEAD = 64
GLOB_CHARS = frozenset("*?[")


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


class MuxLane:
    """One mux rule's multiplexer and its window timer."""

    def __init__(self, gateway: Gateway, rule: Mux, stats: RouteStats) -> None:
        options = gateway.options
        self.gateway = gateway
        self.rule = rule
        self.stats = stats
        self.loop = asyncio.get_running_loop()
        self.mux = Multiplexer(
            window=rule.window or options.mux_window,
            max_parts=options.mux_max_parts,
            max_bytes=options.mux_max_bytes,
            clock=self.loop.time,
        )
        self._timer: asyncio.TimerHandle | None = None

    def add(self, src: str, value: Any) -> None:
        self.stats.messages_in += 1
        ts = value.get("ts") if isinstance(value, dict) else None
        if not isinstance(ts, int | float) or isinstance(ts, bool):
            ts = None  # no sender timestamp: the part carries its arrival time
        try:
            size = len(value) if isinstance(value, bytes) else len(orjson.dumps(value))
        except TypeError:
            self.stats.dropped["unserializable"] += 1
            return
        batch = self.mux.add(src, value, ts=ts, size=size + len(src) + PART_OVERHEAD)
        if batch is not None:
            self._emit(batch)
        self._arm()

    def _arm(self) -> None:
        deadline = self.mux.deadline()
        if deadline is not None and self._timer is None:
            self._timer = self.loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        batch = self.mux.poll()
        if batch is not None:
            self._emit(batch)
        self._arm()

    def _emit(self, batch: Batch) -> None:
        self.stats.processing.record(int(batch.build_s * 1e9))
        self.stats.parts_out += batch.parts
        arrived = time.perf_counter_ns() - int(batch.held_s * 1e9)
        self.gateway.deliver(self.rule.to, Item(batch.message, self.stats, arrived))

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch = self.mux.flush()
        if batch is not None:
            self._emit(batch)


@dataclass
class Plan:
    """What the routes do with messages from one source (computed once per source)."""

    forwards: list[tuple[RouteStats, tuple[str, ...]]]
    muxes: list[MuxLane]
    demux: tuple[RouteStats, Demux] | None
    publish: tuple[RouteStats, str] | None


def _matches(patterns: tuple[str, ...], peer: str) -> bool:
    return any(fnmatch.fnmatchcase(peer, pattern) for pattern in patterns)


def is_glob(name: str) -> bool:
    return not GLOB_CHARS.isdisjoint(name)


class Gateway:
    """Accepts data connections and applies the routes to their messages.

    Use as ``async with Gateway(options) as gateway:``; :meth:`statistics`
    and ``/metrics`` (with ``metrics_port``) say what it did.
    """

    def __init__(self, options: GatewayOptions) -> None:
        self.options = options
        self.routes = options.routes
        self.metrics = GatewayMetrics()
        self.peer: Peer | None = None
        self.hub: HubClient | None = None
        self.metrics_port: int | None = None
        self._links: dict[str, list[DataConnection]] = {}
        self._outboxes: dict[str, Outbox] = {}
        self._plans: dict[str, Plan] = {}
        self._lanes: list[MuxLane] = []
        self._demuxers: dict[tuple[str, str], Demultiplexer] = {}
        self._bridges: dict[str, list[tuple[Subscription, asyncio.Task[None]]]] = {}
        self._dialing: dict[str, asyncio.Task[None]] = {}
        self._dial_after: dict[str, tuple[int, float]] = {}
        self._glob_cache: dict[tuple[str, str], list[str]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._metrics_server: asyncio.Server | None = None
        self._links_changed = asyncio.Event()
        self._stopping = False
        # Destinations the routes name (not globs): their queues outlive their connections.
        self._named = {t for rule in self.routes.forwards for t in rule.to if not is_glob(t)}
        self._named |= {rule.to for rule in self.routes.muxes}
        self._named |= {t for rule in self.routes.demuxes for t in rule.to}

    # -- lifecycle --------------------------------------------------------------

    async def start(self) -> None:
        """Open the metrics endpoint, the hub client and the signaling socket."""
        options = self.options
        for index, rule in enumerate(self.routes.muxes, 1):
            self._lanes.append(MuxLane(self, rule, self.metrics.route(f"mux#{index}", "mux")))
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
        for lane in self._lanes:
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
        self._glob_cache.clear()
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
            self._bridge_up(peer)
        try:
            async for value in conn:
                await self._on_message(peer, value)
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
                self._forget(peer)
                await self._bridge_down(peer)

    def _forget(self, peer: str) -> None:
        """Forget what we kept about a peer that is gone; keep its queue if the routes name it.

        A destination named in the routes keeps its bounded queue for its
        return (and is dialed); any other (a demux part's ``dst``, a glob's
        match) must not leave a queue behind for every id ever seen.
        """
        self._plans.pop(peer, None)
        # A demultiplexer's sequence accounting is per connection: an upstream
        # multiplexer that restarts counts from 0 again.
        for key in [key for key in self._demuxers if key[1] == peer]:
            del self._demuxers[key]
        if self._drop_outbox(peer):
            self._dial_after.pop(peer, None)

    def _drop_outbox(self, peer: str) -> bool:
        """Drop an unconnected queue the routes do not name, counting what it held."""
        outbox = self._outboxes.get(peer)
        if outbox is None or outbox.conn is not None or peer in self._named:
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

    # -- routing --------------------------------------------------------------------

    def _plan(self, source: str) -> Plan:
        plan = self._plans.get(source)
        if plan is not None:
            return plan
        routes, metrics = self.routes, self.metrics
        forwards: list[tuple[RouteStats, tuple[str, ...]]] = []
        taken: set[str] = {source}
        for index, rule in enumerate(routes.forwards, 1):
            if _matches(rule.sources, source):
                targets = tuple(t for t in rule.to if t not in taken)
                taken.update(targets)
                forwards.append((metrics.route(f"forward#{index}", "forward"), targets))
        lanes = [lane for lane in self._lanes if _matches(lane.rule.sources, source)]
        demux = next(
            (
                (metrics.route(f"demux#{index}", "demux"), rule)
                for index, rule in enumerate(routes.demuxes, 1)
                if _matches(rule.sources, source)
            ),
            None,
        )
        publish = next(
            (
                (metrics.route(f"bridge#{index}", "bridge"), subject)
                for index, rule in enumerate(routes.bridges, 1)
                if _matches(rule.peers, source)
                and (subject := rule.publish_subject(source)) is not None
            ),
            None,
        )
        if self.hub is None:
            publish = None
        plan = self._plans[source] = Plan(forwards, lanes, demux, publish)
        return plan

    def _resolve(self, target: str, source: str) -> list[str]:
        """A forward destination: an id, or a glob over the peers connected now."""
        if not is_glob(target):
            return [target]
        key = (target, source)
        found = self._glob_cache.get(key)
        if found is None:
            found = self._glob_cache[key] = [
                peer
                for peer, conns in self._links.items()
                if conns and peer != source and fnmatch.fnmatchcase(peer, target)
            ]
        return found

    async def _on_message(self, source: str, value: Any) -> None:
        arrived = time.perf_counter_ns()
        self.metrics.received += 1
        plan = self._plan(source)
        if plan.demux is not None and is_aggregate(value):
            self._demux(source, value, arrived, *plan.demux)
            return
        routed = False
        for stats, targets in plan.forwards:
            stats.messages_in += 1
            routed = True
            for target in targets:
                for peer in self._resolve(target, source):
                    self.deliver(peer, Item(value, stats, arrived))
        for lane in plan.muxes:
            routed = True
            lane.add(source, value)
        if plan.publish is not None:
            routed = True
            await self._publish(source, value, arrived, *plan.publish)
        if not routed:
            self.metrics.unrouted += 1

    def _demux(self, source: str, value: Any, arrived: int, stats: RouteStats, rule: Demux) -> None:
        stats.messages_in += 1
        demuxer = self._demuxers.get((stats.name, source))
        if demuxer is None:
            demuxer = self._demuxers[(stats.name, source)] = Demultiplexer()
        lost, duplicates = _totals(demuxer)
        try:
            parts = demuxer.split(value)
        except AggregateError as exc:
            stats.dropped["malformed"] += 1
            logger.info("bad aggregate from %s: %s", source, exc)
            return
        new_lost, new_duplicates = _totals(demuxer)
        stats.lost += new_lost - lost
        stats.duplicates += new_duplicates - duplicates
        stats.processing.record(int(demuxer.last_split_s * 1e9))
        for part in parts:
            targets = (part.dst,) if part.dst is not None else rule.to
            if not targets:
                stats.dropped["no_destination"] += 1
            for target in targets:
                self.deliver(target, Item(part.data, stats, arrived))

    async def _publish(
        self, source: str, value: Any, arrived: int, stats: RouteStats, subject: str
    ) -> None:
        assert self.hub is not None
        stats.messages_in += 1
        published = value.get("ts") if isinstance(value, dict) else None
        if not isinstance(published, int | float) or isinstance(published, bool):
            published = None
        try:
            await self.hub.publish(subject, value, published=published)
        except HubClientError:
            stats.dropped["hub_queue_full"] += 1
            return
        except TypeError:
            stats.dropped["unserializable"] += 1
            return
        stats.messages_out += 1
        stats.latency.record(time.perf_counter_ns() - arrived)

    # -- the hub's side of the bridges -----------------------------------------------

    def _bridge_up(self, peer: str) -> None:
        if self.hub is None:
            return
        entries = self._bridges.setdefault(peer, [])
        for index, rule in enumerate(self.routes.bridges, 1):
            subject = rule.subscribe_subject(peer) if _matches(rule.peers, peer) else None
            if subject is not None:
                stats = self.metrics.route(f"bridge#{index}", "bridge")
                self._spawn(self._subscribe(peer, subject, stats, entries))

    async def _subscribe(
        self,
        peer: str,
        subject: str,
        stats: RouteStats,
        entries: list[tuple[Subscription, asyncio.Task[None]]],
    ) -> None:
        assert self.hub is not None
        try:
            sub = await self.hub.subscribe(subject, last=True)
        except (HubClientError, TimeoutError) as exc:
            logger.warning("cannot subscribe %s to %s: %s", peer, subject, exc)
            return
        if self._bridges.get(peer) is not entries:
            await self.hub.unsubscribe(sub)  # the peer left meanwhile
            return
        current = asyncio.current_task()
        assert current is not None
        entries.append((sub, current))
        async for message in sub:
            stats.messages_in += 1
            self.deliver(peer, Item(message, stats, time.perf_counter_ns()))

    async def _bridge_down(self, peer: str) -> None:
        entries = self._bridges.pop(peer, [])
        for sub, task in entries:
            task.cancel()
            if self.hub is not None:
                await self.hub.unsubscribe(sub)


def _totals(demuxer: Demultiplexer) -> tuple[int, int]:
    lost = duplicates = 0
    for counters in demuxer.sources.values():
        lost += counters.lost
        duplicates += counters.duplicates
    return lost, duplicates


def _log_failure(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        with contextlib.suppress(Exception):
            logger.error("gateway task failed", exc_info=task.exception())
