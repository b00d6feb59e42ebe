"""MQTT sessions joined to the hub core: each session's hub side is a core session.

:class:`HubSide` is the hub core's :class:`~earlgate.hub.session.Session` for
one MQTT session: the core delivers to it and answers it as it does a
WebSocket connection, and it hands every frame to the MQTT session instead of
a socket, saying whether the frame is live or part of a subscribe's replay
(a retained value, which MQTT sends with RETAIN set). :class:`MqttBridge`
carries out the sessions' :mod:`~earlgate.mqtt.actions`: hub frames into
:meth:`Hub.handle_frame` (whose actions the hub's own
:class:`~earlgate.hub.effects.Effects` performs), bytes to the connection,
the session timers on the event loop, shared subscriptions through
:mod:`~earlgate.mqtt.sharing`. The hub core is not changed for MQTT:
grants, rate limits, load shedding and the broker's verdicts apply to MQTT
clients as they do to WebSocket ones.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

import orjson

from earlgate.hub.core import Hub
from earlgate.hub.effects import Effects
from earlgate.hub.session import Session, TokenBucket
from earlgate.mqtt import packets as p
from earlgate.mqtt.actions import (
    Actions,
    ArmTimer,
    CloseLink,
    EndSession,
    Handover,
    HubFrame,
    JoinShare,
    LeaveShare,
    Send,
)
from earlgate.mqtt.bridgestore import StoreBridge
from earlgate.mqtt.keeper import SessionKeeper
from earlgate.mqtt.mapping import Message, from_frame
from earlgate.mqtt.marks import Marks
from earlgate.mqtt.metrics import MqttMetrics
from earlgate.mqtt.record import SessionRecord
from earlgate.mqtt.session import MqttSession
from earlgate.mqtt.sessions import Accepted, Refused, Sessions
from earlgate.mqtt.sharing import Sharing

logger = logging.getLogger(__name__)


class Link(Protocol):
    """One client connection, as the bridge writes to and closes it."""

    transport: str  # "tcp" or "websocket", as /stats shows it

    def write(self, raw: bytes, droppable: bool) -> None: ...

    def close(self) -> None: ...


class HubSide(Session):
    """The core session of one MQTT session (see the module docstring)."""

    __slots__ = ("_history", "_live", "bridge", "mqtt")

    def __init__(self, bridge: MqttBridge, mqtt: MqttSession, accepted: Accepted) -> None:
        config = bridge.hub.config
        bucket = None
        if config.max_publish_rate > 0:
            rate = config.max_publish_rate
            bucket = TokenBucket(rate, rate, bridge.hub.clock())
        super().__init__(
            self._queued,
            self._closed,
            send_buffer=config.send_buffer,
            policy=config.slow_consumer,
            grants=accepted.grants,
            bucket=bucket,
            name=f"mqtt:{mqtt.client_id}",
        )
        self.bridge = bridge
        self.mqtt = mqtt
        self._live = False
        # Durable messages a replay carries, in the order their frames follow:
        # live to the MQTT session (not retained values), and marked.
        self._history: deque[tuple[str, int]] = deque()

    def deliver(self, subject: str, raw: bytes, offset: int | None) -> int:
        if offset is not None:
            marks = self.mqtt.marks
            if marks is not None:
                epoch = self.bridge.epoch_of(raw)
                if epoch is not None:
                    marks.seen(subject, offset, epoch)
        if self.replaying:
            return Session.deliver(self, subject, raw, offset)  # held until the replay ends
        bridge = self.bridge
        handing = bridge._handing
        if handing is not None and handing.topic == subject:
            bridge._last = (raw, handing)  # an MQTT publish being handed to the core
        return bridge.from_hub(self, raw, True)

    def send(self, raw: bytes) -> int:
        if self._history and self.bridge.message_of(raw) is not None:
            subject, offset = self._history.popleft()
            marks = self.mqtt.marks
            epoch = self.bridge.epoch_of(raw)
            if marks is not None and epoch is not None:
                marks.seen(subject, offset, epoch)
            return self.bridge.from_hub(self, raw, True)
        return self.bridge.from_hub(self, raw, self._live)

    def replayed(self, subject: str, offset: int) -> None:
        Session.replayed(self, subject, offset)
        self._history.append((subject, offset))

    def end_replay(self) -> int:
        self._live = True  # what was held back meanwhile is live
        try:
            return Session.end_replay(self)
        finally:
            self._live = False

    def _queued(self, raw: bytes) -> None:
        self.bridge.from_hub(self, raw, True)

    def _closed(self, code: int, reason: str) -> None:
        self.bridge.perform(self.mqtt, self.mqtt.hub_closed(code, reason))


class MqttBridge(StoreBridge):
    """Every MQTT session of one hub process, and what their actions do.

    Args:
        hub: the hub core the sessions publish and subscribe through.
        effects: the hub's performer of core actions.
        sessions: the sessions by client id.
        metrics: the MQTT counters.
        keep: whether kept sessions go to the broker's store (a broker shared
            by several hub processes: :mod:`~earlgate.mqtt.keeper`).
    """

    def __init__(
        self,
        hub: Hub,
        effects: Effects,
        sessions: Sessions,
        metrics: MqttMetrics,
        keep: bool = False,
    ) -> None:
        self.hub = hub
        self.effects = effects
        self.sessions = sessions
        self.metrics = metrics
        self.clock: Callable[[], float] = sessions.clock
        self.links: dict[MqttSession, Link] = {}
        self.sides: dict[MqttSession, HubSide] = {}
        self._timers: dict[MqttSession, asyncio.TimerHandle] = {}
        self._last: tuple[bytes, Message] | None = None  # one frame fans out to many sessions
        self._handing: Message | None = None  # the MQTT publish the core is taking now
        self._epoch: tuple[bytes, str | None] = (b"", None)  # of the last durable frame
        self.sharing = Sharing(self, metrics)
        self.keeper = SessionKeeper(hub.broker, hub.config, self._let_go) if keep else None
        self._durable = keep and hub.broker.has_durable()
        # CONNECTs waiting for the store, with the packets their clients sent meanwhile.
        self._waiting: dict[MqttSession, list[p.Packet]] = {}

    # -- connections ------------------------------------------------------

    def connect(self, link: Link, packet: p.Connect) -> MqttSession | None:
        """A CONNECT on ``link``: the session it attaches to, or None (refused: close)."""
        config = self.hub.config
        at_capacity = self.hub.metrics.connections_open >= config.max_connections
        outcome = self.sessions.connect(packet, at_capacity)
        if isinstance(outcome, Refused):
            link.write(outcome.raw, False)
            return None
        session = outcome.session
        if outcome.before:
            self.perform(outcome.old or session, outcome.before)
        keeper = self.keeper
        if keeper is not None and outcome.new and outcome.assigned_id is None:
            task = keeper.take(session.client_id)  # another hub lets go of it, if it held it
            if not packet.clean_start:  # 3.1.2.4: then the session it kept is taken up
                self.links[session] = link
                self._waiting[session] = []
                task.add_done_callback(lambda done: self._took(session, outcome, packet, done))
                return session
        self._attach(link, session, outcome, packet, None)
        return session

    def _attach(
        self,
        link: Link,
        session: MqttSession,
        outcome: Accepted,
        packet: p.Connect,
        record: SessionRecord | None,
    ) -> None:
        if outcome.new:
            session.hold_subacks = self.keeper is not None
            if self._durable and _kept(packet):
                session.marks = Marks()  # positions to save (not for a session that ends)
            side = HubSide(self, session, outcome)
            self.sides[session] = side
            self.effects.perform(self.hub.open_session(side))
            if record is not None:
                self.perform(session, session.restore(record))
        elif outcome.token is not None:
            # The new connection's token replaces the old one's grants; the
            # subscriptions it no longer allows are dropped (the ack's ``revoked``).
            frame_id = session.next_frame_id()
            session.pending[frame_id] = ("auth",)
            frame = {"type": "auth", "token": outcome.token, "id": frame_id}
            self.perform(session, [HubFrame(orjson.dumps(frame))])
            self.sharing.recheck(session)
        self.links[session] = link
        self.metrics.connections_opened += 1
        attached = session.attach(packet, outcome.present, outcome.assigned_id, link.transport)
        session.keep_due = True  # saved if kept (the expiry is known now)
        self.perform(session, attached)

    def received(self, session: MqttSession, packet: p.Packet) -> None:
        if self._waiting:
            waiting = self._waiting.get(session)
            if waiting is not None:  # sent before the CONNACK: after it, in order
                waiting.append(packet)
                return
        self.perform(session, session.receive(packet))

    def lost(self, link: Link, session: MqttSession, message: str) -> None:
        """``link`` closed; if it still was the session's connection, that counts as abnormal."""
        if self._waiting.pop(session, None) is not None:
            self.links.pop(session, None)
            self.sessions.forget(session)  # never attached: nothing to end
            return
        if self.links.get(session) is link:
            del self.links[session]
            self.perform(session, session.connection_lost(message))

    def shutdown(self) -> None:
        """The hub stops: every session ends (their wills are published; their
        records stay in the store, for another hub to take them up)."""
        self.sharing.stopping = True
        if self.keeper is not None:
            self.keeper.stop()
        for session in list(self.sessions.by_id.values()):
            self.perform(session, session.shutdown())

    # -- what sessions ask for --------------------------------------------

    def perform(self, session: MqttSession, actions: Actions) -> None:
        for action in actions:
            if isinstance(action, Send):
                link = self.links.get(session)
                if link is not None:
                    link.write(action.raw, action.droppable)
            elif isinstance(action, HubFrame):
                side = self.sides.get(session)
                if side is not None:
                    # What the core delivers meanwhile (this process, in-memory
                    # broker) is this message: see HubSide.deliver.
                    self._handing = action.message
                    try:
                        answer = self.hub.handle_frame(side, action.raw)
                        if answer:
                            self.effects.perform(answer)
                    finally:
                        self._handing = None
            elif isinstance(action, CloseLink):
                link = self.links.pop(session, None)
                if link is not None:
                    link.close()
            elif isinstance(action, ArmTimer):
                self._arm(session, action.at)
            elif isinstance(action, EndSession):
                self._end(session)
            elif isinstance(action, JoinShare):
                self.sharing.join(session, action.key, action.frame_id)
            elif isinstance(action, LeaveShare):
                self.sharing.leave(session, action.key)
            elif isinstance(action, Handover):
                self.sharing.hand_over(action)
        if session.keep_due:
            self._keep(session)

    def _end(self, session: MqttSession) -> None:
        self._arm(session, None)
        if self.keeper is not None:
            self.keeper.drop(session)
        self.sessions.forget(session)
        self.sharing.leave_all(session)
        side = self.sides.pop(session, None)
        if side is not None:
            self.effects.perform(self.hub.close_session(side))
        link = self.links.pop(session, None)
        if link is not None:
            link.close()

    def _arm(self, session: MqttSession, at: float | None) -> None:
        timer = self._timers.pop(session, None)
        if timer is not None:
            timer.cancel()
        if at is not None:
            delay = max(at - self.clock(), 0.0)
            loop = asyncio.get_running_loop()
            self._timers[session] = loop.call_later(delay, self._due, session)

    def _due(self, session: MqttSession) -> None:
        self._timers.pop(session, None)
        self.perform(session, session.timer_due())

    # -- what the hub core sends ------------------------------------------

    def from_hub(self, side: HubSide, raw: bytes, live: bool) -> int:
        """A frame the core wrote to ``side``; returns the messages the session dropped."""
        session = side.mqtt
        cached = self._last
        if cached is not None and cached[0] is raw:
            message = cached[1]
        else:
            frame = _parse(raw)
            if frame is None:
                logger.warning("hub frame for %r is not a JSON object", session)
                return 0
            if frame.get("type") not in _PUBLISH_TYPES:
                self.perform(session, session.hub_answer(frame))
                return 0
            message = from_frame(raw, frame)
            self._last = (raw, message)
        dropped = session.outbound.dropped
        self.perform(session, session.deliver(message, live))
        return session.outbound.dropped - dropped

    def message_of(self, raw: bytes) -> Message | None:
        """The message of a publish frame the core delivers (None: not one)."""
        cached = self._last
        if cached is not None and cached[0] is raw:
            return cached[1]
        frame = _parse(raw)
        if frame is None or frame.get("type") not in _PUBLISH_TYPES:
            return None
        message = from_frame(raw, frame)
        self._last = (raw, message)
        return message

    def statistics(self) -> dict[str, int]:
        """Gauges for /metrics, summed over the sessions."""
        totals = {"inflight_out": 0, "queued": 0, "inflight_in": 0}
        for session in self.sessions.by_id.values():
            for name, value in session.statistics().items():
                totals[name] += value
        totals["connections"] = len(self.links)
        totals["sessions"] = len(self.sessions)
        totals["shared_groups"] = len(self.sharing)
        return totals


_PUBLISH_TYPES = ("publish", "publisher")


def _kept(packet: p.Connect) -> bool:
    """Whether the CONNECT asks for a session that outlives the connection."""
    if packet.protocol_level == p.V5:
        return bool(packet.properties.session_expiry)
    return not packet.clean_start


def _parse(raw: bytes) -> dict[str, Any] | None:
    try:
        frame = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return frame if isinstance(frame, dict) else None
