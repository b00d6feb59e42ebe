"""SUBSCRIBE and UNSUBSCRIBE of an MQTT session, and the live messages matched to them.

Part of :class:`~earlgate.mqtt.session.MqttSession` (a base class of it). Each
topic filter of a SUBSCRIBE becomes one hub subscribe frame with an ``id``
(and ``last`` when the retained values are wanted: 3.3.1.3, and MQTT 5's
Retain Handling); the SUBACK goes out once the hub answered every filter,
then the retained values the hub sent for them, with RETAIN set. A filter
that is not a valid hub pattern, and a new one past ``max_subscriptions``
(shared and not shared together), are refused without asking the hub. A
shared subscription (``$share/NAME/filter``, :mod:`~earlgate.mqtt.shared`) is
no hub subscription of the session's own: the session asks its I/O layer to
join the group (:class:`~earlgate.mqtt.actions.JoinShare`), which answers as
the hub does; no retained values are sent for it (4.8.2), and No Local on it
is a protocol error (3.8.3-4). Where the hub cannot share (see
:mod:`~earlgate.mqtt.sharing`) it is refused with 0x9E (3.1.1: 0x80).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from earlgate.hub.config import HubConfig
from earlgate.mqtt import packets as p
from earlgate.mqtt import reasons as r
from earlgate.mqtt.actions import Actions, HubFrame, JoinShare, LeaveShare
from earlgate.mqtt.mapping import Message
from earlgate.mqtt.marks import Marks
from earlgate.mqtt.metrics import MqttMetrics
from earlgate.mqtt.outbound import Outbound
from earlgate.mqtt.properties import Properties
from earlgate.mqtt.shared import (
    AWAY,
    BUSY,
    READY,
    SHARE_PREFIX,
    SharedCopy,
    ShareError,
    ShareKey,
    parse_share,
)
from earlgate.wire import codes
from earlgate.wire.subjects import SubjectError, check_pattern, matches

# Hub error codes as SUBACK reason codes (MQTT 5.0, 3.9.3).
SUBSCRIBE_REFUSALS = {
    codes.FORBIDDEN: r.NOT_AUTHORIZED,
    codes.BAD_SUBJECT: r.TOPIC_FILTER_INVALID,
    codes.RATE_LIMITED: r.QUOTA_EXCEEDED,
}


@dataclass(slots=True)
class Subscription:
    """One granted topic filter and its options."""

    filter: str
    qos: int
    no_local: bool = False
    retain_as_published: bool = False
    sub_id: int | None = None
    share: ShareKey | None = None  # a shared subscription: delivered by its group
    retain_handling: int = 0  # MQTT 5, 3.8.3.1 (kept in the session's record)

    def matches(self, topic: str) -> bool:
        return matches(self.filter, topic)


@dataclass(slots=True)
class Subscribing:
    """A SUBSCRIBE waiting for the hub's answer on each of its filters."""

    packet_id: int
    requests: list[p.SubscriptionRequest]
    sub_id: int | None
    codes: list[int | None]
    reason: str = ""
    retained: list[tuple[int, Message]] = field(default_factory=list)
    done: bool = False


class SubscribeMixin:
    """The subscription half of an MQTT session: see the module docstring."""

    subscriptions: dict[str, Subscription]
    pending: dict[int, tuple[Any, ...]]
    config: HubConfig
    metrics: MqttMetrics
    shared_available: bool
    tag: str
    connected: bool
    ended: bool
    outbound: Outbound
    marks: Marks | None  # (see :mod:`~earlgate.mqtt.keeping`)
    keep_due: bool
    positions_wanted: list[str]
    hold_subacks: bool
    held: Actions
    expiry: float

    def __init__(self) -> None:
        self._answering: tuple[Subscribing, int] | None = None  # the last filter acked
        self._no_local = 0  # subscriptions with no-local set

    # provided by MqttSession
    def send(self, packet: p.Packet, droppable: bool = False) -> Actions:
        raise NotImplementedError

    def reason_props(self, reason: str) -> Properties:
        raise NotImplementedError

    def next_frame_id(self) -> int:
        raise NotImplementedError

    def offer(
        self,
        message: Message,
        qos: int,
        retain: bool,
        sub_ids: list[int],
        shared: SharedCopy | None = None,
    ) -> Actions:
        raise NotImplementedError

    def protocol_error(self, error: r.MqttError) -> Actions:
        raise NotImplementedError

    def _version(self) -> int:
        raise NotImplementedError

    if TYPE_CHECKING:  # provided by KeepingMixin, after this class in the MRO

        def restore_answer(
            self, topic_filter: str, error: Any, frame: dict[str, Any]
        ) -> Actions: ...

    @property
    def has_no_local(self) -> bool:
        return self._no_local > 0

    # -- SUBSCRIBE ------------------------------------------------------------

    def subscribe_in(self, packet: p.Subscribe) -> Actions:
        ids = packet.properties.subscription_ids
        job = Subscribing(
            packet.packet_id,
            packet.subscriptions,
            ids[0] if ids else None,
            [None] * len(packet.subscriptions),
        )
        for request in packet.subscriptions:
            if request.no_local and request.filter.startswith(SHARE_PREFIX):
                # 3.8.3.1: "It is a Protocol Error to set the No Local bit to 1
                # on a Shared Subscription".
                message = f"No Local on the shared subscription {request.filter[:64]!r}"
                return self.protocol_error(r.MqttError(r.PROTOCOL_ERROR, message))
        actions: Actions = []
        adding = 0  # new filters in this SUBSCRIBE, for max_subscriptions
        limit = self.config.max_subscriptions
        for index, request in enumerate(packet.subscriptions):
            refusal, share = self._check_filter(request.filter)
            if refusal is None and request.filter not in self.subscriptions:
                if len(self.subscriptions) + adding >= limit:
                    reason = f"subscription limit of {limit} per connection reached"
                    refusal = r.QUOTA_EXCEEDED, reason
                else:
                    adding += 1
            if refusal is not None:
                job.codes[index], job.reason = refusal
                self.metrics.refused_subscriptions += 1
                continue
            if share is not None:
                frame_id = self.next_frame_id()
                self.pending[frame_id] = ("subscribe", job, index)
                actions.append(JoinShare(share, frame_id))
                continue
            # 3.3.1.3 (3.1.1: always) and MQTT 5 Retain Handling: 0 send the
            # retained values, 1 only for a new subscription, 2 never.
            handling = request.retain_handling
            last = handling == 0 or (handling == 1 and request.filter not in self.subscriptions)
            frame_id = self.next_frame_id()
            self.pending[frame_id] = ("subscribe", job, index)
            frame: dict[str, Any] = {"type": "subscribe", "subject": request.filter, "id": frame_id}
            if last:
                frame["last"] = True
            actions.append(HubFrame(orjson.dumps(frame)))
        if None not in job.codes:
            actions += self._suback(job)
        return actions

    def _check_filter(self, topic_filter: str) -> tuple[tuple[int, str] | None, ShareKey | None]:
        """Why ``topic_filter`` is refused (None: it is not), and the share it names."""
        try:
            share = parse_share(topic_filter)
        except ShareError as exc:
            if not self.shared_available:
                return (r.SHARED_SUBSCRIPTIONS_NOT_SUPPORTED, self._no_sharing()), None
            return (r.TOPIC_FILTER_INVALID, str(exc)), None
        if share is not None:
            if not self.shared_available:
                return (r.SHARED_SUBSCRIPTIONS_NOT_SUPPORTED, self._no_sharing()), None
            return None, share
        try:
            check_pattern(topic_filter)
        except SubjectError as exc:
            return (r.TOPIC_FILTER_INVALID, f"topic filter {topic_filter[:64]!r}: {exc}"), None
        return None, None

    @staticmethod
    def _no_sharing() -> str:
        return "shared subscriptions need one hub process with the memory broker"

    def subscription_answer(
        self, entry: tuple[Any, ...], error: Any, reason: str, frame: dict[str, Any]
    ) -> Actions:
        """The hub's answer to a subscribe (or auth) frame of this session."""
        if entry[0] == "auth":
            revoked = frame.get("revoked")
            for pattern in revoked if isinstance(revoked, list) else ():
                if isinstance(pattern, str):
                    self._forget(pattern)
                    self.keep_due = True
            return []
        if entry[0] == "restore":
            return self.restore_answer(entry[1], error, frame)
        _, job, index = entry
        request = job.requests[index]
        if error is None:
            granted = min(request.qos, 2)
            self._forget(request.filter)
            share = parse_share(request.filter)
            self.subscriptions[request.filter] = Subscription(
                request.filter,
                granted,
                request.no_local,
                request.retain_as_published,
                job.sub_id,
                share,
                request.retain_handling,
            )
            self._no_local += request.no_local
            if share is None and self.marks is not None:
                self.positions_wanted.append(request.filter)
                self.marks.pending.add(request.filter)
            job.codes[index] = granted
            self._answering = (job, index)
        else:
            job.codes[index] = SUBSCRIBE_REFUSALS.get(str(error), r.UNSPECIFIED_ERROR)
            job.reason = reason
            self.metrics.refused_subscriptions += 1
        if None in job.codes:
            return []
        return self._suback(job)

    def _suback(self, job: Subscribing) -> Actions:
        job.done = True
        self.keep_due = True
        granted = [code if code is not None else r.UNSPECIFIED_ERROR for code in job.codes]
        failed = any(code >= 0x80 for code in granted)
        if self._version() != p.V5:
            granted = [code if code < 0x80 else r.V4_SUBACK_FAILURE for code in granted]
        props = self.reason_props(job.reason) if failed else Properties()
        actions = self.send(p.SubAck(job.packet_id, granted, props))
        if actions and self.hold_subacks and self.expiry > 0:
            # Sent once the record holding the subscription is saved: a SUBACK
            # then means the subscription outlives this hub process. Messages
            # may come before it (MQTT 5.0, 3.8.4).
            self.held += actions
            actions = []
        for index, message in job.retained:
            actions += self._send_retained(job, index, message)
        job.retained.clear()
        return actions

    def retained_in(self, message: Message) -> Actions:
        """A retained value the hub sent right after acking one of our filters."""
        answering = self._answering
        if answering is None:
            return []
        job, index = answering
        if not job.done:
            job.retained.append((index, message))  # after the SUBACK
            return []
        return self._send_retained(job, index, message)

    def _send_retained(self, job: Subscribing, index: int, message: Message) -> Actions:
        granted = job.codes[index]
        if granted is None or granted >= 0x80:
            return []
        # 3.3.1.3: "MUST set the RETAIN flag to 1 if a message is sent as a result
        # of a new subscription being made by a Client".
        ids = [job.sub_id] if job.sub_id else []
        return self.offer(message, min(message.qos, granted), True, ids)

    # -- live messages -------------------------------------------------------

    def deliver(self, message: Message, live: bool) -> Actions:
        """A message the hub delivers: live, or a retained value for a new subscription."""
        if not live:
            return self.retained_in(message)
        topic = message.topic
        matched = [s for s in self.subscriptions.values() if s.share is None and s.matches(topic)]
        if message.origin == self.tag:
            matched = [s for s in matched if not s.no_local]
        if not matched:
            return []
        qos = min(message.qos, max(s.qos for s in matched))
        retain = message.retain and any(s.retain_as_published for s in matched)
        ids = sorted({s.sub_id for s in matched if s.sub_id})
        return self.offer(message, qos, retain, ids)

    def deliver_shared(self, key: ShareKey, message: Message) -> Actions:
        """A live message of shared subscription ``key``, whose group chose this session."""
        sub = self.subscriptions.get(key.full)
        if sub is None:
            return []
        qos = min(message.qos, sub.qos)
        retain = message.retain and sub.retain_as_published
        ids = [sub.sub_id] if sub.sub_id else []
        return self.offer(message, qos, retain, ids, SharedCopy(key, message) if qos else None)

    def share_rank(self, key: ShareKey, qos: int) -> int | None:
        """How well this member of ``key`` can take a message of ``qos`` now
        (:mod:`~earlgate.mqtt.shared`); None: not at all."""
        sub = self.subscriptions.get(key.full)
        if self.ended or sub is None:
            return None
        qos = min(qos, sub.qos)
        if self.connected:
            return READY if qos == 0 or self.outbound.has_room() else BUSY
        return AWAY if qos else None  # QoS 0 is not kept for a client that is away

    # -- UNSUBSCRIBE ---------------------------------------------------------

    def unsubscribe_in(self, packet: p.Unsubscribe) -> Actions:
        actions: Actions = []
        reasons = []
        for topic_filter in packet.filters:
            old = self._forget(topic_filter)
            if old is None:
                reasons.append(r.NO_SUBSCRIPTION_EXISTED)
                continue
            if old.share is not None:
                actions.append(LeaveShare(old.share))
            else:
                frame = {"type": "unsubscribe", "subject": topic_filter}
                actions.append(HubFrame(orjson.dumps(frame)))
            reasons.append(r.SUCCESS)
        v5 = self._version() == p.V5
        self.keep_due = True
        return actions + self.send(p.UnsubAck(packet.packet_id, reasons if v5 else []))

    def unshare(self, topic_filter: str) -> Actions:
        """Drop the shared subscription ``topic_filter`` (its token no longer allows it)."""
        old = self._forget(topic_filter)
        return [LeaveShare(old.share)] if old is not None and old.share is not None else []

    def _forget(self, topic_filter: str) -> Subscription | None:
        old = self.subscriptions.pop(topic_filter, None)
        if old is not None:
            self._no_local -= old.no_local
        return old
