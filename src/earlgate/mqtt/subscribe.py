"""SUBSCRIBE and UNSUBSCRIBE of an MQTT session, answered from the hub's subscribe frames.

Part of :class:`~earlgate.mqtt.session.MqttSession` (a base class of it). Each
topic filter of a SUBSCRIBE becomes one hub subscribe frame with an ``id``
(and ``last`` when the retained values are wanted: 3.3.1.3, and MQTT 5's
Retain Handling); the SUBACK goes out once the hub answered every filter,
then the retained values the hub sent for them, with RETAIN set. A filter
that is not a valid hub pattern, and a shared subscription, are refused
without asking the hub.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from earlgate.hub.config import HubConfig
from earlgate.mqtt import packets as p
from earlgate.mqtt import reasons as r
from earlgate.mqtt.actions import Actions, HubFrame
from earlgate.mqtt.mapping import Message
from earlgate.mqtt.metrics import MqttMetrics
from earlgate.mqtt.properties import Properties
from earlgate.wire import codes
from earlgate.wire.subjects import SubjectError, check_pattern, matches

SHARED_PREFIX = "$share/"

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

    def offer(self, message: Message, qos: int, retain: bool, sub_ids: list[int]) -> Actions:
        raise NotImplementedError

    def _version(self) -> int:
        raise NotImplementedError

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
        actions: Actions = []
        for index, request in enumerate(packet.subscriptions):
            refusal = self._check_filter(request.filter)
            if refusal is not None:
                job.codes[index], job.reason = refusal
                self.metrics.refused_subscriptions += 1
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

    def _check_filter(self, topic_filter: str) -> tuple[int, str] | None:
        if topic_filter.startswith(SHARED_PREFIX) and self._version() == p.V5:
            return r.SHARED_SUBSCRIPTIONS_NOT_SUPPORTED, "shared subscriptions are not supported"
        try:
            check_pattern(topic_filter)
        except SubjectError as exc:
            return r.TOPIC_FILTER_INVALID, f"topic filter {topic_filter[:64]!r}: {exc}"
        return None

    def subscription_answer(
        self, entry: tuple[Any, ...], error: Any, reason: str, frame: dict[str, Any]
    ) -> Actions:
        """The hub's answer to a subscribe (or auth) frame of this session."""
        if entry[0] == "auth":
            revoked = frame.get("revoked")
            for pattern in revoked if isinstance(revoked, list) else ():
                if isinstance(pattern, str):
                    self._forget(pattern)
            return []
        _, job, index = entry
        request = job.requests[index]
        if error is None:
            granted = min(request.qos, 2)
            self._forget(request.filter)
            self.subscriptions[request.filter] = Subscription(
                request.filter, granted, request.no_local, request.retain_as_published, job.sub_id
            )
            self._no_local += request.no_local
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
        granted = [code if code is not None else r.UNSPECIFIED_ERROR for code in job.codes]
        failed = any(code >= 0x80 for code in granted)
        if self._version() != p.V5:
            granted = [code if code < 0x80 else r.V4_SUBACK_FAILURE for code in granted]
        props = self.reason_props(job.reason) if failed else Properties()
        actions = self.send(p.SubAck(job.packet_id, granted, props))
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

    # -- UNSUBSCRIBE ---------------------------------------------------------

    def unsubscribe_in(self, packet: p.Unsubscribe) -> Actions:
        actions: Actions = []
        reasons = []
        for topic_filter in packet.filters:
            if self._forget(topic_filter):
                frame = {"type": "unsubscribe", "subject": topic_filter}
                actions.append(HubFrame(orjson.dumps(frame)))
                reasons.append(r.SUCCESS)
            else:
                reasons.append(r.NO_SUBSCRIPTION_EXISTED)
        v5 = self._version() == p.V5
        return actions + self.send(p.UnsubAck(packet.packet_id, reasons if v5 else []))

    def _forget(self, topic_filter: str) -> bool:
        old = self.subscriptions.pop(topic_filter, None)
        if old is None:
            return False
        self._no_local -= old.no_local
        return True
