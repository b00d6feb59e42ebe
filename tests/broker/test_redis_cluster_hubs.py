"""Hub processes joined through a real 3-master Redis Cluster (sharded pub/sub)."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from collections.abc import Callable

import pytest

from brokertools import wait_health
from hubproc import HubProcess
from redisclusterproc import RedisClusterNodes
from wsclient import WsClient

pytestmark = pytest.mark.asyncio


def shard_channels(cluster: RedisClusterNodes) -> list[str]:
    """The shard channels with a subscriber, over all masters."""
    found: list[str] = []
    for node in cluster.nodes:
        found += node.cli("PUBSUB", "SHARDCHANNELS").split()
    return found


async def test_exact_and_wildcard_subscriptions_across_hubs_in_order(
    redis_cluster: RedisClusterNodes, hub_factory: Callable[..., HubProcess]
) -> None:
    first = hub_factory("--broker", redis_cluster.url)
    second = hub_factory("--broker", redis_cluster.url)
    subjects = ["earl/arm-07/accel", "earl/arm-08/accel", "earl/arm-07/temp", "other"]
    async with (
        await WsClient.open(first.ws_url) as pub,
        await WsClient.open(second.ws_url) as exact,
        await WsClient.open(second.ws_url) as device,
        await WsClient.open(second.ws_url) as accel,
    ):
        await exact.request({"type": "subscribe", "subject": "earl/arm-07/accel", "id": 1})
        await device.request({"type": "subscribe", "subject": "earl/arm-07/#", "id": 1})
        # Literal bucket (earl/arm-07): both subscriptions share one shard channel.
        assert len(shard_channels(redis_cluster)) == 1
        await accel.request({"type": "subscribe", "subject": "earl/+/accel", "id": 1})
        # A wildcard inside the bucket levels needs every channel, spread over the shards.
        assert len(shard_channels(redis_cluster)) == 256
        assert all(node.cli("PUBSUB", "SHARDCHANNELS").split() for node in redis_cluster.nodes)
        for i in range(400):
            await pub.send({"type": "publish", "subject": subjects[i % 4], "data": i})

        async def received(client: WsClient, wanted: list[str]) -> list[tuple[str, int]]:
            count = sum(1 for i in range(400) if subjects[i % 4] in wanted)
            return [((m := await client.recv())["subject"], m["data"]) for _ in range(count)]

        for client, wanted in (
            (exact, subjects[:1]),
            (device, [subjects[0], subjects[2]]),
            (accel, subjects[:2]),
        ):
            got = await received(client, wanted)
            for subject in wanted:  # every message, in publish order per subject
                on_subject = [data for s, data in got if s == subject]
                assert on_subject == [i for i in range(400) if subjects[i % 4] == subject]
            assert {s for s, _ in got} == set(wanted)
            await client.nothing()
    # The hubs let go of every channel once their clients are gone.
    async with asyncio.timeout(5):
        while shard_channels(redis_cluster):
            await asyncio.sleep(0.05)


async def test_retained_and_durable_on_the_cluster(
    redis_cluster: RedisClusterNodes, hub_factory: Callable[..., HubProcess]
) -> None:
    redis_cluster.flushall()
    first = hub_factory("--broker", redis_cluster.url, "--durable", "d/#")
    second = hub_factory("--broker", redis_cluster.url, "--durable", "d/#")
    async with await WsClient.open(first.ws_url) as pub:
        for i in range(5):
            for subject in ("d/x", "d/y"):
                frame = {"type": "publish", "subject": subject, "data": i, "id": i, "retain": True}
                assert await pub.request(frame) == {"type": "ack", "id": i}
    async with await WsClient.open(second.ws_url) as sub:
        await sub.send({"type": "subscribe", "subject": "d/+", "id": 1, "last": True})
        assert await sub.recv() == {"type": "ack", "id": 1}
        last = sorted([((m := await sub.recv())["subject"], m["_offset"]) for _ in range(2)])
        assert last == [("d/x", 5), ("d/y", 5)]
        await sub.send({"type": "subscribe", "subject": "d/x", "id": 2, "since": 2})
        assert await sub.recv() == {"type": "ack", "id": 2, "recovered": True}
        replayed = [await sub.recv() for _ in range(3)]
        assert [(m["data"], m["_offset"]) for m in replayed] == [(2, 3), (3, 4), (4, 5)]


async def test_cluster_down_local_delivery_then_back(
    redis_cluster: RedisClusterNodes, hub_factory: Callable[..., HubProcess]
) -> None:
    first = hub_factory("--broker", redis_cluster.url)
    second = hub_factory("--broker", redis_cluster.url)
    async with (
        await WsClient.open(first.ws_url) as pub,
        await WsClient.open(first.ws_url) as near,
        await WsClient.open(second.ws_url) as far,
    ):
        for client in (near, far):
            await client.request({"type": "subscribe", "subject": "c/+", "id": 1})
        redis_cluster.stop()
        try:
            await wait_health(first, 503, within=3)
            await wait_health(second, 503, within=3)
            for i in range(20):
                await pub.send({"type": "publish", "subject": "c/a", "data": i})
            assert [(await near.recv())["data"] for _ in range(20)] == list(range(20))
            answer = await pub.request({"type": "publish", "subject": "c/a", "id": 2})
            assert (answer["code"], answer["id"]) == ("unavailable", 2)
            await far.nothing()
        finally:
            redis_cluster.start()
        for hub in (first, second):
            await wait_health(hub, 200, within=10)
        answer = await pub.request({"type": "publish", "subject": "c/b", "data": 99, "id": 3})
        assert answer == {"type": "ack", "id": 3}
        for client in (near, far):
            assert (await client.recv())["data"] == 99
        stats = json.loads(urllib.request.urlopen(f"{second.http_url}/stats", timeout=5).read())
        assert stats["hub"]["broker"]["connections"] >= 2
