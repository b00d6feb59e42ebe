"""Resume on patterns: a wildcard subscription over durable subjects, without gap or duplicate.

Across a lost connection, across a hub restart (Redis keeps the history), and
across the hubs joined by Redis or Redis Cluster; subjects first published
while the client was away are replayed too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator

import pytest

from earlgate.client import HubClient
from hubproc import HubProcess, start_hub
from redisclusterproc import RedisClusterNodes
from redisproc import RedisServer
from wsclient import WsClient


async def collect(sub, count: int, wait: float = 10.0) -> list[dict]:
    async with asyncio.timeout(wait):
        return [await sub.get() for _ in range(count)]


@pytest.fixture
def redis() -> Iterator[RedisServer]:
    server = RedisServer().start()
    yield server
    server.close()


async def test_client_resumes_a_pattern_after_connection_loss(hub_factory) -> None:
    hub = hub_factory("--durable", "d/#")
    async with (
        HubClient(hub.ws_url, backoff_initial=0.05) as reader,
        HubClient(hub.ws_url) as writer,
    ):
        await writer.publish("d/old", "before", ack=True)  # before the subscription
        sub = await reader.subscribe("d/+", resume=True)
        for i in range(10):
            await writer.publish("d/a", i, ack=True)
        assert [m["data"] for m in await collect(sub, 10)] == list(range(10))
        assert reader._listener is not None and reader._listener.transport is not None
        reader._listener.transport.disconnect(graceful=False)
        for i in range(10, 30):
            await writer.publish("d/a", i, ack=True)
            if i % 5 == 0:
                await writer.publish("d/new", i, ack=True)  # first published while away
        rest = await collect(sub, 24)
        by_subject = {s: [m["data"] for m in rest if m["subject"] == s] for s in ("d/a", "d/new")}
        assert by_subject == {"d/a": list(range(10, 30)), "d/new": [10, 15, 20, 25]}
        assert sub.recovered is True and reader.connects == 2
        await writer.publish("d/a", 30, ack=True)
        assert (await collect(sub, 1))[0]["data"] == 30  # and nothing else: no d/old


async def test_resume_across_a_hub_restart_with_redis(redis: RedisServer) -> None:
    hub = start_hub("--broker", redis.url, "--durable", "d/#")
    port = hub.port
    try:
        async with HubClient(hub.ws_url, backoff_initial=0.05, backoff_max=0.3) as reader:
            sub = await reader.subscribe("d/#", resume=True)
            async with HubClient(hub.ws_url) as writer:
                for i in range(5):
                    await writer.publish("d/x/1", i, ack=True)
            assert len(await collect(sub, 5)) == 5
            await asyncio.to_thread(hub.stop)
            hub = await asyncio.to_thread(start_hub, "--broker", redis.url, "--durable", "d/#")
            async with HubClient(hub.ws_url) as writer:  # another port while ours is down
                for i in range(5, 8):
                    await writer.publish("d/x/1", i, ack=True)
                await writer.publish("d/y", "new", ack=True)
            await asyncio.to_thread(hub.stop)
            hub = await asyncio.to_thread(
                start_hub, "--broker", redis.url, "--durable", "d/#", port=port
            )
            rest = await collect(sub, 4, wait=15)
            assert sorted((m["subject"], m["data"]) for m in rest) == [
                ("d/x/1", 5),
                ("d/x/1", 6),
                ("d/x/1", 7),
                ("d/y", "new"),
            ]
            assert sub.recovered is True
    finally:
        hub.stop()


@pytest.mark.parametrize("backend", ["redis", "redis-cluster"])
async def test_resume_on_another_hub_of_the_cluster(
    backend: str, request: pytest.FixtureRequest, hub_factory: Callable[..., HubProcess]
) -> None:
    if backend == "redis":
        url = request.getfixturevalue("redis").url
    else:
        cluster: RedisClusterNodes = request.getfixturevalue("redis_cluster")
        cluster.flushall()
        url = cluster.url
    first = hub_factory("--broker", url, "--durable", "alarm/#")
    second = hub_factory("--broker", url, "--durable", "alarm/#")
    async with await WsClient.open(first.ws_url) as pub, await WsClient.open(first.ws_url) as sub:
        ack = await sub.request(
            {"type": "subscribe", "subject": "alarm/+", "id": 1, "resume": True}
        )
        assert ack == {"type": "ack", "id": 1, "positions": {}}
        for i in range(3):
            await pub.request({"type": "publish", "subject": "alarm/a", "data": i, "id": i})
        seen = [await sub.recv() for _ in range(3)]
        positions = {"alarm/a": [seen[-1]["_offset"], seen[-1]["_epoch"]]}
        for i in range(3, 6):
            await pub.request({"type": "publish", "subject": "alarm/a", "data": i, "id": i})
        await pub.request({"type": "publish", "subject": "alarm/b", "data": "b", "id": 9})
    async with await WsClient.open(second.ws_url) as again:
        frame = {"type": "subscribe", "subject": "alarm/+", "id": 2, "resume": positions}
        ack = await again.request(frame)
        assert ack["recovered"] is True
        assert ack["positions"]["alarm/a"] == positions["alarm/a"]
        assert ack["positions"]["alarm/b"][0] == 0
        replayed = [await again.recv() for _ in range(4)]
        assert [(m["subject"], m["data"]) for m in replayed] == [
            ("alarm/a", 3),
            ("alarm/a", 4),
            ("alarm/a", 5),
            ("alarm/b", "b"),
        ]
        await again.nothing()


async def test_resume_frames_that_are_wrong_are_refused(hub_factory) -> None:
    hub = hub_factory("--durable", "d/#", "--max-resume-subjects", "2")
    async with await WsClient.open(hub.ws_url) as client:
        cases = [
            ({"resume": 5}, "bad_frame"),
            ({"resume": {"e/x": [1, "e"]}}, "bad_frame"),  # does not match the pattern
            ({"resume": {"d/x": [-1, "e"]}}, "bad_frame"),
            ({"resume": {"d/x": [1]}}, "bad_frame"),
            ({"resume": {"d/+": [1, "e"]}}, "bad_subject"),
            ({"resume": {f"d/{n}": [0, None] for n in range(3)}}, "bad_frame"),
            ({"resume": True, "since": 3}, "bad_frame"),
        ]
        for n, (fields, code) in enumerate(cases):
            frame = {"type": "subscribe", "subject": "d/+", "id": n, **fields}
            answer = await client.request(frame)
            assert answer["type"] == "error" and answer["code"] == code, (fields, answer)
        for n in range(3):
            await client.request({"type": "publish", "subject": f"d/{n}", "id": 100 + n})
        too_many = await client.request(
            {"type": "subscribe", "subject": "d/+", "id": 50, "resume": True}
        )
        assert too_many["code"] == "bad_frame" and "--max-resume-subjects" in too_many["reason"]
        await client.request({"type": "publish", "subject": "d/0", "id": 200})
        await client.nothing()  # the refused subscription was not left in place


async def test_a_store_that_lost_its_history_is_noticed_while_connected(
    redis: RedisServer,
) -> None:
    from brokertools import wait_health

    hub = start_hub("--broker", redis.url, "--durable", "d/#")
    try:
        async with HubClient(hub.ws_url) as client:
            exact = await client.subscribe("d/x", since=0)
            pattern = await client.subscribe("d/+", resume=True)
            await client.publish("d/x", 1, ack=True)
            assert len(await collect(exact, 1)) == len(await collect(pattern, 1)) == 1
            redis.stop()  # no append-only file: the history is gone
            redis.start()
            await wait_health(hub, 200, within=5)
            await client.publish("d/x", 2, ack=True)  # offset 1 again, in a new epoch
            assert [m["data"] for m in await collect(exact, 1)] == [2]
            assert [m["data"] for m in await collect(pattern, 1)] == [2]
            for sub in (exact, pattern):
                assert sub.recovered is False and sub.unrecovered == 1 and sub.duplicates == 0
    finally:
        hub.stop()
