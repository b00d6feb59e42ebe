"""Hostile clients: input that once escaped the parser, and a socket that left.

Each is checked on the pure core (bytes in, actions out) and on the real
``earlgate signal`` process, where a stray exception closes the sender with
1011 and logs a traceback.
"""

from __future__ import annotations

import asyncio
import json
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest
from signalpeers import opened

from earlgate.signal.config import SignalConfig
from earlgate.signal.errors import ConfigError
from earlgate.signal.messages import DEPTH_LIMIT, MAX_DEPTH, MessageError, parse
from earlgate.signal.router import NORMAL, Action, Close, ConnId, Send, SignalingRouter
from earlgate.testing.signalprocs import ServerProcess, SignalSettings

Factory = Callable[..., ServerProcess]


def make(**settings: Any) -> tuple[SignalingRouter, list[float]]:
    """A router and its clock: ``clock[0] += s`` moves time on."""
    clock = [100.0]
    return SignalingRouter(SignalConfig(**settings), lambda: clock[0]), clock


def q(peer_id: str, token: str = "tok") -> dict[str, str]:
    return {"id": peer_id, "token": token, "key": "peerjs"}


def opened_in(router: SignalingRouter, *ids: str) -> None:
    for n, peer_id in enumerate(ids, start=1):
        assert frames(router.open(ConnId(n), q(peer_id))) == [{"type": "OPEN"}]


def frames(actions: list[Action]) -> list[Any]:
    return [json.loads(a.frame) for a in actions if isinstance(a, Send)]


def msg(**fields: Any) -> bytes:
    return json.dumps(fields).encode()


def nested(depth: int, open_: str = "[", close: str = "]") -> str:
    return open_ * depth + close * depth


def offer(payload: str, dst: str = "b") -> bytes:
    return f'{{"type":"OFFER","dst":"{dst}","payload":{payload}}}'.encode()


# -- nesting -------------------------------------------------------------------


@pytest.mark.parametrize("depth", [MAX_DEPTH, 255, 1000, 1023, 1024, 3000, 50_000])
def test_nesting_past_the_limit_is_bad_input(depth: int) -> None:
    # depth+1 levels with the message object; 1000 to 1023 orjson read but the
    # frame could not be written again, from 1024 the fallback parser recursed.
    with pytest.raises(MessageError) as caught:
        parse(offer(nested(depth)))
    assert caught.value.reason == "too_deep"
    assert str(MAX_DEPTH) in str(caught.value) or depth >= 1024


def test_nesting_up_to_the_limit_is_read_and_relayed() -> None:
    router, _ = make()
    opened_in(router, "a", "b")
    payload = nested(MAX_DEPTH - 1, '{"k":', "}").replace('{"k":}', '{"k":1}')
    actions = router.receive(ConnId(1), offer(payload))
    assert [a.conn for a in actions] == [2]
    assert frames(actions)[0]["payload"] == json.loads(payload)


def test_nesting_limit_is_configurable_and_checked() -> None:
    router, _ = make(max_depth=3)
    opened_in(router, "a", "b")
    # levels: the message, the payload object, then its arrays
    assert router.receive(ConnId(1), offer('{"x":[[1]]}')) == []
    assert router.dropped == {"too_deep": 1}
    assert frames(router.receive(ConnId(1), offer('{"x":[1]}'))) != []
    for wrong in (0, DEPTH_LIMIT + 1):
        with pytest.raises(ConfigError, match="max depth"):
            SignalConfig(max_depth=wrong).validate()


def test_many_brackets_in_strings_are_not_nesting() -> None:
    message = parse(offer(json.dumps("[{" * 5000)))
    assert message.payload == "[{" * 5000


# -- numbers, surrogates, odd types ----------------------------------------------


@pytest.mark.parametrize(
    "number", ["1e400", "-1e400", "1" * 400, "-" + "9" * 5000, "1" * 5000 + ".5", "2e308"]
)
def test_numbers_past_a_double_are_bad_input(number: str) -> None:
    # orjson refuses them; the standard library read inf (written out as
    # "Infinity", which is not JSON) or raised at 4300 digits.
    with pytest.raises(MessageError) as caught:
        parse(offer(f"[{number}]"))
    assert caught.value.reason == "bad_number"


def test_numbers_orjson_refuses_but_a_double_holds_are_relayed() -> None:
    router, _ = make()
    opened_in(router, "a", "b")
    # the lone surrogate sends the whole frame to the standard library's parser
    big = "1" + "0" * 300
    [send] = router.receive(ConnId(1), offer(f'["\\ud800", {big}, 1e300, -0.0]'))
    assert isinstance(send, Send)
    assert json.loads(send.frame)["payload"] == ["\ud800", 10**300, 1e300, -0.0]


@pytest.mark.parametrize(
    "frame",
    [
        b'{"type":"OFFER","dst":"\\ud800","payload":"\\udfff"}',
        b'{"type":"\\ud800","dst":"b"}',
        b'{"\\ud800":1,"type":"CANDIDATE","dst":"b","payload":{"\\udc00":[1e3]}}',
        b'{"type":"OFFER","dst":["b"],"payload":1}',
        b'{"type":{"t":"OFFER"},"dst":"b"}',
        b'{"type":"OFFER","dst":null}',
        b'{"type":"OFFER","dst":"b","payload":' + b"1" * 300 + b"}",
    ],
)
def test_odd_fields_never_escape_the_router(frame: bytes) -> None:
    router, clock = make(expire_timeout=1.0)
    opened_in(router, "a", "b")
    for action in router.receive(ConnId(1), frame):
        assert isinstance(action, Send)
        json.loads(action.frame)  # what the server writes is JSON
    clock[0] += 2
    for action in router.expire_queues():
        json.loads(action.frame)  # EXPIRE to a surrogate id is written too


# -- LEAVE -----------------------------------------------------------------------


def test_a_socket_that_left_is_closed_and_cannot_send() -> None:
    router, _ = make(concurrent_limit=3)
    opened_in(router, "a", "c")
    assert router.receive(ConnId(1), msg(type="LEAVE")) == [Close(ConnId(1), NORMAL, "left")]
    assert router.removed == {"leave": 1}
    # another client takes the freed id; the old socket sends as nobody
    assert frames(router.open(ConnId(3), q("a", "other"))) == [{"type": "OPEN"}]
    assert router.receive(ConnId(1), msg(type="OFFER", dst="c", payload="forged")) == []
    assert router.dropped == {"not_attached": 1}
    # the old socket closing later leaves the new owner registered
    router.closed(ConnId(1))
    assert router.peer_ids() == ["c", "a"] and router.connections == 2
    relayed = router.receive(ConnId(3), msg(type="OFFER", dst="c"))
    assert frames(relayed) == [{"type": "OFFER", "src": "a", "dst": "c"}]


# -- the real process --------------------------------------------------------------


def metrics(server: ServerProcess) -> dict[str, float]:
    with urllib.request.urlopen(server.http_url + "/metrics", timeout=5) as answer:
        text = answer.read().decode()
    lines = [line.rsplit(" ", 1) for line in text.splitlines() if line.startswith("earlgate_")]
    return {name: float(value) for name, value in lines}


def dropped(seen: dict[str, float], reason: str) -> float:
    return seen.get(f'earlgate_signal_messages_dropped_total{{reason="{reason}"}}', 0.0)


async def test_hostile_json_is_dropped_and_the_sender_stays(signal_factory: Factory) -> None:
    server = signal_factory(SignalSettings(allow_discovery=True))
    a = await opened(server.ws_url("a", "t"))
    b = await opened(server.ws_url("b", "t"))
    hostile = [offer(nested(3000)), offer(nested(1010)), offer("1e400"), offer("9" * 5000)]
    for frame in hostile:
        await a.send(frame.decode())
    await a.send({"type": "OFFER", "dst": "b", "payload": "after"})
    assert await b.next() == {"type": "OFFER", "src": "a", "dst": "b", "payload": "after"}
    assert await a.quiet() == "silence"  # not closed
    seen = await asyncio.to_thread(metrics, server)
    assert dropped(seen, "too_deep") == 2 and dropped(seen, "bad_number") == 2
    assert seen["earlgate_signal_peers_connected"] == 2
    log = b"".join(server.output).decode(errors="replace")
    assert "Traceback" not in log and "RecursionError" not in log
    await a.close()
    await b.close()


async def test_leave_closes_the_socket_before_the_id_is_reused(
    signal_factory: Factory,
) -> None:
    server = signal_factory(SignalSettings(concurrent_limit=2))
    old = await opened(server.ws_url("x", "t1"))
    c = await opened(server.ws_url("c", "t"))
    await old.send({"type": "LEAVE"})
    assert await old.next() == ("closed", NORMAL)
    new = await opened(server.ws_url("x", "t2"))
    await new.send({"type": "OFFER", "dst": "c", "payload": "mine"})
    assert await c.next() == {"type": "OFFER", "src": "x", "dst": "c", "payload": "mine"}
    seen: dict[str, Any] = await asyncio.to_thread(metrics, server)
    assert seen["earlgate_signal_connections"] == 2  # the left socket is gone
    assert seen['earlgate_signal_peers_removed_total{reason="leave"}'] == 1
    await new.close()
    await c.close()
