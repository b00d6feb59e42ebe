"""``--coalesce-ms`` on a real hub: every message delivered, latency and timers within the bound."""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from hubproc import HubProcess

Factory = Callable[..., HubProcess]
WINDOW_MS = 5.0
PUBLISHERS = 20
EACH = 15


def read_stats(hub: HubProcess) -> dict[str, Any]:
    with urllib.request.urlopen(hub.http_url + "/stats", timeout=5) as answer:
        value: dict[str, Any] = json.loads(answer.read())
    return value


async def publish_spread(publisher: ClientConnection, n: int) -> None:
    """``EACH`` messages 20 ms apart, each publisher at its own phase."""
    await asyncio.sleep(n * 0.001)
    for k in range(EACH):
        frame = {"type": "publish", "subject": f"c/{n}", "data": [k, time.time()]}
        await publisher.send(json.dumps(frame))
        await asyncio.sleep(0.02)


async def spread_traffic(hub: HubProcess) -> tuple[dict[int, list[int]], list[float]]:
    """Publish from ``PUBLISHERS`` connections; what one subscriber got, and each latency."""
    async with connect(hub.ws_url) as subscriber:
        await subscriber.send(json.dumps({"type": "subscribe", "subject": "c/#", "id": 1}))
        assert json.loads(await subscriber.recv())["type"] == "ack"
        publishers = [await connect(hub.ws_url) for _ in range(PUBLISHERS)]
        try:
            sending = asyncio.gather(*(publish_spread(p, n) for n, p in enumerate(publishers)))
            got: dict[int, list[int]] = {}
            latencies: list[float] = []
            for _ in range(PUBLISHERS * EACH):
                message = json.loads(await asyncio.wait_for(subscriber.recv(), 10))
                latencies.append(time.time() - message["data"][1])
                got.setdefault(int(message["subject"].split("/")[1]), []).append(message["data"][0])
            await sending
        finally:
            for publisher in publishers:
                await publisher.close()
    return got, latencies


async def test_every_message_is_delivered_in_order_and_the_loop_pauses(
    hub_factory: Factory,
) -> None:
    hub = hub_factory("--coalesce-ms", str(WINDOW_MS))
    got, latencies = await spread_traffic(hub)
    assert got == {n: list(range(EACH)) for n in range(PUBLISHERS)}
    coalesce = (await asyncio.to_thread(read_stats, hub))["coalesce"]
    assert coalesce["window_ms"] == WINDOW_MS
    assert coalesce["pauses"] > 0
    assert coalesce["paused_s"] <= coalesce["pauses"] * WINDOW_MS / 1000 + 1e-3
    # The added latency is at most the window: the median stays near it on a
    # loaded machine (an unbounded pause would put it far beyond).
    assert statistics.median(latencies) < (WINDOW_MS + 20) / 1000, latencies


async def test_an_idle_hub_does_not_pause_and_timers_keep_time(hub_factory: Factory) -> None:
    hub = hub_factory("--coalesce-ms", "10")
    await spread_traffic(hub)
    await asyncio.sleep(1.2)  # a metrics window closes while the traffic is over
    before = (await asyncio.to_thread(read_stats, hub))["coalesce"]["pauses"]
    await asyncio.sleep(0.5)
    stats = await asyncio.to_thread(read_stats, hub)
    assert stats["coalesce"]["pauses"] == before  # no message, no pause: it waits in its poll
    # The lag probe (a timer every 100 ms) ran all along, never more than a pause late
    # beyond what a loaded machine adds.
    assert stats["totals"]["loop_lag_ms"]["count"] > 10
    assert stats["totals"]["loop_lag_ms"]["p50"] < 10 + 20


async def test_off_by_default(hub_factory: Factory) -> None:
    hub = hub_factory()
    got, _ = await spread_traffic(hub)
    assert len(got) == PUBLISHERS
    assert (await asyncio.to_thread(read_stats, hub))["coalesce"] is None


def test_a_window_over_10_ms_is_a_usage_error() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "earlgate", "hub", "--port", "0", "--coalesce-ms", "12"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2, result.stderr
    assert "coalesce ms must be 0-10" in result.stderr
    assert "Traceback" not in result.stderr
