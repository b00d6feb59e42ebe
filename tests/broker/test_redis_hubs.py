"""Hub processes joined through a real Redis: across hubs, and through a Redis restart."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator

import pytest

from hubproc import HubProcess
from redisproc import RedisServer
from wsclient import WsClient

pytestmark = pytest.mark.asyncio


@pytest.fixture
def redis() -> Iterator[RedisServer]:
    server = RedisServer().start()
    yield server
    server.close()


def healthz(hub: HubProcess) -> int:
    try:
        with urllib.request.urlopen(f"{hub.http_url}/healthz", timeout=5) as answer:
            status: int = answer.status
            return status
    except urllib.error.HTTPError as error:
        return error.code


async def wait_health(hub: HubProcess, status: int, within: float) -> float:
    """Seconds until ``/healthz`` answers ``status``; fails after ``within``."""
    started = time.monotonic()
    while await asyncio.to_thread(healthz, hub) != status:
        assert time.monotonic() - started < within, f"/healthz not {status} after {within} s"
        await asyncio.sleep(0.05)
    return time.monotonic() - started


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


async def test_redis_subscriptions_follow_local_subscribers(
    redis: RedisServer, hub_factory: Callable[..., HubProcess]
) -> None:
    hub = hub_factory("--broker", redis.url)
    async with await WsClient.open(hub.ws_url) as one, await WsClient.open(hub.ws_url) as two:
        for client in (one, two):
            await client.request({"type": "subscribe", "subject": "x/y", "id": 1})
            await client.request({"type": "subscribe", "subject": "x/#", "id": 2})
        assert redis.cli("PUBSUB", "CHANNELS").split() == ["earlgate:x/y"]
        assert redis.cli("PUBSUB", "NUMPAT").strip() == "1"
        await one.close()
        await two.request({"type": "unsubscribe", "subject": "x/#", "id": 3})
        await asyncio.sleep(0.1)
        assert redis.cli("PUBSUB", "NUMPAT").strip() == "0"
        assert redis.cli("PUBSUB", "CHANNELS").split() == ["earlgate:x/y"]
        await two.request({"type": "unsubscribe", "subject": "x/y", "id": 4})
        await asyncio.sleep(0.1)
        assert redis.cli("PUBSUB", "CHANNELS").split() == []


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
