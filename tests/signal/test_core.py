"""The pure core without sockets: messages, queues, liveness and the HTTP routes."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from earlgate.signal.config import SignalConfig
from earlgate.signal.errors import ConfigError
from earlgate.signal.http import HttpRoutes
from earlgate.signal.liveness import LivenessTracker
from earlgate.signal.messages import (
    ErrorText,
    MessageError,
    MessageType,
    PeerId,
    error_frame,
    parse,
    relay_frame,
)
from earlgate.signal.queues import MessageQueues, QueuedMessage
from earlgate.signal.router import SignalingRouter

A, B, C = PeerId("a"), PeerId("b"), PeerId("c")


# -- messages ------------------------------------------------------------------


def test_parse_reads_type_dst_and_payload() -> None:
    message = parse(b'{"type":"OFFER","dst":"b","src":"forged","payload":{"sdp":1}}')
    assert message.type is MessageType.OFFER
    assert message.dst == "b"
    assert message.payload == {"sdp": 1}
    assert message.has_payload


def test_parse_tells_absent_payload_from_null() -> None:
    assert not parse(b'{"type":"LEAVE","dst":"b"}').has_payload
    null = parse(b'{"type":"LEAVE","dst":"b","payload":null}')
    assert null.has_payload and null.payload is None


def test_unknown_type_and_non_string_dst_are_read_not_refused() -> None:
    message = parse(b'{"type":"HELLO","dst":5}')
    assert message.type is None and message.raw_type == "HELLO"
    assert message.dst is None


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (b"not json", "not_json"),
        (b"\xff\xfe", "not_json"),
        (b"[1,2]", "not_an_object"),
        (b'"OFFER"', "not_an_object"),
        (b'{"dst":"b"}', "no_type"),
        (b'{"type":7}', "no_type"),
        (b'{"type":"OFFER","x":NaN}', "not_json"),
    ],
)
def test_parse_refuses_what_is_not_a_message(frame: bytes, reason: str) -> None:
    with pytest.raises(MessageError) as caught:
        parse(frame)
    assert caught.value.reason == reason


def test_parse_reads_what_json_parse_reads_and_orjson_does_not() -> None:
    # JSON.parse takes a lone surrogate escape; PeerServer forwards it as it came.
    message = parse(b'{"type":"OFFER","dst":"b","payload":"\\ud800x"}')
    assert message.payload == "\ud800x"
    frame = relay_frame(message.raw_type, A, B, message.payload, True)
    assert frame == b'{"type":"OFFER","src":"a","dst":"b","payload":"\\ud800x"}'


def test_frames_are_written_as_peerserver_writes_them() -> None:
    assert relay_frame("OFFER", A, B, {"x": 1}, True) == (
        b'{"type":"OFFER","src":"a","dst":"b","payload":{"x":1}}'
    )
    assert relay_frame("LEAVE", B, A) == b'{"type":"LEAVE","src":"b","dst":"a"}'
    assert error_frame(ErrorText.INVALID_KEY) == (
        b'{"type":"ERROR","payload":{"msg":"Invalid key provided"}}'
    )


@given(st.binary(max_size=64))
def test_parse_never_raises_anything_but_message_error(data: bytes) -> None:
    try:
        parse(data)
    except MessageError:
        pass


# -- queues --------------------------------------------------------------------


def queued(src: PeerId, dst: PeerId, n: int = 0) -> QueuedMessage:
    return QueuedMessage(src, dst, relay_frame("OFFER", src, dst, n, True))


def test_queues_drain_in_order_and_account_bytes() -> None:
    queues = MessageQueues(max_bytes=10_000)
    first, second = queued(A, C, 1), queued(B, C, 2)
    assert queues.add(first, now=0.0) and queues.add(second, now=1.0)
    assert queues.messages == 2 and queues.bytes == len(first.frame) + len(second.frame)
    assert queues.drain(C) == [first, second]
    assert len(queues) == 0 and queues.messages == 0 and queues.bytes == 0
    assert queues.drain(C) == []


def test_queues_refuse_past_their_byte_bound() -> None:
    message = queued(A, B)
    queues = MessageQueues(max_bytes=len(message.frame) * 2)
    assert queues.add(message, 0.0) and queues.add(message, 0.0)
    assert not queues.add(message, 0.0)
    assert queues.messages == 2


def test_expiry_counts_from_creation_one_pair_once() -> None:
    queues = MessageQueues(max_bytes=10_000)
    queues.add(queued(A, C), now=0.0)
    queues.add(queued(A, C), now=4.0)  # same queue: its age still counts from 0
    queues.add(queued(B, C), now=4.5)
    queues.add(queued(A, B), now=3.0)  # B's queue is younger
    assert queues.expire(now=4.9, timeout=5.0) == ([], 0)
    assert queues.expire(now=5.0, timeout=5.0) == ([(A, C), (B, C)], 3)
    assert list(queues) == [B]
    assert queues.expire(now=8.0, timeout=5.0) == ([(A, B)], 1)
    assert queues.messages == 0 and queues.bytes == 0


# -- liveness ------------------------------------------------------------------


def test_liveness_drops_only_the_silent() -> None:
    tracker: LivenessTracker[str] = LivenessTracker(timeout=10.0)
    tracker.track("a", 0.0)
    tracker.track("b", 1.0)
    tracker.track("c", 2.0)
    assert tracker.beat("a", 5.0)
    assert not tracker.beat("zzz", 5.0)
    assert tracker.expired(10.9) == []
    assert tracker.expired(11.0) == ["b"]
    assert tracker.expired(15.0) == ["c", "a"]
    assert len(tracker) == 0


def test_forgotten_keys_never_expire() -> None:
    tracker: LivenessTracker[str] = LivenessTracker(timeout=1.0)
    tracker.track("a", 0.0)
    tracker.forget("a")
    assert "a" not in tracker and tracker.expired(100.0) == []


# -- config --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"port": 70000}, "port"),
        ({"path": "x"}, "path"),
        ({"key": ""}, "key"),
        ({"alive_timeout": 0}, "alive"),
        ({"expire_timeout": -1}, "expire"),
        ({"concurrent_limit": 0}, "concurrent"),
        ({"max_frame": 10}, "max frame"),
        ({"tls_cert": "x.pem"}, "TLS"),
    ],
)
def test_config_names_the_bad_setting(change: dict[str, object], words: str) -> None:
    config = SignalConfig(**change)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=words):
        config.validate()


def test_config_paths_and_check_intervals() -> None:
    config = SignalConfig(path="/signal", expire_timeout=0.2, alive_timeout=60)
    assert config.base_path == "/signal/" and config.ws_path == "/signal/peerjs"
    assert config.expire_check_interval == pytest.approx(0.05)
    assert config.alive_check_interval == pytest.approx(0.3)
    assert SignalConfig().expire_check_interval == 1.0


# -- HTTP routes ---------------------------------------------------------------


def routes(**settings: object) -> tuple[HttpRoutes, SignalingRouter]:
    config = SignalConfig(**settings)  # type: ignore[arg-type]
    router = SignalingRouter(config, lambda: 0.0)
    ids = iter(["taken", "fresh"])
    return HttpRoutes(config, router, lambda: b"# metrics\n", lambda: next(ids)), router


def test_info_id_and_cors() -> None:
    http, _ = routes()
    info = http.respond("GET", "/?ts=1&version=1.5.5")
    assert info.status == 200 and json.loads(info.body)["name"] == "PeerJS Server"
    assert ("Access-Control-Allow-Origin", "*") in info.headers
    reply = http.respond("GET", "/anykey/id?ts=123")  # PeerServer does not check the key here
    assert reply.status == 200 and reply.body == b"taken"


def test_id_avoids_connected_peers() -> None:
    http, router = routes()
    router.open(1, {"id": "taken", "token": "t", "key": "peerjs"})  # type: ignore[arg-type]
    assert http.respond("GET", "/peerjs/id").body == b"fresh"


def test_peers_needs_discovery() -> None:
    http, router = routes()
    assert http.respond("GET", "/peerjs/peers").status == 401
    http, router = routes(allow_discovery=True)
    router.open(1, {"id": "x", "token": "t", "key": "peerjs"})  # type: ignore[arg-type]
    reply = http.respond("GET", "/peerjs/peers")
    assert reply.status == 200 and json.loads(reply.body) == ["x"]


def test_routes_hang_off_the_path() -> None:
    http, _ = routes(path="/signal")
    assert http.respond("GET", "/signal").status == 200
    assert http.respond("GET", "/signal/").status == 200
    assert http.respond("GET", "/signal/peerjs/id").status == 200
    assert http.respond("GET", "/peerjs/id").status == 404
    assert http.respond("GET", "/metrics").body == b"# metrics\n"
    assert http.respond("POST", "/signal/peerjs/id").status == 404


def test_preflight_and_head() -> None:
    http, _ = routes()
    reply = http.respond("OPTIONS", "/peerjs/id", {"access-control-request-headers": "x-custom"})
    assert reply.status == 204 and reply.body == b""
    assert ("Access-Control-Allow-Headers", "x-custom") in reply.headers
    head = http.respond("HEAD", "/")
    assert head.status == 200 and head.body == b""
