"""A kept MQTT session as bytes, for the broker's session store: encode, decode, decide.

What a hub needs to take up a session another hub process kept
(docs/mqtt.md, "Sessions"): the protocol version, the session expiry and the
wall-clock time it ends, the subscriptions with their options, and for each
durable subject they cover the position to replay from. The token is not in
it: the resuming CONNECT brings its own. Messages queued or in flight are not
in it either: on durable subjects the positions bring them back (again, at
QoS 1: duplicates are allowed), on other subjects they are lost with the hub.

The form is JSON with a version, ``{"v": 1, ...}``; :func:`decode` checks
every field and raises :class:`RecordError` naming the first bad one, which
the caller logs and ignores (a new session starts). :func:`resume_decision`
is the pure half of a CONNECT that found (or did not find) a record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from earlgate.broker.base import Position

VERSION = 1
PROTOCOLS = (4, 5)  # MQTT 3.1.1 and 5
MAX_SUB_ID = 268_435_455  # MQTT 5.0, 3.3.2.3.8


class RecordError(ValueError):
    """A stored record this hub cannot read; the message names the field."""


@dataclass(frozen=True, slots=True)
class SavedSubscription:
    """One subscription as the record keeps it (MQTT 5 options included)."""

    filter: str
    qos: int
    no_local: bool = False
    retain_as_published: bool = False
    retain_handling: int = 0
    sub_id: int | None = None


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """Everything a hub needs to take up a kept session (see the module docstring)."""

    client_id: str
    protocol: int
    expiry: float  # seconds the session outlives its connection
    ends: float  # wall-clock seconds: the session is over then, unless resumed
    subscriptions: tuple[SavedSubscription, ...] = ()
    positions: dict[str, Position] = field(default_factory=dict)
    # Filters subscribed so recently that where their subjects stood is not
    # known yet: taken up without a replay (else all their history would come).
    fresh: tuple[str, ...] = ()


def encode(record: SessionRecord) -> bytes:
    subs = [
        [s.filter, s.qos, s.no_local, s.retain_as_published, s.retain_handling, s.sub_id]
        for s in record.subscriptions
    ]
    return orjson.dumps(
        {
            "v": VERSION,
            "id": record.client_id,
            "protocol": record.protocol,
            "expiry": record.expiry,
            "ends": record.ends,
            "subs": subs,
            "fresh": list(record.fresh),
            "pos": {
                subject: [offset, epoch] for subject, (offset, epoch) in record.positions.items()
            },
        }
    )


def decode(raw: bytes) -> SessionRecord:
    """The record in ``raw``; raises :class:`RecordError` for anything else."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise RecordError(f"not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise RecordError("not a JSON object")
    version = value.get("v")
    if version != VERSION:
        raise RecordError(f"version {version!r}, this hub reads {VERSION}")
    client_id = value.get("id")
    if not isinstance(client_id, str) or not client_id:
        raise RecordError("'id' must be a non-empty string")
    protocol = value.get("protocol")
    if protocol not in PROTOCOLS or isinstance(protocol, bool):
        raise RecordError(f"'protocol' must be one of {PROTOCOLS}")
    expiry = _number(value.get("expiry"), "expiry")
    ends = _number(value.get("ends"), "ends")
    subs = value.get("subs")
    if not isinstance(subs, list):
        raise RecordError("'subs' must be a list")
    positions = value.get("pos")
    if not isinstance(positions, dict):
        raise RecordError("'pos' must be an object")
    fresh = value.get("fresh")
    if not isinstance(fresh, list) or not all(isinstance(f, str) and f for f in fresh):
        raise RecordError("'fresh' must be a list of filters")
    return SessionRecord(
        client_id,
        protocol,
        expiry,
        ends,
        tuple(_subscription(entry, index) for index, entry in enumerate(subs)),
        {subject: _position(subject, at) for subject, at in positions.items()},
        tuple(fresh),
    )


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise RecordError(f"'{name}' must be a number >= 0")
    return float(value)


def _subscription(entry: Any, index: int) -> SavedSubscription:
    where = f"'subs'[{index}]"
    if not isinstance(entry, list) or len(entry) != 6:
        raise RecordError(f"{where} must be a list of 6")
    topic_filter, qos, no_local, as_published, handling, sub_id = entry
    if not isinstance(topic_filter, str) or not topic_filter:
        raise RecordError(f"{where}: the filter must be a non-empty string")
    if qos not in (0, 1, 2) or isinstance(qos, bool):
        raise RecordError(f"{where}: QoS must be 0, 1 or 2")
    if not isinstance(no_local, bool) or not isinstance(as_published, bool):
        raise RecordError(f"{where}: no local and retain as published must be booleans")
    if handling not in (0, 1, 2) or isinstance(handling, bool):
        raise RecordError(f"{where}: retain handling must be 0, 1 or 2")
    if sub_id is not None and (
        isinstance(sub_id, bool) or not isinstance(sub_id, int) or not 1 <= sub_id <= MAX_SUB_ID
    ):
        raise RecordError(f"{where}: the subscription identifier must be 1-{MAX_SUB_ID} or null")
    return SavedSubscription(topic_filter, qos, no_local, as_published, handling, sub_id)


def _position(subject: Any, at: Any) -> Position:
    if not subject:
        raise RecordError("'pos' has an empty subject")
    if (
        not isinstance(at, list)
        or len(at) != 2
        or isinstance(at[0], bool)
        or not isinstance(at[0], int)
        or at[0] < 0
        or not isinstance(at[1], str)
    ):
        raise RecordError(f"'pos' of {subject!r} must be [offset >= 0, epoch]")
    return at[0], at[1]


# -- the CONNECT that looked for a record ---------------------------------------

HIT = "hit"  # take the session up
MISS = "miss"  # no record: a new session
EXPIRED = "expired"  # its end passed: a new session
BAD = "bad"  # unreadable, or another client's: a new session, logged


@dataclass(frozen=True, slots=True)
class Decision:
    outcome: str
    record: SessionRecord | None = None
    reason: str = ""


def resume_decision(raw: bytes | None, client_id: str, now: float) -> Decision:
    """What a CONNECT (clean start 0) does with what the store held for ``client_id``
    at wall time ``now``."""
    if raw is None:
        return Decision(MISS)
    try:
        record = decode(raw)
    except RecordError as exc:
        return Decision(BAD, reason=str(exc))
    if record.client_id != client_id:
        return Decision(BAD, reason=f"the record is of client {record.client_id[:64]!r}")
    if record.ends <= now:
        return Decision(EXPIRED, record, f"the session ended {now - record.ends:.0f} s ago")
    return Decision(HIT, record)
