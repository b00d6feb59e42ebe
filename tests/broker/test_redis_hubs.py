"""Hub processes joined through a real Redis: across hubs, and through a Redis restart."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator

import pytest

from brokertools import wait_health
from hubproc import HubProcess
from redisproc import RedisServer
from wsclient import WsClient

pytestmark = pytest.mark.asyncio


@pytest.fixture
def redis() -> Iterator[RedisServer]:
    server = RedisServer().start()
    yield server
    server.close()


async def test_publisher_and_subscriber_on_different_hubs_in_order(
    redis: RedisServer, hub_factory: Callable[..., HubProcess]
) -> None:
    first = hub_factory("--broker", redis.url)
    second = hub_factory("--broker", redis.url)
    async with (
        await WsClient.open(first.ws_url) as pub,
        await WsClient.open(second.ws_url) as sub,
    ):
        assert await sub.request({"type": "subscribe", "subject": "earl/+/t", "id": 1}) == {
            "type": "ack",
            "id": 1,
        }
        for i in range(300):
            await pub.send({"type": "publish", "subject": "earl/a/t", "data": i})
            if i % 100 == 0:  # a superset glob (earl/*/t) matches this; the hub filters it out
                await pub.send({"type": "publish", "subject": "earl/a/b/t", "data": -1})
        assert [(await sub.recv())["data"] for _ in range(300)] == list(range(300))
        await sub.nothing()


def _channels(redis: RedisServer) -> list[str]:
    """The subject channels subscribed (not the MQTT session store's control channel)."""
    return [c for c in redis.cli("PUBSUB", "CHANNELS").split() if c != "earlgate:$mqtt/taken"]


async def test_redis_subscriptions_follow_local_subscribers(
    redis: RedisServer, hub_factory: Callable[..., HubProcess]
) -> None:
    hub = hub_factory("--broker", redis.url)
    async with await WsClient.open(hub.ws_url) as one, await WsClient.open(hub.ws_url) as two:
        for client in (one, two):
            await client.request({"type": "subscribe", "subject": "x/y", "id": 1})
            await client.request({"type": "subscribe", "subject": "x/#", "id": 2})
        assert _channels(redis) == ["earlgate:x/y"]
        assert redis.cli("PUBSUB", "NUMPAT").strip() == "1"
        await one.close()
        await two.request({"type": "unsubscribe", "subject": "x/#", "id": 3})
        await asyncio.sleep(0.1)
        assert redis.cli("PUBSUB", "NUMPAT").strip() == "0"
        assert _channels(redis) == ["earlgate:x/y"]
        await two.request({"type": "unsubscribe", "subject": "x/y", "id": 4})
        await asyncio.sleep(0.1)
        assert _channels(redis) == []


async def test_retained_and_durable_history_are_shared_by_hubs(
    redis: RedisServer, hub_factory: Callable[..., HubProcess]
) -> None:
    first = hub_factory("--broker", redis.url, "--durable", "d/#")
    second = hub_factory("--broker", redis.url, "--durable", "d/#")
    async with await WsClient.open(first.ws_url) as pub:
        for i in range(5):
            frame = {"type": "publish", "subject": "d/x", "data": i, "id": i, "retain": True}
            assert await pub.request(frame) == {"type": "ack", "id": i}
    async with await WsClient.open(second.ws_url) as sub:
        await sub.send({"type": "subscribe", "subject": "d/+", "id": 1, "last": True})
        assert await sub.recv() == {"type": "ack", "id": 1}
        last = await sub.recv()
        assert last["data"] == 4 and last["_offset"] == 5
        await sub.send({"type": "subscribe", "subject": "d/x", "id": 2, "since": 2})
        assert await sub.recv() == {"type": "ack", "id": 2, "recovered": True}
        replayed = [await sub.recv() for _ in range(3)]
        assert [(m["data"], m["_offset"]) for m in replayed] == [(2, 3), (3, 4), (4, 5)]
        assert redis.cli("XLEN", "earlgate:{d/x}:log:d/x").strip() == "5"


async def test_redis_restart_unavailable_then_resubscribed(
    redis: RedisServer, hub_factory: Callable[..., HubProcess]
) -> None:
    first = hub_factory("--broker", redis.url)
    second = hub_factory("--broker", redis.url)
    async with (
        await WsClient.open(first.ws_url) as pub,
        await WsClient.open(second.ws_url) as sub,
    ):
        await sub.request({"type": "subscribe", "subject": "r/#", "id": 1})
        assert await pub.request({"type": "publish", "subject": "r/1", "id": 1}) == {
            "type": "ack",
            "id": 1,
        }
        assert (await sub.recv())["subject"] == "r/1"
        redis.stop()
        await wait_health(first, 503, within=3)
        await wait_health(second, 503, within=3)
        answer = await pub.request({"type": "publish", "subject": "r/2", "id": 2})
        assert answer["type"] == "error" and answer["code"] == "unavailable" and answer["id"] == 2
        redis.start()
        for hub in (first, second):
            await wait_health(hub, 200, within=5)
        # The hub re-subscribed by itself: the same connections work again.
        assert await pub.request({"type": "publish", "subject": "r/3", "id": 3}) == {
            "type": "ack",
            "id": 3,
        }
        assert (await sub.recv())["subject"] == "r/3"
        stats = json.loads(urllib.request.urlopen(f"{second.http_url}/stats", timeout=5).read())
        assert stats["hub"]["broker"]["connections"] >= 2


def post_publish(hub: HubProcess, frame: dict[str, object]) -> int:
    request = urllib.request.Request(f"{hub.http_url}/publish", data=json.dumps(frame).encode())
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            status: int = answer.status
            return status
    except urllib.error.HTTPError as error:
        return error.code


async def test_local_delivery_goes_on_while_redis_is_down(
    redis: RedisServer, hub_factory: Callable[..., HubProcess]
) -> None:
    first = hub_factory("--broker", redis.url, "--durable", "d/#")
    second = hub_factory("--broker", redis.url, "--durable", "d/#")
    async with (
        await WsClient.open(first.ws_url) as pub,
        await WsClient.open(first.ws_url) as near,
        await WsClient.open(second.ws_url) as far,
    ):
        for client in (near, far):
            await client.request({"type": "subscribe", "subject": "#", "id": 1})
        redis.stop()
        await wait_health(first, 503, within=3)
        # Without an id: delivered to subscribers on the same hub, in order.
        for i in range(50):
            await pub.send({"type": "publish", "subject": "s/a", "data": i, "retain": True})
        assert [(await near.recv())["data"] for _ in range(50)] == list(range(50))
        # With an id, or on a durable subject, or over HTTP: refused, delivered nowhere.
        answer = await pub.request({"type": "publish", "subject": "s/a", "data": -1, "id": 9})
        assert (answer["code"], answer["id"]) == ("unavailable", 9)
        answer = await pub.request({"type": "publish", "subject": "d/a", "data": -2})
        assert answer["code"] == "unavailable" and "id" not in answer
        status = await asyncio.to_thread(post_publish, first, {"type": "publish", "subject": "s/b"})
        assert status == 503
        await near.nothing()
        await far.nothing()  # the other hub cannot be reached without Redis
        redis.start()
        for hub in (first, second):
            await wait_health(hub, 200, within=5)
        assert await pub.request({"type": "publish", "subject": "s/a", "data": 50, "id": 10}) == {
            "type": "ack",
            "id": 10,
        }
        for client in (near, far):
            assert (await client.recv())["data"] == 50
        # The retained value was not stored during the outage (Redis restarted empty).
        async with await WsClient.open(second.ws_url) as late:
            await late.send({"type": "subscribe", "subject": "s/a", "id": 2, "last": True})
            assert await late.recv() == {"type": "ack", "id": 2}
            await late.nothing()
        stats = json.loads(urllib.request.urlopen(f"{first.http_url}/stats", timeout=5).read())
        assert stats["hub"]["local_only"] == 50
