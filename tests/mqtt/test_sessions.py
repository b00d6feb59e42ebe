"""CONNECT decisions: client ids, tokens, wills, take-over, clean start, the connection limit."""

from __future__ import annotations

import pytest

from earlgate.hub.auth import TokenVerifier, make_token
from earlgate.hub.config import HubConfig
from earlgate.mqtt import packets as p
from earlgate.mqtt import reasons as r
from earlgate.mqtt.codec import Decoder
from earlgate.mqtt.metrics import MqttMetrics
from earlgate.mqtt.properties import Properties
from earlgate.mqtt.reasons import MqttError
from earlgate.mqtt.sessions import Accepted, Refused, Sessions, refusal

from .helpers import Clock

SECRET = "s" * 32


def _sessions(auth: bool = False) -> Sessions:
    verifier = TokenVerifier(SECRET) if auth else None
    return Sessions(HubConfig(), MqttMetrics(), verifier, Clock(), Clock(), lambda: "abc")


def _connack(outcome: Accepted | Refused, version: int) -> p.ConnAck:
    assert isinstance(outcome, Refused)
    (ack,) = Decoder(version=version).packets(outcome.raw)
    assert isinstance(ack, p.ConnAck)
    return ack


def _connect(version: int = p.V5, client_id: str = "c", **kw: object) -> p.Connect:
    return p.Connect(version, client_id, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(("version", "code"), [(p.V311, 2), (p.V5, None)])
def test_empty_client_id(version: int, code: int | None) -> None:
    sessions = _sessions()
    outcome = sessions.connect(_connect(version, "", clean_start=False), False)
    if code is None:
        assert isinstance(outcome, Accepted) and outcome.assigned_id == "earlgate-abc"
    else:
        assert _connack(outcome, version).reason == code
    clean = sessions.connect(_connect(p.V311, "", clean_start=True), False)
    assert isinstance(clean, Accepted) and clean.session.client_id.startswith("earlgate-")


def test_client_id_too_long() -> None:
    ack = _connack(_sessions().connect(_connect(p.V5, "x" * 257), False), p.V5)
    assert ack.reason == r.CLIENT_ID_NOT_VALID and "256" in (ack.properties.reason_string or "")


@pytest.mark.parametrize(
    ("password", "v5", "v311"),
    [(None, r.NOT_AUTHORIZED, 5), (b"nonsense", r.BAD_USERNAME_OR_PASSWORD, 4)],
)
def test_tokens(password: bytes | None, v5: int, v311: int) -> None:
    sessions = _sessions(auth=True)
    assert _connack(sessions.connect(_connect(p.V5, password=password), False), p.V5).reason == v5
    v4 = sessions.connect(_connect(p.V311, password=password), False)
    assert _connack(v4, p.V311).reason == v311


def test_a_good_token_gives_its_grants() -> None:
    token = make_token(SECRET, publish=["a/#"], subscribe=["b/#"])
    outcome = _sessions(auth=True).connect(_connect(password=token.encode()), False)
    assert isinstance(outcome, Accepted) and outcome.token == token
    assert outcome.grants is not None and outcome.grants.may_publish("a/x")


def test_will_topic_checked_against_the_grants_and_the_subject_rules() -> None:
    token = make_token(SECRET, publish=["a/#"]).encode()
    sessions = _sessions(auth=True)
    will = p.Will("b/x", b"")
    ack = _connack(sessions.connect(_connect(password=token, will=will), False), p.V5)
    assert ack.reason == r.NOT_AUTHORIZED
    bad = p.Will("a//x", b"")
    ack = _connack(_sessions().connect(_connect(will=bad), False), p.V5)
    assert ack.reason == r.TOPIC_NAME_INVALID


def test_extended_auth_is_refused() -> None:
    packet = _connect(properties=Properties(auth_method="SCRAM-SHA-1"))
    assert _connack(_sessions().connect(packet, False), p.V5).reason == r.BAD_AUTHENTICATION_METHOD


def test_take_over_and_resume() -> None:
    sessions = _sessions()
    first = sessions.connect(
        _connect(clean_start=False, properties=Properties(session_expiry=60)), False
    )
    assert isinstance(first, Accepted)
    first.session.attach(_connect(properties=Properties(session_expiry=60)), False, None)
    second = sessions.connect(_connect(clean_start=False), False)
    assert isinstance(second, Accepted) and second.session is first.session and second.present
    (disconnect,) = Decoder(version=p.V5).packets(second.before[0].raw)  # type: ignore[index, union-attr]
    assert disconnect == p.Disconnect(r.SESSION_TAKEN_OVER, disconnect.properties)
    third = sessions.connect(_connect(clean_start=True), False)
    assert isinstance(third, Accepted) and third.session is not first.session and not third.present
    assert first.session.ended and sessions.by_id["c"] is third.session


def test_at_the_connection_limit() -> None:
    ack = _connack(_sessions().connect(_connect(), True), p.V5)
    assert ack.reason == r.SERVER_BUSY
    assert _connack(_sessions().connect(_connect(p.V311), True), p.V311).reason == 3


def test_refusals_of_the_codec() -> None:
    unsupported = MqttError(r.UNSUPPORTED_PROTOCOL_VERSION, "level 6")
    assert refusal(p.V311, unsupported) == b"\x20\x02\x00\x01"
    assert refusal(p.V311, MqttError(r.MALFORMED_PACKET, "bad")) is None
    raw = refusal(p.V5, MqttError(r.MALFORMED_PACKET, "bad"))
    assert raw is not None and Decoder(version=p.V5).packets(raw)[0].reason == r.MALFORMED_PACKET
