"""What the gateway counts, per route: plain integers and histograms, no I/O.

The router (:mod:`~earlgate.gateway.router`) and the I/O layer both update
these; :mod:`~earlgate.gateway.metrics` only reads them when ``/metrics`` is
scraped. Routes are named by kind and position in the routes file:
``forward#1``, ``mux#2``, ``demux#1``, ``bridge#1``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from earlgate.metrics.histogram import Histogram

__all__ = ["GatewayMetrics", "RouteStats"]


@dataclass
class RouteStats:
    """One route's counters.

    ``messages_in``: messages the route took (an aggregate counts once for a
    demux); ``messages_out``: messages it handed to DataChannels or to the hub
    (a mux counts aggregates, ``parts_out`` their parts); ``latency``: time from
    a message's arrival at the gateway to its hand-over (for a mux, from the
    arrival of the aggregate's oldest part); ``processing``: time spent
    building (mux) or splitting (demux) aggregates; ``refused``: peers a bridge
    refused because their id would change its subjects.
    """

    name: str
    kind: str
    messages_in: int = 0
    messages_out: int = 0
    parts_out: int = 0
    lost: int = 0  # demux: gaps in the sources' sequence numbers
    duplicates: int = 0  # demux: parts seen before, dropped
    refused: int = 0  # bridge: peers whose id cannot fill its templates
    dropped: Counter[str] = field(default_factory=Counter)
    latency: Histogram = field(default_factory=Histogram)
    processing: Histogram = field(default_factory=Histogram)


@dataclass
class GatewayMetrics:
    routes: dict[str, RouteStats] = field(default_factory=dict)
    received: int = 0  # messages from peers, all routes
    unrouted: int = 0  # messages from peers no route takes
    connections_opened: int = 0
    connections_closed: int = 0
    dials: Counter[str] = field(default_factory=Counter)  # by result

    def route(self, name: str, kind: str | None = None) -> RouteStats:
        """The counters of route ``name`` ("forward#1"), made on first use."""
        stats = self.routes.get(name)
        if stats is None:
            stats = self.routes[name] = RouteStats(name, kind or name.partition("#")[0])
        return stats
