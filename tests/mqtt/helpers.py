"""A session under test: injected clocks, packets in, decoded packets and hub frames out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from earlgate.hub.config import HubConfig
from earlgate.mqtt import packets as p
from earlgate.mqtt.actions import (
    Action,
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
from earlgate.mqtt.codec import Decoder
from earlgate.mqtt.mapping import Message
from earlgate.mqtt.metrics import MqttMetrics
from earlgate.mqtt.properties import Properties
from earlgate.mqtt.session import MqttSession


@dataclass
class Clock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Harness:
    """One session and what it said, split by kind."""

    session: MqttSession
    version: int
    clock: Clock
    wall: Clock
    metrics: MqttMetrics
    sent: list[p.Packet] = field(default_factory=list)
    frames: list[dict[str, Any]] = field(default_factory=list)
    closed: list[str] = field(default_factory=list)
    timers: list[float | None] = field(default_factory=list)
    shares: list[Action] = field(default_factory=list)  # JoinShare, LeaveShare, Handover
    ended: bool = False

    def take(self, actions: Actions) -> list[p.Packet]:
        """Record ``actions``; return the packets among them."""
        decoder = Decoder(version=self.version)
        out: list[p.Packet] = []
        for action in actions:
            if isinstance(action, Send):
                out += decoder.packets(action.raw)
            elif isinstance(action, HubFrame):
                self.frames.append(orjson.loads(action.raw))
            elif isinstance(action, CloseLink):
                self.closed.append(action.message)
            elif isinstance(action, ArmTimer):
                self.timers.append(action.at)
            elif isinstance(action, EndSession):
                self.ended = True
            elif isinstance(action, JoinShare | LeaveShare | Handover):
                self.shares.append(action)
        self.sent += out
        return out

    def send(self, packet: p.Packet) -> list[p.Packet]:
        return self.take(self.session.receive(packet))

    def answer(self, frame: dict[str, Any], error: str | None = None) -> list[p.Packet]:
        """The hub's ack (or error ``error``) for a frame the session sent."""
        if error is None:
            answer: dict[str, Any] = {"type": "ack", "id": frame["id"]}
        else:
            answer = {"type": "error", "code": error, "reason": f"{error} here", "id": frame["id"]}
        return self.take(self.session.hub_answer(answer))

    def deliver(self, message: Message, live: bool = True) -> list[p.Packet]:
        return self.take(self.session.deliver(message, live))

    def subscribe(self, *filters: str, qos: int = 1, **options: Any) -> list[p.Packet]:
        """SUBSCRIBE and let the hub ack every filter; returns the SUBACK and what follows."""
        requests = [p.SubscriptionRequest(f, qos, **options) for f in filters]
        self.send(p.Subscribe(self.next_id(), requests))
        out: list[p.Packet] = []
        for frame in self.frames[-len(filters) :]:
            out += self.answer(frame)
        return out

    def next_id(self) -> int:
        self._ids = getattr(self, "_ids", 0) + 1
        return self._ids


def make(
    version: int = p.V5,
    *,
    config: HubConfig | None = None,
    clean: bool = True,
    keep_alive: int = 0,
    properties: Properties | None = None,
    will: p.Will | None = None,
    tag: str = "tag1",
    shared: bool = False,
) -> tuple[Harness, list[p.Packet]]:
    """A connected session; returns it and the packets of its attach (the CONNACK first)."""
    clock, wall, metrics = Clock(), Clock(1_700_000_000.0), MqttMetrics()
    session = MqttSession("c1", config or HubConfig(), metrics, clock, wall, tag, shared)
    harness = Harness(session, version, clock, wall, metrics)
    connect = p.Connect(
        version, "c1", clean, keep_alive, None, None, will, properties or Properties()
    )
    return harness, harness.take(session.attach(connect, False, None))


def reconnect(harness: Harness, present: bool = True, **props: Any) -> list[p.Packet]:
    connect = p.Connect(harness.version, "c1", False, 0, None, None, None, Properties(**props))
    return harness.take(harness.session.attach(connect, present, None))


def message(topic: str = "a/b", payload: bytes = b"1", qos: int = 1, **kw: Any) -> Message:
    return Message(topic, payload, qos, **kw)
