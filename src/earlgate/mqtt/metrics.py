"""What the hub counts about MQTT: packets by type each way, QoS flows, refusals.

Plain integers, updated on the hot path; :mod:`~earlgate.mqtt.exposition`
reads them when ``/metrics`` is scraped, with the gauges (connections,
sessions, flows in flight, queued messages) that the server computes then.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from earlgate.mqtt.codec import PACKET_NAMES


@dataclass
class MqttMetrics:
    """Totals since the hub started, shared by every MQTT connection and session."""

    packets_in: Counter[str] = field(default_factory=Counter)  # by packet type name
    packets_out: Counter[str] = field(default_factory=Counter)
    published_in: Counter[int] = field(default_factory=Counter)  # PUBLISH by QoS
    published_out: Counter[int] = field(default_factory=Counter)
    connections_opened: int = 0
    connects_refused: Counter[str] = field(default_factory=Counter)  # by reason code (hex)
    refused_publishes: int = 0  # refused by the hub (ACL, subject, rate): dropped or answered
    refused_subscriptions: int = 0
    queue_dropped: int = 0  # QoS >= 1 messages dropped from a full session queue
    outbox_dropped: int = 0  # QoS 0 messages dropped for a connection that reads too slowly
    expired: int = 0  # messages past their MQTT 5 expiry, not sent
    too_large_for_client: int = 0  # not sent: over the client's maximum packet size
    redelivered: int = 0  # PUBLISH sent again with DUP on a resumed session
    wills: int = 0  # will messages published
    keep_alive_timeouts: int = 0
    protocol_errors: int = 0  # connections closed for a malformed or forbidden packet
    shared_delivered: int = 0  # messages of shared subscriptions, each given to one member
    shared_handed_over: int = 0  # ... given to another member when a session ended
    shared_dropped: int = 0  # ... that no member could take (all away, at QoS 0)

    def received(self, kind: int) -> None:
        self.packets_in[PACKET_NAMES.get(kind, "UNKNOWN")] += 1

    def sent(self, kind: int) -> None:
        self.packets_out[PACKET_NAMES.get(kind, "UNKNOWN")] += 1
