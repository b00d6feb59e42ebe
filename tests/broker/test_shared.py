"""One suite, every broker: retained values and durable subjects behave the same.

PROTOCOL.md, Order and delivery: durable subjects store every message with a
monotonically increasing ``_offset`` and the store's ``_epoch``; ``since``
replays after an offset with ``recovered`` saying whether anything was missed.
"""

from __future__ import annotations

import asyncio

import orjson

from brokertools import Recorder, publish
from earlgate.broker import Broker

Pair = tuple[Broker, Recorder]


def data_of(raw: bytes) -> object:
    return orjson.loads(raw)["data"]


async def test_live_messages_arrive_in_order_with_offsets(broker: Pair) -> None:
    instance, sink = broker
    instance.interest("durable/a")
    instance.interest("plain/+")
    await instance.wait_subscribed("durable/a")
    await instance.wait_subscribed("plain/+")
    assert instance.is_subscribed("durable/a") and instance.is_subscribed("plain/+")
    for i in range(20):
        await publish(instance, "durable/a" if i % 2 else "plain/b", i)
    await sink.wait_for(20)
    # PROTOCOL.md promises order per subject; one Redis (or one process) keeps
    # it across subjects too, a cluster carries subjects on different shards.
    for subject, parity in (("plain/b", 0), ("durable/a", 1)):
        on_subject = [data_of(raw) for s, raw, _ in sink.delivered if s == subject]
        assert on_subject == list(range(parity, 20, 2))
    if instance.name != "redis-cluster":
        assert [data_of(raw) for _, raw, _ in sink.delivered] == list(range(20))
    durable = [(offset, orjson.loads(raw)) for s, raw, offset in sink.delivered if s == "durable/a"]
    offsets = [offset for offset, _ in durable]
    assert offsets == sorted(offsets) and len(set(offsets)) == 10
    assert all(frame["_offset"] == offset for offset, frame in durable)
    assert len({frame["_epoch"] for _, frame in durable}) == 1
    assert all(offset is None for s, _, offset in sink.delivered if s == "plain/b")


async def test_since_replays_what_came_after(broker: Pair) -> None:
    instance, _ = broker
    for i in range(4):
        await publish(instance, "durable/s", i)
    everything = await instance.history("durable/s", 0, None)
    assert everything.recovered and [data_of(raw) for _, raw in everything.messages] == [0, 1, 2, 3]
    offsets = [offset for offset, _ in everything.messages]
    assert offsets == sorted(offsets)
    after = await instance.history("durable/s", offsets[1], everything.epoch)
    assert after.recovered and [data_of(raw) for _, raw in after.messages] == [2, 3]
    assert [offset for offset, _ in after.messages] == offsets[2:]
    assert all(orjson.loads(raw)["_epoch"] == everything.epoch for _, raw in after.messages)
    nothing = await instance.history("durable/s", offsets[-1], everything.epoch)
    assert nothing.recovered and nothing.messages == []


async def test_other_epoch_or_future_offset_is_not_recovered(broker: Pair) -> None:
    instance, _ = broker
    for i in range(3):
        await publish(instance, "durable/e", i)
    replay = await instance.history("durable/e", 2, "another-epoch")
    assert not replay.recovered and [data_of(raw) for _, raw in replay.messages] == [0, 1, 2]
    future = await instance.history("durable/e", 10**9, replay.epoch)
    assert not future.recovered and future.messages == []


async def test_retention_drops_oldest_and_says_so(broker: Pair) -> None:
    instance, _ = broker
    for i in range(200):
        await publish(instance, "durable/r", i)
    full = await instance.history("durable/r", 0, None)
    assert not full.recovered  # the oldest are gone
    kept = [data_of(raw) for _, raw in full.messages]
    assert len(kept) >= 5 and kept == list(range(200 - len(kept), 200))
    tail = await instance.history("durable/r", full.messages[-3][0], full.epoch)
    assert tail.recovered and [data_of(raw) for _, raw in tail.messages] == [198, 199]


async def test_unknown_durable_subject_is_empty_and_complete(broker: Pair) -> None:
    instance, _ = broker
    replay = await instance.history("durable/never", 0, None)
    assert replay.recovered and replay.messages == []
    assert instance.is_durable("durable/x/y") and not instance.is_durable("plain/x")


async def test_retained_newest_per_subject_exact_and_wildcard(broker: Pair) -> None:
    instance, _ = broker
    await publish(instance, "earl/a/t", 1, retain=True)
    await publish(instance, "earl/a/t", 2, retain=True)
    await publish(instance, "earl/b/t", 3, retain=True)
    await publish(instance, "earl/b/t", 4)  # not retained: the value stays 3
    await publish(instance, "earl/c/h", 5, retain=True)
    await publish(instance, "earlx/a/t", 6, retain=True)
    assert [data_of(raw) for raw in await instance.retained("earl/a/t")] == [2]
    assert sorted(data_of(raw) for raw in await instance.retained("earl/+/t")) == [2, 3]
    assert sorted(data_of(raw) for raw in await instance.retained("earl/#")) == [2, 3, 5]
    assert await instance.retained("earl/z/t") == []


async def test_unretain_forgets_after_the_publishes_before_it(broker: Pair) -> None:
    instance, _ = broker
    await publish(instance, "earl/a/t", 1, retain=True)
    await publish(instance, "earl/b/t", 2, retain=True)
    await publish(instance, "durable/r", 3, retain=True)
    raw = orjson.dumps({"type": "publish", "subject": "earl/a/t", "data": 9})
    instance.publish("earl/a/t", raw, retain=True, on_done=None)  # still in flight
    instance.unretain("earl/a/t")
    instance.unretain("durable/r")
    instance.unretain("earl/never/retained")  # nothing to forget: no error
    await publish(instance, "earl/c/t", 4, retain=True)  # after the unretains
    assert sorted(data_of(raw) for raw in await instance.retained("earl/#")) == [2, 4]
    assert await instance.retained("durable/r") == []
    await publish(instance, "earl/a/t", 5, retain=True)  # a new value after the delete
    assert [data_of(raw) for raw in await instance.retained("earl/a/t")] == [5]


async def test_retained_durable_value_carries_its_offset(broker: Pair) -> None:
    instance, _ = broker
    await publish(instance, "durable/k", "v", retain=True)
    (raw,) = await instance.retained("durable/k")
    stored = await instance.history("durable/k", 0, None)
    assert orjson.loads(raw)["_offset"] == stored.messages[-1][0]


async def test_acked_durable_publish_is_already_stored(broker: Pair) -> None:
    instance, _ = broker
    stored: list[int] = []
    finished = asyncio.Event()

    def done(code: str | None, reason: str) -> None:
        assert code is None
        task = asyncio.get_running_loop().create_task(instance.history("durable/ack", 0, None))
        task.add_done_callback(lambda t: (stored.append(len(t.result().messages)), finished.set()))

    raw = orjson.dumps({"type": "publish", "subject": "durable/ack", "data": 1})
    instance.publish("durable/ack", raw, retain=False, on_done=done)
    await asyncio.wait_for(finished.wait(), 5)
    assert stored == [1]


async def test_positions_of_durable_subjects_on_a_pattern(broker: Pair) -> None:
    instance, _ = broker
    for i in range(3):
        await publish(instance, "durable/a", i)
    await publish(instance, "durable/b", 9)
    await publish(instance, "durable/b/deeper", 9)
    await publish(instance, "plain/x", 1)
    found = await instance.positions("durable/+", 10)
    assert set(found) == {"durable/a", "durable/b"}
    history = await instance.history("durable/a", 0, None)
    assert found["durable/a"] == (history.messages[-1][0], history.epoch)
    assert set(await instance.positions("#", 10)) == {"durable/a", "durable/b", "durable/b/deeper"}
    assert len(await instance.positions("durable/#", 1)) == 2  # limit + 1: "more than 1"
    assert await instance.positions("plain/+", 10) == {}
