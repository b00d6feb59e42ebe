"""Shared subscriptions on one hub process: one hub-core subscription per group.

Each shared subscription (``$share/NAME/filter``) is a :class:`GroupSide`, a
hub-core session of its own subscribed to the filter: the core delivers each
matching message once to it, whatever the number of members, and
:meth:`Sharing.dispatch` hands it to the member whose turn it is
(:mod:`~earlgate.mqtt.shared`), at that member's granted QoS. A member's own
non-shared subscriptions are its own core subscriptions and get their copies
as before; two groups on one filter are two core subscriptions, a copy each.

Only where this process sees every message and no other process delivers the
same group: the memory broker and one hub process. With Redis or Redis Cluster
(``--workers N``, ``earlgate cluster up``) every hub would deliver a copy per
group, so shared subscriptions are refused there (:func:`sharing_available`).

A member's token must allow the filter (checked when it joins, and again when
a resumed session brings a new token). When a member's session ends with
shared messages its client has not received (queued, or in flight without a
PUBREC), each goes to another member of its group (4.8.2); a member that is
only away with a kept session keeps them, and gets them again on its return.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from earlgate.broker.base import Broker
from earlgate.hub.config import HubConfig
from earlgate.hub.session import Session
from earlgate.mqtt.actions import Handover
from earlgate.mqtt.metrics import MqttMetrics
from earlgate.mqtt.session import MqttSession
from earlgate.mqtt.shared import SharedGroups, ShareKey
from earlgate.wire import codes

if TYPE_CHECKING:
    from earlgate.mqtt.bridge import MqttBridge


def sharing_available(broker: Broker, config: HubConfig) -> bool:
    """Whether this process alone delivers the broker's messages (see the module docstring)."""
    return broker.name == "memory" and config.workers == 1 and not config.reuse_port


class GroupSide(Session):
    """The hub-core session of one shared subscription."""

    __slots__ = ("key", "sharing")

    def __init__(self, sharing: Sharing, key: ShareKey, config: HubConfig) -> None:
        super().__init__(
            _ignore,
            _ignore_close,
            send_buffer=config.send_buffer,
            policy=config.slow_consumer,
            name=f"mqtt:{key.full}",
        )
        self.sharing = sharing
        self.key = key

    def deliver(self, subject: str, raw: bytes, offset: int | None) -> int:
        return self.sharing.dispatch(self.key, raw)

    def send(self, raw: bytes) -> int:
        return 0  # the core's answers to the group's own subscribe and unsubscribe


def _ignore(raw: bytes) -> None:
    """A group side writes nowhere: :meth:`GroupSide.send` takes what the core sends."""


def _ignore_close(code: int, reason: str) -> None:
    """A group side has no connection to close."""


class Sharing:
    """The shared subscriptions of one hub process and their hub-core sides."""

    def __init__(self, bridge: MqttBridge, metrics: MqttMetrics) -> None:
        self.bridge = bridge
        self.metrics = metrics
        self.groups: SharedGroups[MqttSession] = SharedGroups()
        self.sides: dict[ShareKey, GroupSide] = {}
        self.stopping = False  # the hub shuts down: nothing is handed over

    def __len__(self) -> int:
        return len(self.sides)

    def join(self, session: MqttSession, key: ShareKey, frame_id: int) -> None:
        """``session`` subscribes to ``key``: checked against its token, then answered."""
        bridge = self.bridge
        side = bridge.sides.get(session)
        grants = side.grants if side is not None else None
        answer: dict[str, Any]
        if grants is not None and not grants.may_subscribe(key.filter):
            reason = f"not allowed to subscribe to {key.filter!r}"
            answer = {"type": "error", "code": codes.FORBIDDEN, "reason": reason, "id": frame_id}
        else:
            if self.groups.join(key, session):
                self._open(key)
            answer = {"type": "ack", "id": frame_id}
        bridge.perform(session, session.hub_answer(answer))

    def leave(self, session: MqttSession, key: ShareKey) -> None:
        if self.groups.leave(key, session):
            self._close(key)

    def leave_all(self, session: MqttSession) -> None:
        """``session`` ended: it leaves every group it was in."""
        for sub in list(session.subscriptions.values()):
            if sub.share is not None:
                self.leave(session, sub.share)

    def recheck(self, session: MqttSession) -> None:
        """A resumed session brought a new token: drop the shares it no longer allows."""
        side = self.bridge.sides.get(session)
        grants = side.grants if side is not None else None
        if grants is None:
            return
        for sub in list(session.subscriptions.values()):
            if sub.share is not None and not grants.may_subscribe(sub.share.filter):
                self.bridge.perform(session, session.unshare(sub.filter))

    def dispatch(self, key: ShareKey, raw: bytes) -> int:
        """A message for group ``key``: to one member; returns the messages it dropped."""
        message = self.bridge.message_of(raw)
        if message is None:
            return 0
        member = self._pick(key, message.qos)
        if member is None:
            self.metrics.shared_dropped += 1
            return 0
        self.metrics.shared_delivered += 1
        dropped = member.outbound.dropped
        self.bridge.perform(member, member.deliver_shared(key, message))
        return member.outbound.dropped - dropped

    def hand_over(self, handover: Handover) -> None:
        """Messages of a session that ended go to other members of their groups."""
        for copy in handover.copies:
            key, message = copy.key, copy.message
            member = None if self.stopping else self._pick(key, message.qos)
            if member is None:
                self.metrics.shared_dropped += 1
                continue
            self.metrics.shared_handed_over += 1
            self.bridge.perform(member, member.deliver_shared(key, message))

    def _pick(self, key: ShareKey, qos: int) -> MqttSession | None:
        return self.groups.pick(key, lambda member: member.share_rank(key, qos))

    def _open(self, key: ShareKey) -> None:
        hub = self.bridge.hub
        side = self.sides[key] = GroupSide(self, key, hub.config)
        frame = orjson.dumps({"type": "subscribe", "subject": key.filter})
        answer = hub.handle_frame(side, frame)
        if answer:
            self.bridge.effects.perform(answer)

    def _close(self, key: ShareKey) -> None:
        side = self.sides.pop(key, None)
        if side is not None:
            frame = orjson.dumps({"type": "unsubscribe", "subject": key.filter})
            self.bridge.hub.handle_frame(side, frame)
