"""The router as a state machine: connection events and frames in, actions out.

The numbered cases are those of PEERJS.md, "Server: WebSocket"; time only moves
through the fake clock.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from earlgate.signal.config import SignalConfig
from earlgate.signal.router import Close, ConnId, Send, SignalingRouter, oversize


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def make(**settings: Any) -> tuple[SignalingRouter, FakeClock]:
    clock = FakeClock()
    return SignalingRouter(SignalConfig(**settings), clock), clock


def q(peer_id: str, token: str = "tok", key: str = "peerjs") -> dict[str, str]:
    return {"id": peer_id, "token": token, "key": key}


def frames(actions: list[Send | Close], conn: int | None = None) -> list[dict[str, Any]]:
    return [
        json.loads(a.frame)
        for a in actions
        if isinstance(a, Send) and (conn is None or a.conn == conn)
    ]


def msg(**fields: Any) -> bytes:
    return json.dumps(fields).encode()


def opened(router: SignalingRouter, *ids: str) -> None:
    for n, peer_id in enumerate(ids, start=1):
        assert frames(router.open(ConnId(n), q(peer_id))) == [{"type": "OPEN"}]


@pytest.mark.parametrize(
    "query", [{}, {"id": "a", "token": "t"}, {"id": "a", "key": "peerjs"}, q("", "t")]
)
def test_1_missing_parameters(query: dict[str, str]) -> None:
    router, _ = make()
    actions = router.open(ConnId(1), query)
    assert frames(actions) == [
        {"type": "ERROR", "payload": {"msg": "No id, token, or key supplied to websocket server"}}
    ]
    assert actions[-1] == Close(ConnId(1))
    assert router.peer_ids() == []


def test_2_wrong_key() -> None:
    router, _ = make(key="secret")
    actions = router.open(ConnId(1), q("a", key="peerjs"))
    assert frames(actions) == [{"type": "ERROR", "payload": {"msg": "Invalid key provided"}}]
    assert isinstance(actions[-1], Close)


def test_3_id_taken_by_another_token() -> None:
    router, _ = make()
    router.open(ConnId(1), q("a", "t1"))
    actions = router.open(ConnId(2), q("a", "t2"))
    assert frames(actions) == [{"type": "ID-TAKEN", "payload": {"msg": "ID is taken"}}]
    assert actions[-1] == Close(ConnId(2))
    assert router.peer_ids() == ["a"]
    # the refused socket's messages go nowhere
    assert router.receive(ConnId(2), msg(type="OFFER", dst="a")) == []


def test_4_same_token_replaces_without_open_and_delivers_there() -> None:
    router, _ = make()
    opened(router, "a", "b")
    actions = router.open(ConnId(3), q("a"))
    assert frames(actions) == []
    assert [a.conn for a in actions if isinstance(a, Close)] == [1]
    relayed = router.receive(ConnId(2), msg(type="OFFER", dst="a", payload=1))
    assert [a.conn for a in relayed] == [3]
    # the old socket closing does not unregister the peer
    router.closed(ConnId(1))
    assert router.is_connected("a")


def test_5_concurrent_limit() -> None:
    router, _ = make(concurrent_limit=2)
    opened(router, "a", "b")
    actions = router.open(ConnId(3), q("c"))
    assert frames(actions) == [
        {"type": "ERROR", "payload": {"msg": "Server has reached its concurrent user limit"}}
    ]
    # a reconnect of a registered peer is not a new peer
    assert frames(router.open(ConnId(4), q("a"))) == []
    router.closed(ConnId(2))
    assert frames(router.open(ConnId(5), q("c"))) == [{"type": "OPEN"}]


def test_6_open_then_queued_messages_in_order() -> None:
    router, _ = make()
    opened(router, "a")
    for n in range(3):
        assert router.receive(ConnId(1), msg(type="CANDIDATE", dst="b", payload=n)) == []
    assert router.queues.messages == 3
    actions = router.open(ConnId(2), q("b"))
    assert frames(actions) == [
        {"type": "OPEN"},
        *({"type": "CANDIDATE", "src": "a", "dst": "b", "payload": n} for n in range(3)),
    ]
    assert router.queues.messages == 0


def test_src_is_overwritten_and_extra_fields_dropped() -> None:
    router, _ = make()
    opened(router, "a", "b")
    actions = router.receive(ConnId(1), msg(type="ANSWER", src="mallory", dst="b", extra=1))
    assert frames(actions) == [{"type": "ANSWER", "src": "a", "dst": "b"}]
    assert actions[0].conn == 2 and router.messages_relayed == 1


def test_bad_input_is_counted_and_dropped() -> None:
    router, _ = make()
    opened(router, "a", "b")
    for data in (b"{", b"[]", msg(type="HELLO", dst="b"), msg(type="OFFER"), msg(type="OPEN")):
        assert router.receive(ConnId(1), data) == []
    assert router.dropped == {
        "not_json": 1,
        "not_an_object": 1,
        "unknown_type": 2,
        "no_dst": 1,
    }
    assert frames(router.receive(ConnId(1), msg(type="OFFER", dst="b"))) != []


def test_leave_and_expire_to_absent_peers_are_dropped() -> None:
    router, _ = make()
    opened(router, "a")
    router.receive(ConnId(1), msg(type="LEAVE", dst="zz"))
    router.receive(ConnId(1), msg(type="EXPIRE", dst="zz"))
    assert len(router.queues) == 0 and router.dropped["dst_absent"] == 2


def test_leave_without_dst_frees_the_id_and_closes_the_socket() -> None:
    router, _ = make()
    opened(router, "a")
    assert router.receive(ConnId(1), msg(type="LEAVE")) == [Close(ConnId(1), 1000, "left")]
    assert not router.is_connected("a")
    assert frames(router.open(ConnId(2), q("a", "other"))) == [{"type": "OPEN"}]


def test_queue_expires_once_per_pair_after_expire_timeout() -> None:
    router, clock = make(expire_timeout=5.0)
    opened(router, "a", "b")
    router.receive(ConnId(1), msg(type="OFFER", dst="c"))
    router.receive(ConnId(1), msg(type="CANDIDATE", dst="c"))
    router.receive(ConnId(2), msg(type="OFFER", dst="c"))
    clock.now += 4.99
    assert router.expire_queues() == []
    clock.now += 0.01
    actions = router.expire_queues()
    assert sorted((a.conn, json.loads(a.frame)["type"]) for a in actions) == [
        (1, "EXPIRE"),
        (2, "EXPIRE"),
    ]
    assert frames(actions, conn=1) == [{"type": "EXPIRE", "src": "c", "dst": "a"}]
    assert router.messages_expired == 3 and router.expire_notices == 2


def test_expire_to_a_sender_that_left_goes_nowhere() -> None:
    router, clock = make(expire_timeout=1.0)
    opened(router, "a")
    router.receive(ConnId(1), msg(type="OFFER", dst="c"))
    router.closed(ConnId(1))
    clock.now += 2
    assert router.expire_queues() == []
    assert router.messages_expired == 1 and len(router.queues) == 0


def test_heartbeat_keeps_a_peer_alive() -> None:
    router, clock = make(alive_timeout=60.0)
    opened(router, "a", "b")
    router.receive(ConnId(2), msg(type="OFFER", dst="a"))  # not a heartbeat
    clock.now += 30
    router.receive(ConnId(1), msg(type="HEARTBEAT"))
    clock.now += 30
    assert router.check_liveness() == [Close(ConnId(2))]
    assert router.peer_ids() == ["a"]
    clock.now += 29.9
    assert router.check_liveness() == []
    clock.now += 0.1
    assert router.check_liveness() == [Close(ConnId(1))]
    assert router.removed["alive_timeout"] == 2


def test_failed_delivery_closes_dst_and_tells_src() -> None:
    router, _ = make()
    opened(router, "a", "b")
    [send] = router.receive(ConnId(1), msg(type="OFFER", dst="b", payload="sdp"))
    assert isinstance(send, Send)
    actions = router.delivery_failed(send)
    assert actions[0] == Close(ConnId(2), abort=True)
    assert frames(actions) == [{"type": "LEAVE", "src": "b", "dst": "a"}]
    assert router.peer_ids() == ["a"] and router.messages_relayed == 1


def test_failed_delivery_of_a_notice_is_not_relayed_again() -> None:
    router, _ = make()
    [open_send] = router.open(ConnId(1), q("a"))
    assert isinstance(open_send, Send)
    assert router.delivery_failed(open_send) == []


def test_other_peers_are_unaffected_by_a_misbehaving_one() -> None:
    router, _ = make()
    opened(router, "a", "b", "c")
    for data in (b"\x00" * 10, b"null", msg(type=None, dst="b")):
        router.receive(ConnId(3), data)
    actions = router.receive(ConnId(1), msg(type="OFFER", dst="b"))
    assert frames(actions) == [{"type": "OFFER", "src": "a", "dst": "b"}]
    assert router.peer_ids() == ["a", "b", "c"]


def test_close_all_and_oversize() -> None:
    router, _ = make()
    opened(router, "a", "b")
    assert [a.conn for a in router.close_all(1001, "bye")] == [1, 2]
    close = oversize(ConnId(1), 70_000, 65_536)
    assert close.code == 1009 and "70000" in close.reason


def test_statistics_sum_up() -> None:
    router, _ = make()
    opened(router, "a")
    router.receive(ConnId(1), msg(type="OFFER", dst="b"))
    stats = router.statistics()
    assert stats["peers"] == 1 and stats["queued_now"] == 1 and stats["queued"] == 1
    assert stats["handshakes"] == {"open": 1}


def test_opening_a_known_connection_is_misuse() -> None:
    router, _ = make()
    router.open(ConnId(1), q("a"))
    with pytest.raises(ValueError, match="already open"):
        router.open(ConnId(1), q("b"))
