"""What ``/stats`` says about the MQTT clients: counts by carrier and a bounded list of sessions.

Built when ``/stats`` is asked for (the dashboard asks once a second), never
on the message path: one pass over the sessions to count them, then the
first ``limit`` of them in a stable order (connected before kept, then by
client id) with what a person looks for when a device misbehaves: its MQTT
version and carrier, since when it is connected or kept, its topic filters,
and its QoS 1/2 messages in flight and queued. Pure: the sessions and the
wall clock in, JSON-ready dicts out.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from earlgate.mqtt import packets as p

if TYPE_CHECKING:  # imported by the hub's routes, which the session's imports reach
    from earlgate.mqtt.session import MqttSession

LISTED_SESSIONS = 100  # sessions listed by default (``/stats?mqtt_sessions=N``)
MAX_LISTED_SESSIONS = 1000  # the most one ``/stats`` lists
LISTED_FILTERS = 10  # topic filters listed per session (``subscriptions`` counts them all)
VERSIONS = {p.V311: "3.1.1", p.V5: "5"}


class OverviewError(ValueError):
    """A ``/stats`` parameter that is not a number of sessions it can list."""


def listed_sessions(value: str | None) -> int:
    """The ``mqtt_sessions`` parameter of ``/stats``: how many sessions to list."""
    if value is None:
        return LISTED_SESSIONS
    try:
        count = int(value)
    except ValueError:
        count = -1
    if not 0 <= count <= MAX_LISTED_SESSIONS:
        raise OverviewError(
            f"mqtt_sessions must be a whole number from 0 to {MAX_LISTED_SESSIONS}, "
            f"not {value[:40]!r}"
        )
    return count


def _order(session: MqttSession) -> tuple[bool, str]:
    return (not session.connected, session.client_id)


def session_entry(session: MqttSession, now: float) -> dict[str, Any]:
    """One session as ``/stats`` lists it; ``now`` is wall-clock seconds."""
    state = "connected" if session.connected else "kept"
    filters = sorted(session.subscriptions.values(), key=lambda s: s.filter)
    counts = session.statistics()
    entry: dict[str, Any] = {
        "client_id": session.client_id,
        "version": VERSIONS.get(session.link.version, str(session.link.version)),
        "transport": session.link.transport,
        "state": state,
        "since": round(session.since, 3),
        "for_s": round(max(now - session.since, 0.0), 1),
        "subscriptions": len(filters),
        "filters": [{"filter": s.filter, "qos": s.qos} for s in filters[:LISTED_FILTERS]],
        "inflight_out": counts["inflight_out"],
        "inflight_in": counts["inflight_in"],
        "queued": counts["queued"],
    }
    if not session.connected:
        # Kept for ``expiry`` seconds from the moment its connection went.
        entry["expires_in_s"] = round(max(session.since + session.expiry - now, 0.0), 1)
    return entry


def overview(
    sessions: Iterable[MqttSession], websocket_connections: int, limit: int, now: float
) -> tuple[dict[str, int], dict[str, Any]]:
    """The ``connections`` block (every client by protocol) and the ``mqtt`` block.

    Args:
        sessions: every MQTT session of the hub process, connected or kept.
        websocket_connections: the hub's own WebSocket connections (``/ws``).
        limit: how many sessions to list (:func:`listed_sessions`).
        now: wall-clock seconds, for how long each has been in its state.
    """
    tcp = websocket = kept = 0
    everyone = list(sessions)
    for session in everyone:
        if not session.connected:
            kept += 1
        elif session.link.transport == "websocket":
            websocket += 1
        else:
            tcp += 1
    connections = {
        "websocket": websocket_connections,
        "mqtt_tcp": tcp,
        "mqtt_websocket": websocket,
        "mqtt_kept": kept,
    }
    listed = heapq.nsmallest(limit, everyone, key=_order)
    mqtt = {
        "sessions": len(everyone),
        "connected": tcp + websocket,
        "kept": kept,
        "limit": limit,
        "listed": [session_entry(s, now) for s in listed],
    }
    return connections, mqtt
