"""The signaling messages of a peer: frames in, events out; no event loop."""

from __future__ import annotations

import orjson
import pytest

from earlgate.rtc import protocol
from earlgate.rtc.protocol import (
    Candidate,
    Malformed,
    MessageType,
    Offer,
    Opened,
    PeerGone,
    Refused,
    Relayed,
    parse,
)


def frame(**message: object) -> str:
    return orjson.dumps(message).decode()


OFFER = {
    "sdp": {"type": "offer", "sdp": "v=0\r\n"},
    "type": "data",
    "connectionId": "dc_abc",
    "label": "dc_abc",
    "reliable": True,
    "serialization": "json",
    "metadata": {"k": [1]},
}


def test_server_answers() -> None:
    assert parse('{"type":"OPEN"}') == Opened()
    assert parse(b'{"type":"OPEN"}') == Opened()
    error = frame(type="ERROR", payload={"msg": "Invalid key provided"})
    assert parse(error) == Refused("server-error", "Invalid key provided")
    assert parse(frame(type="ERROR")) == Refused("server-error", "server error")
    taken = frame(type="ID-TAKEN", payload={"msg": "ID is taken"})
    assert parse(taken) == Refused("unavailable-id", "ID is taken")
    assert parse(frame(type="INVALID-KEY")).error_type == "invalid-key"  # type: ignore[union-attr]


def test_relayed_messages() -> None:
    offer = parse(frame(type="OFFER", src="a", dst="b", payload=OFFER))
    assert offer == Offer("a", "dc_abc", "v=0\r\n", "dc_abc", "json", True, {"k": [1]})
    answer = {"sdp": {"type": "answer", "sdp": "x"}, "type": "data", "connectionId": "dc_1"}
    assert parse(frame(type="ANSWER", src="a", payload=answer)) == Relayed("a", "dc_1", "x")
    candidate = {
        "candidate": {"candidate": "candidate:1 1 udp 1 1.2.3.4 5 typ host", "sdpMid": "0",
                      "sdpMLineIndex": 0, "usernameFragment": "u"},
        "type": "data",
        "connectionId": "dc_1",
    }  # fmt: skip
    assert parse(frame(type="CANDIDATE", src="a", payload=candidate)) == Candidate(
        "a", "dc_1", "candidate:1 1 udp 1 1.2.3.4 5 typ host", "0", 0
    )
    assert parse(frame(type="LEAVE", src="a", dst="b")) == PeerGone("a", expired=False)
    assert parse(frame(type="EXPIRE", src="a", dst="b")) == PeerGone("a", expired=True)


def test_offer_defaults_like_peerjs() -> None:
    bare = {"sdp": {"type": "offer", "sdp": "s"}, "type": "data", "connectionId": "dc_9"}
    offer = parse(frame(type="OFFER", src="a", payload=bare))
    assert isinstance(offer, Offer)
    assert (offer.label, offer.serialization, offer.reliable, offer.metadata) == (
        "dc_9", "binary", False, None,
    )  # fmt: skip


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[1,2]",
        '"OPEN"',
        frame(type="OFFER", payload=OFFER),  # no src
        frame(type="OFFER", src="a"),  # no payload
        frame(type="OFFER", src="a", payload={**OFFER, "connectionId": 5}),
        frame(type="OFFER", src="a", payload={**OFFER, "sdp": "v=0"}),  # sdp must be an object
        frame(type="OFFER", src="a", payload={**OFFER, "type": "media"}),
        frame(type="CANDIDATE", src="a", payload={"connectionId": "dc_1", "candidate": None}),
        frame(type="WHATEVER", src="a", payload={"connectionId": "dc_1"}),
        "\x00",
    ],
)
def test_malformed_frames_never_raise(text: str) -> None:
    assert isinstance(parse(text), Malformed)


def test_built_frames() -> None:
    assert protocol.heartbeat() == '{"type":"HEARTBEAT"}'
    payload = protocol.offer_payload("s", "dc_1", "lbl", False, "raw", None)
    sent = orjson.loads(protocol.encode(MessageType.OFFER, "b", payload))
    assert sent == {"type": "OFFER", "dst": "b", "payload": payload}
    assert parse(frame(src="a", **sent)) == Offer("a", "dc_1", "s", "lbl", "raw", False, None)
    answer = protocol.answer_payload("x", "dc_1")
    assert answer == {"sdp": {"type": "answer", "sdp": "x"}, "type": "data", "connectionId": "dc_1"}
    candidate = protocol.candidate_payload("candidate:1", "0", 0, "dc_1")
    assert candidate["candidate"] == {"candidate": "candidate:1", "sdpMid": "0", "sdpMLineIndex": 0}


def test_urls_and_ids() -> None:
    url = protocol.socket_url("example.org", 443, "/myapp", "k y", True, "me", "tok")
    assert url == "wss://example.org:443/myapp/peerjs?key=k+y&id=me&token=tok&version=1.5.5"
    assert protocol.id_url("::1", 9000, "/", "peerjs", False, "1").startswith(
        "http://[::1]:9000/peerjs/id?ts=1&"
    )
    assert all(protocol.is_valid_id(i) for i in ("a", "a-b_c d", "A1"))
    assert not any(protocol.is_valid_id(i) for i in ("", "-a", "a--b", "a!", "a "))
    assert protocol.new_connection_id().startswith("dc_")
    assert protocol.new_token() != protocol.new_token()
