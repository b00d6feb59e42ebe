"""The gateway's routes file: who forwards, multiplexes, demultiplexes and bridges to what.

A TOML file (``earlgate gateway --routes FILE``)::

    [[forward]]            # application-layer forwarding, 1:1 or 1:N
    from = "arm-1"         # a peer id or a glob ("arm-*"), or a list of them
    to = ["arm-2", "arm-3"]

    [[mux]]                # many sources -> one aggregate per window
    from = "sensor-*"
    to = "cloud"
    window = 0.25          # seconds (default: the gateway's --mux-window)

    [[demux]]              # aggregates -> their parts, each to its "dst"
    from = "cloud"
    to = []                # where parts without a "dst" go (empty: dropped, counted)

    [[bridge]]             # DataChannel <-> hub
    peer = "thermo-*"
    publish = "sensors/{peer}"     # messages from the peer become hub publishes
    subscribe = "commands/{peer}"  # hub messages on this subject go to the peer

Every mistake is reported as :class:`RoutesError` naming the table, its index
and the key. Matching is pure: :meth:`Routes.for_source` answers what to do
with a message from a given peer.
"""

from __future__ import annotations

import fnmatch
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from earlgate.hub.subjects import SubjectError, check_pattern, check_subject

KINDS = ("forward", "mux", "demux", "bridge")


class RoutesError(ValueError):
    """The routes file is wrong; the message says where."""


@dataclass(frozen=True)
class Forward:
    sources: tuple[str, ...]
    to: tuple[str, ...]


@dataclass(frozen=True)
class Mux:
    sources: tuple[str, ...]
    to: str
    window: float | None


@dataclass(frozen=True)
class Demux:
    sources: tuple[str, ...]
    to: tuple[str, ...]


@dataclass(frozen=True)
class Bridge:
    peers: tuple[str, ...]
    publish: str | None
    subscribe: str | None

    def publish_subject(self, peer: str) -> str | None:
        return None if self.publish is None else self.publish.replace("{peer}", peer)

    def subscribe_subject(self, peer: str) -> str | None:
        return None if self.subscribe is None else self.subscribe.replace("{peer}", peer)


def _matches(patterns: tuple[str, ...], peer: str) -> bool:
    return any(fnmatch.fnmatchcase(peer, pattern) for pattern in patterns)


@dataclass(frozen=True)
class Actions:
    """What the gateway does with one message from one source."""

    forward_to: tuple[str, ...] = ()
    mux_into: tuple[Mux, ...] = ()
    demux: Demux | None = None
    publish: str | None = None


@dataclass
class Routes:
    forwards: list[Forward] = field(default_factory=list)
    muxes: list[Mux] = field(default_factory=list)
    demuxes: list[Demux] = field(default_factory=list)
    bridges: list[Bridge] = field(default_factory=list)

    def for_source(self, peer: str) -> Actions:
        """Every action that applies to a message from ``peer`` (all matching rules)."""
        targets: list[str] = []
        for rule in self.forwards:
            if _matches(rule.sources, peer):
                targets.extend(t for t in rule.to if t != peer and t not in targets)
        muxes = tuple(rule for rule in self.muxes if _matches(rule.sources, peer))
        demux = next((rule for rule in self.demuxes if _matches(rule.sources, peer)), None)
        publish = next(
            (
                b.publish_subject(peer)
                for b in self.bridges
                if _matches(b.peers, peer) and b.publish
            ),
            None,
        )
        return Actions(tuple(targets), muxes, demux, publish)

    def subscriptions(self, peer: str) -> list[str]:
        """Hub subjects whose messages go to ``peer``."""
        found = []
        for bridge in self.bridges:
            subject = bridge.subscribe_subject(peer) if _matches(bridge.peers, peer) else None
            if subject is not None and subject not in found:
                found.append(subject)
        return found


def load_routes(path: Path) -> Routes:
    """Read and check a routes file."""
    try:
        data = tomllib.loads(path.read_text())
    except OSError as exc:
        raise RoutesError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise RoutesError(f"{path}: not valid TOML: {exc}") from None
    try:
        return parse_routes(data)
    except RoutesError as exc:
        raise RoutesError(f"{path}: {exc}") from None


def parse_routes(data: Mapping[str, Any]) -> Routes:
    unknown = sorted(set(data) - set(KINDS))
    if unknown:
        raise RoutesError(f"unknown table(s) {', '.join(unknown)}; expected {', '.join(KINDS)}")
    routes = Routes()
    for kind in KINDS:
        tables = data.get(kind, [])
        if not isinstance(tables, list):
            raise RoutesError(f"'{kind}' must be an array of tables ([[{kind}]])")
        for index, table in enumerate(tables):
            where = f"[[{kind}]] #{index + 1}"
            if not isinstance(table, dict):
                raise RoutesError(f"{where}: expected a table")
            _parse_one(routes, kind, table, where)
    return routes


def _parse_one(routes: Routes, kind: str, table: dict[str, Any], where: str) -> None:
    allowed = {
        "forward": {"from", "to"},
        "mux": {"from", "to", "window"},
        "demux": {"from", "to"},
        "bridge": {"peer", "publish", "subscribe"},
    }[kind]
    extra = sorted(set(table) - allowed)
    if extra:
        raise RoutesError(f"{where}: unknown key(s) {', '.join(extra)}")
    if kind == "forward":
        to = _ids(table, "to", where)
        if not to:
            raise RoutesError(f"{where}.to: name at least one destination")
        routes.forwards.append(Forward(_ids(table, "from", where, required=True), to))
    elif kind == "mux":
        target = table.get("to")
        if not isinstance(target, str) or not target:
            raise RoutesError(f"{where}.to: expected one peer id")
        window = table.get("window")
        if window is not None and (
            not isinstance(window, int | float) or isinstance(window, bool) or not window > 0
        ):
            raise RoutesError(f"{where}.window: expected seconds > 0")
        routes.muxes.append(Mux(_ids(table, "from", where, required=True), target, _float(window)))
    elif kind == "demux":
        routes.demuxes.append(
            Demux(_ids(table, "from", where, required=True), _ids(table, "to", where))
        )
    else:
        peers = _ids(table, "peer", where, required=True)
        publish = _template(table, "publish", where, check_subject)
        subscribe = _template(table, "subscribe", where, check_pattern)
        if publish is None and subscribe is None:
            raise RoutesError(f"{where}: a bridge needs 'publish', 'subscribe' or both")
        routes.bridges.append(Bridge(peers, publish, subscribe))


def _float(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def _ids(table: dict[str, Any], key: str, where: str, *, required: bool = False) -> tuple[str, ...]:
    value = table.get(key)
    if value is None:
        if required:
            raise RoutesError(f"{where}.{key}: missing")
        return ()
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not all(isinstance(v, str) and v for v in values):
        raise RoutesError(f"{where}.{key}: expected a peer id or a list of peer ids")
    if required and not values:
        raise RoutesError(f"{where}.{key}: name at least one peer")
    return tuple(values)


def _template(
    table: dict[str, Any], key: str, where: str, check: Callable[[object], object]
) -> str | None:
    value = table.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise RoutesError(f"{where}.{key}: expected a subject")
    try:
        check(value.replace("{peer}", "peer"))
    except SubjectError as exc:
        raise RoutesError(f"{where}.{key}: {exc}") from None
    return value
