"""One MQTT client's session: packets and hub frames in, actions out, no I/O.

Theory of operation. A session outlives its connections (``clean_start`` 0
and a session expiry): its subscriptions, the QoS 1 and 2 flows both ways and
the queue of messages for the client stay while the client is away. The hub
side is the hub's own WebSocket protocol, spoken in-process: a PUBLISH is a
publish frame (:mod:`~earlgate.mqtt.mapping`), with an ``id`` when its QoS
needs the hub's verdict before the PUBACK or PUBREC; a SUBSCRIBE is one
subscribe frame per filter (``last`` for the retained values); the hub's
``ack`` and ``error`` frames come back through :meth:`MqttSession.hub_answer`
and the messages it delivers through :meth:`MqttSession.deliver`.

Events: :meth:`~MqttSession.attach` (a CONNECT was accepted),
:meth:`~MqttSession.receive` (a packet), :meth:`~MqttSession.deliver` and
:meth:`~MqttSession.hub_answer` (from the hub), :meth:`~MqttSession.timer_due`,
:meth:`~MqttSession.connection_lost`, :meth:`~MqttSession.protocol_error`.
Each returns :mod:`~earlgate.mqtt.actions`. Clocks are injected.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from earlgate.hub.config import HubConfig
from earlgate.mqtt import packets as p
from earlgate.mqtt import reasons as r
from earlgate.mqtt.actions import Actions, ArmTimer, CloseLink, EndSession, Handover, HubFrame, Send
from earlgate.mqtt.codec import encode
from earlgate.mqtt.inbound import InboundMixin
from earlgate.mqtt.keeping import KeepingMixin
from earlgate.mqtt.mapping import to_frame
from earlgate.mqtt.metrics import MqttMetrics
from earlgate.mqtt.outbound import Outbound
from earlgate.mqtt.outgoing import OutgoingMixin
from earlgate.mqtt.properties import Properties
from earlgate.mqtt.subscribe import SubscribeMixin, Subscription
from earlgate.wire import codes

MAX_REASON_STRING = 200  # characters of a hub reason sent as an MQTT 5 reason string
NEVER_EXPIRES = 0xFFFFFFFF  # MQTT 5 3.1.2.11.2: the session does not expire


@dataclass(slots=True)
class Link:
    """What one connection set up for the session (MQTT 5 CONNECT properties)."""

    version: int = p.V311
    keep_alive: int = 0  # seconds; 0: none
    max_packet_size: int | None = None  # the client's, for what the hub sends
    alias_max: int = 0  # topic aliases the client accepts from the hub
    aliases_in: dict[int, str] = field(default_factory=dict)
    aliases_out: dict[str, int] = field(default_factory=dict)
    problem_info: bool = True  # reason strings on acks allowed
    transport: str = "tcp"  # what carries it: "tcp" (the MQTT port) or "websocket" (/mqtt)


class MqttSession(InboundMixin, OutgoingMixin, SubscribeMixin, KeepingMixin):
    """The state of one client id and its protocol logic (see the module docstring).

    Args:
        client_id: the session's client identifier.
        config: the hub's settings (the ``mqtt_*`` limits).
        metrics: the MQTT counters, shared by all sessions.
        clock: monotonic seconds (keep-alive, will delay, session expiry).
        wall: seconds since the epoch (message expiry).
        tag: a short string unique to this session, marking its publishes
            while it holds a no-local subscription.
        shared_available: whether this hub process can deliver shared
            subscriptions (:mod:`~earlgate.mqtt.sharing`); else they are refused.
    """

    def __init__(
        self,
        client_id: str,
        config: HubConfig,
        metrics: MqttMetrics,
        clock: Callable[[], float],
        wall: Callable[[], float],
        tag: str,
        shared_available: bool = False,
    ) -> None:
        self.client_id = client_id
        self.shared_available = shared_available
        self.config = config
        self.metrics = metrics
        self.clock = clock
        self.wall = wall
        self.tag = tag
        self.link = Link()
        self.connected = False
        self.since = wall()  # connected, or kept without a connection, since then (for /stats)
        self.ended = False
        self.expiry = 0.0  # seconds the session outlives its connection
        self.will: p.Will | None = None
        self.subscriptions: dict[str, Subscription] = {}
        self.outbound = Outbound(config.mqtt_max_inflight, config.mqtt_max_queued)
        self.publishing: dict[int, int] = {}  # packet id -> frame id awaiting the hub's verdict
        self.awaiting_release: set[int] = set()  # QoS 2 packet ids PUBREC'd, before PUBREL
        self.pending: dict[int, tuple[Any, ...]] = {}  # frame id -> what its answer completes
        self._frame_ids = itertools.count(1)
        self._last_in = 0.0
        self._will_at: float | None = None
        self._expires_at: float | None = None
        SubscribeMixin.__init__(self)
        KeepingMixin.__init__(self)

    def __repr__(self) -> str:
        return f"<MqttSession {self.client_id!r} connected={self.connected}>"

    # -- sending ------------------------------------------------------------

    def send(self, packet: p.Packet, droppable: bool = False) -> Actions:
        if not self.connected:
            return []
        self.metrics.sent(packet.type)
        return [Send(encode(packet, self.link.version), droppable)]

    def reason_props(self, reason: str) -> Properties:
        """A reason string for an ack, where the client allows them (3.1.2.11.7)."""
        if self.link.version != p.V5 or not self.link.problem_info or not reason:
            return Properties()
        return Properties(reason_string=reason[:MAX_REASON_STRING])

    def close(self, reason: int, message: str) -> Actions:
        """The server ends the connection: MQTT 5 says why in a DISCONNECT; the
        will is published (3.1.2.5: the connection closed without a DISCONNECT 0x00)."""
        if not self.connected:
            return []
        actions: Actions = []
        if self.link.version == p.V5:
            props = Properties(reason_string=message[:MAX_REASON_STRING])
            actions += self.send(p.Disconnect(reason, props))
        return actions + self._detach(message, publish_will=True)

    def next_frame_id(self) -> int:
        return next(self._frame_ids)

    def _version(self) -> int:
        return self.link.version

    # -- connections ----------------------------------------------------------

    def attach(
        self, connect: p.Connect, present: bool, assigned_id: str | None, transport: str = "tcp"
    ) -> Actions:
        """A CONNECT for this session was accepted: CONNACK, then take up where it stood."""
        config = self.config
        props = connect.properties
        v5 = connect.protocol_level == p.V5
        self.link = Link(
            version=connect.protocol_level,
            keep_alive=connect.keep_alive,
            max_packet_size=props.maximum_packet_size if v5 else None,
            alias_max=(props.topic_alias_maximum or 0) if v5 else 0,
            problem_info=props.request_problem_info != 0,
            transport=transport,
        )
        self.connected = True
        self.since = self.wall()
        self._last_in = self.clock()
        self._will_at = self._expires_at = None
        self.will = connect.will
        self.outbound.quota = min(config.mqtt_max_inflight, props.receive_maximum or 0xFFFF)
        ack = Properties()
        if v5:
            asked = props.session_expiry or 0
            self.expiry = float(min(asked, config.mqtt_session_expiry_max))
            if asked == NEVER_EXPIRES and config.mqtt_session_expiry_max < asked:
                self.expiry = config.mqtt_session_expiry_max
            if self.expiry != asked:
                ack.session_expiry = int(self.expiry)
            ack.receive_maximum = config.mqtt_max_inflight
            ack.maximum_packet_size = config.mqtt_max_packet_size
            if config.mqtt_topic_alias_max:
                ack.topic_alias_maximum = config.mqtt_topic_alias_max
            ack.shared_available = 1 if self.shared_available else 0
            ack.assigned_client_id = assigned_id
        else:
            self.expiry = 0.0 if connect.clean_start else config.mqtt_session_expiry_max
        actions = self.send(p.ConnAck(present, r.SUCCESS, ack))
        # 4.4: "the Client and Server MUST resend any unacknowledged PUBLISH
        # packets (where QoS > 0) and PUBREL packets using their original
        # Packet Identifiers ... the DUP flag MUST be set to 1".
        for flow in self.outbound.unacknowledged():
            if flow.released:
                actions += self.send(p.PubRel(flow.publish.packet_id or 0))
            else:
                flow.publish.dup = True
                actions += self._write_publish(flow.publish, flow.expires)
                self.metrics.redelivered += 1
        actions += self._drain()
        actions.append(ArmTimer(self._next_timer()))
        return actions

    def connection_lost(self, message: str) -> Actions:
        """The connection went away without a DISCONNECT: the will applies."""
        if not self.connected:
            return []
        return self._detach(message, publish_will=True)

    def protocol_error(self, error: r.MqttError) -> Actions:
        """The client sent something malformed (4.13): say so (MQTT 5) and close."""
        self.metrics.protocol_errors += 1
        return self.close(error.reason, error.message)

    def taken_over(self) -> Actions:
        """Another connection took the client id (3.1.4-3): close this one."""
        return self.close(r.SESSION_TAKEN_OVER, "another connection took over the session")

    def shutdown(self) -> Actions:
        """The hub stops: close the connection and end the session (it lives in this process)."""
        actions = self.close(r.SERVER_SHUTTING_DOWN, "hub shutting down")
        return actions + self.end()

    def _detach(self, message: str, *, publish_will: bool) -> Actions:
        self.connected = False
        self.since = self.wall()
        actions: Actions = [CloseLink(message)]
        self.link.aliases_in.clear()
        self.link.aliases_out.clear()
        now = self.clock()
        if not publish_will:
            self.will = None
        delay = 0
        if self.will is not None and self.link.version == p.V5:
            delay = self.will.properties.will_delay or 0
        if self.expiry <= 0:
            return actions + self.end()
        self._expires_at = now + self.expiry
        self.keep_due = True  # saved with its positions, where the broker keeps sessions
        if self.will is not None:
            if delay <= 0:
                actions += self._publish_will()
            else:
                # 3.1.3.2.2: published after the will delay or when the session ends.
                self._will_at = now + min(delay, self.expiry)
        actions.append(ArmTimer(self._next_timer()))
        return actions

    def end(self) -> Actions:
        """The session is over: the will (if still due), then the hub forgets it."""
        if self.ended:
            return []
        actions: Actions = []
        if self.will is not None and not self.connected:
            actions += self._publish_will()
        self.ended = True
        self.connected = False
        self.will = None
        # 4.8.2: "If the Client's Session terminates before the Client reconnects,
        # the Server SHOULD send the Application Message to another Client that is
        # subscribed to the same Shared Subscription."
        unreceived = tuple(self.outbound.unreceived_shared())
        self.outbound.clear()
        actions += [ArmTimer(None), EndSession()]
        if unreceived:
            actions.append(Handover(unreceived))
        return actions

    def _publish_will(self) -> Actions:
        will, self.will = self.will, None
        self._will_at = None
        if will is None:
            return []
        self.metrics.wills += 1
        publish = p.Publish(
            will.topic, will.payload, will.qos, will.retain, False, None, will.properties
        )
        return [HubFrame(to_frame(publish, now=self.wall()))]

    # -- timers -------------------------------------------------------------

    def _next_timer(self) -> float | None:
        due = [t for t in (self._will_at, self._expires_at) if t is not None]
        if self.connected and self.link.keep_alive:
            # 3.1.2.10: "If the Keep Alive value is non-zero and the Server does not
            # receive an MQTT Control Packet from the Client within one and a half
            # times the Keep Alive time period, it MUST close the Network Connection"
            due.append(self._last_in + 1.5 * self.link.keep_alive)
        return min(due) if due else None

    def timer_due(self) -> Actions:
        now = self.clock()
        if self.ended:
            return []
        if self.connected:
            keep_alive = self.link.keep_alive
            if keep_alive and now >= self._last_in + 1.5 * keep_alive:
                self.metrics.keep_alive_timeouts += 1
                message = f"no packet within 1.5 x the keep alive of {keep_alive} s"
                return self.close(r.KEEP_ALIVE_TIMEOUT, message)
            return [ArmTimer(self._next_timer())]
        actions: Actions = []
        if self._expires_at is not None and now >= self._expires_at:
            return self.end()
        if self._will_at is not None and now >= self._will_at:
            actions += self._publish_will()
        actions.append(ArmTimer(self._next_timer()))
        return actions

    # -- packets from the client ----------------------------------------------

    def receive(self, packet: p.Packet) -> Actions:
        """One packet of the connected client."""
        self._last_in = self.clock()
        if isinstance(packet, p.Publish):
            return self.publish_in(packet)
        if isinstance(packet, p.PubAck):
            self.outbound.puback(packet.packet_id)
            return self._drain()
        if isinstance(packet, p.PubRec):
            return self._pubrec(packet)
        if isinstance(packet, p.PubRel):
            return self.pubrel_in(packet)
        if isinstance(packet, p.PubComp):
            self.outbound.pubcomp(packet.packet_id)
            return self._drain()
        if isinstance(packet, p.Subscribe):
            return self.subscribe_in(packet)
        if isinstance(packet, p.Unsubscribe):
            return self.unsubscribe_in(packet)
        if isinstance(packet, p.PingReq):
            return self.send(p.PingResp())
        if isinstance(packet, p.Disconnect):
            return self._disconnect_in(packet)
        name = type(packet).__name__.upper()
        reason = "AUTH without an authentication method" if isinstance(packet, p.Auth) else ""
        return self.protocol_error(
            r.MqttError(r.PROTOCOL_ERROR, reason or f"a client does not send {name}")
        )

    def _disconnect_in(self, packet: p.Disconnect) -> Actions:
        asked = packet.properties.session_expiry
        if asked is not None:
            if self.expiry == 0 and asked:
                # 3.14.2.2.2: a session expiry of 0 at CONNECT cannot be raised at DISCONNECT.
                return self.protocol_error(
                    r.MqttError(r.PROTOCOL_ERROR, "session expiry set at DISCONNECT after 0")
                )
            self.expiry = float(min(asked, self.config.mqtt_session_expiry_max))
        # 3.1.2.5: the will is removed on "a DISCONNECT packet with a Reason Code of 0x00".
        return self._detach("client disconnected", publish_will=packet.reason != r.SUCCESS)

    def _pubrec(self, packet: p.PubRec) -> Actions:
        answer = self.outbound.pubrec(packet.packet_id, packet.reason >= 0x80)
        if answer is None:  # 4.3.3: PUBREL with 0x92 for an id that is not in flight
            reason = r.PACKET_ID_NOT_FOUND if self.link.version == p.V5 else r.SUCCESS
            return self.send(p.PubRel(packet.packet_id, reason))
        if answer:
            return self.send(p.PubRel(packet.packet_id))
        return self._drain()

    # -- the hub's answers ------------------------------------------------------

    def hub_answer(self, frame: dict[str, Any]) -> Actions:
        """An ``ack`` or ``error`` frame of the hub for a frame this session sent."""
        frame_id = frame.get("id")
        entry = self.pending.pop(frame_id, None) if isinstance(frame_id, int) else None
        if entry is None:
            return []
        error = frame.get("code") if frame.get("type") == "error" else None
        reason = str(frame.get("reason", ""))
        if entry[0] == "publish":
            assert isinstance(frame_id, int)
            return self.publish_answer(entry, frame_id, error, reason)
        return self.subscription_answer(entry, error, reason, frame)

    def hub_closed(self, code: int, reason: str) -> Actions:
        """The hub ends the session's hub side: its token expired (close code 4001)."""
        mqtt_reason = r.NOT_AUTHORIZED if code == codes.CLOSE_TOKEN_EXPIRED else r.UNSPECIFIED_ERROR
        return self.close(mqtt_reason, reason) + self.end()

    def statistics(self) -> dict[str, int]:
        return {
            "inflight_out": len(self.outbound.inflight),
            "queued": len(self.outbound.queue),
            "inflight_in": self.inbound_in_flight(),
        }
