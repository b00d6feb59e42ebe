"""Frames a hostile or careless client sends: answered, never a traceback or a leak."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from coresessions import feed, make_session
from earlgate.broker.base import PublishDone
from earlgate.broker.memory import MemoryBroker
from earlgate.hub import frames
from earlgate.hub.config import HubConfig
from earlgate.hub.core import Hub
from earlgate.hub.effects import Effects
from earlgate.wire import codes
from earlgate.wire.codes import with_hub_fields


@pytest.mark.parametrize("kind", [[1], {"a": 1}, 7, True, None])
def test_a_type_of_the_wrong_json_type_is_bad_frame(kind: object) -> None:
    with pytest.raises(codes.FrameError) as caught:
        frames.parse_frame(orjson.dumps({"type": kind, "id": 3}))
    assert caught.value.code == codes.BAD_FRAME and caught.value.frame_id == 3


async def test_a_list_type_is_answered_without_a_traceback(caplog) -> None:
    hub = Hub(MemoryBroker())
    session, received = make_session(hub)
    with caplog.at_level(logging.ERROR):
        feed(hub, session, b'{"type":[1],"id":5}')
        status, body = await Effects(hub).publish_http(b'{"type":[1]}')
    assert received == [
        {
            "type": "error",
            "code": "bad_frame",
            "reason": "field 'type' must be a string, got array",
            "id": 5,
        }
    ]
    assert status == 400 and body["code"] == "bad_frame"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_invalid_subjects_are_not_remembered() -> None:
    hub = Hub(MemoryBroker())
    session, received = make_session(hub)
    for n in range(200):
        subject = f"{n}/" + "x" * 60_000  # over the 256-byte subject limit
        feed(hub, session, orjson.dumps({"type": "publish", "subject": subject}))
    assert {m["code"] for m in received} == {"bad_subject"}
    assert len(received) == 200
    cached = sum(len(subject) for subject in hub._subject_ok)
    assert cached < 1000


def test_valid_subjects_cache_stays_bounded() -> None:
    hub = Hub(MemoryBroker())
    session, _ = make_session(hub)
    from earlgate.hub import core

    for n in range(core.SUBJECT_CACHE_ENTRIES + 10):
        hub._valid_subject(f"s/{n}", None)
    assert len(hub._subject_ok) <= core.SUBJECT_CACHE_ENTRIES


def test_publishers_cannot_forge_hub_fields() -> None:
    hub = Hub(MemoryBroker(durable=["d/#"]))
    publisher, _ = make_session(hub)
    subscriber, received = make_session(hub)
    feed(hub, subscriber, b'{"type":"subscribe","subject":"#"}')
    feed(
        hub,
        publisher,
        b'{"type":"publish","subject":"n/1","data":1,"_offset":999,"_epoch":"forged","_x":1}',
    )
    feed(hub, publisher, b'{"type":"publish","subject":"d/1","data":2,"_offset":999}')
    plain, durable = received
    assert plain == {"type": "publish", "subject": "n/1", "data": 1}
    assert durable["_offset"] == 1 and durable["_epoch"] == hub.broker.epoch
    assert list(durable).count("_offset") == 1


def test_frames_without_hub_fields_keep_their_bytes() -> None:
    raw = b'{ "type" : "publish", "subject":"a", "data": 1.50 }'
    assert frames.without_hub_fields(orjson.loads(raw), raw) is raw


@pytest.mark.parametrize(
    "frame_id", [b"9007199254740992", b"18446744073709551616", b"-9007199254740992", b"1.5"]
)
def test_ids_that_cannot_be_echoed_exactly_are_refused(frame_id: bytes) -> None:
    hub = Hub(MemoryBroker())
    session, received = make_session(hub)
    feed(hub, session, b'{"type":"ping","id":' + frame_id + b"}")
    assert received[0]["type"] == "error" and received[0]["code"] == "bad_frame"
    assert "2^53" in received[0]["reason"]


def test_the_largest_exact_id_is_echoed_exactly() -> None:
    hub = Hub(MemoryBroker())
    session, received = make_session(hub)
    feed(hub, session, b'{"type":"ping","id":9007199254740991}')
    assert received == [{"type": "pong", "id": 9007199254740991}]


class SlowBroker(MemoryBroker):
    """Gives its verdict on a publish later, the way Redis answers a script."""

    def __init__(self, verdict: tuple[str | None, str]) -> None:
        super().__init__()
        self.verdict = verdict
        self.later: list[Callable[[], None]] = []

    def publish(
        self, subject: str, raw: bytes, *, retain: bool, on_done: PublishDone | None
    ) -> None:
        def answer() -> None:
            if on_done is not None:
                on_done(*self.verdict)

        self.later.append(answer)


@pytest.mark.parametrize(
    ("verdict", "status"), [((None, ""), 200), (("unavailable", "broker is unreachable"), 503)]
)
async def test_http_publish_answers_after_the_brokers_verdict(
    verdict: tuple[str | None, str], status: int
) -> None:
    broker = SlowBroker(verdict)
    hub = Hub(broker)
    body = b'{"type":"publish","subject":"a","id":1}'
    answer = asyncio.ensure_future(Effects(hub).publish_http(body))
    await asyncio.sleep(0.01)
    assert not answer.done()  # no answer before the broker's verdict
    broker.later.pop()()
    got_status, body = await answer
    assert got_status == status
    assert body["type"] == ("ack" if status == 200 else "error")


async def test_http_publish_without_a_verdict_times_out() -> None:
    hub = Hub(SlowBroker((None, "")), HubConfig(publish_timeout=0.05))
    status, body = await Effects(hub).publish_http(b'{"type":"publish","subject":"a"}')
    assert status == 503 and body["code"] == "unavailable" and "no verdict" in body["reason"]


# -- property-based: any JSON value in any field --------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
FIELDS = ["type", "id", "subject", "data", "retain", "published", "last", "since", "epoch"]
frame_objects = st.dictionaries(st.sampled_from(FIELDS + ["_offset", "x"]), json_values) | st.just(
    {}
)
typed_frames = st.builds(
    lambda kind, rest: {"type": kind, **rest},
    st.sampled_from(sorted(codes.CLIENT_TYPES)),
    st.dictionaries(st.sampled_from(FIELDS[1:] + ["_offset"]), json_values),
)


@pytest.mark.fuzz
@given(st.one_of(frame_objects, typed_frames, json_values))
def test_core_answers_every_frame_with_a_protocol_code(value: Any) -> None:
    hub = Hub(MemoryBroker(durable=["d/#"]))
    session, received = make_session(hub)
    payload = json.dumps(value).encode()

    feed(hub, session, payload)
    status, body = asyncio.run(Effects(hub).publish_http(payload))
    for answer in received:
        if answer.get("type") == "error":
            assert answer["code"] in {"bad_json", "bad_frame", "bad_subject", "forbidden"}
            assert "internal error" not in answer["reason"]
    assert status in (200, 400), body
    if status == 400:
        assert body["code"] in {"bad_json", "bad_frame", "bad_subject"}


def test_a_hub_field_written_with_an_escape_is_stripped_too() -> None:
    raw = b'{"type":"publish","subject":"a","\\u005foffset":9,"data":"_x"}'
    assert frames.without_hub_fields(orjson.loads(raw), raw) == (
        b'{"type":"publish","subject":"a","data":"_x"}'
    )


def test_hub_fields_are_written_as_json() -> None:
    fields = {"_offset": 7, "_epoch": "9f3c", "_odd": 'quote " and \\ and é'}
    spliced = with_hub_fields(b'{"a":1}', fields)
    assert orjson.loads(spliced) == {"a": 1, **fields}
    assert spliced.startswith(b'{"a":1,"_offset":7,"_epoch":"9f3c",')
