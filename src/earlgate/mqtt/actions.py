"""What an MQTT session asks its I/O layer to do: the actions its methods return.

:class:`~earlgate.mqtt.session.MqttSession` methods return a list of actions,
carried out in order by :mod:`~earlgate.mqtt.bridge`: bytes to write to the
client's connection, hub frames to hand to the hub core (whose answers come
back as :meth:`MqttSession.hub_frame`), closing the connection, the one timer
a session keeps, and the end of the session.
"""

from __future__ import annotations

from typing import NamedTuple

from earlgate.mqtt.mapping import Message
from earlgate.mqtt.shared import SharedCopy, ShareKey


class Send(NamedTuple):
    """Write ``raw`` (one encoded packet) to the client's connection.

    ``droppable``: a QoS 0 PUBLISH, which a slow reader's outbox may drop.
    """

    raw: bytes
    droppable: bool = False


class HubFrame(NamedTuple):
    """Hand ``raw`` (a publish, subscribe, unsubscribe or auth frame) to the hub core.

    ``message``: for a publish, the message this process's MQTT subscribers
    get (:func:`~earlgate.mqtt.mapping.message_of`), so that what the core
    delivers while it takes the publish is not parsed back from ``raw``.
    """

    raw: bytes
    message: Message | None = None


class CloseLink(NamedTuple):
    """Close the client's connection (after what was sent before); ``message`` for logs."""

    message: str


class ArmTimer(NamedTuple):
    """(Re)arm the session's one timer for monotonic time ``at`` (None: disarm);
    when it fires, call :meth:`MqttSession.timer_due`."""

    at: float | None


class EndSession(NamedTuple):
    """The session is over: unsubscribe it from the hub and forget it."""


class JoinShare(NamedTuple):
    """Make the session a member of shared subscription ``key``; answer with
    :meth:`MqttSession.hub_answer` (an ``ack`` or ``error`` with ``frame_id``)."""

    key: ShareKey
    frame_id: int


class LeaveShare(NamedTuple):
    """The session is no longer a member of shared subscription ``key``."""

    key: ShareKey


class Handover(NamedTuple):
    """The session ended with these shared-subscription messages not received by its
    client: offer each to another member of its group (MQTT 5.0, 4.8.2)."""

    copies: tuple[SharedCopy, ...]


Action = Send | HubFrame | CloseLink | ArmTimer | EndSession | JoinShare | LeaveShare | Handover
Actions = list[Action]
