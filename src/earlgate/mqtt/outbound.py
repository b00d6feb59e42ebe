"""QoS 1 and 2 from the hub to one MQTT client: packet ids, the inflight window, the queue.

MQTT 5.0, 4.9: the server sends at most the client's Receive Maximum of QoS 1
and 2 PUBLISH packets without their acknowledgement (3.1.1 sets no number:
``mqtt_max_inflight`` bounds both). The rest wait in a queue of at most
``mqtt_max_queued`` messages, also while the client is away; past it the
oldest waiting message is dropped and counted. 4.4: on a resumed session the
unacknowledged PUBLISH packets are sent again with DUP set, and a PUBREL
again for those whose PUBREC came. A message of a shared subscription keeps
its :class:`~earlgate.mqtt.shared.SharedCopy`, so that what the client has not
received can go to another member when the session ends. Pure: messages and
packet ids in and out.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from earlgate.mqtt.packets import Publish
from earlgate.mqtt.shared import SharedCopy

MAX_PACKET_ID = 0xFFFF


@dataclass(slots=True)
class Outgoing:
    """One QoS 1 or 2 PUBLISH sent and not yet completed."""

    publish: Publish  # the full topic, its packet id and QoS
    expires: float | None  # wall-clock seconds, for the expiry sent on redelivery
    released: bool = False  # QoS 2: PUBREC came, PUBREL sent
    shared: SharedCopy | None = None  # sent for a shared subscription


# A message waiting for room in the window: the PUBLISH without its id yet.
Queued = tuple[Publish, float | None, SharedCopy | None]


class Outbound:
    """The inflight window and the queue of one session."""

    __slots__ = ("_next", "dropped", "inflight", "max_queued", "quota", "queue")

    def __init__(self, max_inflight: int, max_queued: int) -> None:
        self.quota = max_inflight  # lowered to the client's Receive Maximum on connect
        self.max_queued = max_queued
        self.inflight: dict[int, Outgoing] = {}
        self.queue: deque[Queued] = deque()
        self.dropped = 0  # messages dropped because the queue was full
        self._next = 1

    def has_room(self) -> bool:
        return len(self.inflight) < self.quota and not self.queue

    def start(
        self, publish: Publish, expires: float | None, shared: SharedCopy | None = None
    ) -> Publish:
        """Give ``publish`` (QoS >= 1) a free packet id and count it in flight."""
        packet_id = self._next
        while packet_id in self.inflight:
            packet_id = packet_id % MAX_PACKET_ID + 1
        self._next = packet_id % MAX_PACKET_ID + 1
        publish.packet_id = packet_id
        self.inflight[packet_id] = Outgoing(publish, expires, shared=shared)
        return publish

    def enqueue(
        self, publish: Publish, expires: float | None, shared: SharedCopy | None = None
    ) -> int:
        """Queue a message for later; return how many were dropped to make room."""
        if self.max_queued == 0:
            self.dropped += 1
            return 1
        dropped = 0
        while len(self.queue) >= self.max_queued:
            self.queue.popleft()
            dropped += 1
        self.queue.append((publish, expires, shared))
        self.dropped += dropped
        return dropped

    def next_queued(self) -> Queued | None:
        """The oldest waiting message, when the window has room for it."""
        if self.queue and len(self.inflight) < self.quota:
            return self.queue.popleft()
        return None

    # -- acknowledgements from the client (4.3.2, 4.3.3) ---------------------

    def puback(self, packet_id: int) -> bool:
        """PUBACK: the QoS 1 flow is over. False: no such flow (ignored)."""
        flow = self.inflight.get(packet_id)
        if flow is None or flow.publish.qos != 1:
            return False
        del self.inflight[packet_id]
        return True

    def pubrec(self, packet_id: int, failed: bool) -> bool | None:
        """PUBREC: True: answer PUBREL; False: the flow ended (a failure code);
        None: no such QoS 2 flow (MQTT 5: answer PUBREL with 0x92)."""
        flow = self.inflight.get(packet_id)
        if flow is None or flow.publish.qos != 2:
            return None
        if failed:
            del self.inflight[packet_id]
            return False
        flow.released = True
        return True

    def pubcomp(self, packet_id: int) -> bool:
        """PUBCOMP: the QoS 2 flow is over. False: no such released flow (ignored)."""
        flow = self.inflight.get(packet_id)
        if flow is None or not flow.released:
            return False
        del self.inflight[packet_id]
        return True

    def unacknowledged(self) -> list[Outgoing]:
        """The flows to take up again on a resumed session, oldest first."""
        return list(self.inflight.values())

    def unreceived_shared(self) -> list[SharedCopy]:
        """The shared-subscription messages the client does not have yet: queued, or
        in flight without their PUBREC (4.8.2: another member may get them)."""
        copies = [f.shared for f in self.inflight.values() if f.shared and not f.released]
        copies += [shared for _, _, shared in self.queue if shared is not None]
        return copies

    def clear(self) -> None:
        self.inflight.clear()
        self.queue.clear()
