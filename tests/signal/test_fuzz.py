"""Property-based tests: any frame is a Message or a MessageError, and the router
answers any sequence of events with actions, never another exception.

Frames are built as text, so that they can hold what no Python value encodes
to: nesting thousands deep, numbers past a double, lone surrogates (escaped or
raw, the raw ones making the bytes invalid UTF-8), NaN.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from earlgate.signal.config import SignalConfig
from earlgate.signal.messages import (
    Message,
    MessageError,
    MessageType,
    PeerId,
    parse,
    relay_frame,
)
from earlgate.signal.router import Action, Close, ConnId, Send, SignalingRouter

REASONS = {"not_json", "not_an_object", "no_type", "too_deep", "bad_number"}
IDS = ["a", "b", "c", "\ud800"]
TYPES = [member.value for member in MessageType] + ["HELLO", "offer", ""]


@dataclass(frozen=True)
class Raw:
    """JSON text put into a frame as it is."""

    text: str


def nested(depth: int, leaf: str, kind: str) -> Raw:
    if kind == "[":
        return Raw("[" * depth + leaf + "]" * depth)
    return Raw('{"k":' * depth + leaf + "}" * depth)


def encode(value: Any, ascii_only: bool) -> str:
    """``json.dumps`` that writes :class:`Raw` parts and recurses only as deep as ``value``."""
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, dict):
        items = (f"{encode(k, ascii_only)}:{encode(v, ascii_only)}" for k, v in value.items())
        return "{" + ",".join(items) + "}"
    if isinstance(value, list):
        return "[" + ",".join(encode(v, ascii_only) for v in value) + "]"
    return json.dumps(value, ensure_ascii=ascii_only)


any_text = st.text(st.characters(codec=None, exclude_categories=()), max_size=12)
numbers = st.one_of(
    st.integers(),
    st.floats(),  # NaN and infinities included, written NaN and Infinity
    st.integers(1, 5000).map(lambda n: Raw("9" * n)),
    st.integers(-400, 400).map(lambda e: Raw(f"-1e{e}")),
)
leaves = st.none() | st.booleans() | numbers | any_text | st.sampled_from(IDS + TYPES)
deep = st.builds(
    nested, st.integers(0, 3000), st.sampled_from(["1", '"x"', "[]", "null"]), st.sampled_from("[{")
)
values = st.recursive(
    leaves | deep,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(any_text, inner, max_size=4),
    max_leaves=12,
)
messages = st.dictionaries(
    st.sampled_from(["type", "dst", "src", "payload"]) | any_text, values, max_size=5
)
# Frames that read as messages often enough to be routed, queued and expired.
plausible = st.fixed_dictionaries(
    {"type": st.sampled_from(TYPES)},
    optional={"dst": st.sampled_from(IDS) | values, "payload": values, "src": values},
)


@st.composite
def frames(draw: st.DrawFn, shapes: st.SearchStrategy[Any] = values) -> bytes:
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=64))
    text = encode(draw(shapes), ascii_only=draw(st.booleans()))
    return text.encode("utf-8", "surrogatepass")


def strict_json(frame: bytes) -> Any:
    """What a browser's ``JSON.parse`` reads: no NaN, no Infinity."""

    def refuse(name: str) -> Any:
        raise AssertionError(f"{name} written into {frame[:80]!r}")

    return json.loads(frame, parse_constant=refuse)


@pytest.mark.fuzz
@given(st.one_of(frames(), frames(messages), frames(plausible)))
def test_any_frame_is_a_message_or_a_message_error(data: bytes) -> None:
    try:
        message = parse(data)
    except MessageError as error:
        assert error.reason in REASONS and str(error)
        return
    assert isinstance(message, Message) and isinstance(message.raw_type, str)
    # what was read can be relayed, and the peer reads back what was sent
    frame = relay_frame(
        message.raw_type, PeerId("a"), PeerId("b"), message.payload, message.has_payload
    )
    expected = {"type": message.raw_type, "src": "a", "dst": "b"}
    if message.has_payload:
        expected["payload"] = message.payload
    assert strict_json(frame) == expected


# -- the router -------------------------------------------------------------------

accepted = st.fixed_dictionaries(
    {"id": st.sampled_from(IDS), "token": st.sampled_from(["t1", "t2"]), "key": st.just("peerjs")}
)
queries = accepted | st.fixed_dictionaries(
    {},
    optional={
        "id": st.sampled_from(IDS) | any_text,
        "token": st.sampled_from(["t1", "t2", ""]),
        "key": st.sampled_from(["peerjs", "wrong"]),
    },
)
# The messages peers send, as they send them, among the odd ones.
usual = st.sampled_from(
    [b'{"type":"LEAVE"}', b'{"type":"HEARTBEAT"}']
    + [
        json.dumps({"type": t, "dst": d, "payload": 1}).encode()
        for t in ("OFFER", "LEAVE")
        for d in "abc"
    ]
)
# A few peers connect first; then anything happens.
events = st.tuples(
    st.lists(accepted.map(lambda query: ("open", query)), min_size=1, max_size=3),
    st.lists(
        st.one_of(
            st.tuples(st.just("open"), queries),
            st.tuples(st.just("receive"), st.integers(0, 7), usual),
            st.tuples(st.just("receive"), st.integers(0, 7), frames(plausible)),
            st.tuples(st.just("receive"), st.integers(0, 7), frames(messages)),
            st.tuples(st.just("closed"), st.integers(0, 7)),
            st.tuples(st.just("tick"), st.floats(0, 3)),
            st.tuples(st.just("fail"), st.integers(0, 7)),
        ),
        max_size=30,
    ),
).map(lambda parts: parts[0] + parts[1])


class Harness:
    """Plays the I/O layer: carries out Close at once, keeps relays to fail later.

    It learns which connection holds which id only from the actions: the one
    that got OPEN, or was accepted without one (a replacement), until closed.
    """

    def __init__(self) -> None:
        self.now = 0.0
        config = SignalConfig(concurrent_limit=3, expire_timeout=1.0, alive_timeout=2.0)
        self.router = SignalingRouter(config, lambda: self.now)
        self.opened: list[ConnId] = []
        self.holder: dict[PeerId, ConnId] = {}
        self.relays: list[Send] = []

    def conn(self, index: int) -> ConnId | None:
        return self.opened[index % len(self.opened)] if self.opened else None

    def open(self, query: dict[str, str]) -> None:
        conn = ConnId(len(self.opened) + 1)
        self.opened.append(conn)
        actions = self.router.open(conn, query)
        if Close(conn) not in actions:  # not refused
            self.holder[PeerId(query["id"])] = conn
        self.carry_out(actions)

    def receive(self, conn: ConnId, data: bytes) -> None:
        actions = self.router.receive(conn, data)
        for action in actions:
            if isinstance(action, Send) and action.relay is not None:
                # only the connection last accepted for an id sends as that id
                assert self.holder.get(action.relay.src) == conn, (action, self.holder)
        self.carry_out(actions)

    def closed(self, conn: ConnId) -> None:
        self.carry_out(self.router.closed(conn))
        self.holder = {k: v for k, v in self.holder.items() if v != conn}

    def carry_out(self, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, Close):
                self.closed(action.conn)
                continue
            message = strict_json(action.frame)
            assert isinstance(message, dict) and isinstance(message["type"], str)
            if action.relay is not None:
                assert self.holder.get(action.relay.dst) == action.conn
                self.relays.append(action)

    def check(self) -> None:
        # every connection still open is a registered peer's, within the limit
        peers = self.router.peer_ids()
        assert self.router.connections == len(peers) <= self.router.config.concurrent_limit
        assert sorted(peers) == sorted(self.holder)


@pytest.mark.fuzz
@given(events)
def test_any_sequence_of_events_gives_actions(script: list[tuple[Any, ...]]) -> None:
    harness = Harness()
    for event in script:
        name = event[0]
        if name == "open":
            harness.open(event[1])
        elif name == "tick":
            harness.now += event[1]
            harness.carry_out(harness.router.expire_queues())
            harness.carry_out(harness.router.check_liveness())
        elif name == "fail" and harness.relays:
            send = harness.relays.pop(event[1] % len(harness.relays))
            harness.carry_out(harness.router.delivery_failed(send))
        elif (conn := harness.conn(event[1])) is not None:
            if name == "receive":
                harness.receive(conn, event[2])
            elif name == "closed":
                harness.closed(conn)
        harness.check()
