"""The pure stores: durable history, histogram, outbox, session replay."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from earlgate.broker.history import HistoryStore
from earlgate.hub.config import SlowConsumerPolicy
from earlgate.hub.outbox import Outbox
from earlgate.hub.session import Session, TokenBucket
from earlgate.metrics.histogram import Histogram, bucket_bounds, bucket_of


def test_history_offsets_increase_and_replay_is_complete() -> None:
    store = HistoryStore("e1", retention=3)
    offsets = [store.append("a", f"m{i}".encode()) for i in range(3)]
    store.append("b", b"other")
    assert offsets == [1, 2, 3]
    replay = store.replay("a", 1, "e1")
    assert replay.recovered and [raw for _, raw in replay.messages] == [b"m1", b"m2"]
    assert store.replay("a", 0, None).recovered


def test_history_reports_loss_beyond_retention_and_epoch_change() -> None:
    store = HistoryStore("e1", retention=2)
    for i in range(5):
        store.append("a", bytes([i]))
    assert not store.replay("a", 1, "e1").recovered
    assert store.replay("a", 3, "e1").recovered
    changed = store.replay("a", 3, "old-epoch")
    assert not changed.recovered and len(changed.messages) == 2
    assert not store.replay("a", 99, "e1").recovered  # an offset never issued


def test_history_evicts_whole_subjects_past_the_limit() -> None:
    store = HistoryStore("e", retention=5, max_subjects=2)
    store.append("a", b"1")
    store.append("b", b"2")
    store.append("c", b"3")
    assert len(store) == 2 and store.evicted_subjects == 1
    again = store.append("a", b"4")
    assert again == 4  # offsets never repeat within the epoch
    assert not store.replay("a", 0, "e").recovered


@given(st.integers(0, 2**45))
def test_histogram_bucket_contains_value(ns: int) -> None:
    low, high = bucket_bounds(bucket_of(ns))
    assert low <= ns < high or ns >= 2**41
    assert high - low <= max(1, low // 4 + 1)


def test_histogram_percentiles_are_close() -> None:
    rng = random.Random(7)
    values = sorted(rng.randint(1_000, 10_000_000) for _ in range(20_000))
    histogram = Histogram()
    for value in values:
        histogram.record(value)
    for fraction in (0.5, 0.9, 0.99):
        truth = values[int(fraction * len(values)) - 1]
        assert abs(histogram.percentile(fraction) - truth) / truth < 0.13
    assert histogram.mean() == pytest.approx(sum(values) / len(values))


def test_outbox_drop_oldest_keeps_newest_and_counts() -> None:
    written: list[bytes] = []
    box = Outbox(written.append, limit=10, policy=SlowConsumerPolicy.DROP_OLDEST)
    box.send(b"1")
    box.pause()
    dropped = sum(box.send(bytes([65 + i]) * 4) for i in range(5))
    assert dropped == 3 and box.dropped == 3 and box.queued_bytes <= 10
    box.resume()
    assert written == [b"1", b"DDDD", b"EEEE"]


def test_outbox_disconnect_policy_asks_to_close() -> None:
    box = Outbox(lambda raw: None, limit=8, policy=SlowConsumerPolicy.DISCONNECT)
    box.pause()
    box.send(b"12345")
    assert not box.disconnect_requested
    box.send(b"12345")
    assert box.disconnect_requested and box.queued_bytes == 0


def test_session_replay_holds_live_messages_and_skips_replayed() -> None:
    written: list[bytes] = []
    closes: list[tuple[int, str]] = []
    session = Session(
        written.append,
        lambda code, reason: closes.append((code, reason)),
        send_buffer=1 << 20,
        policy=SlowConsumerPolicy.DROP_OLDEST,
    )
    session.begin_replay()
    session.deliver("d", b"live-3", 3)
    session.deliver("d", b"live-4", 4)
    session.deliver("x", b"other", None)
    assert written == []
    session.send(b"ack")
    for offset in (2, 3):
        session.send(f"stored-{offset}".encode())
        session.replayed("d", offset)
    session.end_replay()
    assert written == [b"ack", b"stored-2", b"stored-3", b"live-4", b"other"]


def test_token_bucket() -> None:
    bucket = TokenBucket(rate=2, burst=2, now=0.0)
    assert [bucket.take(0.0) for _ in range(3)] == [True, True, False]
    assert bucket.take(0.5) and not bucket.take(0.5)
