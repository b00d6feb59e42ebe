"""The MQTT sessions of one hub process by client id, and the answer to a CONNECT.

:meth:`Sessions.connect` checks a CONNECT (3.1.4: client id, credentials,
the will's topic) and returns either the refusal to send (a CONNACK with the
reason: MQTT 5 reason codes, mapped down to 3.1.1's return codes) or the
session to attach, new or resumed, with what must happen first to a session
it replaces: a connection taken over (3.1.4-3), a session ended by a clean
start. Pure: the token verifier is the hub's, clocks are injected.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass

from earlgate.hub.auth import AuthError, Grants, TokenVerifier
from earlgate.hub.config import HubConfig
from earlgate.mqtt import packets as p
from earlgate.mqtt import reasons as r
from earlgate.mqtt.actions import Actions
from earlgate.mqtt.codec import encode
from earlgate.mqtt.metrics import MqttMetrics
from earlgate.mqtt.properties import Properties
from earlgate.mqtt.session import MAX_REASON_STRING, MqttSession
from earlgate.wire.subjects import SubjectError, check_subject

MAX_CLIENT_ID_BYTES = 256
ASSIGNED_PREFIX = "earlgate-"  # ids the hub gives clients that sent none


@dataclass(slots=True)
class Refused:
    """Answer ``raw`` (a CONNACK with a failure) and close."""

    raw: bytes
    reason: int
    message: str


@dataclass(slots=True)
class Accepted:
    """Attach ``session``; first carry out ``before`` on the session it replaces (``old``)."""

    session: MqttSession
    new: bool  # a new session: it needs its hub side
    present: bool  # CONNACK's session present
    assigned_id: str | None
    grants: Grants | None
    token: str | None
    old: MqttSession | None = None
    before: Actions | None = None


class Sessions:
    """Every MQTT session of the process, connected or waiting for its client."""

    def __init__(
        self,
        config: HubConfig,
        metrics: MqttMetrics,
        verifier: TokenVerifier | None,
        clock: Callable[[], float],
        wall: Callable[[], float],
        new_tag: Callable[[], str] = lambda: secrets.token_hex(6),
        shared_available: bool = False,
    ) -> None:
        self.config = config
        self.shared_available = shared_available  # what new sessions say in their CONNACK
        self.metrics = metrics
        self.verifier = verifier
        self.clock = clock
        self.wall = wall
        self.new_tag = new_tag
        self.by_id: dict[str, MqttSession] = {}

    def __len__(self) -> int:
        return len(self.by_id)

    def forget(self, session: MqttSession) -> None:
        if self.by_id.get(session.client_id) is session:
            del self.by_id[session.client_id]

    def connect(self, packet: p.Connect, at_capacity: bool) -> Accepted | Refused:
        """Decide on a CONNECT (the codec has checked its form)."""
        v5 = packet.protocol_level == p.V5
        client_id = packet.client_id
        assigned = None
        if not client_id:
            # 3.1.3.1: a 3.1.1 client without an id MUST ask for a clean session.
            if not v5 and not packet.clean_start:
                return self._refuse(
                    packet, r.CLIENT_ID_NOT_VALID, "an empty client id needs a clean session"
                )
            client_id = assigned = ASSIGNED_PREFIX + self.new_tag()
        elif len(client_id.encode()) > MAX_CLIENT_ID_BYTES:
            return self._refuse(
                packet,
                r.CLIENT_ID_NOT_VALID,
                f"client id is longer than {MAX_CLIENT_ID_BYTES} bytes",
            )
        if v5 and packet.properties.auth_method is not None:
            return self._refuse(
                packet,
                r.BAD_AUTHENTICATION_METHOD,
                "no extended authentication: send the token as the password",
            )
        grants, token = None, None
        if self.verifier is not None:
            if packet.password is None:
                return self._refuse(
                    packet, r.NOT_AUTHORIZED, "a token is needed: send it as the password"
                )
            try:
                token = packet.password.decode("utf-8")
                grants = self.verifier.verify(token)
            except (UnicodeDecodeError, AuthError) as exc:
                return self._refuse(packet, r.BAD_USERNAME_OR_PASSWORD, f"bad token: {exc}")
        will = packet.will
        if will is not None:
            try:
                check_subject(will.topic)
            except SubjectError as exc:
                if v5:  # 3.1.1 has no return code for it: refused when published
                    return self._refuse(packet, r.TOPIC_NAME_INVALID, f"will topic: {exc}")
            if grants is not None and not grants.may_publish(will.topic):
                return self._refuse(
                    packet,
                    r.NOT_AUTHORIZED,
                    f"not allowed to publish the will to {will.topic[:64]!r}",
                )
        old = self.by_id.get(client_id)
        before: Actions = []
        if old is not None and old.connected:
            before += old.taken_over()
        if old is not None and not old.ended and packet.clean_start:
            before += old.end()  # 3.1.2.4: Clean Start 1 discards the existing session
        if old is not None and not old.ended:
            return Accepted(old, False, True, assigned, grants, token, old, before)
        if at_capacity:
            return self._refuse(packet, r.SERVER_BUSY, "the hub is at its connection limit")
        session = MqttSession(
            client_id,
            self.config,
            self.metrics,
            self.clock,
            self.wall,
            self.new_tag(),
            self.shared_available,
        )
        self.by_id[client_id] = session
        return Accepted(session, True, False, assigned, grants, token, old, before)

    def _refuse(self, packet: p.Connect, reason: int, message: str) -> Refused:
        self.metrics.connects_refused[f"0x{reason:02X}"] += 1
        if packet.protocol_level == p.V5:
            ack = p.ConnAck(False, reason, Properties(reason_string=message[:MAX_REASON_STRING]))
        else:
            ack = p.ConnAck(False, r.connack_code_v4(reason))
        self.metrics.sent(p.CONNACK)
        return Refused(encode(ack, packet.protocol_level), reason, message)


def refusal(version: int, error: r.MqttError) -> bytes | None:
    """The CONNACK for a CONNECT the codec refused, or None where the protocol
    says to close without one (4.13; 3.1.1 has return codes only for a few)."""
    if version == p.V5:
        props = Properties(reason_string=error.message[:MAX_REASON_STRING])
        return encode(p.ConnAck(False, error.reason, props), p.V5)
    if error.reason == r.UNSUPPORTED_PROTOCOL_VERSION:
        return encode(p.ConnAck(False, r.V4_UNACCEPTABLE_PROTOCOL_VERSION), p.V311)
    return None
