"""The broker's store of kept MQTT sessions: save, take (once), drop, owners, notices."""

from __future__ import annotations

import asyncio

import pytest

from brokertools import Recorder
from earlgate.broker import Broker, make_broker
from earlgate.broker.sessionstore import MemorySessionStore, parse_taken, taken_message
from redisclusterproc import RedisClusterNodes
from redisproc import RedisServer


async def test_save_take_drop(broker: tuple[Broker, Recorder]) -> None:
    store, _ = broker
    assert await store.take_session("c1", "hub-a", 60) is None
    assert await store.save_session("c1", b"record one", 60, "hub-a")
    assert await store.take_session("c1", "hub-b", 60) == b"record one"
    assert await store.take_session("c1", "hub-b", 60) is None  # taken once only
    # hub-a no longer owns it: its save and drop do nothing.
    assert not await store.save_session("c1", b"stale", 60, "hub-a")
    await store.drop_session("c1", "hub-a")
    assert await store.save_session("c1", b"record two", 60, "hub-b")
    await store.drop_session("c1", "hub-a")
    assert await store.take_session("c1", "hub-b", 60) == b"record two"
    assert await store.save_session("c1", b"record three", 60, "hub-b")
    await store.drop_session("c1", "hub-b")
    assert await store.take_session("c1", "hub-c", 60) is None


async def test_records_expire(broker: tuple[Broker, Recorder]) -> None:
    store, _ = broker
    assert await store.save_session("{odd}id", b"short", 0.05, "hub-a")
    await asyncio.sleep(0.15)
    assert await store.take_session("{odd}id", "hub-b", 60) is None


async def test_client_ids_with_braces_and_spaces(broker: tuple[Broker, Recorder]) -> None:
    store, _ = broker
    for client_id in ("a{b}c", "{}", "with space", "ü/#+"):
        assert await store.save_session(client_id, client_id.encode(), 60, "hub-a")
        assert await store.take_session(client_id, "hub-b", 60) == client_id.encode()


def test_memory_store_owner_expires() -> None:
    store = MemorySessionStore()
    store.take("c", "hub-a", 10, now=0.0)
    assert not store.save("c", b"x", 10, "hub-b", now=5.0)
    assert store.save("c", b"x", 10, "hub-b", now=10.0)  # hub-a's hold ran out
    assert store.take("c", "hub-c", 10, now=19.0) == b"x"
    assert store.take("c", "hub-c", 10, now=19.0) is None


def test_notice_round_trip() -> None:
    assert parse_taken(taken_message("abc123", "client one")) == ("abc123", "client one")
    assert parse_taken(b"no-space") is None
    assert parse_taken(b"\xff\xfe x") is None


async def _two(spec: str) -> tuple[Broker, Broker]:
    brokers = []
    for _ in range(2):
        broker = make_broker(spec, durable=["durable/#"])
        broker.attach(Recorder())
        await broker.start()
        brokers.append(broker)
    return brokers[0], brokers[1]


@pytest.mark.parametrize("kind", ["redis", "redis-cluster"])
async def test_take_is_announced_to_every_hub(kind: str, request: pytest.FixtureRequest) -> None:
    if kind == "redis":
        server: RedisServer = request.getfixturevalue("redis_server")
        spec = server.url
    else:
        cluster: RedisClusterNodes = request.getfixturevalue("redis_cluster")
        spec = cluster.url
    first, second = await _two(spec)
    heard: list[tuple[str, str]] = []
    first.watch_sessions(lambda owner, client_id: heard.append((owner, client_id)))
    try:
        for n in range(40):  # the subscription may still be on its way at first
            await second.take_session(f"watched-{n}", "hub-b", 60)
            await asyncio.sleep(0.05)
            if heard:
                break
        assert heard[0][0] == "hub-b" and heard[0][1].startswith("watched-")
    finally:
        await first.close()
        await second.close()


def test_memory_store_sweeps_what_expired() -> None:
    store = MemorySessionStore()
    store.save("old", b"x", 1, "hub-a", now=0.0)
    for n in range(MemorySessionStore.SWEEP_EVERY - 1):
        store.save(f"c{n}", b"x", 100, "hub-a", now=10.0)
    assert "old" not in store.records and "old" not in store.owners
    assert len(store) == MemorySessionStore.SWEEP_EVERY - 1
