"""The gateway's routing as a state machine: events in, actions out (sans-I/O).

The I/O layer (:mod:`~earlgate.gateway.service`) feeds :meth:`Router.handle`
what happened and performs what it returns; the router keeps who is
connected, each peer's :class:`~earlgate.gateway.routes.Plan`, its hub
subscriptions and the demultiplexers' sequence accounting, and counts into
:class:`~earlgate.gateway.stats.GatewayMetrics`. No sockets, no asyncio, no
clock but the injected ``timer`` of the demultiplexers.

- :class:`PeerJoined` (its first connection): :class:`Subscribe` for each of
  its bridge subscriptions (one per subject), :class:`Refuse` for each bridge
  that cannot take its id;
- :class:`PeerLeft` (its last connection closed): :class:`Unsubscribe` each;
- :class:`PeerMessage`: :class:`Send` (forward, demux), :class:`MuxInto`,
  :class:`Publish`, and :class:`Drop` for what goes nowhere (``unrouted``,
  ``malformed``, ``no_destination``);
- :class:`HubMessage` (on a subscription): :class:`Send` to the peer it was
  made for.

Events and actions have a JSON form (:func:`event_from_json`,
:func:`action_to_json`) so that the test vectors in
``tests/gateway/vectors/router.json`` can drive any implementation of the
gateway, the browser's included.
"""

from __future__ import annotations

import fnmatch
import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any, ClassVar

from earlgate.gateway.aggregate import AggregateError, is_aggregate
from earlgate.gateway.mux import Demultiplexer
from earlgate.gateway.routes import Demux, Plan, Routes, is_glob
from earlgate.gateway.stats import GatewayMetrics, RouteStats

__all__ = [
    "Action",
    "Drop",
    "Event",
    "HubMessage",
    "MuxInto",
    "PeerJoined",
    "PeerLeft",
    "PeerMessage",
    "Publish",
    "Refuse",
    "Router",
    "RouterError",
    "Send",
    "Subscribe",
    "Unsubscribe",
    "action_to_json",
    "event_from_json",
]


class RouterError(ValueError):
    """An event's JSON form is wrong; the message says how."""


# -- events -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PeerJoined:
    """``peer`` has its first open connection to the gateway."""

    kind: ClassVar[str] = "joined"
    peer: str


@dataclass(frozen=True, slots=True)
class PeerLeft:
    """``peer``'s last connection closed."""

    kind: ClassVar[str] = "left"
    peer: str


@dataclass(frozen=True, slots=True)
class PeerMessage:
    """``peer`` sent ``data`` on a data connection."""

    kind: ClassVar[str] = "message"
    peer: str
    data: Any


@dataclass(frozen=True, slots=True)
class HubMessage:
    """The hub sent ``message`` (a publish frame) on the subscription ``subject`` of ``peer``."""

    kind: ClassVar[str] = "hub"
    peer: str
    subject: str
    message: Any


Event = PeerJoined | PeerLeft | PeerMessage | HubMessage

# -- actions ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Subscribe:
    """Subscribe to ``subject`` on the hub (retained value first) for ``peer``."""

    kind: ClassVar[str] = "subscribe"
    peer: str
    subject: str
    route: str


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    kind: ClassVar[str] = "unsubscribe"
    peer: str
    subject: str


@dataclass(frozen=True, slots=True)
class Send:
    """Queue ``data`` for ``peer`` (dialing it if it has no connection)."""

    kind: ClassVar[str] = "send"
    peer: str
    data: Any
    route: str


@dataclass(frozen=True, slots=True)
class Publish:
    """Publish ``data`` on the hub; ``published`` is the sender's ``ts``, if it had one."""

    kind: ClassVar[str] = "publish"
    subject: str
    data: Any
    published: float | None
    route: str


@dataclass(frozen=True, slots=True)
class MuxInto:
    """Add ``data`` from ``src`` to the window of mux rule ``route``."""

    kind: ClassVar[str] = "mux"
    route: str
    src: str
    data: Any


@dataclass(frozen=True, slots=True)
class Drop:
    """A message from ``peer`` that went (partly) nowhere; already counted."""

    kind: ClassVar[str] = "drop"
    reason: str  # unrouted, malformed, no_destination
    route: str | None
    peer: str
    detail: str = ""  # for the log; not part of the JSON form


@dataclass(frozen=True, slots=True)
class Refuse:
    """Bridge ``route`` matches ``peer`` but cannot take its id; already counted."""

    kind: ClassVar[str] = "refuse"
    route: str
    peer: str
    detail: str = ""


Action = Subscribe | Unsubscribe | Send | Publish | MuxInto | Drop | Refuse


def action_to_json(action: Action) -> dict[str, Any]:
    """An action as the test vectors write it (``detail``, the log text, left out)."""
    found: dict[str, Any] = {"type": action.kind}
    for item in fields(action):
        if item.name != "detail":
            found[item.name] = getattr(action, item.name)
    return found


_EVENTS: dict[str, type[PeerJoined | PeerLeft | PeerMessage | HubMessage]] = {
    cls.kind: cls for cls in (PeerJoined, PeerLeft, PeerMessage, HubMessage)
}
_TEXT_FIELDS = frozenset({"peer", "subject"})


def event_from_json(value: object) -> Event:
    """An event from its JSON form, e.g. ``{"type": "message", "peer": "a", "data": 1}``."""
    if not isinstance(value, dict):
        raise RouterError("an event is an object with a 'type'")
    kind = value.get("type")
    cls = _EVENTS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise RouterError(f"event type must be one of {', '.join(_EVENTS)}")
    names = [item.name for item in fields(cls)]
    if set(value) != {"type", *names}:
        raise RouterError(f"a {cls.kind!r} event has exactly the keys type, {', '.join(names)}")
    for name in _TEXT_FIELDS.intersection(names):
        if not isinstance(value[name], str):
            raise RouterError(f"a {cls.kind!r} event's {name!r} must be a string")
    return cls(*(value[name] for name in names))


def _published(value: object) -> float | None:
    ts = value.get("ts") if isinstance(value, dict) else None
    return ts if isinstance(ts, int | float) and not isinstance(ts, bool) else None


class Router:
    """Applies the routes to the gateway's events.

    Args:
        routes: the rules; bridges only if there is a hub to bridge to.
        metrics: where the router counts (messages taken, unrouted, lost,
            duplicate and malformed parts, refused peers).
        timer: the demultiplexers' clock for their processing time.
    """

    def __init__(
        self,
        routes: Routes,
        metrics: GatewayMetrics | None = None,
        *,
        timer: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.routes = routes
        self.metrics = metrics if metrics is not None else GatewayMetrics()
        self.timer = timer
        # Destinations the routes name (not globs): their queues outlive their connections.
        self.named = routes.named_destinations()
        self._plans: dict[str, Plan] = {}  # the joined peers, in the order they joined
        self._subscribed: dict[str, dict[str, str]] = {}  # peer -> subject -> route
        self._demuxers: dict[tuple[str, str], Demultiplexer] = {}  # (route, source)
        self._globs: dict[tuple[str, str], list[str]] = {}  # (glob, source) -> peers

    @property
    def peers(self) -> list[str]:
        """The joined peers, in the order they joined."""
        return list(self._plans)

    def stats(self, route: str) -> RouteStats:
        return self.metrics.route(route)

    def handle(self, event: Event) -> list[Action]:
        """What to do about ``event``."""
        if isinstance(event, PeerMessage):
            return self._message(event.peer, event.data)
        if isinstance(event, HubMessage):
            return self._hub(event.peer, event.subject, event.message)
        if isinstance(event, PeerJoined):
            return self._join(event.peer)
        return self._leave(event.peer)

    def _join(self, peer: str) -> list[Action]:
        if peer in self._plans:
            return []
        plan = self._plans[peer] = self.routes.for_source(peer)
        self._globs.clear()
        actions: list[Action] = []
        for refusal in plan.refused:
            self.stats(refusal.route).refused += 1
            actions.append(Refuse(refusal.route, peer, refusal.reason))
        self._subscribed[peer] = dict(plan.subscribe)
        actions.extend(Subscribe(peer, subject, route) for subject, route in plan.subscribe)
        return actions

    def _leave(self, peer: str) -> list[Action]:
        if self._plans.pop(peer, None) is None:
            return []
        self._globs.clear()
        # A demultiplexer's sequence accounting is per connection: an upstream
        # multiplexer that restarts counts from 0 again.
        for key in [key for key in self._demuxers if key[1] == peer]:
            del self._demuxers[key]
        return [Unsubscribe(peer, subject) for subject in self._subscribed.pop(peer, {})]

    def _hub(self, peer: str, subject: str, message: Any) -> list[Action]:
        route = self._subscribed.get(peer, {}).get(subject)
        if route is None:
            return []  # the peer left or never had it: a late message
        self.stats(route).messages_in += 1
        return [Send(peer, message, route)]

    def _message(self, source: str, value: Any) -> list[Action]:
        self.metrics.received += 1
        # A peer that has not joined is routed all the same; its plan is not kept.
        plan = self._plans.get(source)
        if plan is None:
            plan = self.routes.for_source(source)
        if plan.demux is not None and is_aggregate(value):
            return self._demux(source, value, plan.demux, source in self._plans)
        actions: list[Action] = []
        for rule, targets in plan.forwards:
            self.stats(rule.name).messages_in += 1
            for target in targets:
                peers = self._resolve(target, source)
                actions.extend(Send(peer, value, rule.name) for peer in peers)
        for mux in plan.mux_into:
            self.stats(mux.name).messages_in += 1
            actions.append(MuxInto(mux.name, source, value))
        if plan.publish is not None and plan.publish_route is not None:
            self.stats(plan.publish_route).messages_in += 1
            actions.append(Publish(plan.publish, value, _published(value), plan.publish_route))
        if not (plan.forwards or plan.mux_into or plan.publish):
            self.metrics.unrouted += 1
            actions.append(Drop("unrouted", None, source))
        return actions

    def _resolve(self, target: str, source: str) -> list[str]:
        """A forward destination: an id, or a glob over the joined peers but the source."""
        if not is_glob(target):
            return [target]
        key = (target, source)
        found = self._globs.get(key)
        if found is None:
            found = self._globs[key] = [
                peer for peer in self._plans if peer != source and fnmatch.fnmatchcase(peer, target)
            ]
        return found

    def _demux(self, source: str, value: Any, rule: Demux, joined: bool) -> list[Action]:
        stats = self.stats(rule.name)
        stats.messages_in += 1
        demuxer = self._demuxers.get((rule.name, source))
        if demuxer is None:
            demuxer = Demultiplexer(timer=self.timer)
            if joined:
                self._demuxers[(rule.name, source)] = demuxer
        lost, duplicates = _totals(demuxer)
        try:
            parts = demuxer.split(value)
        except AggregateError as exc:
            stats.dropped["malformed"] += 1
            return [Drop("malformed", rule.name, source, f"bad aggregate from {source}: {exc}")]
        new_lost, new_duplicates = _totals(demuxer)
        stats.lost += new_lost - lost
        stats.duplicates += new_duplicates - duplicates
        stats.processing.record(int(demuxer.last_split_s * 1e9))
        actions: list[Action] = []
        for part in parts:
            targets = (part.dst,) if part.dst is not None else rule.to
            if not targets:
                stats.dropped["no_destination"] += 1
                actions.append(Drop("no_destination", rule.name, source))
            actions.extend(Send(target, part.data, rule.name) for target in targets)
        return actions


def _totals(demuxer: Demultiplexer) -> tuple[int, int]:
    lost = duplicates = 0
    for counters in demuxer.sources.values():
        lost += counters.lost
        duplicates += counters.duplicates
    return lost, duplicates
