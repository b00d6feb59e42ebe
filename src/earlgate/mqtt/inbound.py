"""PUBLISH from the client: the QoS 1 and 2 flows toward the hub (MQTT 5.0, 4.3).

Part of :class:`~earlgate.mqtt.session.MqttSession` (a base class of it). A
QoS 1 or 2 PUBLISH becomes a hub publish frame with an ``id``; the PUBACK or
PUBREC waits for the hub's verdict on it (accepted by the broker; stored, on
a durable subject), so that an acknowledged message is never lost by the
hub. QoS 2 is "method A" of 4.3.3: the message goes to the hub on the
PUBLISH, and its packet id is kept until the PUBREL so that a PUBLISH sent
again is acknowledged but not delivered twice. MQTT 5 topic aliases are
resolved here; the client's unacknowledged publishes are bounded by the
Receive Maximum the CONNACK announced.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from earlgate.hub.config import HubConfig
from earlgate.mqtt import packets as p
from earlgate.mqtt import reasons as r
from earlgate.mqtt.actions import Actions, HubFrame
from earlgate.mqtt.mapping import message_of, to_frame
from earlgate.mqtt.metrics import MqttMetrics
from earlgate.mqtt.properties import Properties
from earlgate.wire import codes

if TYPE_CHECKING:
    from earlgate.mqtt.session import Link

# Hub error codes as reason codes of a PUBACK or PUBREC (MQTT 5.0, 3.4.2.1).
PUBLISH_REFUSALS = {
    codes.FORBIDDEN: r.NOT_AUTHORIZED,
    codes.BAD_SUBJECT: r.TOPIC_NAME_INVALID,
    codes.RATE_LIMITED: r.QUOTA_EXCEEDED,
}


class InboundMixin:
    """The inbound publish half of an MQTT session: see the module docstring."""

    config: HubConfig
    metrics: MqttMetrics
    publishing: dict[int, int]
    awaiting_release: set[int]
    pending: dict[int, tuple[Any, ...]]
    tag: str
    wall: Callable[[], float]
    link: Link
    has_no_local: bool

    # provided by MqttSession
    def send(self, packet: p.Packet, droppable: bool = False) -> Actions:
        raise NotImplementedError

    def reason_props(self, reason: str) -> Properties:
        raise NotImplementedError

    def next_frame_id(self) -> int:
        raise NotImplementedError

    def protocol_error(self, error: r.MqttError) -> Actions:
        raise NotImplementedError

    def publish_in(self, packet: p.Publish) -> Actions:
        link = self.link
        props = packet.properties
        topic = packet.topic
        alias = props.topic_alias
        if alias is not None:
            most = self.config.mqtt_topic_alias_max
            if alias > most:
                error = f"topic alias {alias} is over the maximum {most}"
                return self.protocol_error(r.MqttError(r.TOPIC_ALIAS_INVALID, error))
            if topic:
                link.aliases_in[alias] = topic
            else:
                known = link.aliases_in.get(alias)
                if known is None:
                    error = f"topic alias {alias} was never set on this connection"
                    return self.protocol_error(r.MqttError(r.PROTOCOL_ERROR, error))
                topic = known
            props.topic_alias = None
        elif not topic:
            error = "PUBLISH without a topic name or a topic alias"
            return self.protocol_error(r.MqttError(r.PROTOCOL_ERROR, error))
        if props.subscription_ids:
            error = "a client's PUBLISH carries a subscription identifier"
            return self.protocol_error(r.MqttError(r.PROTOCOL_ERROR, error))
        packet.topic = topic
        self.metrics.published_in[packet.qos] += 1
        if _not_utf8(packet):
            return self._refuse_publish(packet, r.PAYLOAD_FORMAT_INVALID, "payload is not UTF-8")
        origin = self.tag if self.has_no_local else None
        now = self.wall()
        if packet.qos == 0:
            message = message_of(packet, now=now, origin=origin)
            return [HubFrame(to_frame(packet, now=now, origin=origin), message)]
        packet_id = packet.packet_id or 0
        if packet_id in self.publishing:
            return []  # a DUP of a publish whose verdict is on its way
        if packet.qos == 2 and packet_id in self.awaiting_release:
            # 4.3.3: the receiver "MUST respond with a PUBREC" again and not deliver twice.
            return self.send(p.PubRec(packet_id))
        if link.version == p.V5 and self.inbound_in_flight() >= self.config.mqtt_max_inflight:
            error = f"more than {self.config.mqtt_max_inflight} QoS 1 and 2 publishes in flight"
            return self.protocol_error(r.MqttError(r.RECEIVE_MAXIMUM_EXCEEDED, error))
        frame_id = self.next_frame_id()
        self.publishing[packet_id] = frame_id
        self.pending[frame_id] = ("publish", packet_id, packet.qos)
        raw = to_frame(packet, now=now, frame_id=frame_id, origin=origin)
        return [HubFrame(raw, message_of(packet, now=now, origin=origin))]

    def inbound_in_flight(self) -> int:
        return len(self.publishing) + len(self.awaiting_release)

    def _refuse_publish(self, packet: p.Publish, reason: int, message: str) -> Actions:
        self.metrics.refused_publishes += 1
        if not packet.qos:
            return []
        return self._answer_publish(packet.packet_id or 0, packet.qos, reason, message)

    def _answer_publish(self, packet_id: int, qos: int, reason: int, message: str) -> Actions:
        """PUBACK or PUBREC for a publish the hub took (``reason`` 0) or refused.

        3.1.1 has no way to refuse: the message is dropped and acknowledged all
        the same, so that the client does not send it again for ever.
        """
        if self.link.version != p.V5:
            reason = r.SUCCESS
        props = self.reason_props(message) if reason else Properties()
        if qos == 1:
            return self.send(p.PubAck(packet_id, reason, props))
        if reason < 0x80:
            self.awaiting_release.add(packet_id)
        return self.send(p.PubRec(packet_id, reason, props))

    def pubrel_in(self, packet: p.PubRel) -> Actions:
        packet_id = packet.packet_id
        if packet_id in self.awaiting_release:
            self.awaiting_release.discard(packet_id)
            return self.send(p.PubComp(packet_id))
        reason = r.PACKET_ID_NOT_FOUND if self.link.version == p.V5 else r.SUCCESS
        return self.send(p.PubComp(packet_id, reason))

    def publish_answer(
        self, entry: tuple[Any, ...], frame_id: int, error: Any, reason: str
    ) -> Actions:
        """The hub's verdict on a QoS 1 or 2 publish: acknowledge it, or say why not."""
        _, packet_id, qos = entry
        if self.publishing.get(packet_id) == frame_id:
            del self.publishing[packet_id]
        if error is None:
            return self._answer_publish(packet_id, qos, r.SUCCESS, "")
        self.metrics.refused_publishes += 1
        refusal = PUBLISH_REFUSALS.get(str(error), r.UNSPECIFIED_ERROR)
        return self._answer_publish(packet_id, qos, refusal, reason)


def _not_utf8(packet: p.Publish) -> bool:
    """3.3.2.3.2: a payload said to be UTF-8 (payload format 1) that is not."""
    if packet.properties.payload_format != 1:
        return False
    try:
        packet.payload.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False
