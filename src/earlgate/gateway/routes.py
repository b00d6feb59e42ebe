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

A peer id fills a bridge's ``{peer}`` only if it cannot change the subject's
shape: an id holding ``/``, ``+`` or ``#`` (the signaling server accepts
``a%2Fb``) would add levels or wildcards (``thermo-2/#`` would widen
``commands/{peer}`` to every command), so the rule refuses that peer
(:class:`Refusal`) and it gets no bridge from that rule.

Every mistake is reported as :class:`RoutesError` naming the table, its index
and the key. Matching is pure: :meth:`Routes.for_source` answers which rules
apply to a peer; :mod:`~earlgate.gateway.router` is what applies them.
"""

from __future__ import annotations

import fnmatch
import math
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from earlgate.wire.subjects import SubjectError, check_pattern, check_subject

KINDS = ("forward", "mux", "demux", "bridge")
GLOB_CHARS = frozenset("*?[")
# Characters that would change a subject's levels or make it a wildcard.
SUBJECT_CHARS = frozenset("/+#")
PEER = "{peer}"


class RoutesError(ValueError):
    """The routes file is wrong; the message says where."""


class PeerIdError(ValueError):
    """A peer id cannot fill a bridge's template; the message says why."""


@dataclass(frozen=True)
class Forward:
    name: str  # "forward#1": its kind and position in the routes file
    sources: tuple[str, ...]
    to: tuple[str, ...]


@dataclass(frozen=True)
class Mux:
    name: str
    sources: tuple[str, ...]
    to: str
    window: float | None


@dataclass(frozen=True)
class Demux:
    name: str
    sources: tuple[str, ...]
    to: tuple[str, ...]


@dataclass(frozen=True)
class Bridge:
    name: str
    peers: tuple[str, ...]
    publish: str | None
    subscribe: str | None

    def subjects(self, peer: str) -> tuple[str | None, str | None]:
        """The publish subject and the subscription for ``peer`` (raises PeerIdError)."""
        publish = None if self.publish is None else expand(self.publish, peer, check_subject)
        subscribe = None if self.subscribe is None else expand(self.subscribe, peer, check_pattern)
        return publish, subscribe


def expand(template: str, peer: str, check: Callable[[str], object]) -> str:
    """``template`` with ``{peer}`` filled, refusing ids that would change its shape."""
    if PEER not in template:
        return template
    unsafe = sorted(SUBJECT_CHARS.intersection(peer))
    if unsafe:
        raise PeerIdError(
            f"peer id {peer!r} holds {' '.join(repr(c) for c in unsafe)},"
            f" which would change the subject {template!r}"
        )
    subject = template.replace(PEER, peer)
    try:
        check(subject)
    except SubjectError as exc:
        raise PeerIdError(f"peer id {peer!r} makes {template!r} invalid: {exc}") from None
    return subject


def is_glob(name: str) -> bool:
    return not GLOB_CHARS.isdisjoint(name)


def _matches(patterns: tuple[str, ...], peer: str) -> bool:
    return any(fnmatch.fnmatchcase(peer, pattern) for pattern in patterns)


@dataclass(frozen=True)
class Refusal:
    """A bridge rule that matches a peer but cannot take its id."""

    route: str
    peer: str
    reason: str


@dataclass(frozen=True)
class Plan:
    """Which rules apply to one peer: its messages' routes and its subscriptions."""

    forwards: tuple[tuple[Forward, tuple[str, ...]], ...] = ()  # each rule, its new targets
    mux_into: tuple[Mux, ...] = ()
    demux: Demux | None = None
    publish: str | None = None
    publish_route: str | None = None
    subscribe: tuple[tuple[str, str], ...] = ()  # (subject, route), one per subject
    refused: tuple[Refusal, ...] = ()

    @property
    def forward_to(self) -> tuple[str, ...]:
        return tuple(target for _, targets in self.forwards for target in targets)


@dataclass
class Routes:
    forwards: list[Forward] = field(default_factory=list)
    muxes: list[Mux] = field(default_factory=list)
    demuxes: list[Demux] = field(default_factory=list)
    bridges: list[Bridge] = field(default_factory=list)

    def for_source(self, peer: str) -> Plan:
        """Every rule that applies to ``peer`` (a message is never forwarded back to it)."""
        forwards: list[tuple[Forward, tuple[str, ...]]] = []
        taken = {peer}
        for rule in self.forwards:
            if _matches(rule.sources, peer):
                targets = tuple(dict.fromkeys(t for t in rule.to if t not in taken))
                taken.update(targets)
                forwards.append((rule, targets))
        muxes = tuple(rule for rule in self.muxes if _matches(rule.sources, peer))
        demux = next((rule for rule in self.demuxes if _matches(rule.sources, peer)), None)
        publish: tuple[str, str] | None = None
        subscribe: dict[str, str] = {}
        refused: list[Refusal] = []
        for bridge in self.bridges:
            if not _matches(bridge.peers, peer):
                continue
            try:
                to_hub, from_hub = bridge.subjects(peer)
            except PeerIdError as exc:
                refused.append(Refusal(bridge.name, peer, str(exc)))
                continue
            if to_hub is not None and publish is None:
                publish = (to_hub, bridge.name)
            if from_hub is not None:
                subscribe.setdefault(from_hub, bridge.name)  # one subscription per subject
        return Plan(
            tuple(forwards),
            muxes,
            demux,
            publish[0] if publish else None,
            publish[1] if publish else None,
            tuple(subscribe.items()),
            tuple(refused),
        )

    def subscriptions(self, peer: str) -> list[str]:
        """Hub subjects whose messages go to ``peer``."""
        return [subject for subject, _ in self.for_source(peer).subscribe]

    def named_destinations(self) -> frozenset[str]:
        """The peers the routes name as destinations (not globs)."""
        named = {t for rule in self.forwards for t in rule.to if not is_glob(t)}
        named |= {rule.to for rule in self.muxes}
        named |= {t for rule in self.demuxes for t in rule.to}
        return frozenset(named)


def load_routes(path: Path) -> Routes:
    """Read and check a routes file."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise RoutesError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise RoutesError(f"{path}: not valid TOML: {exc}") from None
    try:
        return loads_routes(text)
    except RoutesError as exc:
        raise RoutesError(f"{path}: {exc}") from None


def loads_routes(text: str) -> Routes:
    """Parse and check the text of a routes file."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RoutesError(f"not valid TOML: {exc}") from None
    except RecursionError:
        # tomllib recurses once per nested array or inline table.
        raise RoutesError("not valid TOML: nested too deeply") from None
    return parse_routes(data)


def parse_routes(data: object) -> Routes:
    """Check a parsed routes document (TOML's, or JSON's: any nesting of plain values)."""
    if not isinstance(data, dict):
        raise RoutesError(f"expected a table of {', '.join(f'[[{k}]]' for k in KINDS)}")
    unknown = sorted(str(key) for key in data if key not in KINDS)
    if unknown:
        raise RoutesError(f"unknown table(s) {', '.join(unknown)}; expected {', '.join(KINDS)}")
    routes = Routes()
    for kind in KINDS:
        tables = data.get(kind, [])
        if not isinstance(tables, list):
            raise RoutesError(f"'{kind}' must be an array of tables ([[{kind}]])")
        for index, table in enumerate(tables, 1):
            where = f"[[{kind}]] #{index}"
            if not isinstance(table, dict):
                raise RoutesError(f"{where}: expected a table")
            _parse_one(routes, kind, f"{kind}#{index}", table, where)
    return routes


ALLOWED = {
    "forward": {"from", "to"},
    "mux": {"from", "to", "window"},
    "demux": {"from", "to"},
    "bridge": {"peer", "publish", "subscribe"},
}


def _parse_one(routes: Routes, kind: str, name: str, table: dict[str, Any], where: str) -> None:
    extra = sorted(str(key) for key in table if key not in ALLOWED[kind])
    if extra:
        raise RoutesError(f"{where}: unknown key(s) {', '.join(extra)}")
    if kind == "forward":
        to = _ids(table, "to", where)
        if not to:
            raise RoutesError(f"{where}.to: name at least one destination")
        routes.forwards.append(Forward(name, _ids(table, "from", where, required=True), to))
    elif kind == "mux":
        target = table.get("to")
        if not isinstance(target, str) or not target:
            raise RoutesError(f"{where}.to: expected one peer id")
        sources = _ids(table, "from", where, required=True)
        routes.muxes.append(Mux(name, sources, target, _window(table.get("window"), where)))
    elif kind == "demux":
        sources = _ids(table, "from", where, required=True)
        routes.demuxes.append(Demux(name, sources, _ids(table, "to", where)))
    else:
        peers = _ids(table, "peer", where, required=True)
        publish = _template(table, "publish", where, check_subject)
        subscribe = _template(table, "subscribe", where, check_pattern)
        if publish is None and subscribe is None:
            raise RoutesError(f"{where}: a bridge needs 'publish', 'subscribe' or both")
        routes.bridges.append(Bridge(name, peers, publish, subscribe))


def _window(value: object, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            seconds = float(value)
        except OverflowError:
            seconds = math.inf
        if 0 < seconds < math.inf:
            return seconds
    raise RoutesError(f"{where}.window: expected seconds > 0")


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
        check(value.replace(PEER, "peer"))
    except SubjectError as exc:
        raise RoutesError(f"{where}.{key}: {exc}") from None
    return value
