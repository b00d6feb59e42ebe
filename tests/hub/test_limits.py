"""Limits, the slow-consumer policy and shutdown, against real hub processes."""

from __future__ import annotations

import asyncio
import json
import signal

import psutil
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from wsclient import WsClient

FRAME_DATA = "x" * 60_000  # one publish frame just under the 64 KiB limit
TOTAL_BYTES = 80 * 1024 * 1024


async def publish_through(hub, slow_client_kwargs: dict) -> tuple[int, int, object]:
    """Publish 80 MB while one subscriber reads and another does not."""
    frames = TOTAL_BYTES // len(FRAME_DATA)
    hub_process = psutil.Process(hub.process.pid)
    slow = await connect(hub.ws_url, max_queue=1, **slow_client_kwargs)
    await slow.send(json.dumps({"type": "subscribe", "subject": "flood", "id": 1}))
    good = await WsClient.open(hub.ws_url)
    await good.request({"type": "subscribe", "subject": "flood", "id": 1})
    pub = await WsClient.open(hub.ws_url)
    rss_before = hub_process.memory_info().rss
    received = 0
    peak = rss_before

    async def read_all() -> None:
        nonlocal received
        while received < frames:
            message = await good.recv(timeout=30)
            if message.get("subject") == "flood":
                assert message["n"] == received  # in order, none missing
                received += 1

    reader = asyncio.create_task(read_all())
    for n in range(frames):
        while n - received > 8:  # stay a few frames ahead of the reading subscriber
            await asyncio.sleep(0.001)
        await pub.send({"type": "publish", "subject": "flood", "n": n, "data": FRAME_DATA})
        if n % 200 == 0:
            peak = max(peak, hub_process.memory_info().rss)
    await asyncio.wait_for(reader, 60)
    peak = max(peak, hub_process.memory_info().rss)
    await good.close()
    await pub.close()
    return received, peak - rss_before, slow


@pytest.mark.timeout(180)
async def test_slow_consumer_drop_oldest_bounds_memory(hub_factory):
    hub = hub_factory("--slow-consumer", "drop-oldest")
    received, growth, slow = await publish_through(hub, {})
    assert received == TOTAL_BYTES // len(FRAME_DATA)
    assert growth < 60 * 1024 * 1024, f"hub RSS grew by {growth / 2**20:.1f} MiB"
    stats = json.loads(await asyncio.to_thread(_get, f"{hub.http_url}/stats"))
    assert stats["totals"]["dropped"]["slow_consumer"] > 1000
    # The slow reader still gets the newest messages and a count of what it lost.
    seen_dropped_notice = False
    async with asyncio.timeout(30):
        while True:
            message = json.loads(await slow.recv())
            if message.get("subject") == "$hub/dropped":
                seen_dropped_notice = True
                assert message["data"]["dropped"] > 0
            if message.get("n") == TOTAL_BYTES // len(FRAME_DATA) - 1:
                break
    assert seen_dropped_notice
    await slow.close()


@pytest.mark.timeout(180)
async def test_slow_consumer_disconnect_policy(hub_factory):
    hub = hub_factory("--slow-consumer", "disconnect")
    received, growth, slow = await publish_through(hub, {})
    assert received == TOTAL_BYTES // len(FRAME_DATA)
    assert growth < 60 * 1024 * 1024
    with pytest.raises(ConnectionClosed) as closed:
        async with asyncio.timeout(30):
            while True:
                await slow.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008


def _get(url: str) -> bytes:
    import urllib.request

    with urllib.request.urlopen(url, timeout=5) as answer:
        return answer.read()


async def test_max_connections_answers_503(hub_factory):
    hub = hub_factory("--max-connections", "2")
    first = await WsClient.open(hub.ws_url)
    second = await WsClient.open(hub.ws_url)
    with pytest.raises(InvalidStatus) as refused:
        await WsClient.open(hub.ws_url)
    assert refused.value.response.status_code == 503
    assert b"connection limit" in refused.value.response.body
    await first.close()
    await asyncio.sleep(0.2)  # let the hub see the close
    third = await WsClient.open(hub.ws_url)
    assert (await third.request({"type": "ping", "id": 1}))["type"] == "pong"
    await second.close()
    await third.close()


async def test_subscription_limit_and_rate_limit(hub_factory):
    hub = hub_factory("--max-subscriptions", "2", "--max-publish-rate", "5")
    async with await WsClient.open(hub.ws_url) as client:
        for n, pattern in enumerate(["a", "b"]):
            assert (await client.request({"type": "subscribe", "subject": pattern, "id": n}))[
                "type"
            ] == "ack"
        answer = await client.request({"type": "subscribe", "subject": "c", "id": 3})
        assert answer["code"] == "rate_limited" and "subscription limit" in answer["reason"]
        # Subscribing again to a pattern it has does not count.
        assert (await client.request({"type": "subscribe", "subject": "a", "id": 4}))[
            "type"
        ] == "ack"
        codes = []
        for n in range(20):
            answer = await client.request({"type": "publish", "subject": "z", "id": 100 + n})
            codes.append(answer.get("code", answer["type"]))
        assert codes[:5] == ["ack"] * 5
        assert "rate_limited" in codes
        assert (await client.request({"type": "ping", "id": 0}))["type"] == "pong"


async def test_sigterm_closes_clients_with_1001_and_exits(hub_factory):
    hub = hub_factory()
    client = await WsClient.open(hub.ws_url)
    await client.request({"type": "ping", "id": 1})
    hub.process.send_signal(signal.SIGTERM)
    with pytest.raises(ConnectionClosed) as closed:
        await client.recv(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
    assert await asyncio.to_thread(hub.process.wait, 10) == 0


async def test_overloaded_when_loop_lag_is_over_the_shedding_threshold(hub_factory):
    # Any measurable lag is over a threshold of one nanosecond: the hub sheds publishes.
    hub = hub_factory("--shed-lag-ms", "0.000001")
    async with await WsClient.open(hub.ws_url) as client:
        async with asyncio.timeout(10):
            while True:
                answer = await client.request({"type": "publish", "subject": "s", "id": 1})
                if answer.get("code") == "overloaded":
                    break
                await asyncio.sleep(0.2)
        assert "overloaded" in answer["reason"]
        assert (await client.request({"type": "ping", "id": 2}))["type"] == "pong"
