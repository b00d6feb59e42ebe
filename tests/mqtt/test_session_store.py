"""The pure halves of kept sessions in the broker: the record's codec, the CONNECT's
decision on what the store held, the replay positions, a session's record and restore."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from earlgate.mqtt import packets as p
from earlgate.mqtt.marks import Marks, epoch_of
from earlgate.mqtt.properties import Properties
from earlgate.mqtt.record import (
    BAD,
    EXPIRED,
    HIT,
    MISS,
    RecordError,
    SavedSubscription,
    SessionRecord,
    decode,
    encode,
    resume_decision,
)

from .helpers import make, message

RECORD = SessionRecord(
    "c1",
    5,
    300.0,
    1_700_000_300.0,
    (
        SavedSubscription("a/#", 1),
        SavedSubscription("b/c", 2, True, True, 2, 7),
    ),
    {"a/x": (4, "e1"), "a/y": (0, "e2")},
)


def test_round_trip() -> None:
    assert decode(encode(RECORD)) == RECORD
    bare = SessionRecord("ü id", 4, 0.0, 0.0, fresh=("x/#",))
    assert decode(encode(bare)) == bare


def _fields() -> dict[str, Any]:
    loaded: dict[str, Any] = orjson.loads(encode(RECORD))
    return loaded


@pytest.mark.parametrize(
    ("field", "value", "names"),
    [
        ("v", 2, "version"),
        ("v", None, "version"),
        ("id", "", "'id'"),
        ("id", 5, "'id'"),
        ("protocol", 3, "'protocol'"),
        ("protocol", True, "'protocol'"),
        ("expiry", -1, "'expiry'"),
        ("expiry", "300", "'expiry'"),
        ("ends", None, "'ends'"),
        ("ends", False, "'ends'"),
        ("subs", {}, "'subs'"),
        ("subs", [["a", 1]], "'subs'[0]"),
        ("subs", [["", 1, False, False, 0, None]], "filter"),
        ("subs", [["a", 3, False, False, 0, None]], "QoS"),
        ("subs", [["a", True, False, False, 0, None]], "QoS"),
        ("subs", [["a", 1, 0, False, 0, None]], "booleans"),
        ("subs", [["a", 1, False, "x", 0, None]], "booleans"),
        ("subs", [["a", 1, False, False, 3, None]], "retain handling"),
        ("subs", [["a", 1, False, False, 0, 0]], "identifier"),
        ("subs", [["a", 1, False, False, 0, 268_435_456]], "identifier"),
        ("subs", [["a", 1, False, False, 0, True]], "identifier"),
        ("pos", [], "'pos'"),
        ("pos", {"": [1, "e"]}, "empty subject"),
        ("pos", {"a": [1]}, "'pos' of 'a'"),
        ("pos", {"a": [-1, "e"]}, "'pos' of 'a'"),
        ("pos", {"a": [True, "e"]}, "'pos' of 'a'"),
        ("pos", {"a": [1, None]}, "'pos' of 'a'"),
        ("pos", {"a": "1 e"}, "'pos' of 'a'"),
        ("fresh", "a/#", "'fresh'"),
        ("fresh", [""], "'fresh'"),
        ("fresh", [1], "'fresh'"),
    ],
)
def test_every_field_is_checked(field: str, value: Any, names: str) -> None:
    fields = _fields()
    fields[field] = value
    with pytest.raises(RecordError) as raised:
        decode(orjson.dumps(fields))
    assert names in str(raised.value)


@pytest.mark.parametrize(
    "missing", ["v", "id", "protocol", "expiry", "ends", "subs", "pos", "fresh"]
)
def test_every_field_is_needed(missing: str) -> None:
    fields = _fields()
    del fields[missing]
    with pytest.raises(RecordError):
        decode(orjson.dumps(fields))


@pytest.mark.parametrize("raw", [b"", b"not json", b"[1, 2]", b"\xff", b'"text"'])
def test_not_a_record(raw: bytes) -> None:
    with pytest.raises(RecordError):
        decode(raw)


def test_connect_decision() -> None:
    raw = encode(RECORD)
    assert resume_decision(None, "c1", 0.0).outcome == MISS
    hit = resume_decision(raw, "c1", RECORD.ends - 1)
    assert hit.outcome == HIT and hit.record == RECORD
    expired = resume_decision(raw, "c1", RECORD.ends)
    assert expired.outcome == EXPIRED and "ended" in expired.reason
    assert resume_decision(raw, "other", 0.0).outcome == BAD
    bad = resume_decision(b"{}", "c1", 0.0)
    assert bad.outcome == BAD and "version" in bad.reason


# -- replay positions -------------------------------------------------------------


def test_epoch_of_a_frame() -> None:
    assert epoch_of(b'{"type":"publish","subject":"a","_offset":3,"_epoch":"abc"}') == "abc"
    assert epoch_of(b'{"type":"publish","subject":"a"}') is None
    assert epoch_of(b'{"_epoch":"') is None


def test_marks_settle_only_what_is_not_outstanding() -> None:
    marks = Marks()
    marks.baseline({"a/x": (10, "e"), "a/y": (3, "e")})
    marks.seen("a/x", 11, "e")
    marks.seen("a/x", 12, "e")
    marks.seen("a/z", 1, "e")  # a subject first published after the subscription
    assert marks.snapshot({"a/x", "a/z"}) == {"a/x": (10, "e"), "a/y": (3, "e"), "a/z": (0, "e")}
    assert marks.snapshot(set()) == {"a/x": (12, "e"), "a/y": (3, "e"), "a/z": (1, "e")}
    marks.seen("a/x", 13, "e")
    assert marks.snapshot({"a/x"})["a/x"] == (12, "e")  # the older floor, while outstanding
    marks.seen("a/x", 2, "new")  # the store's epoch changed: replay the new one from before it
    assert marks.snapshot({"a/x"})["a/x"] == (1, "new")
    assert marks.snapshot(set(), keep=["a/y"]) == {"a/y": (3, "e")}


def test_marks_baseline_does_not_move_a_subject_seen() -> None:
    marks = Marks()
    marks.seen("a/x", 5, "e")
    marks.baseline({"a/x": (9, "e")})
    assert marks.snapshot({"a/x"}) == {"a/x": (4, "e")}
    assert not marks.changed


# -- a session's record, and a record taken up -------------------------------------


def _kept() -> Any:
    harness, _ = make(clean=False, properties=Properties(session_expiry=300))
    harness.session.marks = Marks()
    return harness


def test_record_of_a_kept_session() -> None:
    harness = _kept()
    session = harness.session
    harness.subscribe("a/#", qos=1)
    assert session.positions_wanted == ["a/#"] and session.keep_due
    assert session.marks.pending == {"a/#"}
    assert session.record(interval=5).fresh == ("a/#",)  # no replay: where it stood is unknown
    session.positions_read("a/#", {"a/old": (7, "e")})
    assert session.record(interval=5).fresh == ()
    harness.deliver(message("a/x", qos=1))
    session.marks.seen("a/x", 8, "e")  # (the bridge marks what the hub delivered)
    record = session.record(interval=5)
    assert record.subscriptions == (SavedSubscription("a/#", 1),)
    assert record.positions == {"a/old": (7, "e"), "a/x": (7, "e")}  # a/x 8 unacknowledged
    assert record.ends == harness.wall.now + 305
    harness.send(p.PubAck(1))
    assert session.record(interval=5).positions["a/x"] == (8, "e")
    harness.send(p.Disconnect())
    harness.clock.now += 100
    assert session.record(interval=5).ends == harness.wall.now + 200


def test_restore_makes_subscriptions_again_from_the_positions() -> None:
    harness = _kept()
    session = harness.session
    actions = session.restore(RECORD)
    harness.take(actions)
    assert [f["subject"] for f in harness.frames] == ["a/#", "b/c"]
    assert harness.frames[0]["resume"] == {"a/x": [4, "e1"], "a/y": [0, "e2"]}
    assert harness.frames[1]["resume"] == {}
    assert session.subscriptions["b/c"].sub_id == 7
    assert session.subscriptions["b/c"].retain_handling == 2
    assert session.has_no_local
    # The new token no longer allows b/c: dropped.
    harness.answer(harness.frames[1], error="forbidden")
    assert list(session.subscriptions) == ["a/#"]
    harness.answer(harness.frames[0])
    assert session.subscriptions["a/#"].qos == 1


def test_a_fresh_filter_is_taken_up_without_a_replay() -> None:
    harness = _kept()
    fresh = SessionRecord("c1", 5, 300.0, RECORD.ends, RECORD.subscriptions[:1], {}, ("a/#",))
    harness.take(harness.session.restore(fresh))
    assert harness.frames == [{"type": "subscribe", "subject": "a/#", "id": 1}]


def test_let_go_closes_without_the_will() -> None:
    will = p.Will("w/t", b"bye", 1)
    harness, _ = make(clean=False, properties=Properties(session_expiry=300), will=will)
    packets = harness.take(harness.session.let_go())
    assert isinstance(packets[0], p.Disconnect) and packets[0].reason == 0x8E
    assert harness.ended and harness.session.released
    assert not [f for f in harness.frames if f.get("type") == "publish"]


def test_suback_waits_for_the_save() -> None:
    harness = _kept()
    harness.session.hold_subacks = True
    assert harness.subscribe("a/#") == []  # held until the record is saved
    assert harness.take(harness.session.release_held()) == [p.SubAck(1, [1])]
