"""A kept MQTT session as a record for the broker's store, and back (the pure half).

Part of :class:`~earlgate.mqtt.session.MqttSession` (a base class of it).
:meth:`KeepingMixin.record` says what the session is now
(:mod:`~earlgate.mqtt.record`): its subscriptions and, where the hub has
durable subjects, the positions to replay from (:mod:`~earlgate.mqtt.marks`).
:meth:`KeepingMixin.restore` takes a record up on a new session of this
process: each subscription is made again through the hub core, as a
resumable subscribe from the record's positions (docs/hub.md, "Resume on
patterns"), so the durable messages the client missed, or had not
acknowledged, come again; one the new token no longer allows is dropped.
:meth:`KeepingMixin.let_go` ends a session another hub took up: no will,
no record saved over the new holder's.

The session asks for I/O through two flags the bridge reads after each
batch of actions: ``keep_due`` (save the record) and ``positions_wanted``
(read where durable subjects stand for a new subscription).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson

from earlgate.broker.base import Position
from earlgate.hub.config import HubConfig
from earlgate.mqtt import packets as p
from earlgate.mqtt import reasons as r
from earlgate.mqtt.actions import Actions, HubFrame, JoinShare
from earlgate.mqtt.marks import Marks
from earlgate.mqtt.metrics import MqttMetrics
from earlgate.mqtt.outbound import Outbound
from earlgate.mqtt.record import SavedSubscription, SessionRecord
from earlgate.mqtt.shared import ShareError, parse_share
from earlgate.mqtt.subscribe import Subscription
from earlgate.wire.subjects import matches

if TYPE_CHECKING:
    from earlgate.mqtt.session import Link


class KeepingMixin:
    """The record half of an MQTT session: see the module docstring."""

    client_id: str
    config: HubConfig
    metrics: MqttMetrics
    subscriptions: dict[str, Subscription]
    pending: dict[int, tuple[Any, ...]]
    outbound: Outbound
    link: Link
    connected: bool
    ended: bool
    expiry: float
    shared_available: bool
    clock: Callable[[], float]
    wall: Callable[[], float]
    will: p.Will | None
    _expires_at: float | None
    _no_local: int

    def __init__(self) -> None:
        self.marks: Marks | None = None  # set where the hub has durable subjects
        self.keep_due = False  # the record changed: the bridge saves it
        self.positions_wanted: list[str] = []  # new filters whose positions to read
        self.released = False  # taken up by another hub: never saved or dropped here
        self.hold_subacks = False  # SUBACKs wait for the save (where the broker keeps sessions)
        self.held: Actions = []  # ... these

    # provided by MqttSession
    def next_frame_id(self) -> int:
        raise NotImplementedError

    def close(self, reason: int, message: str) -> Actions:
        raise NotImplementedError

    def end(self) -> Actions:
        raise NotImplementedError

    def _forget(self, topic_filter: str) -> Subscription | None:
        raise NotImplementedError

    # -- to the store -----------------------------------------------------------

    def record(self, interval: float) -> SessionRecord:
        """The session now; a connected one ends ``expiry`` after the next save is
        due (``interval``), a kept one when its expiry passes."""
        now = self.wall()
        if self.connected or self._expires_at is None:
            ends = now + self.expiry + interval
        else:
            ends = now + max(self._expires_at - self.clock(), 0.0)
        subs = tuple(
            SavedSubscription(
                s.filter, s.qos, s.no_local, s.retain_as_published, s.retain_handling, s.sub_id
            )
            for s in self.subscriptions.values()
        )
        positions: dict[str, Position] = {}
        fresh: tuple[str, ...] = ()
        marks = self.marks
        if marks is not None:
            outbound = self.outbound
            outstanding = {flow.publish.topic for flow in outbound.inflight.values()}
            outstanding.update(queued[0].topic for queued in outbound.queue)
            filters = [s.filter for s in self.subscriptions.values() if s.share is None]
            keep = [subject for subject in marks.last if any(matches(f, subject) for f in filters)]
            positions = marks.snapshot(outstanding, keep)
            fresh = tuple(f for f in sorted(marks.pending) if f in self.subscriptions)
        return SessionRecord(
            self.client_id, self.link.version, self.expiry, ends, subs, positions, fresh
        )

    # -- from the store ---------------------------------------------------------

    def restore(self, record: SessionRecord) -> Actions:
        """Make the record's subscriptions again (before the CONNACK: what the hub
        delivers meanwhile waits in the session's queue)."""
        actions: Actions = []
        if self.marks is not None:
            self.marks = Marks(record.positions)
        limit = self.config.max_resume_subjects
        for saved in record.subscriptions:
            try:
                share = parse_share(saved.filter)
            except ShareError:
                continue
            if share is not None and not self.shared_available:
                continue  # this hub cannot deliver it
            if len(self.subscriptions) >= self.config.max_subscriptions:
                break
            self.subscriptions[saved.filter] = Subscription(
                saved.filter,
                saved.qos,
                saved.no_local,
                saved.retain_as_published,
                saved.sub_id,
                share,
                saved.retain_handling,
            )
            self._no_local += saved.no_local
            frame_id = self.next_frame_id()
            self.pending[frame_id] = ("restore", saved.filter)
            if share is not None:
                actions.append(JoinShare(share, frame_id))
                continue
            frame: dict[str, Any] = {"type": "subscribe", "subject": saved.filter, "id": frame_id}
            if self.marks is not None and saved.filter not in record.fresh:
                resume = {
                    subject: [offset, epoch]
                    for subject, (offset, epoch) in record.positions.items()
                    if matches(saved.filter, subject)
                }
                if len(resume) <= limit:
                    frame["resume"] = resume
            actions.append(HubFrame(orjson.dumps(frame)))
        return actions

    def restore_answer(self, topic_filter: str, error: Any, frame: dict[str, Any]) -> Actions:
        """The hub's answer to a subscription made again: refused (the token no
        longer allows it): dropped; else the positions the replay starts from."""
        if error is not None:
            self._forget(topic_filter)
            self.metrics.refused_subscriptions += 1
            return []
        positions = frame.get("positions")
        if self.marks is not None and isinstance(positions, dict):
            self.marks.baseline(_positions(positions))
        return []

    def positions_read(self, topic_filter: str, positions: dict[str, Position] | None) -> None:
        """Where the durable subjects of a new subscription stood (the bridge read
        them; None: it could not)."""
        if self.marks is not None and not self.ended:
            self.marks.pending.discard(topic_filter)
            if positions is not None:
                self.marks.baseline(positions)
            self.keep_due = True

    def release_held(self) -> Actions:
        """The SUBACKs held until the record was saved."""
        held, self.held = self.held, []
        return held

    def let_go(self) -> Actions:
        """Another hub took the session up: close the connection (MQTT 5: 0x8E)
        and end the session here, without the will and without saving it."""
        self.released = True
        self.will = None
        message = "the session was taken up on another hub"
        return self.close(r.SESSION_TAKEN_OVER, message) + self.end()


def _positions(value: dict[str, Any]) -> dict[str, Position]:
    out: dict[str, Position] = {}
    for subject, at in value.items():
        if (
            isinstance(at, list)
            and len(at) == 2
            and isinstance(at[0], int)
            and isinstance(at[1], str)
        ):
            out[subject] = (at[0], at[1])
    return out
