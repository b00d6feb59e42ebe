"""HubClient against real hub processes: round trips, reconnect, resume, bounds."""

from __future__ import annotations

import asyncio
import signal
import time

import pytest

from earlgate.client import HubClient, HubClientError, HubError, QueueFullError
from earlgate.wire.subjects import SubjectError
from hubproc import start_hub


async def collect(sub, count: int, wait: float = 10.0) -> list[dict]:
    async with asyncio.timeout(wait):
        return [await sub.get() for _ in range(count)]


async def test_publish_subscribe_ack_and_errors(shared_hub):
    async with HubClient(shared_hub.ws_url) as client:
        sub = await client.subscribe("cl/+/temp")
        await client.publish("cl/room/temp", {"value": 21.5}, ack=True)
        message = (await collect(sub, 1))[0]
        assert message["data"] == {"value": 21.5}
        assert abs(message["published"] - time.time() * 1000) < 60_000  # ms since the epoch
        with pytest.raises(SubjectError):  # checked before it is sent
            await client.subscribe("$hub/x")
        assert 0 < await client.ping() < 1


async def test_hub_refusals_raise_hub_error(hub_factory):
    hub = hub_factory("--max-subscriptions", "1")
    async with HubClient(hub.ws_url) as client:
        await client.subscribe("one")
        with pytest.raises(HubError) as refused:
            await client.subscribe("two")
        assert refused.value.code == "rate_limited"


async def test_last_value_on_subscribe(shared_hub):
    async with HubClient(shared_hub.ws_url) as client:
        await client.publish("cl/last", 7, retain=True, ack=True)
    async with HubClient(shared_hub.ws_url) as late:
        sub = await late.subscribe("cl/last", last=True)
        assert (await collect(sub, 1))[0]["data"] == 7


async def test_resume_after_connection_loss_has_no_gap_no_duplicate(shared_hub):
    async with (
        HubClient(shared_hub.ws_url, backoff_initial=0.05) as reader,
        HubClient(shared_hub.ws_url) as writer,
    ):
        sub = await reader.subscribe("durable/resume")
        for i in range(20):
            await writer.publish("durable/resume", i)
        first = await collect(sub, 20)
        assert [m["data"] for m in first] == list(range(20))
        # Drop the reader's connection while messages keep coming.
        assert reader._listener is not None and reader._listener.transport is not None
        reader._listener.transport.disconnect(graceful=False)
        for i in range(20, 60):
            await writer.publish("durable/resume", i, ack=True)
        rest = await collect(sub, 40)
        assert [m["data"] for m in rest] == list(range(20, 60))
        assert reader.connects == 2 and sub.recovered is True
        await writer.publish("durable/resume", 60, ack=True)
        assert (await collect(sub, 1))[0]["data"] == 60


async def test_reconnects_to_a_restarted_hub_and_resubscribes():
    hub = start_hub()
    port = hub.port
    try:
        async with HubClient(
            hub.ws_url, backoff_initial=0.05, backoff_max=0.3, queue_size=10
        ) as client:
            sub = await client.subscribe("re/x")
            await asyncio.to_thread(hub.stop, signal.SIGTERM)
            async with asyncio.timeout(5):
                while client.connected.is_set():
                    await asyncio.sleep(0.01)
            # Publishes queue while the hub is away, up to the bound...
            for i in range(10):
                await client.publish("re/x", i)
            with pytest.raises(QueueFullError, match="not connected"):
                await client.publish("re/x", 10)
            hub = await asyncio.to_thread(start_hub, port=port)
            async with asyncio.timeout(15):
                await client.connected.wait()
            # ...and are sent once it is back, in order, to the renewed subscription.
            messages = await collect(sub, 10)
            assert [m["data"] for m in messages] == list(range(10))
            assert client.connects == 2
    finally:
        hub.stop()


async def test_failed_first_connect_without_reconnect_leaves_no_stray_task(caplog):
    import gc

    client = HubClient("ws://127.0.0.1:1/ws", reconnect=False, connect_timeout=2)
    with pytest.raises(HubClientError, match="cannot connect"):
        await client.connect()
    del client
    gc.collect()  # an unretrieved task exception is logged when the task is collected
    assert "never retrieved" not in caplog.text
