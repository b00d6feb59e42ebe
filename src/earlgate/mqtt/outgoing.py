"""PUBLISH to the client: a hub message at its delivery QoS, queued behind the window.

Part of :class:`~earlgate.mqtt.session.MqttSession` (a base class of it). A
message the hub delivers is offered at min(its QoS, the granted QoS): QoS 0
is sent now or not at all (not kept for a client that is away), QoS 1 and 2
take a packet id while the inflight window (the client's Receive Maximum)
has room and wait in the session's bounded queue otherwise. Each PUBLISH is
encoded for its connection: the expiry left (MQTT 5.0, 3.3.2.3.3), a topic
alias, and the client's Maximum Packet Size (a PUBLISH over it is not sent,
3.1.2.11.4).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING

from earlgate.mqtt import packets as p
from earlgate.mqtt.actions import Actions, Send
from earlgate.mqtt.codec import encode
from earlgate.mqtt.mapping import Message, remaining_expiry
from earlgate.mqtt.metrics import MqttMetrics
from earlgate.mqtt.outbound import Outbound
from earlgate.mqtt.properties import Properties
from earlgate.mqtt.shared import SharedCopy

if TYPE_CHECKING:
    from earlgate.mqtt.session import Link

__all__ = ["OutgoingMixin"]

_NONE = Properties()  # never changed: only PUBLISHes to MQTT 5 clients get properties set


class OutgoingMixin:
    """The outgoing publish half of an MQTT session: see the module docstring."""

    metrics: MqttMetrics
    outbound: Outbound
    link: Link
    connected: bool
    wall: Callable[[], float]

    def offer(
        self,
        message: Message,
        qos: int,
        retain: bool,
        sub_ids: list[int],
        shared: SharedCopy | None = None,
    ) -> Actions:
        """Send ``message`` at ``qos``, or queue it behind the inflight window."""
        now = self.wall()
        if message.expires is not None and message.expires <= now:
            self.metrics.expired += 1
            return []
        if qos == 0 and self.link.version != p.V5:
            # 3.1.1 has no properties, and a QoS 0 PUBLISH is not kept to be sent again.
            publish = p.Publish(message.topic, message.payload, 0, retain, False, None, _NONE)
            return self._write_publish(publish, None) if self.connected else []
        props = Properties(
            payload_format=message.properties.payload_format,
            content_type=message.properties.content_type,
            response_topic=message.properties.response_topic,
            correlation_data=message.properties.correlation_data,
            user=message.properties.user,
            subscription_ids=sub_ids,
        )
        publish = p.Publish(message.topic, message.payload, qos, retain, False, None, props)
        if qos == 0:
            if not self.connected:
                return []  # QoS 0 is not kept for a client that is away
            return self._write_publish(publish, message.expires)
        if self.connected and self.outbound.has_room():
            expires = message.expires
            return self._write_publish(self.outbound.start(publish, expires, shared), expires)
        dropped = self.outbound.enqueue(publish, message.expires, shared)
        self.metrics.queue_dropped += dropped
        return []

    def _drain(self) -> Actions:
        """Send queued messages while the window has room."""
        actions: Actions = []
        if not self.connected:
            return actions
        now = self.wall()
        while (queued := self.outbound.next_queued()) is not None:
            publish, expires, shared = queued
            if expires is not None and expires <= now:
                self.metrics.expired += 1
                continue
            started = self.outbound.start(publish, expires, shared)
            actions += self._write_publish(started, expires)
        return actions

    def _write_publish(self, publish: p.Publish, expires: float | None) -> Actions:
        """Encode a PUBLISH for this connection: expiry left, topic alias, size limit."""
        link = self.link
        if link.version == p.V5:
            props = publish.properties
            if expires is not None:
                # 3.3.2.3.3: "the received value minus the time that the message
                # has been waiting in the Server" (at least 1 for one sent again).
                props.message_expiry = max(remaining_expiry(expires, self.wall()), 1)
            topic = publish.topic
            if link.alias_max:
                alias = link.aliases_out.get(topic)
                if alias is not None:
                    publish = _aliased(publish, "", alias)
                elif len(link.aliases_out) < link.alias_max:
                    alias = link.aliases_out[topic] = len(link.aliases_out) + 1
                    publish = _aliased(publish, topic, alias)
        raw = encode(publish, link.version)
        if link.max_packet_size is not None and len(raw) > link.max_packet_size:
            # 3.1.2.11.4: "the Server MUST NOT send" it; discarded as if delivered.
            self.metrics.too_large_for_client += 1
            if publish.qos and publish.packet_id in self.outbound.inflight:
                del self.outbound.inflight[publish.packet_id]
            return []
        if not self.connected:
            return []
        self.metrics.sent(p.PUBLISH)
        self.metrics.published_out[publish.qos] += 1
        return [Send(raw, publish.qos == 0)]


def _aliased(publish: p.Publish, topic: str, alias: int) -> p.Publish:
    """A copy of ``publish`` with a topic alias, so the stored one keeps its full topic."""
    props = dataclasses.replace(publish.properties, topic_alias=alias)
    return dataclasses.replace(publish, topic=topic, properties=props)
